"""Segmentation: ruleset size per host and render time (small and province lab profiles, no
root needed), and `provdc segmentation verify` wall time on a running lab.

Baselines measured in the same run: loading the topology (`load()`: parse, validate, plan),
which every rendering must do anyway; and, for verify, one SSH round trip to every actor in
parallel (`ssh HOST true`), the floor of any traffic proof that starts something on hosts.

    .venv/bin/python benchmarks/segmentation_bench.py [--inventory inventory/lab-X/hosts.yml]
        [--runs 3] [--write]

One lab runs at a time on a shared machine, so each lab profile is timed by its own
invocation (segmentation.yml applied first); `--write` replaces the verify row of the
profile it measured and keeps the others' rows (each carries its own same-run baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import README, markdown_table, write_section  # noqa: E402

from provdc.hosts.inventory import ssh_argv  # noqa: E402
from provdc.lab.inventory import planned_hostvars as planned_lab_hostvars  # noqa: E402
from provdc.segmentation import matrix, render  # noqa: E402
from provdc.topology.validate import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"
VERIFY_HEADER = ["lab profile", "hosts", "allowed / forbidden probes", "failed", "verify",
                 "SSH floor", "ratio", "machine"]


def timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def render_all(hostvars: dict) -> dict:
    seg = matrix.build(load(SAMPLE), matrix.nodes_from_hostvars(hostvars))
    return {"zone": render.size(seg.zone),
            "hosts": {n: (seg.node(n).role, render.size(rs)) for n, rs in seg.hosts.items()}}


def size_rows(profile: str, runs: int) -> tuple[list[list[str]], list[str]]:
    # Sizes as outside a lab: without provdc_lab_name, so without the lab-only measurement
    # flows (one more rule on each DC and agency host, two on the core).
    hostvars = {h: {k: v for k, v in hv.items() if k != "provdc_lab_name"}
                for h, hv in planned_lab_hostvars(SAMPLE, profile).items()}
    base, _ = timed(lambda: load(SAMPLE), runs)
    took, sizes = timed(lambda: render_all(hostvars), runs)
    rows = []
    z = sizes["zone"]
    rows.append([profile, "zone firewall (core, forward)", "1", str(z["rules"]),
                 str(z["addresses"]), f"{z['bytes'] / 1024:.1f}"])
    for role in ("dc", "gateway", "agency"):
        mine = [s for r, s in sizes["hosts"].values() if r == role]
        if not mine:
            continue
        rules = sorted(s["rules"] for s in mine)
        addrs = sorted(s["addresses"] for s in mine)
        kib = sorted(s["bytes"] / 1024 for s in mine)
        rows.append([profile, f"{role} hosts (input)", str(len(mine)),
                     f"{rules[0]}-{rules[-1]} (median {statistics.median(rules):g})",
                     f"{addrs[0]}-{addrs[-1]}", f"{kib[0]:.1f}-{kib[-1]:.1f}"])
    timing = (f"{profile}: {len(hostvars)} hosts + the core rendered in {took * 1000:.0f} ms "
              f"(median of {runs}) = {took / base:.1f}x loading the topology ({base * 1000:.0f} "
              "ms, same run)")
    return rows, [timing]


def ssh_floor(hostvars: dict) -> float:
    actors = [v for v in hostvars.values() if v.get("provdc_address")
              and v.get("provdc_role") != "gateway"]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda v: subprocess.run(ssh_argv(v) + ["true"], capture_output=True),
                      actors))
    return time.perf_counter() - start


def profile_of(hostvars: dict) -> str:
    """The lab profile whose hosts the inventory holds, else how many sites it has."""
    names = set(hostvars)
    for profile in ("small", "province"):
        if names == set(planned_lab_hostvars(SAMPLE, profile)):
            return profile
    sites = {v["provdc_site"] for v in hostvars.values() if v.get("provdc_site")}
    return f"--sites ({len(sites)} sites)"


def verify_rows(inventory: str, runs: int) -> tuple[list[list[str]], dict]:
    from provdc.qos.inventory import read

    hostvars = read(inventory).hostvars
    times, floors, report = [], [], {}
    for _ in range(runs):
        floors.append(ssh_floor(hostvars))
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "provdc", "segmentation", "verify", "-i",
                               inventory, "--format", "json"], capture_output=True, text=True,
                              cwd=ROOT)
        times.append(time.perf_counter() - start)
        report = json.loads(proc.stdout)
    t, f = statistics.median(times), statistics.median(floors)
    row = [profile_of(hostvars), str(len(hostvars)),
           f"{report['allowed']} / {report['forbidden']}", str(report["failed"]),
           f"{t:.1f} s (min {min(times):.1f}, max {max(times):.1f})", f"{f:.1f} s",
           f"{t / f:.1f}x", f"load {os.getloadavg()[0]:.0f}, {time.strftime('%Y-%m-%d')}"]
    return [row], report


def earlier_verify_rows(measured: set[str]) -> list[list[str]]:
    """The verify rows in benchmarks/README.md of the profiles not measured in this run."""
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- section: segmentation -->", 1)[1].split(
        "<!-- end: segmentation -->", 1)[0]
    header = "| " + " | ".join(VERIFY_HEADER) + " |"
    if header not in section:
        return []
    rows = []
    for line in section.split(header, 1)[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == len(VERIFY_HEADER):
            rows.append(cells)
    return [r for r in rows if r[0] not in measured]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inventory", help="a running lab's inventory (segmentation.yml "
                    "applied): also time verify")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="refresh benchmarks/README.md")
    args = ap.parse_args()
    rows, notes = [], []
    for profile in ("small", "province"):
        r, n = size_rows(profile, args.runs)
        rows += r
        notes += n
    body = ["Script: `benchmarks/segmentation_bench.py` (`--inventory` of a running lab also "
            "times `provdc segmentation verify`; `--write` refreshes this section).", "",
            "Ruleset size per firewall, rendered from the Sóc Trăng sample for the hosts of "
            "the lab's profiles as outside a lab (a lab adds its measurement flows: one rule "
            "more on each DC and agency host, two on the core; address entries: networks in "
            "the rules' address sets, after merging adjacent prefixes). Most of the zone "
            "firewall's entries are the site gateways' own TSLCD addresses (the /31 ends, "
            "which do not merge): a gateway counts as its site, because its own log "
            "forwarding and time sync leave from that address, so each tier's flows list "
            "them all:", "",
            markdown_table(["profile", "firewall", "count", "rules", "address entries",
                            "KiB"], rows), ""]
    body += [f"- {n}" for n in notes]
    vrows = verify_rows(args.inventory, args.runs)[0] if args.inventory else []
    vrows += earlier_verify_rows({r[0] for r in vrows})
    if vrows:
        order = ["small", "province"]
        vrows.sort(key=lambda r: (order.index(r[0]) if r[0] in order else 2, int(r[1])))
        body += ["", "`provdc segmentation verify` on a running lab with segmentation.yml "
                 f"applied ({args.runs} runs per lab, one lab at a time; baseline: one parallel "
                 "SSH round trip to every actor, same run):", "",
                 markdown_table(VERIFY_HEADER, vrows)]
    text = "\n".join(body)
    print(text)
    if args.write:
        write_section("segmentation", "Zone segmentation", text)


if __name__ == "__main__":
    main()
