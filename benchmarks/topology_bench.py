"""Validate + plan wall time through the real CLI, for the sample and synthetic provinces;
and `provdc migrate plan` from the three former provinces to the merged Cần Thơ.

Baselines measured in the same run: the interpreter starting and importing the CLI
(`provdc --help`, `provdc --version`), and parsing the same YAML with PyYAML's C loader alone
(a floor: any validator must at least read the file).

    .venv/bin/python benchmarks/topology_bench.py [--write] [--only migrate]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import markdown_table, write_section  # noqa: E402

from provdc.topology.synthetic import write_synthetic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROVDC = [sys.executable, "-m", "provdc"]


def wall(cmd: list[str], repeat: int) -> float:
    """Median CPU seconds (user + system) of the command: on a shared machine the wall
    clock measures the neighbours; on an idle one the two agree within a few percent."""
    times = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times)


def yaml_floor(path: Path, repeat: int) -> float:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    times = []
    for _ in range(repeat):
        start = time.process_time()
        yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        times.append(time.process_time() - start)
    return statistics.median(times)


def migrate() -> None:
    """The migration plan's CLI time beyond start-up (target: under a second)."""
    merged = ROOT / "inventory/cantho-merged"
    former = [str(merged / "former" / f"{p}.yml") for p in ("can-tho", "hau-giang", "soc-trang")]
    startup = wall([*PROVDC, "--version"], 7)
    rows = []
    for fmt in ("table", "json"):
        plan = wall([*PROVDC, "migrate", "plan", *former, str(merged / "topology.yml"),
                     "--format", fmt], 5)
        rows.append([f"migrate plan --format {fmt}", "111 + 105 + 141 → 120", f"{plan:.2f} s",
                     f"{plan - startup:.2f} s", f"{plan / startup:.1f}×"])
        print(rows[-1], flush=True)
    body = (
        "`.venv/bin/python benchmarks/topology_bench.py --only migrate --write` — median CPU "
        "time (user + system) of the CLI process over 5 runs; start-up alone (`provdc "
        f"--version`, 7 runs) {startup:.2f} s in the same run; load average at the start "
        f"{os.getloadavg()[0]:.0f}. The inputs are the shipped `inventory/cantho-merged/` files "
        "(three former provinces, 357 former sites, the merged city).\n\n"
        + markdown_table(["command", "sites (former → new)", "CLI time", "beyond start-up",
                          "CLI / start-up"], rows)
        + "\n\nTarget: under 1 s of CLI time beyond start-up.\n"
    )
    print(body)
    if "--write" in sys.argv:
        write_section("migrate", "Migration plan: three former provinces to one", body)


def main() -> None:
    if "--only" in sys.argv and "migrate" in sys.argv:
        migrate()
        return
    tmp = Path(tempfile.mkdtemp())
    sample = ROOT / "inventory/soctrang/topology.yml"
    cases = [
        ("Sóc Trăng sample", sample, 142, 5),
        ("synthetic 1,000 sites", write_synthetic(tmp / "s1k.yml", 10, 99, template=sample),
         1001, 3),
        ("synthetic 10,000 sites", write_synthetic(tmp / "s10k.yml", 100, 99, template=sample),
         10001, 3),
    ]
    startup = wall([*PROVDC, "--help"], 5)
    rows = []
    for name, path, sites, repeat in cases:
        validate = wall([*PROVDC, "validate", str(path)], repeat)
        plan = wall([*PROVDC, "plan", str(path), "--format", "json"], repeat)
        floor = yaml_floor(path, repeat)
        rows.append([name, sites, f"{validate:.2f} s", f"{plan:.2f} s",
                     f"{floor:.2f} s", f"{validate / startup:.1f}×"])
        print(rows[-1], flush=True)
    body = (
        "`.venv/bin/python benchmarks/topology_bench.py --write` — median CPU time (user + "
        "system) of the CLI process, which is its wall time on an idle machine; CLI start-up "
        f"alone (`provdc --help`) {startup:.2f} s in the same run; load average at the start "
        f"{os.getloadavg()[0]:.0f} (other engineers' labs were running).\n\n"
        + markdown_table(
            ["topology", "sites", "validate", "plan --format json", "YAML parse floor",
             "validate / CLI start-up"], rows)
        + "\n\nTargets: full province < 1 s, 10,000 sites < 5 s of CLI wall time.\n"
    )
    print(body)
    if "--write" in sys.argv:
        write_section("topology", "Topology: validate + plan", body)
    migrate()


if __name__ == "__main__":
    main()
