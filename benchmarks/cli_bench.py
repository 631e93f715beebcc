"""CLI start-up: `provdc --help`, `--version`, `validate` and a sub-command group's help
against the bare interpreter (`python -c pass`) measured in the same run.

Median CPU time (user + system) of each process: on a shared machine the wall clock measures
the neighbours; on an idle one the two agree within a few percent. Target: `--help` and
`validate` within 0.3 s of the bare interpreter.

    .venv/bin/python benchmarks/cli_bench.py [--write]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import markdown_table, write_section  # noqa: E402
from topology_bench import PROVDC, wall  # noqa: E402  (median CPU time of a process)

REPEAT = 9


def cpu(cmd: list[str]) -> float:
    return wall(cmd, REPEAT)


def main() -> None:
    bare = cpu([sys.executable, "-c", "pass"])
    cases = [
        ("provdc --help", [*PROVDC, "--help"]),
        ("provdc --version", [*PROVDC, "--version"]),
        ("provdc validate (Sóc Trăng sample)",
         [*PROVDC, "validate", "inventory/soctrang/topology.yml"]),
        ("provdc lab --help (a group loaded on use)", [*PROVDC, "lab", "--help"]),
    ]
    rows = [["python -c pass", f"{bare:.3f} s", "—"]]
    for name, cmd in cases:
        took = cpu(cmd)
        rows.append([name, f"{took:.3f} s", f"+{took - bare:.3f} s"])
        print(rows[-1], flush=True)
    body = (
        "`.venv/bin/python benchmarks/cli_bench.py --write` — median CPU time (user + system) "
        f"of {REPEAT} runs of each process, the bare interpreter measured in the same run; load "
        f"average at the start {os.getloadavg()[0]:.0f}. Sub-command groups (lab, audit, "
        "cloud, bandwidth, segmentation...) are imported only when one of their commands runs.\n\n"
        + markdown_table(["command", "CPU time", "beyond python -c pass"], rows)
        + "\n\nTarget: `--help` and `validate` within 0.3 s of the bare interpreter.\n"
    )
    print(body)
    if "--write" in sys.argv:
        write_section("cli", "CLI start-up", body)


if __name__ == "__main__":
    main()
