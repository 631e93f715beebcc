"""Backups on every host whose service has a backup policy: the checks an inspector can run.

    pytest --pyargs provdc.audit.compliance.test_backup --hosts=ansible://all \
        --ansible-inventory=INVENTORY

The timer is enabled and active; the last successful backup is younger than the policy's
schedule allows; the repository is encrypted (restic: the repository's config is ciphertext,
readable with the host's password file, which only root reads); the last restore drill
passed and is younger than the security level's drill interval; on the repository host, when
a policy sends backups off-site, the last off-site copy is younger than a day allows. Hosts
without a policy are skipped. Ids, titles and references with their confidence (VN-BAK-01..05):
`provdc/audit/checks.yml`.
"""

from __future__ import annotations

import json
import time

import pytest

from provdc.audit.suite import host_topology
from provdc.topology import backup

CONF = "/etc/provdc/backup"
STATE = "/var/lib/provdc-backup"


def _service(host) -> str | None:
    """The host's provdc_service, from its inventory variables."""
    get = getattr(host.backend, "get_variables", None)
    return (get() if get else {}).get("provdc_service")


@pytest.fixture
def policy(host):
    service = _service(host)
    topo = host_topology(host)
    found = next((s for s in topo.services if s.slug == service and s.backup), None)
    if found is None:
        pytest.skip(f"service {service or '(none)'} has no backup policy in the topology")
    return found


def test_backup_timer_active(host, policy):
    unit = host.file("/etc/systemd/system/provdc-backup.timer")
    assert unit.exists, "provdc-backup.timer is not installed: backups were never set up here"
    timer = host.service("provdc-backup.timer")
    assert timer.is_enabled, "provdc-backup.timer is not enabled"
    assert timer.is_running, "provdc-backup.timer is not active"
    calendar = backup.ON_CALENDAR[policy.backup.schedule]
    assert f"OnCalendar={calendar}" in unit.content_string, \
        f"the timer does not run {policy.backup.schedule}"


def test_backup_last_success_is_recent(host, policy):
    record = host.file(f"{STATE}/last-success")
    assert record.exists, "no backup of this host has ever succeeded"
    stamp, snapshot = record.content_string.split()[:2]
    age_h = (time.time() - int(stamp)) / 3600
    allowed = backup.MAX_AGE_HOURS[policy.backup.schedule]
    assert age_h <= allowed, (f"last successful backup ({snapshot}) is {age_h:.1f} h old; a "
                              f"{policy.backup.schedule} schedule allows {allowed} h")


def test_backup_repository_encrypted(host, policy):
    password = host.file(f"{CONF}/password")
    assert password.exists and password.user == "root", "no root-owned password file"
    assert password.mode & 0o077 == 0, f"password file mode {oct(password.mode)}"
    # restic's config is stored encrypted: reading it needs the password; it must say the
    # repository's version and chunker polynomial, which plaintext storage would not hide
    shown = host.run("/usr/local/sbin/provdc-backup config")
    assert shown.rc == 0, shown.stderr
    config = json.loads(shown.stdout)
    assert config.get("version") and config.get("chunker_polynomial"), shown.stdout
    raw = host.run("/usr/local/sbin/provdc-backup raw-config")
    assert raw.rc == 0, raw.stderr
    assert b"chunker_polynomial" not in raw.stdout_bytes, "the repository config is plaintext"


def test_backup_drill_is_recent(host, policy):
    record = host.file(f"{STATE}/last-drill.json")
    days = backup.level(policy.security_level).drill_days
    assert record.exists, f"no restore drill recorded; level {policy.security_level} asks one " \
                          f"every {days} days (provdc backup drill)"
    drill = json.loads(record.content_string)
    finished = time.mktime(time.strptime(drill["finished"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    age_days = (time.time() - finished) / 86400
    assert drill["passed"], f"the last drill ({drill['finished']}) failed"
    assert age_days <= days, (f"the last drill was {age_days:.0f} days ago; level "
                              f"{policy.security_level} asks one every {days} days")


@pytest.fixture
def offsite_copies(host):
    """The services this repository host copies off-site (skipped elsewhere)."""
    service = _service(host)
    topo = host_topology(host)
    if service != topo.operations.backup.repository_service:
        pytest.skip(f"service {service or '(none)'} does not hold the backup repositories")
    sent = [s.slug for s in backup.backed_up(topo) if "offsite" in backup.destinations(s)]
    if not sent:
        pytest.skip("no backup policy sends copies off-site")
    return sent


def test_backup_offsite_copy_is_recent(host, offsite_copies):
    record = host.file(f"{STATE}/offsite-last-success")
    services = ", ".join(offsite_copies)
    assert record.exists, (f"no off-site copy has ever succeeded here; {services} must be "
                           "copied to the write-once bucket (provdc-offsite.timer)")
    stamp = record.content_string.split()[0]
    age_h = (time.time() - int(stamp)) / 3600
    assert age_h <= backup.OFFSITE_MAX_AGE_HOURS, (
        f"the last off-site copy is {age_h:.1f} h old; the daily copy allows "
        f"{backup.OFFSITE_MAX_AGE_HOURS} h ({services})")
