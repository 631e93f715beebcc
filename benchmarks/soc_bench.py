"""Benchmark the SOC collector: events per second it stores from many agents, without loss.

    python benchmarks/soc_bench.py --lab soc                  # 50 agent hosts (default)
    python benchmarks/soc_bench.py --lab soc --agents 20 --events 1000 --write

Needs a running lab (`provdc lab up --name soc`). The script adds AGENTS pristine hosts to
the data-centre zones that send to the SOC collector (one lab host each: own network
namespace, systemd, rsyslog), applies playbooks/soc.yml to them, the collector and the NTP
host, measures, and removes the hosts again. Each agent sends EVENTS events (python3 on the
host, straight into rsyslog's socket); they travel the real path (agent rsyslog ->
disk-assisted queue -> RELP/TLS -> collector -> file per host and day). The rate runs from
the start of the senders to the last stored event (sender start-up included, so it
understates the collector); anything still missing after a 30 s stall is reported as lost.

Baseline in the same run: one agent host sending alone. The figure that matters is the
ratio of the aggregate rate to it (is the collector the bottleneck, or the senders?).
Other labs on the machine compete for its 2 cores: the load average is printed with each row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provdc.lab import inventory, runtime
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


ZONES = ("DMZ", "APP", "DB", "BACKUP")  # zones with a flow to the SOC collector


def add_agents(lab: str, count: int) -> list[str]:
    """Boot COUNT pristine agent hosts, spread over the zones; returns those that booted."""
    booted = []
    for i in range(count):
        name = f"socb-{i + 1:02d}"
        try:
            runtime.add_host(lab, name, f"zone:{ZONES[i % len(ZONES)]}")
        except Exception as exc:  # a host that cannot boot ends the ramp: measure the rest
            print(f"host {i + 1} of {count} did not boot ({exc}); measuring {len(booted)}",
                  file=sys.stderr)
            break
        booted.append(name)
    return booted


def apply_soc(lab: str, names: list[str], pki_dir: Path) -> None:
    """soc.yml on the collector, the NTP host and the agents (an inventory of just them)."""
    state = runtime.load_state(lab)
    ldir = runtime.LabDir(lab)
    hosts = [h for h in state.plan.hosts
             if h.name in names or h.service in ("soc-collector", "ntp")]
    path = ldir.root / "inventory-soc-bench.yml"
    path.write_text(inventory.render_hosts_yml(state.plan, ldir.key, ldir.control_dir, hosts))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    run = subprocess.run(
        ["ansible-playbook", "-i", str(path), "playbooks/soc.yml",
         "-e", json.dumps({"soc_pki_dir": str(pki_dir)})],
        cwd=REPO, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"soc.yml failed on the benchmark hosts:\n{run.stdout[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab", default=os.environ.get("PROVDC_LAB_NAME", "soc"))
    ap.add_argument("--agents", type=int, default=50, help="agent hosts to add")
    ap.add_argument("--events", type=int, default=1000, help="events per agent host")
    ap.add_argument("--pki-dir", type=Path, default=REPO / ".provdc" / "soc-pki")
    ap.add_argument("--write", action="store_true", help="refresh benchmarks/README.md")
    args = ap.parse_args()

    state = runtime.load_state(args.lab)
    if state is None:
        raise SystemExit(f"lab {args.lab} is not up: provdc lab up --name {args.lab}")
    ssh = lp.Ssh(runtime.LabDir(args.lab).ssh_config)
    collector = next(h.name for h in state.plan.hosts if h.service == "soc-collector")
    start = time.monotonic()
    agents = add_agents(args.lab, args.agents)
    try:
        boot_s = time.monotonic() - start
        apply_soc(args.lab, agents, args.pki_dir)
        rows = [run_once(ssh, collector, agents[:1], 1, args.events),
                run_once(ssh, collector, agents, 1, args.events)]
    finally:
        for name in agents:
            runtime.remove_host(args.lab, name)
    base = rows[0]["rate"]
    header = ["agent hosts", "events", "lost", "seconds (all stored)", "stored events/s",
              "vs 1 host", "load avg"]
    table = markdown_table(header, [
        [r["hosts"], r["events"], r["lost"], f"{r['seconds']:.1f}", f"{r['rate']:.0f}",
         f"{r['rate'] / base:.2f}×", f"{r['load']:.1f}"] for r in rows])
    print(table)
    print(f"{len(agents)} of {args.agents} agent hosts booted in {boot_s:.0f} s")
    if args.write:
        body = (
            "\nScript: `benchmarks/soc_bench.py --lab NAME [--agents 50 --events N --write]` "
            "(root, a running\nlab). It boots the agent hosts (one lab host each, in the "
            "DMZ/APP/DB/BACKUP zones), applies\n`playbooks/soc.yml`, and each agent sends "
            "through its own rsyslog, disk-assisted queue and\nRELP/TLS session; the "
            "collector stores one file per host and day. Rows: the baseline (one\nagent "
            "sending alone), then every agent at once.\n\n" + table + "\n\n"
            f"{len(agents)} of {args.agents} agent hosts booted ({boot_s:.0f} s) on the shared "
            "2-core machine. Short runs with 0.5 s\npolling: read the ratio as a lower bound.\n")
        write_section("soc", "Security monitoring: SOC collector throughput", body)


if __name__ == "__main__":
    main()
