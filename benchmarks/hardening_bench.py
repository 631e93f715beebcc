"""Baseline hardening on N fresh lab hosts: converge time, no-op re-run, audit throughput.

    sudo .venv/bin/python benchmarks/hardening_bench.py --sizes 10,50 [--lynis] [--ungated]

Adds N pristine hosts to a lab (`PROVDC_LAB_NAME`, default `bench-hardening`; brought up if
needed and taken down afterwards unless it was already up), then measures in the same run:

- `ansible-playbook playbooks/baseline.yml`: first run and no-op re-run (wall time); with
  `--ungated` also the no-op re-run with `baseline_check_first=false` (every fix task runs);
- the compliance suite's baseline scope exactly as `provdc audit` runs it
  (`provdc.audit.run.run_suite`; by default one pytest process that reads every host in
  one batched round trip each, `PREFETCH_THREADS` at a time, before its first test; with
  `--workers N` xdist's `-n N --dist loadgroup`): host-controls/s; with `--audit-parts` also
  its start-up (the same command with every test deselected) and the audit with 1, 2 and N
  workers;
- the floor: every check command of every host in ONE batched SSH call per host (the same
  commands the suite runs, as many hosts at a time as the suite reads) — the cost of the
  checks without pytest;
- with `--lynis`: the Lynis hardening index of one host before and after the role.

Prints a Markdown table row set for benchmarks/README.md (hardening section).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "modules"))

from provdc.audit.run import SUITE, run_suite, scope_files, xdist_args  # noqa: E402
from provdc.audit.suite import PREFETCH_THREADS  # noqa: E402
from provdc.controls import catalogue  # noqa: E402
from provdc.controls.checks import Probe, commands_for  # noqa: E402
from provdc.lab import runtime  # noqa: E402
from provdc.lab.pytest_plugin import LabHandle, bring_up, tear_down  # noqa: E402
from provdc.topology.validate import load  # noqa: E402

DEFAULT_TOPOLOGY = REPO / "inventory" / "soctrang" / "topology.yml"


class _Ssh:
    def __init__(self, lab: LabHandle, host: str):
        self.lab, self.host = lab, host

    def run(self, cmd: str):
        proc = self.lab.ssh(self.host, cmd, check=False, timeout=600)
        proc.rc = proc.returncode
        return proc


def timed(fn) -> tuple[float, object]:
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def lynis_index(lab: LabHandle, host: str) -> tuple[int, list[str]]:
    lab.ssh(host, "lynis audit system --quick --no-colors --quiet >/dev/null 2>&1; true",
            timeout=1800)
    dat = lab.ssh(host, "cat /var/log/lynis-report.dat").stdout
    index = int(re.search(r"^hardening_index=(\d+)", dat, re.M).group(1))
    warnings = re.findall(r"^warning\[\]=([^|]*\|[^|]*)", dat, re.M)
    return index, warnings


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10", help="comma-separated host counts, e.g. 10,50")
    ap.add_argument("--lynis", action="store_true")
    ap.add_argument("--playbook-timeout", type=float, default=7200,
                    help="seconds per ansible-playbook run (50 fresh hosts on 2 cores: ~45 min)")
    ap.add_argument("--ungated", action="store_true",
                    help="also time a no-op re-run without the check-first gate")
    ap.add_argument("--workers", type=int, default=1, help="as `provdc audit --workers`")
    ap.add_argument("--audit-parts", action="store_true",
                    help="also time the audit's start-up and the audit with 1, 2 and N workers")
    args = ap.parse_args()

    name = os.environ.get("PROVDC_LAB_NAME", "bench-hardening")
    was_up = runtime.load_state(name) is not None
    lab = (LabHandle(name, load(DEFAULT_TOPOLOGY), REPO) if was_up
           else bring_up(name, DEFAULT_TOPOLOGY, root=REPO))
    rows = [f"Load average at start: {os.getloadavg()[0]:.1f}", ""]
    try:
        for i, size in enumerate(int(x) for x in args.sizes.split(",")):
            rows += with_fresh_hosts(lab, size, lambda inv, names, first=(i == 0):
                                     run(lab, inv, names, args, lynis=args.lynis and first))
            rows.append("")
    finally:
        if not was_up:
            tear_down(name)
    print("\n".join(rows))
    return 0


def with_fresh_hosts(lab: LabHandle, size: int, measure) -> list[str]:
    """Add `size` pristine level-3 APP hosts, measure, remove them again."""
    names = [f"hb-{i}" for i in range(1, size + 1)]
    try:
        for n in names:
            lab.add_host(n, "zone:APP")
        data = yaml.safe_load(lab.inventory_for(names).read_text())
        for hv in data["all"]["hosts"].values():
            hv["provdc_security_level"] = 3
        inv = Path(lab.inventory_for(names)).with_name(f"bench-{size}.yml")
        inv.write_text(yaml.safe_dump(data))
        return measure(inv, names)
    finally:
        for n in names:
            try:
                lab.remove_host(n)
            except Exception as exc:  # keep removing the others
                print(f"remove {n}: {exc}", file=sys.stderr)


def run(lab: LabHandle, inv: Path, names: list[str], args, lynis: bool) -> list[str]:
    n = len(names)
    controls = catalogue().controls
    rows = [f"| measure ({n} hosts, {len(controls)} controls) | value |", "|---|---|"]
    if lynis:
        fresh, _ = lynis_index(lab, names[0])
    forks = ["--forks", str(n)]  # every host at once, as the fleet benchmark runs it

    def converge(*extra: str) -> tuple[float, int]:
        """Wall time and the recap's total changed of one baseline.yml run."""
        seconds, proc = timed(lambda: lab.ansible_playbook(
            "playbooks/baseline.yml", *forks, *extra, inventory=inv,
            timeout=args.playbook_timeout))
        assert proc.returncode == 0, proc.stdout[-2000:]
        return seconds, sum(int(c) for c in re.findall(r"changed=(\d+)", proc.stdout))

    t1, _ = converge()
    t2, changed = converge()
    rows.append(f"| converge, first run | {t1:.1f} s |")
    rows.append(f"| converge, no-op re-run (changed={changed}) | {t2:.1f} s "
                f"({t2 / t1:.2f} × first run) |")
    if args.ungated:
        t5, changed = converge("-e", "baseline_check_first=false")
        rows.append(f"| no-op re-run without the gate, every fix task (changed={changed}) | "
                    f"{t5:.1f} s ({t5 / t2:.1f} × gated no-op) |")

    t3, outcome = timed(lambda: audit(inv, args.workers))
    commands = commands_for(controls)

    def floor(host: str) -> None:
        Probe(_Ssh(lab, host)).prefetch(commands)

    with ThreadPoolExecutor(PREFETCH_THREADS) as pool:
        t4, _ = timed(lambda: list(pool.map(floor, names)))
    hc = n * len(controls)
    rows.append(f"| audit (`provdc audit`'s suite, baseline scope, {_workers(args.workers)}): "
                f"{outcome} | {t3:.1f} s, {hc / t3:.1f} host-controls/s |")
    rows.append(f"| floor: one batched SSH call per host, {PREFETCH_THREADS} hosts at a time | "
                f"{t4:.1f} s, {hc / t4:.1f} host-controls/s (audit = {t3 / t4:.1f} × floor) |")
    if args.audit_parts:
        t6, _ = timed(lambda: audit_startup(inv, args.workers))
        rows.append(f"| the audit's start-up: the same command, every test deselected | {t6:.1f} s "
                    f"({t6 / t3:.0%} of the audit) |")
        for workers in sorted({1, 2, n} - {args.workers}):  # 1: no xdist at all
            t7, outcome = timed(lambda w=workers: audit(inv, w))
            rows.append(f"| the same audit, {_workers(workers)}: {outcome} | {t7:.1f} s "
                        f"({t7 / t4:.1f} × floor) |")
    if lynis:
        hard, warnings = lynis_index(lab, names[0])
        rows.append(f"| Lynis hardening index, fresh → after baseline.yml | {fresh} → {hard} |")
        rows.append(f"| Lynis warnings left | {'; '.join(warnings) or 'none'} |")
    return rows


def _workers(workers: int) -> str:
    return ("one process, hosts read in threads" if workers == 1
            else f"-n {workers} --dist loadgroup")


def audit(inv: Path, workers: int) -> str:
    """The baseline scope run as `provdc audit` runs it; its junit tally ("720 passed")."""
    with tempfile.TemporaryDirectory(prefix="hardening-bench-") as out:
        files = run_suite(inv, Path(out), workers=workers, scope=["baseline"])
        suite = ET.parse(files.junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        tests, failed = int(suite.get("tests")), int(suite.get("failures")) + int(
            suite.get("errors"))
        return f"{tests - failed - int(suite.get('skipped'))} passed, {failed} failed"


def audit_startup(inv: Path, workers: int) -> None:
    """What the audit pays before its first check: pytest, the plugins and xdist's workers
    starting and collecting (run_suite's command with every test deselected; exit status 5,
    no tests ran)."""
    subprocess.run([sys.executable, "-m", "pytest", *map(str, scope_files(["baseline"])), "-q",
                    "-c", str(SUITE / "pytest.ini"), "--rootdir", str(SUITE), "-p",
                    "no:cacheprovider", "-p", "provdc.audit.plugin", "--hosts=ansible://all",
                    f"--ansible-inventory={inv}",
                    *xdist_args(workers),
                    "-k", "provdc_deselects_every_test"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
