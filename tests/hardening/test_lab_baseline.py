"""The baseline role and the audit on real lab hosts (systemd-nspawn, sshd, ansible-playbook).

Two pristine hosts of the APP zone (security level 3: every control applies) are added to
the session's lab for this module and removed after it, so no other suite's hosts are
hardened. The tests run in file order and build on each other: fresh -> check mode ->
converge with one host unreachable -> rerun (idempotent, converges the other) -> audit ->
SSH still works -> a bad sshd option is refused -> every control broken alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provdc.controls import catalogue
from provdc.controls.breakers import breaker, foreign_breakers
from provdc.controls.checks import Probe, evaluate_all, host_context
from provdc.controls.kinds.sshd_option import DROPIN as SSHD_DROPIN

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = "playbooks/baseline.yml"
A, B = "hard-a", "hard-b"
RECAP = re.compile(r"^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
CONTROLS = catalogue().controls
# enabled? running? how many daemons?
RSYSLOG_STATE = ("systemctl is-enabled rsyslog; systemctl is-active rsyslog; "
                 "pgrep -cx rsyslogd")


class Twins:
    def __init__(self, lab, inventory: Path):
        self.lab = lab
        self.inventory = inventory
        self.converged = False

    def playbook(self, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
        proc = self.lab.ansible_playbook(PLAYBOOK, *args, inventory=self.inventory)
        recap = {m[0]: dict(zip(("ok", "changed", "unreachable", "failed"),
                                map(int, m[1:]), strict=True))
                 for m in RECAP.findall(proc.stdout)}
        return proc, recap

    def ssh(self, host: str, cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.lab.ssh(host, cmd, check=check)

    def results(self, host: str) -> dict:
        probe = Probe(_SshHost(self.lab, host))
        ctx = host_context(probe, {"provdc_security_level": 3})
        return {r.control: r for r in evaluate_all(CONTROLS, probe, ctx)}

    def block_ssh(self, host: str, on: bool) -> None:
        """Make a host unreachable (or reachable again) from outside it, in its own netns."""
        ns = self.lab.netns(host)
        if on:
            rules = ("add table inet provdc_test_block\n"
                     "add chain inet provdc_test_block input "
                     "{ type filter hook input priority -300; }\n"
                     "add rule inet provdc_test_block input tcp dport 22 reject with tcp reset\n")
            subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules,
                           text=True, check=True)
        else:
            subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet",
                            "provdc_test_block"], check=False)


class _SshHost:
    """The smallest testinfra-like host: run(cmd) -> rc, stdout over the lab's SSH."""

    def __init__(self, lab, name: str):
        self.lab, self.name = lab, name

    def run(self, cmd: str):
        proc = self.lab.ssh(self.name, cmd, check=False, timeout=120)
        proc.rc = proc.returncode
        return proc


@pytest.fixture(scope="module")
def twins(lab, tmp_path_factory):
    made = []
    try:
        for name in (A, B):
            lab.add_host(name, "zone:APP")
            made.append(name)
        data = yaml.safe_load(lab.inventory_for(made).read_text())
        for hostvars in data["all"]["hosts"].values():
            hostvars["provdc_security_level"] = 3
        inventory = tmp_path_factory.mktemp("hardening") / "hosts.yml"
        inventory.write_text(yaml.safe_dump(data))
        yield Twins(lab, inventory)
    finally:
        for name in made:
            lab.remove_host(name)


def _disk_state(twins: Twins, host: str) -> str:
    """Everything the role could change: files under /etc and pam-configs, mounts, units."""
    return twins.ssh(host, (
        "find /etc /usr/share/pam-configs -xdev -printf '%p %m %u %g %s\\n' | sort; "
        "find /etc -xdev -type f -exec md5sum {} + | sort; findmnt -n -o TARGET,OPTIONS; "
        "systemctl list-unit-files --no-legend | sort; nft list ruleset"
    )).stdout


def test_a_fresh_host_fails_most_controls(twins):
    results = twins.results(A)
    failed = [c for c, r in results.items() if r.status == "fail"]
    assert len(failed) > len(CONTROLS) / 2, f"only {len(failed)} failed: {failed}"


def test_check_mode_on_a_fresh_host_changes_nothing(twins):
    before = _disk_state(twins, A)
    proc, recap = twins.playbook("--check", "--diff", "--limit", A)
    assert recap[A]["failed"] == 0, proc.stdout[-3000:]
    assert recap[A]["changed"] > 10, "check mode should report what it would change"
    assert "+PermitRootLogin prohibit-password" in proc.stdout  # --diff shows the drop-in
    assert _disk_state(twins, A) == before


# Drift an administrator or a package left on B before it was ever hardened, each in a file
# the role does not manage, each a line the fix may disable alone: the first converge must
# win over all of them (and say so in those files), not report success over them.
PLANTED = ["VN-KRN-01", "VN-LOG-09", "VN-SVC-05", "VN-KRN-04", "VN-AUTH-07", "VN-AUTH-11",
           "VN-FS-04", "VN-SSH-03"]


def test_converge_with_one_host_unreachable_then_rerun(twins):
    for cid in PLANTED:
        twins.ssh(B, foreign_breakers(CONTROLS)[cid].run)
    twins.block_ssh(B, True)
    try:
        proc, recap = twins.playbook()
    finally:
        twins.block_ssh(B, False)
    assert recap[A]["failed"] == 0 and recap[A]["changed"] > 0, proc.stdout[-3000:]
    assert recap[B]["unreachable"] == 1, proc.stdout[-3000:]
    assert re.search(rf"^{B}\s*: .*unreachable=1", proc.stdout, re.M)  # the summary names it
    proc, recap = twins.playbook()
    assert recap[A] == {**recap[A], "changed": 0, "failed": 0}, proc.stdout[-3000:]
    assert recap[B]["failed"] == 0 and recap[B]["changed"] > 0, proc.stdout[-3000:]
    twins.converged = True
    for cid in PLANTED:  # each foreign line is still there, disabled and naming the control
        path = foreign_breakers(CONTROLS)[cid].names
        assert f"disabled by provdc {cid}" in twins.ssh(B, f"cat {path}").stdout, cid


def test_second_run_changes_nothing(twins):
    proc, recap = twins.playbook("--limit", B)
    assert recap[B]["changed"] == 0 and recap[B]["failed"] == 0, proc.stdout[-3000:]
    # a compliant host runs the selection, the probe and the always-run firewall only
    ran = set(re.findall(r"^included: \S+/roles/baseline/tasks/(\w+)\.yml for", proc.stdout,
                         re.M))
    assert ran == {"prepare", "nftables_input"}, ran


def test_a_rerun_fixes_only_the_kinds_the_checks_flag(twins):
    """The role checks first (the audit's checks, one round trip) and runs only the fix
    tasks of failing controls: break two controls of two kinds, re-run, see exactly those
    kinds' tasks run and the host pass again."""
    broken = [c for c in CONTROLS if c.id in ("VN-FILE-07", "VN-AUTH-01")]
    for control in broken:
        twins.ssh(B, breaker(control, in_container=True).run)
    assert sorted(c for c, r in twins.results(B).items() if r.status != "pass") == [
        "VN-AUTH-01", "VN-FILE-07"]
    proc, recap = twins.playbook("--limit", B)
    assert recap[B]["failed"] == 0 and recap[B]["changed"] > 0, proc.stdout[-3000:]
    ran = set(re.findall(r"^included: \S+/roles/baseline/tasks/(\w+)\.yml for", proc.stdout,
                         re.M))
    assert ran == {"prepare", "file_mode", "key_value", "nftables_input", "verify",
                   "verify_round"}, ran
    assert [c for c, r in twins.results(B).items() if r.status != "pass"] == []


def test_a_run_limited_by_tags_keeps_the_other_controls_in_a_shared_file(twins):
    """The sshd drop-in holds five controls' options. An admin deletes one line of it; a
    run limited to that control rewrites the file with all five (a full run afterwards
    changes nothing), not with the tagged control's options alone."""
    twins.ssh(B, f"sed -i '/^MaxAuthTries /d' {SSHD_DROPIN}")
    proc, recap = twins.playbook("--limit", B, "--tags", "VN-SSH-04")
    assert recap[B]["failed"] == 0 and recap[B]["changed"] > 0, proc.stdout[-3000:]
    dropin = twins.ssh(B, f"cat {SSHD_DROPIN}").stdout
    assert "MaxAuthTries 3" in dropin and "Ciphers " in dropin and "LogLevel " in dropin
    proc, recap = twins.playbook("--limit", B)
    assert recap[B]["changed"] == 0 and recap[B]["failed"] == 0, proc.stdout[-3000:]


def test_a_skipped_control_is_left_alone_and_the_rest_of_its_kind_is_fixed(twins):
    """An admin's chmod drifts two controls of one kind. `--skip-tags VN-FILE-01` leaves
    /etc/passwd's mode alone, still fixes /etc/shadow's (VN-FILE-02) and succeeds: the check
    after the fixes covers the controls the run selected. (Ansible's tag match on a task
    holding the whole kind skipped both, and that check then failed the host.) A run for
    the family fixes the one left."""
    twins.ssh(B, "chmod g+w /etc/passwd /etc/shadow")
    proc, recap = twins.playbook("--limit", B, "--skip-tags", "VN-FILE-01")
    assert recap[B]["failed"] == 0 and recap[B]["changed"] > 0, proc.stdout[-3000:]
    results = twins.results(B)
    assert results["VN-FILE-02"].status == "pass", results["VN-FILE-02"].summary()
    assert results["VN-FILE-01"].status == "fail", results["VN-FILE-01"].summary()
    proc, recap = twins.playbook("--limit", B, "--tags", "file")
    assert recap[B]["failed"] == 0 and recap[B]["changed"] > 0, proc.stdout[-3000:]
    assert [c for c, r in twins.results(B).items() if r.status != "pass"] == []


def test_a_disabled_but_running_rsyslog_is_fixed_into_one_daemon(twins):
    """`systemctl disable rsyslog` leaves it running; enabling it again can make systemd 252
    forget that it runs (its syslog.service alias comes back), and enable-then-start then
    leaves two daemons writing and forwarding every line. The role stops it first."""
    twins.ssh(B, "systemctl disable -q rsyslog.service")
    proc, recap = twins.playbook("--limit", B, "--tags", "VN-LOG-10")
    assert recap[B]["failed"] == 0 and recap[B]["changed"] > 0, proc.stdout[-3000:]
    state = twins.ssh(B, RSYSLOG_STATE).stdout.split()
    assert state == ["enabled", "active", "1"], proc.stdout[-3000:]
    proc, recap = twins.playbook("--limit", B, "--tags", "VN-LOG-10")
    assert recap[B]["changed"] == 0 and recap[B]["failed"] == 0, proc.stdout[-3000:]


def test_hardened_hosts_pass_every_control(twins):
    for host in (A, B):
        bad = [r.summary() for r in twins.results(host).values() if r.status != "pass"]
        assert bad == [], host


def test_audit_reports_every_host_compliant(twins, tmp_path):
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "provdc"), "audit", "-i", str(twins.inventory),
         "--out", str(tmp_path), "--workers", "1", "--scope", "baseline"],
        capture_output=True, text=True, cwd=REPO,
    )
    doc = json.loads((tmp_path / "report.json").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert doc["hosts"] == [A, B] and doc["unreachable"] == []
    baseline = [r for r in doc["results"] if r["control"].startswith("VN-")]
    assert len(baseline) == 2 * len(CONTROLS)
    assert {r["status"] for r in baseline} == {"pass"}
    assert doc["scores"]["overall"]["configuration_only"] > 0  # said honestly
    assert (tmp_path / "junit.xml").exists()
    assert "VN-SSH-02" in (tmp_path / "report.html").read_text()


def test_operator_can_still_log_in(twins):
    proc = twins.ssh(A, "true", check=False)
    fresh = subprocess.run(
        ["ssh", "-F", str(twins.lab.ssh_config), "-o", "ControlMaster=no", "-o",
         "ControlPath=none", "-o", "BatchMode=yes", A, "id -u"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0 and fresh.stdout.strip() == "0", fresh.stderr


@pytest.mark.parametrize("option", ["NoSuchOption yes", "MaxAuthTries banana"])
def test_invalid_sshd_option_is_refused_before_reload(twins, option):
    key, value = option.split()
    before = twins.ssh(A, f"md5sum {SSHD_DROPIN}; sshd -T | sort").stdout
    proc, recap = twins.playbook("--limit", A, "--tags", "VN-SSH-02", "-e",
                                 json.dumps({"baseline_sshd_extra_options": {key: value}}))
    assert recap[A]["failed"] == 1, proc.stdout[-3000:]
    assert "failed to validate" in proc.stdout
    assert twins.ssh(A, f"md5sum {SSHD_DROPIN}; sshd -T | sort").stdout == before
    fresh = subprocess.run(
        ["ssh", "-F", str(twins.lab.ssh_config), "-o", "ControlMaster=no", "-o",
         "ControlPath=none", "-o", "BatchMode=yes", A, "systemctl is-active ssh"],
        capture_output=True, text=True, timeout=60,
    )
    assert fresh.stdout.strip() == "active"


def results_while_broken(twins, b) -> dict:
    """Every control's result on host A while the breaker is in effect; restored after."""
    if b.snapshot:
        twins.ssh(A, b.snapshot)
    twins.ssh(A, b.run)
    try:
        return twins.results(A)
    finally:
        twins.ssh(A, b.restore)


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id)
def test_breaking_one_control_flags_exactly_that_control(twins, control):
    if not twins.converged:
        pytest.skip("needs the converged hosts of test_converge_with_one_host_unreachable")
    b = breaker(control, in_container=True)
    results = results_while_broken(twins, b)
    flagged = sorted(c for c, r in results.items() if r.status != "pass")
    assert flagged == [control.id], {c: results[c].summary() for c in flagged}
    if b.names:  # the finding points at the file the breaker wrote
        bad = " ".join(f"{e.item} {e.actual}" for e in results[control.id].evidence if not e.ok)
        assert b.names in bad, bad


@pytest.mark.parametrize("control", sorted(foreign_breakers(CONTROLS)))
def test_drift_written_outside_our_files_is_caught(twins, control):
    """Effective state, whoever wrote it: each foreign breaker leaves the role's files alone
    (a Match block, a later sudoers file, a rule at the top of the live chain); the check
    flags exactly that control and its evidence names what decided."""
    if not twins.converged:
        pytest.skip("needs the converged hosts of test_converge_with_one_host_unreachable")
    b = foreign_breakers(CONTROLS)[control]
    results = results_while_broken(twins, b)
    flagged = sorted(c for c, r in results.items() if r.status != "pass")
    assert flagged == [control], {c: results[c].summary() for c in flagged}
    bad = " ".join(f"{e.item} {e.actual}" for e in results[control].evidence if not e.ok)
    assert b.names and b.names in bad, bad
    assert twins.results(A)[control].status == "pass"  # restored


def test_a_fix_overridden_elsewhere_stops_the_host_naming_the_file(twins):
    """The fix wins or fails loudly: a Match block that turns root logins back on for a
    subnet is not a line the role may disable alone (it would change what the block means),
    so the role's fix runs (its own drop-in is right), the control still fails, and the host
    stops with the control and the Match block's file and line."""
    if not twins.converged:
        pytest.skip("needs the converged hosts of test_converge_with_one_host_unreachable")
    b = foreign_breakers(CONTROLS)["VN-SSH-02"]
    twins.ssh(A, b.snapshot)
    twins.ssh(A, b.run)
    try:
        proc, recap = twins.playbook("--limit", A)
    finally:
        twins.ssh(A, b.restore)
    assert recap[A]["failed"] == 1, proc.stdout[-3000:]
    failed = proc.stdout[proc.stdout.rindex("still fail after their fix"):]
    assert "VN-SSH-02" in failed and b.names in failed, failed[:2000]
    proc, recap = twins.playbook("--limit", A)  # the drift gone: nothing to change or stop
    assert recap[A] == {**recap[A], "changed": 0, "failed": 0}, proc.stdout[-3000:]


def test_host_is_compliant_again_after_all_breakers(twins):
    if not twins.converged:
        pytest.skip("needs the converged hosts")
    bad = [r.summary() for r in twins.results(A).values() if r.status != "pass"]
    assert bad == []


def test_tmp_in_use_on_the_root_file_system_is_mounted_over_keeping_its_files(twins):
    """A stock Debian 12 server has /tmp as a plain directory, in use when the baseline
    arrives (the role's own module runs from /tmp/user/0, libpam-tmpdir): VN-FS-04's fix
    mounts the tmpfs over it and the files in use are still there, same content, same mode."""
    twins.ssh(B, "umount /tmp && ! mountpoint -q /tmp && mkdir -p /tmp/user/0 && "
                 "printf kept > /tmp/user/0/in-use && chmod 0640 /tmp/user/0/in-use")
    proc, recap = twins.playbook("--limit", B, "--tags", "VN-FS-04")
    assert recap[B]["failed"] == 0 and recap[B]["changed"] > 0, proc.stdout[-3000:]
    mounted = twins.ssh(B, "findmnt -n -o FSTYPE,OPTIONS -M /tmp").stdout.split()
    assert mounted[0] == "tmpfs", mounted
    assert {"nodev", "nosuid", "noexec"} <= set(mounted[1].split(",")), mounted
    kept = twins.ssh(B, "cat /tmp/user/0/in-use; stat -c ' %a' /tmp/user/0/in-use").stdout
    assert kept == "kept 640\n"
    assert twins.ssh(B, "findmnt -n /run/provdc-mount-under", check=False).stdout == ""
    proc, recap = twins.playbook("--limit", B, "--tags", "VN-FS-04")
    assert recap[B]["changed"] == 0 and recap[B]["failed"] == 0, proc.stdout[-3000:]
    assert twins.results(B)["VN-FS-04"].status == "pass"
