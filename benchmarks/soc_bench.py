"""Benchmark the SOC collector: events per second it stores from many agents, without loss.

    python benchmarks/soc_bench.py --lab soc                  # every agent host of the lab
    python benchmarks/soc_bench.py --lab soc --events 5000 --senders 4 --write

Needs a running lab (`provdc lab up --name soc`) with playbooks/soc.yml applied. Each agent
host sends EVENTS events per sender process (python3 on the host, straight into rsyslog's
socket); they travel the real path (agent rsyslog -> disk-assisted queue -> TLS -> collector
-> file per host and day). The rate runs from the start of the senders to the last stored
event (sender start-up included, so it understates the collector); anything still missing
after a 30 s stall is reported as lost.

Baseline in the same run: one agent host with one sender. The figure that matters is the
ratio of the aggregate rate to it (is the collector the bottleneck, or the senders?).
Other labs on the machine compete for its 2 cores: the load average is printed with each row.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provdc.lab import runtime
from provdc.soc import labproof as lp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _table import markdown_table, write_section  # noqa: E402


def stored(ssh: lp.Ssh, collector: str, tag: str) -> int:
    out = ssh.run(collector, f"cat {lp.STORE}/*/*.log | grep -c -F '{tag} ' || true").stdout
    return int(out.strip() or 0)


def run_once(ssh: lp.Ssh, collector: str, hosts: list[str], senders: int, events: int) -> dict:
    tag = lp.marker("bench")
    want = len(hosts) * senders * events
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(hosts) * senders) as pool:
        jobs = [pool.submit(lp.send_burst, ssh, h, f"{tag} s{i}", events)
                for h in hosts for i in range(senders)]
        last, last_change, got = -1, time.monotonic(), 0
        first: tuple[float, int] | None = None  # (when, how many) the first events landed
        while True:
            got = stored(ssh, collector, tag)
            now = time.monotonic()
            if got and first is None:
                first = (now, got)
            if got != last:
                last, last_change = got, now
            if got >= want or (now - last_change > 30 and all(j.done() for j in jobs)):
                break
            time.sleep(0.5)
        for j in jobs:
            j.result()
    # From the start of the senders to the last stored event: includes SSH and python
    # start-up on the senders (seconds on a loaded machine), so it understates the collector.
    elapsed = last_change - start
    return {"hosts": len(hosts), "senders": senders, "events": want, "stored": got,
            "lost": want - got, "seconds": elapsed, "rate": got / elapsed,
            "load": os.getloadavg()[0], "first": first}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab", default=os.environ.get("PROVDC_LAB_NAME", "soc"))
    ap.add_argument("--events", type=int, default=2000, help="events per sender process")
    ap.add_argument("--senders", type=int, default=4, help="sender processes per agent host")
    ap.add_argument("--write", action="store_true", help="refresh benchmarks/README.md")
    args = ap.parse_args()

    state = runtime.load_state(args.lab)
    if state is None:
        raise SystemExit(f"lab {args.lab} is not up: provdc lab up --name {args.lab}")
    ssh = lp.Ssh(runtime.LabDir(args.lab).ssh_config)
    collector = next(h.name for h in state.plan.hosts if h.service == "soc-collector")
    agents = [h.name for h in state.plan.hosts if not h.extra and h.name != collector
              and ssh.run(h.name, "test -f /etc/rsyslog.d/60-provdc-soc-forward.conf",
                          check=False).returncode == 0]
    if not agents:
        raise SystemExit("no agent host: run playbooks/soc.yml on the lab first")

    rows = [run_once(ssh, collector, agents[:1], 1, args.events),
            run_once(ssh, collector, agents, 1, args.events),
            run_once(ssh, collector, agents, args.senders, args.events)]
    base = rows[0]["rate"]
    header = ["agent hosts", "senders/host", "events", "lost", "seconds (all stored)",
              "stored events/s", "vs 1 sender", "load avg"]
    table = markdown_table(header, [
        [r["hosts"], r["senders"], r["events"], r["lost"], f"{r['seconds']:.1f}",
         f"{r['rate']:.0f}", f"{r['rate'] / base:.2f}×", f"{r['load']:.1f}"] for r in rows])
    print(table)
    if args.write:
        body = (
            "\nScript: `benchmarks/soc_bench.py --lab NAME [--events N --senders K --write]` "
            "(root, a lab with\n`playbooks/soc.yml` applied). Each agent sends through its own "
            "rsyslog, disk-assisted queue and\nTLS session; the collector stores one file per "
            "host and day. Rows: the baseline (one host,\none sender), every agent host with "
            "one sender, then with several senders each.\n\n" + table + "\n")
        write_section("soc", "Security monitoring: SOC collector throughput", body)


if __name__ == "__main__":
    main()
