"""Offline preview of the Sóc Trăng cloud stack: wall time and resource count.

`provdc preview --stack soctrang` runs the whole Pulumi program under recording mocks and
then the 14 policy rules. Baselines measured in the same run: validating the same topology
through the CLI (`provdc validate`, the part every command pays) and importing pulumi_aws
alone (a floor: any Pulumi program on AWS pays it).

    .venv/bin/python benchmarks/cloud_bench.py [--repeat N] [--write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import markdown_table, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROVDC = [sys.executable, "-m", "provdc"]


def wall(cmd: list[str], repeat: int, ok_codes=(0,)) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if run.returncode not in ok_codes:
            raise SystemExit(f"{' '.join(cmd)} failed: {run.stderr[-500:]}")
        out = run.stdout
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    args = parser.parse_args()

    validate, _ = wall([*PROVDC, "validate", "inventory/soctrang/topology.yml"], args.repeat)
    floor, _ = wall([sys.executable, "-c", "import pulumi_aws"], args.repeat)
    preview, out = wall([*PROVDC, "preview", "--stack", "soctrang", "--format", "json"],
                        args.repeat)
    doc = json.loads(out)
    rows = [
        ["`provdc validate` (baseline)", f"{validate:.2f}", "1.0", "-"],
        ["`import pulumi_aws` (floor)", f"{floor:.2f}", f"{floor / validate:.1f}", "-"],
        ["`provdc preview --stack soctrang`", f"{preview:.2f}", f"{preview / validate:.1f}",
         str(doc["resource_count"])],
    ]
    table = markdown_table([f"command (median of {args.repeat}, wall)", "seconds",
                            "× validate", "resources"], rows)
    print(table)
    print(f"\npreview / import floor: {preview / floor:.1f}×; policies passed: {doc['passed']}")
    if args.write:
        body = (
            "\nScript: `benchmarks/cloud_bench.py` (`--write` refreshes this table). The preview\n"
            "runs the whole program under mocks plus the policy rules; no cloud, no Pulumi CLI.\n\n"
            f"{table}\n\npreview / import floor: {preview / floor:.1f}×; "
            f"{len(doc['policies'])} rules, passed: {doc['passed']}. "
            f"Measured {time.strftime('%Y-%m-%d')} on a shared 2-core machine.\n"
        )
        write_section("cloud", "Cloud stacks: offline preview", body)


if __name__ == "__main__":
    main()
