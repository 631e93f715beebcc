"""A VM lab host (QEMU, Debian's cloud kernel): what containers can only check as
configuration, proven at runtime.

One lab for this module: `lgsp-1` (APP zone, security level 3) as a VM, `ntp-1` (MGMT zone)
as a container serving time the way the province's NTP host does (`local stratum 10`; with
`chronyd -x`, since a container must not set the machine's clock). The tests run in file
order and build on each other: the VM boots its own kernel on its planned address ->
baseline.yml converges (from /tmp on the root file system, as on a stock server) -> a
second run changes nothing -> /tmp is the hardened tmpfs -> audit rules are loaded and locked,
kernel sysctls live, process accounting records, chrony follows the lab's NTP host -> the
audit passes every control, none configuration-only, and names the VM a real kernel ->
three controls that are configuration-only in a container are broken at runtime only (the
files stay right) and caught.

About 10-15 minutes under TCG on a 2-core machine (the VM boots in ~35 s idle; every
process in it starts 10-30x slower than in a container).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from provdc.controls import catalogue
from provdc.controls.checks import Probe, evaluate, host_context
from provdc.lab import runtime
from provdc.lab.pytest_plugin import bring_up, default_lab_name, skip_reason, tear_down

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
VM, NTP = "lgsp-1", "ntp-1"
RECAP = re.compile(r"^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
CONTROLS = {c.id: c for c in catalogue().controls}
# The lab's NTP host serves its clock (it cannot set the machine's): chronyd -x.
NTP_SERVER_CONF = "allow\nlocal stratum 10\n"
# Runtime-only breakers of controls that are configuration-only in a container: each leaves
# every file right, so only the live state can tell (and the next boot would repair it).
RUNTIME_BREAKERS = {
    "VN-KRN-05": ("sysctl -q -w kernel.kptr_restrict=0", "sysctl -q -w kernel.kptr_restrict=2"),
    "VN-SVC-02": ("systemctl stop chrony.service", "systemctl start chrony.service"),
    "VN-LOG-11": ("systemctl stop acct.service", "systemctl start acct.service"),
}


class VmLab:
    def __init__(self, lab, inventory: Path):
        self.lab, self.inventory = lab, inventory
        self.converged = False

    def ssh(self, host: str, cmd: str, check: bool = True, timeout: float = 300):
        return self.lab.ssh(host, cmd, check=check, timeout=timeout)

    def playbook(self, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
        proc = self.lab.ansible_playbook("playbooks/baseline.yml", *args,
                                         inventory=self.inventory, timeout=2400)
        recap = {m[0]: dict(zip(("ok", "changed", "unreachable", "failed"),
                                map(int, m[1:]), strict=True))
                 for m in RECAP.findall(proc.stdout)}
        return proc, recap

    def result(self, control_id: str):
        probe = Probe(_SshHost(self, VM))
        return evaluate(CONTROLS[control_id], probe,
                        host_context(probe, {"provdc_security_level": 3}))


class _SshHost:
    def __init__(self, vmlab: VmLab, name: str):
        self.vmlab, self.name = vmlab, name

    def run(self, cmd: str):
        proc = self.vmlab.ssh(self.name, cmd, check=False)
        proc.rc = proc.returncode
        return proc


@pytest.fixture(scope="module")
def vmlab(tmp_path_factory):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    name = default_lab_name() + "-vm"
    try:
        lab = bring_up(name, services=["lgsp", "ntp"], sites=[], vms=[VM])
        data = yaml.safe_load(lab.inventory_for([VM]).read_text())
        data["all"]["hosts"][VM]["provdc_security_level"] = 3
        inventory = tmp_path_factory.mktemp("vm") / "hosts.yml"
        inventory.write_text(yaml.safe_dump(data))
        yield VmLab(lab, inventory)
    finally:
        if os.environ.get("PROVDC_LAB_KEEP") != "1":
            left = tear_down(name)
            assert not left, f"lab {name} leaked after down: {left}"


def test_the_vm_boots_its_own_kernel_on_its_planned_address(vmlab):
    lab = vmlab.lab
    vm = lab.host(VM)
    assert vm.vars["provdc_virt"] == "vm" and lab.host(NTP).vars["provdc_virt"] == "container"
    facts = vmlab.ssh(VM, "uname -r; systemd-detect-virt; hostname; "
                      "ip -4 -o addr show dev eth0; ip route show default").stdout.split("\n")
    assert facts[0] != platform.release()  # not this machine's kernel
    assert facts[1] in ("qemu", "kvm") and facts[2] == VM
    assert f"inet {vm.address}/{vm.prefix_len}" in facts[3]
    assert f"default via {vm.default_gw}" in facts[4]
    # another lab host reaches it on its zone address, through the core's routes
    vmlab.ssh(NTP, f"ping -c 1 -W 5 {vm.address}")


def test_qemu_runs_in_the_hosts_namespace_and_nothing_is_added_to_this_one(vmlab):
    pid = runtime.host_pid(vmlab.lab.name, VM)
    assert pid and "qemu-system" in Path(f"/proc/{pid}/cmdline").read_text()
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == \
        os.stat(f"/run/netns/{vmlab.lab.netns(VM)}").st_ino
    here = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "vmtap0" not in here and "vmbr0" not in here


def test_tmp_starts_on_the_root_file_system_as_on_a_stock_server(vmlab):
    """No tmpfs in the image's fstab: VN-FS-04's fix meets /tmp as a plain directory in use
    (libpam-tmpdir's /tmp/user/0, where the role's own module runs), as on a real server."""
    assert vmlab.ssh(VM, "findmnt -n /tmp", check=False).returncode == 1  # not a mount
    assert vmlab.ssh(VM, "findmnt -n -o TARGET -T /tmp").stdout.strip() == "/"


def test_baseline_converges_on_the_vm(vmlab):
    proc, recap = vmlab.playbook()
    assert recap[VM]["failed"] == 0 and recap[VM]["unreachable"] == 0, proc.stdout[-4000:]
    assert recap[VM]["changed"] > 0
    vmlab.converged = True


def test_a_second_run_changes_nothing(vmlab):
    if not vmlab.converged:
        pytest.skip("needs the converged VM")
    proc, recap = vmlab.playbook()
    assert recap[VM]["changed"] == 0 and recap[VM]["failed"] == 0, proc.stdout[-4000:]


def test_tmp_is_the_hardened_tmpfs_at_runtime(vmlab):
    if not vmlab.converged:
        pytest.skip("needs the converged VM")
    fstype, options = vmlab.ssh(VM, "findmnt -n -o FSTYPE,OPTIONS -M /tmp").stdout.split()
    assert fstype == "tmpfs" and {"nodev", "nosuid", "noexec"} <= set(options.split(","))
    assert vmlab.ssh(VM, "stat -c %a /tmp").stdout.strip() == "1777"
    assert vmlab.result("VN-FS-04").status == "pass"


def test_audit_rules_are_loaded_and_locked(vmlab):
    if not vmlab.converged:
        pytest.skip("needs the converged VM")
    status = vmlab.ssh(VM, "auditctl -s").stdout
    assert re.search(r"^enabled 2$", status, re.M), status  # -e 2: immutable until reboot
    rules = vmlab.ssh(VM, "auditctl -l").stdout
    for cid in ("VN-LOG-02", "VN-LOG-05", "VN-LOG-13"):
        for rule in CONTROLS[cid].check.rules:
            key = rule.split("-k ")[-1]
            # auditctl -l prints a watch as `-k KEY`, a syscall rule as `-F key=KEY`
            assert f"-k {key}" in rules or f"key={key}" in rules, (cid, rule, rules)
    # locked: the kernel refuses to delete rules (auditctl exits -1 with EPERM's message)
    refused = vmlab.ssh(VM, "auditctl -D", check=False)
    said = (refused.stderr + refused.stdout).lower()
    assert refused.returncode != 0 and ("operation not permitted" in said
                                        or "immutable" in said), said
    assert vmlab.ssh(VM, "auditctl -l").stdout == rules  # and nothing was deleted


def test_kernel_sysctls_are_live(vmlab):
    if not vmlab.converged:
        pytest.skip("needs the converged VM")
    for cid in ("VN-KRN-01", "VN-KRN-02", "VN-KRN-03", "VN-KRN-05", "VN-KRN-06", "VN-KRN-07"):
        for key, want in CONTROLS[cid].check.settings.items():
            live = vmlab.ssh(VM, f"cat /proc/sys/{key.replace('.', '/')}").stdout.strip()
            assert live == str(want), (cid, key, live)


def test_process_accounting_records_commands(vmlab):
    if not vmlab.converged:
        pytest.skip("needs the converged VM")
    vmlab.ssh(VM, "/bin/true provdc-acct-probe; sleep 1")
    # acct writes a record when a process exits; lastcomm reads /var/log/account/pacct
    out = vmlab.ssh(VM, "lastcomm --command true | head -5").stdout
    assert re.search(r"^true\b", out, re.M), out


def test_chrony_follows_the_lab_ntp_service(vmlab):
    if not vmlab.converged:
        pytest.skip("needs the converged VM")
    ntp = vmlab.lab.host(NTP)
    vmlab.ssh(NTP, f"printf '{NTP_SERVER_CONF}' > /etc/chrony/lab-ntp.conf; "
              "systemctl is-active -q lab-ntp || systemd-run -q --unit lab-ntp "
              "/usr/sbin/chronyd -d -x -f /etc/chrony/lab-ntp.conf")
    vmlab.ssh(VM, f"printf 'server {ntp.address} iburst\\n' > "
              "/etc/chrony/sources.d/provdc-lab-test.sources && chronyc reload sources")
    deadline, tracking = time.monotonic() + 240, ""
    while time.monotonic() < deadline:
        tracking = vmlab.ssh(VM, "chronyc -n tracking", check=False).stdout
        if re.search(rf"^Reference ID\s*:.*\({re.escape(ntp.address)}\)", tracking, re.M) \
                and re.search(r"^Leap status\s*: Normal", tracking, re.M):
            break
        time.sleep(5)
    assert f"({ntp.address})" in tracking and "Leap status     : Normal" in tracking, tracking
    assert re.search(r"^Stratum\s*: 11$", tracking, re.M), tracking  # one below the source


def test_the_audit_passes_every_control_at_runtime(vmlab, tmp_path):
    if not vmlab.converged:
        pytest.skip("needs the converged VM")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "provdc"), "audit", "-i", str(vmlab.inventory),
         "--out", str(tmp_path), "--workers", "1", "--scope", "baseline"],
        capture_output=True, text=True, cwd=REPO, timeout=1200)
    doc = json.loads((tmp_path / "report.json").read_text())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    baseline = [r for r in doc["results"] if r["control"].startswith("VN-")]
    assert len(baseline) == len(CONTROLS)
    assert {r["status"] for r in baseline} == {"pass"}
    assert {r["mode"] for r in baseline} == {"enforced"}
    assert doc["scores"]["overall"]["configuration_only"] == 0
    assert doc["real_kernel_hosts"] == [VM]
    facts = doc["provenance"]["hosts"][VM]
    assert facts["virt"] == "vm" and facts["real_kernel"] is True
    assert "own kernel" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("control_id", sorted(RUNTIME_BREAKERS))
def test_a_runtime_break_of_a_configuration_only_control_is_caught(vmlab, control_id):
    if not vmlab.converged:
        pytest.skip("needs the converged VM")
    assert not CONTROLS[control_id].enforce_in_container  # config-only in a container
    run, restore = RUNTIME_BREAKERS[control_id]
    vmlab.ssh(VM, run)
    try:
        result = vmlab.result(control_id)
    finally:
        vmlab.ssh(VM, restore)
    bad = [e for e in result.evidence if not e.ok]
    assert result.status == "fail" and bad, result.summary()
    assert {e.state for e in bad} == {"runtime"}, result.summary()  # the files are right
    assert vmlab.result(control_id).status == "pass"
