"""Each host's backup from a hand-written inventory of the Sóc Trăng sample, and the drill's
file comparison on hand-written checksum listings."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from provdc.backup import drill, secret, specs
from provdc.errors import ProvdcError

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = str(ROOT / "inventory/soctrang/topology.yml")


def dc(service: str, address: str, zone: str, level: int = 3) -> dict:
    return {"provdc_role": "dc", "provdc_address": address, "provdc_zone": zone,
            "provdc_service": service, "provdc_instance": 1, "provdc_security_level": level,
            "provdc_topology": TOPOLOGY}


HOSTVARS = {
    "backup-1": dc("backup", "10.94.5.2", "BACKUP"),
    "shared-db-1": dc("shared-db", "10.94.3.2", "DB"),
    "mail-1": dc("mail", "10.94.2.4", "APP", level=2),
    "lgsp-1": dc("lgsp", "10.94.2.2", "APP"),
}


def test_each_backed_up_host_and_its_repository():
    found = specs.specs_of_hostvars(HOSTVARS)
    assert found["repository"] == {
        "host": "backup-1", "address": "10.94.5.2", "port": 22, "root": "/srv/provdc-backup",
        "group": "provdc-backup-clients", "keys_dir": "/etc/ssh/provdc-backup-keys",
        "sshd_dropin": "/etc/ssh/sshd_config.d/50-provdc-backup.conf",
        # level 3 goes off-site, level 2 (mail) does not
        "offsite": {"shared-db-1": "/srv/provdc-backup/shared-db-1/repo"}}
    assert set(found["hosts"]) == {"shared-db-1", "mail-1"}  # lgsp has no policy
    db = found["hosts"]["shared-db-1"]
    assert db["databases"] == ["csdl"] and db["paths"] == ["/etc/postgresql"]
    assert db["on_calendar"] == "hourly" and db["max_age_hours"] == 2
    assert db["retention_days"] == 90 and db["destinations"] == ["backup-zone", "offsite"]
    # its own account, chrooted into its own directory: the repository is /repo inside it
    assert db["account"] == "bk-shared-db-1" and db["chroot"] == "/srv/provdc-backup/shared-db-1"
    assert db["repository"] == "sftp:bk-shared-db-1@10.94.5.2:/repo"
    assert db["repository_path"] == "/srv/provdc-backup/shared-db-1/repo"
    mail = found["hosts"]["mail-1"]
    assert mail["retention_days"] == 30 and mail["destinations"] == ["backup-zone"]


def test_accounts_are_names_useradd_takes():
    assert specs.account("qlvb-1") == "bk-qlvb-1"
    long = specs.account("phuong-2-soc-trang-may-chu-du-lieu-1")
    odd = specs.account("Mail_01.lab")
    for name in (long, odd):
        assert re.fullmatch(r"[a-z][a-z0-9-]{0,31}", name) and len(name) <= 32, name
    assert long != specs.account("phuong-2-soc-trang-may-chu-du-lieu-2")


def test_host_passwords_are_derived_per_host():
    # the formula the module documents, computed here with hashlib directly
    master = "an-operator-password-0123"
    want = base64.urlsafe_b64encode(hashlib.scrypt(
        master.encode(), salt=b"provdc-backup/qlvb-1", n=16384, r=8, p=1, dklen=32)
    ).decode().rstrip("=")
    assert secret.host_password(master, "qlvb-1") == want
    assert secret.host_password(master, "mail-1") != want
    assert master not in want


def test_policy_hosts_without_a_repository_host_are_refused():
    without = {h: v for h, v in HOSTVARS.items() if h != "backup-1"}
    with pytest.raises(ProvdcError) as err:
        specs.specs_of_hostvars(without, source="hosts.yml")
    assert "no host of the repository service 'backup'" in str(err.value)
    assert "provdc_service: backup" in str(err.value)


LISTING_SOURCE = """\
1700000000.5 aaaa /srv/qlvb/a.pdf
1700000000.5 bbbb /srv/qlvb/b.pdf
1700000900.0 cccc /srv/qlvb/new.pdf
1700000000.5 dddd /srv/qlvb/gone.pdf
1700000000.5 eeee /srv/qlvb/d i r/space name.pdf
"""
LISTING_RESTORED = """\
1700000000.5 aaaa /srv/qlvb/a.pdf
1700000000.5 ffff /srv/qlvb/b.pdf
1700000000.5 eeee /srv/qlvb/d i r/space name.pdf
1700000000.5 9999 /var/tmp/provdc-backup/postgresql/csdl.sql
"""


def test_drill_compares_files_older_than_the_snapshot():
    result = drill.DrillResult("qlvb-1", "backup-1", "abc", "t", 1.0, 2.0)
    drill.compare_files(result, drill.checksums(LISTING_SOURCE),
                        drill.checksums(LISTING_RESTORED), 1700000500.0, ["/srv/qlvb"])
    assert result.files_checked == 5 and result.files_matched == 2
    assert result.mismatched == ["/srv/qlvb/b.pdf"]
    assert result.missing == ["/srv/qlvb/gone.pdf"]
    assert result.changed_since_snapshot == ["/srv/qlvb/new.pdf"]
    assert not result.passed


def test_drill_password_is_required(monkeypatch, tmp_path):
    monkeypatch.delenv("PROVDC_BACKUP_PASSWORD", raising=False)
    with pytest.raises(ProvdcError, match="no repository password"):
        drill.password(None)
    short = tmp_path / "pw"
    short.write_text("short\n")
    with pytest.raises(ProvdcError, match="16 characters"):
        drill.password(short)
    short.write_text("a-long-enough-password\n")
    assert drill.password(short) == "a-long-enough-password"
