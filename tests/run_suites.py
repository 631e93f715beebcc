"""Run the whole test suite: one pytest session per suite directory, then one summary.

Why not one session: the lab-backed suites change their hosts (hardening, firewalls,
traffic shaping, log forwarding). Each session brings up its own fresh lab (see
provdc.lab.pytest_plugin) and tears it down, so no suite's changes leak into another's
measurements, and a leak at teardown fails the suite that caused it.

Two lanes: the SIDE suites (the VM host, mostly QEMU emulating a CPU, and the merger's
re-convergence) run one after the other beside the main lane, each in its own lab (labs are
named per session), so the two cores are both at work; their output is printed when the lane
ends. `--serial` runs everything in one lane.

    python3 tests/run_suites.py [--serial] [SUITE ...]   (default: every directory under tests/)
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports" / "tests"
# Fast, host-free suites first, so a broken model fails the run in the first minutes; the
# installed package and the installed collection last: they build the wheel (and the
# collection), install them outside the checkout and run them there, so they fail for
# packaging alone once the code itself has passed.
ORDER = ["topology", "migrate", "cloud", "evidence", "lab", "hardening", "qos", "segmentation",
         "soc", "backup", "pyinfra", "hosts", "inputs", "vm", "install", "collection"]


# Long suites whose work is mostly one core's (QEMU's TCG, one lab's Ansible run): beside the
# main lane they take the machine's second core instead of adding their time to the run.
SIDE = ["migrate", "vm"]


def suites(argv: list[str]) -> list[str]:
    found = sorted(p.name for p in (ROOT / "tests").iterdir()
                   if p.is_dir() and any(p.glob("test_*.py")))
    chosen = argv or found
    unknown = set(chosen) - set(found)
    if unknown:
        sys.exit(f"run_suites: no test suite named {', '.join(sorted(unknown))}")
    return sorted(chosen, key=lambda s: (ORDER.index(s) if s in ORDER else len(ORDER), s))


def counts(junit: Path) -> dict[str, int]:
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if not junit.exists():
        return total
    for suite in ET.parse(junit).getroot().iter("testsuite"):
        for key in total:
            total[key] += int(suite.get(key, 0))
    return total


def run_suite(name: str, out=None) -> tuple:
    """One pytest session; its row for the summary."""
    junit = REPORTS / f"{name}.xml"
    junit.unlink(missing_ok=True)
    print(f"\n=== suite {name} ===", flush=True, file=out or sys.stdout)
    start = time.monotonic()
    code = subprocess.call(
        [sys.executable, "-m", "pytest", f"tests/{name}", f"--junitxml={junit}"], cwd=ROOT,
        stdout=out, stderr=subprocess.STDOUT if out else None)
    c = counts(junit)
    failed = c["failures"] + c["errors"]
    # exit 5 = nothing collected (a suite whose tests all need options it was not given)
    if code not in (0, 5) and failed == 0:
        failed = 1  # pytest itself failed (collection, teardown leak): count it
    passed = c["tests"] - c["failures"] - c["errors"] - c["skipped"]
    return (name, passed, failed, c["skipped"], time.monotonic() - start)


def run_lane(names: list[str], log: Path, rows: list) -> None:
    with log.open("w", encoding="utf-8") as out:
        for name in names:
            rows.append(run_suite(name, out))
            out.flush()


def main() -> int:
    REPORTS.mkdir(parents=True, exist_ok=True)
    args = sys.argv[1:]
    serial = "--serial" in args
    chosen = suites([a for a in args if a != "--serial"])
    side = [] if serial else [n for n in chosen if n in SIDE]
    rows: list = []
    side_rows: list = []
    log = REPORTS / "side-lane.log"
    lane = threading.Thread(target=run_lane, args=(side, log, side_rows))
    if side:
        print(f"side lane: {', '.join(side)} (output in {log}, printed when it ends)",
              flush=True)
        lane.start()
    for name in chosen:
        if name not in side:
            rows.append(run_suite(name))
    if side:
        lane.join()
        print(f"\n=== side lane: {', '.join(side)} ===", flush=True)
        print(log.read_text(encoding="utf-8", errors="replace"), flush=True)
    rows += side_rows
    print("\n=== summary ===")
    for name, passed, failed, skipped, seconds in rows:
        print(f"{name:>14}: {passed} passed, {failed} failed, {skipped} skipped "
              f"({seconds:.0f} s)")
    total_passed = sum(r[1] for r in rows)
    total_failed = sum(r[2] for r in rows)
    total_skipped = sum(r[3] for r in rows)
    print(f"{total_passed} passed, {total_failed} failed, {total_skipped} skipped")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
