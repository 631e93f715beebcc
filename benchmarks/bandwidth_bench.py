"""Bandwidth policy benchmark: apply time for N gateways, and measured accuracy per class.

    sudo .venv/bin/python benchmarks/bandwidth_bench.py apply --gateways 10 50
    sudo .venv/bin/python benchmarks/bandwidth_bench.py accuracy -i inventory/lab-NAME/hosts.yml \
        --site phuong-5

`apply` builds N throwaway network namespaces (`bwbench-<pid>-<n>`, each with a veth pair, as
a gateway's uplink) and times, over all N: the baseline (a bare `tc -batch` of the rendered
tree, what a hand-written script would do), the first `provdc-bandwidth apply` (read the live
tree, detect the leaf qdisc, validate on a scratch link, replace, read back) and the second
one (nothing to change). Everything it creates is removed at the end.

`accuracy` runs `provdc bandwidth measure` on a running lab and prints contracted vs
measured per class, alone and under contention. Both print Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provdc.qos import htb, policy
from provdc.topology.validate import load

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"
SCRIPT = Path(htb.__file__)


def _sh(*argv: str, stdin: str | None = None, env: dict | None = None) -> None:
    subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True,
                   env={**os.environ, **(env or {})})


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_apply(count: int, spec: dict) -> dict:
    names = [f"bwbench-{os.getpid()}-{n}" for n in range(count)]
    batch = htb.render_batch("v0", htb.tree_from_spec(spec, "pfifo"))
    state = Path(tempfile.mkdtemp(prefix="bwbench-"))  # each gateway's own /run
    spec_file = state / "spec.json"
    spec_file.write_text(json.dumps(spec))
    try:
        for ns in names:
            _sh("ip", "netns", "add", ns)
            _sh("ip", "netns", "add", f"{ns}p")
            _sh("ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
                "netns", f"{ns}p")
            _sh("ip", "-n", ns, "link", "set", "v0", "up")

        def raw() -> None:
            for ns in names:
                _sh("ip", "netns", "exec", ns, "tc", "-batch", "-", stdin=batch)

        def apply() -> None:
            for ns in names:
                (state / ns).mkdir(exist_ok=True)
                _sh("ip", "netns", "exec", ns, sys.executable, str(SCRIPT), "apply",
                    str(spec_file), env={"PROVDC_BANDWIDTH_RUN_DIR": str(state / ns)})

        baseline = _timed(raw)
        for ns in names:  # back to a bare link, so that the first apply has work to do
            _sh("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "v0", "root")
        first = _timed(apply)
        second = _timed(apply)
    finally:
        shutil.rmtree(state)
        for ns in names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["ip", "netns", "del", f"{ns}p"], capture_output=True)
    return {"gateways": count, "baseline_s": baseline, "first_s": first, "second_s": second}


def apply_table(rows: list[dict]) -> str:
    out = ["| gateways | bare `tc -batch` (baseline) | `apply`, first | ratio | "
           "`apply`, nothing to change | ratio |", "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['gateways']} | {r['baseline_s']:.2f} s | {r['first_s']:.2f} s | "
                   f"{r['first_s'] / r['baseline_s']:.1f}x | {r['second_s']:.2f} s | "
                   f"{r['second_s'] / r['baseline_s']:.1f}x |")
    return "\n".join(out)


def accuracy_table(report: dict) -> str:
    out = [f"Site `{report['site']}` ({report['tier']}): link {report['link_mbit']:g} Mbit/s, "
           f"shaped {report['shaped_mbit']:g}; goodput expected = layer-2 rate x "
           f"{report['goodput_factor']}; runs of {report['seconds']} s.", "",
           "| direction | class | DSCP | guarantee | ceiling | alone (Mbit/s) | alone / "
           "corrected ceiling | together | together / corrected guarantee |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for d, res in report["directions"].items():
        for r in res["classes"]:
            out.append(f"| {d} | {r['class']} | {r['dscp']} | {r['rate_mbit']:g} | "
                       f"{r['ceil_mbit']:g} | {r['solo_mbit']:.2f} | {r['solo_ratio']:.1%} | "
                       f"{r['together_mbit']:.2f} | {r['together_ratio']:.1%} |")
        out.append(f"| {d} | **all** | | | {report['shaped_mbit']:g} | | | "
                   f"{res['together_mbit']:.2f} | {res['together_ratio']:.1%} of the uplink |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    a = sub.add_parser("apply")
    a.add_argument("--gateways", type=int, nargs="+", default=[10, 50])
    m = sub.add_parser("accuracy")
    m.add_argument("-i", "--inventory", required=True)
    m.add_argument("--site", default="phuong-5")
    m.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    if args.what == "apply":
        spec = policy.site_spec(load(SAMPLE).topology, "phuong-5", "v0", "uplink")
        print(apply_table([bench_apply(n, spec) for n in args.gateways]))
    else:
        from provdc.qos import inventory, measure

        inv = inventory.read(args.inventory)
        topo = load(inv.topology or SAMPLE).topology
        report = measure.run(measure.Setup.from_inventory(inv, topo, args.site), args.seconds)
        print(accuracy_table(report))


if __name__ == "__main__":
    main()
