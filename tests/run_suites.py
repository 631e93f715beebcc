"""Run the whole test suite: one pytest session per suite directory, then one summary.

Why not one session: the lab-backed suites change their hosts (hardening, firewalls,
traffic shaping, log forwarding). Each session brings up its own fresh lab (see
provdc.lab.pytest_plugin) and tears it down, so no suite's changes leak into another's
measurements, and a leak at teardown fails the suite that caused it.

    python3 tests/run_suites.py [SUITE ...]     (default: every directory under tests/)
"""

from __future__ import annotations

import subprocess
import sys
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


def main() -> int:
    REPORTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in suites(sys.argv[1:]):
        junit = REPORTS / f"{name}.xml"
        junit.unlink(missing_ok=True)
        print(f"\n=== suite {name} ===", flush=True)
        start = time.monotonic()
        code = subprocess.call(
            [sys.executable, "-m", "pytest", f"tests/{name}", f"--junitxml={junit}"], cwd=ROOT
        )
        c = counts(junit)
        failed = c["failures"] + c["errors"]
        # exit 5 = nothing collected (a suite whose tests all need options it was not given)
        if code not in (0, 5) and failed == 0:
            failed = 1  # pytest itself failed (collection, teardown leak): count it
        passed = c["tests"] - c["failures"] - c["errors"] - c["skipped"]
        rows.append((name, passed, failed, c["skipped"], time.monotonic() - start))
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
