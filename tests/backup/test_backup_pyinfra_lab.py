"""Backups set up by the pyinfra engine (playbooks/pyinfra/backup.py) on the lab, from the
same specs, script and templates as the Ansible role: a client taken back to a host that
never had backups (and its account removed from backup-1) is set up by pyinfra, its backup
runs, the drill restores it with matching checksums, a second pyinfra run changes nothing,
and the Ansible role in check mode finds nothing to change on either host (same bytes)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "lab-only-backup-password-0123456789"
CLIENT = "soc-collector-1"
LIMIT = ("--limit", CLIENT, "--limit", "backup-1")
# the off-site settings, as given at run time (pyinfra: the environment; Ansible: the same
# environment through the role's defaults); nothing here contacts the bucket
OFFSITE = {"PROVDC_OFFSITE_BUCKET": "pdc-backup-pyinfra",
           "PROVDC_OFFSITE_ENDPOINT": "http://object-storage.lab:9000",
           "PROVDC_OFFSITE_ACCESS_KEY_ID": "lab-offsite-key",
           "PROVDC_OFFSITE_SECRET_ACCESS_KEY": "lab-offsite-secret"}


def pyinfra(lab, *args: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    env = dict(os.environ, PROVDC_INVENTORY=str(lab.inventory), PROVDC_BACKUP_PASSWORD=PASSWORD,
               PATH=f"{BIN}:{os.environ.get('PATH', '')}", **OFFSITE)
    proc = subprocess.run([str(BIN / "pyinfra"), "playbooks/pyinfra/inventory.py",
                           "playbooks/pyinfra/backup.py", "--json", "-y", *args],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=1200)
    try:
        return proc, json.loads(proc.stdout)
    except json.JSONDecodeError:
        return proc, None


def changed(doc: dict, host: str) -> list[str]:
    return [o["name"] for o in doc["results"]["operations"] if host in o["success"]]


@pytest.fixture(scope="module")
def first_run(lab):
    # a client that never had backups, and no account for it on the repository host
    lab.ssh(CLIENT, "systemctl disable --now provdc-backup.timer 2>/dev/null; rm -rf "
            "/etc/provdc/backup /etc/systemd/system/provdc-backup.* /usr/local/sbin/provdc-backup "
            "/var/lib/provdc-backup /var/cache/provdc-backup; systemctl daemon-reload; "
            "mkdir -p /var/log/soc && head -c 300000 /dev/urandom > /var/log/soc/events.log")
    lab.ssh("backup-1", f"userdel bk-{CLIENT} 2>/dev/null; rm -rf /srv/provdc-backup/{CLIENT} "
            f"/etc/ssh/provdc-backup-keys/bk-{CLIENT}; true")
    proc, doc = pyinfra(lab, *LIMIT)
    assert proc.returncode == 0 and doc is not None, proc.stdout[-2000:] + proc.stderr[-3000:]
    return doc


def test_pyinfra_sets_up_the_client_and_its_account(lab, first_run):
    assert first_run["results"]["totals"]["error"] == 0
    made = changed(first_run, CLIENT)
    assert any("SSH key" in n for n in made) and any("timer" in n for n in made), made
    assert any(f"{CLIENT}'s own account" in n for n in changed(first_run, "backup-1"))
    assert lab.ssh(CLIENT, "systemctl is-active provdc-backup.timer").stdout.strip() == "active"
    owner = lab.ssh("backup-1", f"stat -c '%U %a' /srv/provdc-backup/{CLIENT} "
                                f"/srv/provdc-backup/{CLIENT}/repo").stdout.split("\n")
    assert owner[:2] == ["root 755", f"bk-{CLIENT} 700"], owner
    assert lab.ssh("backup-1", "systemctl is-active provdc-offsite.timer").stdout.strip() \
        == "active"
    conf = json.loads(lab.ssh("backup-1", "cat /etc/provdc/backup/offsite.json").stdout)
    assert conf["bucket"] == OFFSITE["PROVDC_OFFSITE_BUCKET"] and CLIENT in conf["repositories"]


def test_its_backup_runs_and_the_drill_restores_it(lab, first_run):
    lab.ssh(CLIENT, "systemctl start provdc-backup.service", timeout=600)
    env = {**os.environ, "PROVDC_BACKUP_PASSWORD": PASSWORD}
    drill = subprocess.run([sys.executable, "-m", "provdc", "backup", "drill", "-i",
                            str(lab.inventory), CLIENT, "-f", "json"], capture_output=True,
                           text=True, env=env, timeout=900, check=False)
    assert drill.returncode == 0, drill.stdout[-2000:] + drill.stderr[-2000:]
    doc = json.loads(drill.stdout)
    assert doc["passed"] and doc["files"]["matched"] >= 1 and doc["files"]["mismatched"] == []


def test_second_run_changes_nothing(lab, first_run):
    proc, doc = pyinfra(lab, *LIMIT)
    assert proc.returncode == 0 and doc is not None, proc.stderr[-3000:]
    assert changed(doc, CLIENT) == [] and changed(doc, "backup-1") == []


def test_the_ansible_role_finds_nothing_to_change(lab, first_run, monkeypatch):
    for name, value in OFFSITE.items():
        monkeypatch.setenv(name, value)
    proc = lab.ansible_playbook("playbooks/backup.yml", "--check", "--limit", f"{CLIENT},backup-1",
                                "-e", f"backup_password={PASSWORD}")
    for name in (CLIENT, "backup-1"):
        recap = re.search(rf"^{re.escape(name)}\s*: ok=\d+\s+changed=(\d+).*failed=(\d+)",
                          proc.stdout, re.M)
        assert recap and recap.groups() == ("0", "0"), proc.stdout[-4000:]


def test_a_client_without_the_repository_host_in_the_run_is_refused(lab, first_run):
    proc, _ = pyinfra(lab, "--limit", CLIENT)
    assert proc.returncode != 0
    assert "not in this run" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
