"""Segmentation on the lab: applied by the playbook, idempotent, drift shown in check mode,
proved by traffic, the operator's path guarded, an unconfirmed ruleset reverted.

    PROVDC_LAB_NAME=segmentation pytest tests/segmentation -x -q
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.lab

# a task of the segmentation role, run from the playbooks (through the provdc.idc collection)
TASK = r"TASK \[(?:provdc\.idc\.)?segmentation : "
PLAYBOOK = "playbooks/segmentation.yml"
CHECKS = "test_segmentation.py"  # the auditors' segmentation checks (provdc.audit.compliance)
ROOT = Path(__file__).resolve().parents[2]
PROVDC = [sys.executable, "-m", "provdc"]
COUNTERS = re.compile(r"counter packets \d+ bytes \d+")


def changed(proc: subprocess.CompletedProcess) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", proc.stdout, re.M)}


def table(lab, host: str) -> str:
    out = lab.ssh(host, "nft list table inet provdc_segmentation").stdout
    return COUNTERS.sub("counter", out)


def new_session(lab, host: str, cmd: str = "true", timeout: int = 5):
    """A brand-new SSH connection (no ControlMaster reuse), as the confirm step makes."""
    return subprocess.run(
        ["ssh", "-F", str(lab.ssh_config), "-o", "BatchMode=yes", "-o", "ControlPath=none",
         "-o", f"ConnectTimeout={timeout}", host, cmd],
        capture_output=True, text=True, timeout=timeout + 30, stdin=subprocess.DEVNULL)


def outcome(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """{'passed': n, 'failed': n, ...} from pytest's summary line."""
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error)",
                                             proc.stdout.splitlines()[-1])}


@pytest.fixture(scope="module")
def applied(lab):
    first = lab.ansible_playbook(PLAYBOOK)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    yield first
    # Leave the session's lab unsegmented for the suites that run after this one.
    lab.ansible("all", "-m", "ansible.builtin.shell", "-a",
                "nft delete table inet provdc_segmentation; "
                "systemctl disable --now provdc-segmentation; rm -rf /etc/provdc/segmentation")
    lab.core_exec(["nft", "delete", "table", "inet", "provdc_zones"], check=False)


def test_second_run_changes_nothing(lab, applied):
    second = lab.ansible_playbook(PLAYBOOK)
    assert second.returncode == 0, second.stdout[-3000:]
    counts = changed(second)
    assert counts and set(counts) >= {h.name for h in lab.hosts}
    assert sum(counts.values()) == 0, counts


def test_a_converged_host_is_read_once_and_a_tampered_one_is_repaired(lab, applied):
    """The role reads everything it manages in one round trip and skips the rest when all
    is in place; any difference (here the script and the unit's enablement) takes the
    full path again."""
    host = "ntp-1"
    lab.ssh(host, "echo '# tampered' >> /usr/local/sbin/provdc-segmentation; "
                  "systemctl disable -q provdc-segmentation")
    fix = lab.ansible_playbook(PLAYBOOK, "--limit", host)
    assert fix.returncode == 0 and changed(fix)[host] >= 2, fix.stdout[-3000:]
    assert "tampered" not in lab.ssh(host, "tail -n 1 /usr/local/sbin/provdc-segmentation").stdout
    assert lab.ssh(host, "systemctl is-enabled provdc-segmentation").stdout.strip() == "enabled"
    again = lab.ansible_playbook(PLAYBOOK, "--limit", host)
    assert again.returncode == 0 and changed(again)[host] == 0, again.stdout[-3000:]
    install = re.search(rf"{TASK}Install the apply script\][^\n]*\n(.*)\n", again.stdout)
    assert install and install.group(1).startswith(f"skipping: [{host}]"), again.stdout[-3000:]


def test_a_run_stopped_before_its_confirmation_is_confirmed_by_the_next(lab, applied):
    """An apply whose play died before the confirm leaves the rendering live and the revert
    timer armed. The next run must confirm it over a new session (not just promote it to
    the boot file while the timer still waits to restore the old table)."""
    host, timer = "shared-db-1", "provdc-segmentation-revert-provdc-segmentation.timer"
    lab.ssh(host, "nft insert rule inet provdc_segmentation input tcp dport 2224 accept")
    out = json.loads(lab.ssh(host, "provdc-segmentation apply "
                                   "/var/lib/provdc-segmentation/rendered.nft "
                                   "--confirm-within 300").stdout)
    assert out["changed"] and out["pending"]
    assert lab.ssh(host, f"systemctl is-active {timer}", check=False).stdout.strip() == "active"
    rerun = lab.ansible_playbook(PLAYBOOK, "--limit", host)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert re.search(rf"{TASK}Confirm over the new session[^\n]*\n"
                     rf"changed: \[{host}\]", rerun.stdout), rerun.stdout[-3000:]
    assert lab.ssh(host, f"systemctl is-active {timer}", check=False).stdout.strip() != "active"
    assert lab.ssh(host, "test -e /var/lib/provdc-segmentation/provdc_segmentation/pending",
                   check=False).returncode == 1


def test_every_host_has_a_default_deny_inbound_table_and_the_core_a_forward_one(lab, applied):
    for h in lab.hosts:
        assert "hook input priority filter; policy drop;" in table(lab, h.name), h.name
    core = lab.core_exec(["nft", "list", "table", "inet", "provdc_zones"]).stdout
    assert "hook forward priority filter; policy drop;" in core


def test_the_confirmed_table_survives_an_nftables_restart(lab, applied):
    """nftables.service flushes the whole ruleset; the boot unit (PartOf it) loads the
    confirmed table again, as it does at boot."""
    before = table(lab, "lgsp-1")
    lab.ssh("lgsp-1", "systemctl restart nftables.service")
    # systemctl waits for nftables.service only; the propagated restart follows it
    deadline = time.monotonic() + 60
    while lab.ssh("lgsp-1", "nft list table inet provdc_segmentation", check=False).returncode:
        assert time.monotonic() < deadline, "the boot unit did not reload the table"
        time.sleep(1)
    assert table(lab, "lgsp-1") == before
    assert lab.ssh("lgsp-1", "systemctl is-active provdc-segmentation").stdout.strip() == "active"


def test_verify_opens_every_flow_and_closes_every_forbidden_pair(lab, applied):
    # The database host runs PostgreSQL as Debian configures it: on loopback only, port 5432.
    # The proof's own listener takes the host's address beside it (it once bound the
    # wildcard, found the port taken and reported the database NOT SERVING to every source).
    lab.ssh("shared-db-1", "systemctl start postgresql")
    try:
        listening = lab.ssh("shared-db-1", "ss -Hltn 'sport = :5432'").stdout
        assert "127.0.0.1:5432" in listening and "0.0.0.0:5432" not in listening, listening
        proc = subprocess.run([*PROVDC, "segmentation", "verify", "-i", str(lab.inventory),
                               "--format", "json"], capture_output=True, text=True, cwd=ROOT,
                              timeout=600)
    finally:
        lab.ssh("shared-db-1", "systemctl stop postgresql")
    report = json.loads(proc.stdout)
    bad = [p for p in report["probes"] if not p["pass"]]
    assert proc.returncode == 0 and report["ok"], bad
    assert report["allowed"] >= 40 and report["forbidden"] >= 100
    named = [p for p in report["probes"] if p.get("regulation")]
    assert {p["why"] for p in named} >= {
        "regulation: DMZ -> DB: databases only from the application zone",
        "regulation: agency site -> DB",
        "regulation: APP -> Internet-side edge: egress control",
        "regulation: commune -> MGMT SSH: administration only from MGMT"}
    assert all(p["result"] != "open" and p["listener_ok"] for p in named)
    database = [p for p in report["probes"] if p["dst"] == "shared-db-1" and p["port"] == 5432]
    assert {p["expect"] for p in database} == {"open", "closed"}
    assert all(p["listener_ok"] for p in database)
    # a flow that opened really arrived from its source (the listener saw that address)
    assert all(p["arrived"] in (True, None) for p in report["probes"]
               if p["expect"] == "open")
    # the lab admits `provdc bandwidth measure` (iperf3 agency -> DC, tcp/5201 and up)
    assert any(p["port"] == 5201 and p["expect"] == "open" and p["arrived"] and
               lab.vars(p["src"])["provdc_role"] == "agency" and
               lab.vars(p["dst"])["provdc_role"] == "dc" for p in report["probes"])


def test_check_mode_shows_drift_and_the_next_run_repairs_it(lab, applied):
    lab.ssh("mail-1", "nft insert rule inet provdc_segmentation input tcp dport 2222 accept")
    check = lab.ansible_playbook(PLAYBOOK, "--check", "--diff", "--limit", "mail-1")
    assert check.returncode == 0, check.stdout[-3000:]
    assert changed(check)["mail-1"] >= 1 and "2222" in check.stdout
    assert "dport 2222" in table(lab, "mail-1"), "check mode must not change the host"
    fix = lab.ansible_playbook(PLAYBOOK, "--limit", "mail-1")
    assert fix.returncode == 0 and changed(fix)["mail-1"] >= 1, fix.stdout[-3000:]
    assert "dport 2222" not in table(lab, "mail-1")


def test_cutting_ones_own_ssh_path_is_refused_before_anything_is_applied(lab, applied):
    before = {h: table(lab, h) for h in ("qlvb-1", "phuong-5-1")}
    proc = lab.ansible_playbook(PLAYBOOK, "-e", '{"provdc_admin_sources": ["10.94.8.0/22"]}')
    assert proc.returncode != 0
    assert "would cut the operator's SSH path" in proc.stdout + proc.stderr
    assert {h: table(lab, h) for h in before} == before
    cli = subprocess.run([*PROVDC, "segmentation", "render", "-i", str(lab.inventory),
                          "--operator-from", "10.94.8.5"], capture_output=True, text=True,
                         cwd=ROOT)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "would cut the operator's SSH path" in cli.stdout + cli.stderr


def test_an_unconfirmed_ruleset_reverts_by_itself_and_the_operator_gets_back_in(lab, applied):
    host = "backup-1"
    before = table(lab, host)
    staged = lab.ssh(host, "cat /var/lib/provdc-segmentation/rendered.nft").stdout
    core_side = lab.vars(host)["provdc_default_gw"]
    cut = staged.replace(f"ip saddr {core_side} tcp dport 22", "ip saddr 192.0.2.1 tcp dport 22")
    assert cut != staged
    blob = base64.b64encode(cut.encode()).decode()
    lab.ssh(host, f"echo {blob} | base64 -d > /tmp/cut.nft")
    out = json.loads(lab.ssh(host, "provdc-segmentation apply /tmp/cut.nft "
                                   "--confirm-within 15").stdout)
    assert out["changed"] and out["pending"]
    assert new_session(lab, host).returncode != 0, "the cut ruleset should block new sessions"
    deadline = time.monotonic() + 120
    while new_session(lab, host).returncode != 0:
        assert time.monotonic() < deadline, "the revert timer did not restore access"
        time.sleep(3)
    assert table(lab, host) == before
    boot = lab.ssh(host, "cat /etc/provdc/segmentation/provdc_segmentation.nft").stdout
    assert boot == staged, "an unconfirmed ruleset must never reach the boot file"


def test_the_compliance_checks_pass_and_catch_drift(lab, applied):
    run = lab.compliance(CHECKS, "all", "-rfE")
    hosts = len(lab.hosts)
    # every host: its table is the rendering, its boot copy too; the zone firewall via each
    assert outcome(run) == {"passed": 3 * hosts}, run.stdout[-3000:]
    lab.ssh("qlvb-1", "nft insert rule inet provdc_segmentation input tcp dport 2223 accept")
    lab.core_exec("nft chain inet provdc_zones forward '{ policy accept; }'")
    try:
        drift = lab.compliance(CHECKS, "qlvb-1", "-rfE")
        assert outcome(drift) == {"passed": 1, "failed": 2}, drift.stdout[-3000:]
        assert "2223" in drift.stdout and "policy accept" in drift.stdout
    finally:
        fix = lab.ansible_playbook(PLAYBOOK, "--limit", "qlvb-1")
    assert fix.returncode == 0, fix.stdout[-3000:]
    assert outcome(lab.compliance(CHECKS, "qlvb-1", "-rfE")) == {"passed": 3}


def core_router_inventory(lab, twin: str, path: Path) -> Path:
    """The lab's hosts plus `twin` as the production core router (`provdc_role: core`)."""
    lab.inventory_for([h.name for h in lab.hosts] + [twin], path)
    doc = yaml.safe_load(path.read_text())
    doc["all"]["hosts"][twin]["provdc_role"] = "core"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_production_core_router_takes_the_zone_firewall_confirmed(lab, applied, fresh_host,
                                                                    tmp_path):
    """Outside the lab the zone firewall lives on an inventory host: the same apply, timed
    revert and confirmation over a new session as any host, on the table inet provdc_zones."""
    twin = fresh_host("zone:MGMT").name
    inventory = core_router_inventory(lab, twin, tmp_path / "hosts.yml")
    first = lab.ansible_playbook(PLAYBOOK, "--limit", twin, inventory=inventory)
    assert first.returncode == 0, first.stdout[-4000:]
    assert changed(first)[twin] >= 1
    zones = lab.ssh(twin, "nft list table inet provdc_zones").stdout
    assert "hook forward priority filter; policy drop;" in zones
    assert lab.ssh(twin, "nft list table inet provdc_segmentation", check=False).returncode
    assert lab.ssh(twin, "ls /etc/provdc/segmentation").stdout.split() == ["provdc_zones.nft"]
    assert lab.ssh(twin, "test -e /var/lib/provdc-segmentation/provdc_zones",
                   check=False).returncode == 1, "confirmed: nothing left pending"
    second = lab.ansible_playbook(PLAYBOOK, "--limit", twin, inventory=inventory)
    assert second.returncode == 0 and changed(second)[twin] == 0, second.stdout[-3000:]
    audit = lab.compliance(CHECKS, twin, "-rfE", inventory=inventory)
    assert outcome(audit) == {"passed": 2, "skipped": 1}, audit.stdout[-3000:]
