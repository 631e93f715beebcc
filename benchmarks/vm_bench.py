"""A VM lab host (QEMU, its own kernel) against a container host, in the same run.

    sudo .venv/bin/python benchmarks/vm_bench.py [--lynis] [--write]

Brings up its own lab (`bench-vm-<pid>`): `lgsp-1` as a VM and `qlvb-1` as a container, both
in the APP zone at security level 3, and measures:

- boot: `lab up` of that lab (image cached; the VM's SSH answering is what it waits for),
  against `lab up` of the same two hosts as containers, just before;
- `baseline.yml`: first converge and no-op re-run, on the VM and on the container host, one
  after the other (`--limit`), so the ratio compares the same role on the same machine;
- the VM's memory (QEMU's resident set) and the accelerator the probe chose;
- with `--lynis`: Lynis's hardening index on the hardened VM, with every remaining
  suggestion (`lynis audit system --quick`; 20-40 min under TCG).

`--write` puts the table into benchmarks/README.md (section *vm*). The lab is always taken
down.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "modules"))
sys.path.insert(0, str(REPO / "benchmarks"))

from _table import markdown_table, write_section  # noqa: E402

from provdc.lab import runtime  # noqa: E402
from provdc.lab.pytest_plugin import LabHandle, bring_up, tear_down  # noqa: E402

VM, CT = "lgsp-1", "qlvb-1"
RECAP = re.compile(r"^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def timed(fn):
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def level3_inventory(lab: LabHandle, names: list[str]) -> Path:
    data = yaml.safe_load(lab.inventory_for(names).read_text())
    for hostvars in data["all"]["hosts"].values():
        hostvars["provdc_security_level"] = 3
    path = runtime.LabDir(lab.name).root / "bench-hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def converge(lab: LabHandle, inv: Path, host: str) -> tuple[float, int]:
    took, proc = timed(lambda: lab.ansible_playbook("playbooks/baseline.yml", "--limit", host,
                                                    inventory=inv, timeout=3600))
    recap = {m[0]: (int(m[2]), int(m[4])) for m in RECAP.findall(proc.stdout)}
    changed, failed = recap.get(host, (-1, -1))
    if failed != 0:
        raise SystemExit(f"baseline.yml failed on {host}:\n{proc.stdout[-3000:]}")
    return took, changed


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def lynis(lab: LabHandle, host: str) -> tuple[int, list[str], list[str]]:
    lab.ssh(host, "lynis audit system --quick --no-colors --quiet >/dev/null 2>&1; true",
            timeout=5400)
    dat = lab.ssh(host, "cat /var/log/lynis-report.dat").stdout
    index = int(re.search(r"^hardening_index=(\d+)", dat, re.M).group(1))
    warnings = re.findall(r"^warning\[\]=([^|]*\|[^|]*)", dat, re.M)
    suggestions = re.findall(r"^suggestion\[\]=([^|]*\|[^|]*)", dat, re.M)
    return index, warnings, suggestions


def publish(rows: list[list[str]], load: float, write: bool) -> None:
    """Print the table so far (and write it: a long run keeps what it measured)."""
    table = markdown_table(["", "container host", "VM host", "VM / container"], rows)
    print(f"load average at start {load:.1f}\n{table}", flush=True)
    if write:
        write_section("vm", "VM lab hosts (a real kernel)",
                      f"\n`benchmarks/vm_bench.py` ({time.strftime('%Y-%m-%d')}, load average "
                      f"{load:.0f} at start, same run):\n\n{table}\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lynis", action="store_true")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    name = f"bench-vm-{os.getpid()}"
    load = os.getloadavg()[0]
    rows: list[list[str]] = []
    try:
        ct_up, _ = timed(lambda: bring_up(name, services=["lgsp", "qlvb"], sites=[]))
        tear_down(name)
        vm_up, lab = timed(lambda: bring_up(name, services=["lgsp", "qlvb"], sites=[],
                                            vms=[VM]))
        state = runtime.load_state(name)
        rows.append(["`lab up`, 2 hosts (image cached)", f"{ct_up:.1f} s",
                     f"{vm_up:.1f} s ({state.vm_accel})", f"{vm_up / ct_up:.0f} ×"])
        rows.append(["memory of the VM (QEMU resident)", "~11 MB per container",
                     f"{rss_mb(runtime.host_pid(name, VM)):.0f} MB", ""])
        publish(rows, load, args.write)
        inv = level3_inventory(lab, [VM, CT])
        ct_first, ct_changed = converge(lab, inv, CT)
        vm_first, vm_changed = converge(lab, inv, VM)
        ct_again, ct_zero = converge(lab, inv, CT)
        vm_again, vm_zero = converge(lab, inv, VM)
        rows.append(["`baseline.yml` first run", f"{ct_first:.0f} s (changed={ct_changed})",
                     f"{vm_first:.0f} s (changed={vm_changed})", f"{vm_first / ct_first:.1f} ×"])
        rows.append(["`baseline.yml` re-run", f"{ct_again:.0f} s (changed={ct_zero})",
                     f"{vm_again:.0f} s (changed={vm_zero})", f"{vm_again / ct_again:.1f} ×"])
        publish(rows, load, args.write)
        if args.lynis:
            took, (index, warnings, suggestions) = timed(lambda: lynis(lab, VM))
            rows.append(["Lynis hardening index after `baseline.yml`", "80 (hardening section)",
                         f"**{index}** ({took / 60:.0f} min)", ""])
            print(f"Lynis warnings: {warnings}\nLynis suggestions ({len(suggestions)}):")
            print("\n".join(f"- {s}" for s in suggestions))
            publish(rows, load, args.write)
    finally:
        tear_down(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
