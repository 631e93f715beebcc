"""Benchmark the local lab: image build (cold), up/down per size, memory per host.

    python benchmarks/lab_bench.py                      # small + 50 hosts, 3 runs each
    python benchmarks/lab_bench.py --province           # + the whole province (~300 hosts)
    python benchmarks/lab_bench.py --cold-image         # + a cold image build (~1.5 min, network)
    python benchmarks/lab_bench.py --write              # refresh the table in benchmarks/README.md

Needs root and systemd-nspawn. Uses its own lab name (`bench-<pid>`), so it never touches
another lab; other labs running on the machine do compete for the CPU, so the load average
and the number of other lab hosts are printed next to each figure.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from provdc.lab import image, runtime
from provdc.lab.model import plan_lab
from provdc.topology.validate import load

REPO = Path(__file__).resolve().parents[1]
TOPOLOGY = REPO / "inventory" / "soctrang" / "topology.yml"
README = REPO / "benchmarks" / "README.md"


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable")


def lab_pss_mb(name: str) -> float | None:
    """Proportional set size of every process of the lab (all hosts + their nspawn)."""
    dirs = runtime._cgroup_dirs(name)
    if not dirs:
        return None
    total_kb = 0
    for pid in runtime._cgroup_procs(dirs[:1]):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def context() -> str:
    load1 = os.getloadavg()[0]
    others = [n for n in os.listdir("/run/netns") if not n.startswith("bench-")] if Path(
        "/run/netns").is_dir() else []
    return f"load {load1:.1f}, {len(others)} other netns"


def measure(name: str, plan, runs: int) -> dict:
    ups, downs, mems, pss, ctx = [], [], [], [], []
    inv = Path(tempfile.mkdtemp(prefix="lab-bench-inv-"))
    for _ in range(runs):
        ctx.append(context())
        before = mem_available_mb()
        t = time.monotonic()
        runtime.up(plan, inv, log=lambda m: None, timeout=900)
        ups.append(time.monotonic() - t)
        time.sleep(5)  # let every host settle (journald, logind) before reading memory
        mems.append((before - mem_available_mb()) / len(plan.hosts))
        lab_pss = lab_pss_mb(name)
        if lab_pss is not None:
            pss.append(lab_pss / len(plan.hosts))
        t = time.monotonic()
        runtime.down(name, log=lambda m: None)
        downs.append(time.monotonic() - t)
        assert runtime.leftovers(name) == {}, runtime.leftovers(name)
    return {"hosts": len(plan.hosts), "up": ups, "down": downs, "mem": mems, "pss": pss,
            "ctx": ctx}


def fmt(values: list[float], unit: str = "s") -> str:
    if len(values) == 1:
        return f"{values[0]:.1f} {unit}"
    return f"{statistics.median(values):.1f} {unit} (min {min(values):.1f}, max {max(values):.1f})"


def cold_image() -> float:
    with tempfile.TemporaryDirectory(prefix="provdc-image-bench-") as tmp:
        os.environ["PROVDC_IMAGE_CACHE"] = tmp
        try:
            img = image.ensure_image(log=lambda m: None)
            return img.build_seconds or 0.0
        finally:
            del os.environ["PROVDC_IMAGE_CACHE"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--province", action="store_true", help="also the full province (1 run)")
    ap.add_argument("--cold-image", action="store_true", help="also a cold image build")
    ap.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("the lab benchmark needs root", file=sys.stderr)
        return 2

    loaded = load(TOPOLOGY)
    name = f"bench-{os.getpid()}"
    image.ensure_image(log=print)  # warm cache: the up timings below exclude the build
    rows: list[tuple[str, ...]] = []

    if args.cold_image:
        took = cold_image()
        rows.append(("image build, cold (mmdebstrap, network)", "-", f"{took:.1f} s", "-", "-",
                     "-", context()))
        print(rows[-1])

    plans = [("small profile (cached image)", plan_lab(loaded, name, "small"), args.runs)]
    sites = [s.slug for s in loaded.plan.sites][1:21]  # 20 sites x (gateway + 1) + 10 DC
    plans.append(("50 hosts (10 DC + 20 sites)", plan_lab(loaded, name, "small", sites=sites),
                  args.runs))
    if args.province:
        plans.append(("province profile (every site, HA)", plan_lab(loaded, name, "province"),
                      1))
    for label, plan, runs in plans:
        r = measure(name, plan, runs)
        rows.append((label, str(r["hosts"]), fmt(r["up"]), fmt(r["down"]),
                     fmt(r["pss"], "MB") if r["pss"] else "-", fmt(r["mem"], "MB"),
                     "; ".join(sorted(set(r["ctx"])))))
        print(rows[-1], flush=True)

    table = [
        f"Measured {time.strftime('%Y-%m-%d')} with `python benchmarks/lab_bench.py"
        f"{' --province' if args.province else ''}{' --cold-image' if args.cold_image else ''}`"
        f" on {os.cpu_count()} cores, {mem_available_mb() / 1024:.0f} GiB available; "
        f"{args.runs} runs (median, min, max) except the province (1 run). `up` is from "
        "nothing to every sshd answering (image cached). Memory per host: PSS of all the "
        "lab's processes (systemd, journald, sshd, ... and nspawn) divided by the hosts, and "
        "the drop of MemAvailable per host (adds kernel objects; noisy when the machine is "
        "shared). The machine was shared with other engineers' labs and tests: the last "
        "column gives the 1-minute load average and the other network namespaces at the "
        "start of each run.",
        "",
        "| what | hosts | up | down | PSS per host | MemAvailable drop per host "
        "| machine at start |",
        "|---|---|---|---|---|---|---|",
    ]
    table += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(table)
    print(text)
    if args.write:
        doc = README.read_text()
        begin, end = "<!-- lab-bench:begin -->", "<!-- lab-bench:end -->"
        if begin not in doc:
            raise SystemExit(f"{README} has no {begin} ... {end} block in its lab section")
        new = re.sub(re.escape(begin) + ".*?" + re.escape(end),
                     lambda m: begin + "\n" + text + "\n" + end, doc, flags=re.S)
        README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
