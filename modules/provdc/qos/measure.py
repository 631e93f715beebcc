"""Measure a site's classes with real traffic: iperf3 between an agency host and a DC host.

For each direction (uplink: site -> DC, shaped on the gateway; downlink: DC -> site, shaped
on the core side) the sender runs the iperf3 client (iperf3 3.12 does not mark the server's
packets in `-R` mode, so the roles swap instead). Every class runs alone (it may borrow up
to its ceiling), then all classes at once (each must keep its guarantee). Each class is marked
with its DSCP (`iperf3 --dscp`), so the result also proves the classification: the class
counters of the shaped interface are read before and after each solo run.

TCP goodput is compared with the contracted layer-2 rate x 1448/1514 (about 95.6 %): the
share of an MTU-1500 Ethernet frame that is TCP payload (with timestamps).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import threading
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

from provdc.console import PlainTable
from provdc.errors import ProvdcError
from provdc.qos import inventory as qos_inventory
from provdc.qos import policy
from provdc.qos.inventory import Inventory
from provdc.topology.schema import Topology

GOODPUT = 1448 / 1514
BASE_PORT = 5201
SOLO_TOLERANCE = 0.05  # a class alone: within +-5 % of its corrected ceiling
GUARANTEE_FLOOR = 0.95  # under contention: at least 95 % of its corrected guarantee
SUM_SLACK = 0.01  # all together: at most the corrected uplink (+1 % measurement noise)


@dataclass(frozen=True)
class Runner:
    """Runs a shell command on a host: over SSH as Ansible would, or in a local namespace."""

    name: str
    argv: tuple[str, ...]

    def run(self, command: str, timeout: float = 120) -> str:
        proc = subprocess.run([*self.argv, command], capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise ProvdcError(f"on {self.name}: `{command}` failed: "
                              f"{(proc.stderr or proc.stdout).strip()[-300:]}",
                              fix="check that the lab is up and iperf3 is installed on the hosts")
        return proc.stdout

    @classmethod
    def ssh(cls, name: str, v: dict) -> Runner:
        argv = ["ssh", "-o", "BatchMode=yes", "-p", str(v.get("ansible_port", 22))]
        if v.get("ansible_ssh_private_key_file"):
            argv += ["-i", v["ansible_ssh_private_key_file"]]
        argv += shlex.split(v.get("ansible_ssh_common_args", ""))
        argv.append(f"{v.get('ansible_user', 'root')}@{v.get('ansible_host', name)}")
        return cls(name, tuple(argv))

    @classmethod
    def netns(cls, name: str) -> Runner:
        return cls(f"namespace {name}", ("ip", "netns", "exec", name, "sh", "-c"))


@dataclass
class Setup:
    site: str
    spec: dict
    agency: tuple[Runner, str]  # an agency host at the site, and its address
    dc: tuple[Runner, str]  # a DC host
    shapers: dict[str, tuple[Runner, str]]  # direction -> (where, device) for class counters

    @classmethod
    def from_inventory(cls, inv: Inventory, topo: Topology, site: str) -> Setup:
        gw = qos_inventory.gateway_of(inv, site)
        agency = inv.site_hosts(site, "agency")
        dc = inv.group("dc_hosts")
        if not agency or not dc:
            raise ProvdcError(f"measuring site '{site}' needs an agency host of the site and a "
                              f"DC host in the inventory (found {len(agency)} and {len(dc)})",
                              file=inv.path, fix="bring the lab up with that site included")
        if gw.core_host:
            core = Runner.ssh(gw.core_host, inv.hostvars.get(gw.core_host, {}))
        elif gw.core_netns:
            core = Runner.netns(gw.core_netns)
        else:
            raise ProvdcError(f"gateway '{gw.host}' says neither provdc_core_host nor "
                              "provdc_core_netns", file=inv.path, field=f"{gw.host}",
                              fix="set where the core side of the link is shaped")
        def end(host: str) -> tuple[Runner, str]:
            v = inv.hostvars[host]
            return Runner.ssh(host, v), v.get("provdc_address") or v.get("ansible_host", host)

        return cls(site, policy.site_spec(topo, site, gw.uplink_if, "uplink"),
                   end(agency[0]), end(dc[0]),
                   {"uplink": (Runner.ssh(gw.host, gw.vars), gw.uplink_if),
                    "downlink": (core, gw.core_if)})


def class_bytes(text: str) -> dict[str, int]:
    """Bytes sent per class from `tc -s class show` text."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"class htb (\S+) ", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"\s*Sent (\d+) bytes", line)
        if m and current:
            out[current] = int(m.group(1))
    return out


def _ends(setup: Setup, direction: str) -> tuple[tuple[Runner, str], tuple[Runner, str]]:
    """(sender, receiver) of a direction."""
    return (setup.agency, setup.dc) if direction == "uplink" else (setup.dc, setup.agency)


def _iperf(setup: Setup, direction: str, port: int, codepoint: int, seconds: int) -> float:
    (sender, _), (_, address) = _ends(setup, direction)
    cmd = f"iperf3 -J -c {address} -p {port} -t {seconds} -O 1 --dscp {codepoint}"
    data = json.loads(sender.run(cmd, timeout=seconds + 60))
    return data["end"]["sum_received"]["bits_per_second"]


def _together(setup: Setup, direction: str, seconds: int) -> list[dict]:
    """Every class at once. The runs are started by one shell on the sender, yet on a busy
    machine they may still start a second or more apart, and a class then runs alone for a
    while. So each class's share is read where HTB enforces it: the byte counters of the
    shaped interface, sampled while the runs last, fitted only over the stretch in which
    every class is moving. Counters are layer 2; x 1448/1514 gives the TCP goodput. The
    iperf3 receivers' own means are kept for reference."""
    (sender, _), (_, address) = _ends(setup, direction)
    classes = setup.spec["classes"]
    length = seconds + 4
    # each run's JSON goes to a private directory made for this measurement (mktemp -d),
    # never to a fixed path in the shared /tmp that another user could have planted
    runs = [f"iperf3 -J --get-server-output -c {address} -p {BASE_PORT + i} -t {length} "
            f"-O 1 --dscp {c['codepoint']} > \"$d/{i}.json\" &"
            for i, c in enumerate(classes)]
    files = " ".join(f'"$d/{i}.json"' for i in range(len(runs)))
    result: dict[str, str] = {}

    def flows() -> None:
        result["text"] = sender.run("d=$(mktemp -d) || exit 1; " + " ".join(runs)
                                    + f" wait; for f in {files}; do cat \"$f\"; echo {_SEP}; "
                                    "done; rm -rf \"$d\"", timeout=length + 60)

    thread = threading.Thread(target=flows)
    thread.start()
    try:
        samples = _samples(setup, direction, length + 2)
    finally:
        thread.join()
    rates = _busy_rates(samples, [c["classid"] for c in classes], min_span=min(seconds, 2))
    out = []
    for c, chunk in zip(classes, result.get("text", "").split(_SEP), strict=False):
        data = json.loads(chunk)
        if "error" in data:
            raise ProvdcError(f"iperf3 on {sender.name}: {data['error']}",
                              fix="re-run; check the hosts' iperf3 servers")
        out.append({"layer2": rates[c["classid"]], "iperf3": steady_goodput(data)})
    if len(out) != len(classes):
        raise ProvdcError(f"only {len(out)} of {len(classes)} concurrent iperf3 runs reported",
                          fix="re-run; check the hosts' iperf3 servers")
    return out


Sample = tuple[float, dict[str, int]]


def _samples(setup: Setup, direction: str, seconds: int) -> list[Sample]:
    """Class byte counters every 0.2 s for `seconds`, read on the shaper. Each sample is
    dated at the midpoint of two clock readings around `tc`: on a loaded machine one `tc`
    run can take a noticeable part of a second."""
    where, dev = setup.shapers[direction]
    loop = (f"end=$(($(date +%s) + {seconds})); while [ $(date +%s) -lt $end ]; do "
            f"date +%s.%N; tc -s class show dev {dev}; date +%s.%N; echo {_SEP}; sleep 0.2; "
            "done")
    samples = []
    for chunk in where.run(loop, timeout=seconds + 30).split(_SEP):
        lines = chunk.strip().splitlines()
        if len(lines) >= 3:
            stamp = (float(lines[0]) + float(lines[-1])) / 2
            samples.append((stamp, class_bytes("\n".join(lines[1:-1]))))
    return samples


def _busy_rates(samples: list[Sample], classids: list[str], min_span: float) -> dict[str, float]:
    """Bit/s of each class: least-squares slope of its counter over the window in which every
    class was running (from the last class's first movement to the first class's last
    movement), without the window's first and last step (a run may have started or stopped
    inside them). A class that stalls for a sample or two inside the window (TCP recovering
    from a drop on the shaped link) stays in: its stall is part of its real rate."""
    moved = [[b.get(k, 0) > a.get(k, 0) for k in classids]
             for (_, a), (_, b) in zip(samples, samples[1:], strict=False)]
    firsts = [next((i for i, m in enumerate(moved) if m[j]), None) for j in range(len(classids))]
    lasts = [next((i for i in reversed(range(len(moved))) if moved[i][j]), None)
             for j in range(len(classids))]
    stretch: list[Sample] = []
    if None not in firsts and None not in lasts:
        stretch = samples[max(firsts) + 1: min(lasts) + 1]  # samples strictly inside the window
    if len(stretch) < 3 or stretch[-1][0] - stretch[0][0] < min_span:
        raise ProvdcError("the classes never all carried traffic together for "
                          f"{min_span:g} s (common window: {len(stretch)} samples)",
                          fix="re-run on a less loaded machine or with more --seconds")
    return {k: _slope([(t, c.get(k, 0)) for t, c in stretch]) * 8 for k in classids}


def _slope(points: list[tuple[float, int]]) -> float:
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mb = sum(b for _, b in points) / n
    return (sum((t - mt) * (b - mb) for t, b in points)
            / sum((t - mt) ** 2 for t, _ in points))


def steady_goodput(data: dict) -> float:
    """Mean receiver-side rate over the inner intervals of an iperf3 JSON result."""
    intervals = (data.get("server_output_json") or {}).get("intervals") or data["intervals"]
    rates = [iv["sum"]["bits_per_second"] for iv in intervals if not iv["sum"].get("omitted")]
    inner = rates[1:-1] if len(rates) > 2 else rates
    return sum(inner) / len(inner)


_SEP = "----provdc-iperf3----"


def _counters(setup: Setup, direction: str) -> dict[str, int]:
    where, dev = setup.shapers[direction]
    return class_bytes(where.run(f"tc -s class show dev {dev}"))


def _start_servers(server: Runner, count: int) -> None:
    for i in range(count):
        port = BASE_PORT + i
        server.run(f"iperf3 -s -J -D -p {port} --pidfile /run/provdc-iperf3-{port}.pid "
                         f"--logfile /run/provdc-iperf3-{port}.log")


def _stop_servers(server: Runner, count: int) -> None:
    pids = " ".join(f"/run/provdc-iperf3-{BASE_PORT + i}.pid" for i in range(count))
    server.run(f"for f in {pids}; do [ -f $f ] && kill $(cat $f); rm -f $f; done; true")


def run_direction(setup: Setup, direction: str, seconds: int) -> list[dict]:
    classes = setup.spec["classes"]
    receiver = _ends(setup, direction)[1][0]
    _stop_servers(receiver, len(classes))  # left over by an interrupted run
    _start_servers(receiver, len(classes))
    try:
        return _measure(setup, direction, seconds)
    finally:
        _stop_servers(receiver, len(classes))


def _measure(setup: Setup, direction: str, seconds: int) -> list[dict]:
    classes = setup.spec["classes"]
    rows = []
    for i, c in enumerate(classes):
        before = _counters(setup, direction)
        solo = _iperf(setup, direction, BASE_PORT + i, c["codepoint"], seconds)
        after = _counters(setup, direction)
        grown = max(after, key=lambda k: after[k] - before.get(k, 0) if k != "1:1" else -1)
        rows.append({"class": c["name"], "classid": c["classid"], "dscp": c["dscp"],
                     "rate_mbit": c["rate_kbit"] / 1000, "ceil_mbit": c["ceil_kbit"] / 1000,
                     "default": c["default"], "solo_mbit": round(solo / 1e6, 3),
                     "counted_in": grown})
    together = _together(setup, direction, seconds)
    for row, got in zip(rows, together, strict=True):
        row["together_mbit"] = round(got["layer2"] * GOODPUT / 1e6, 3)
        row["together_iperf3_mbit"] = round(got["iperf3"] / 1e6, 3)
    return rows


def judge(rows: list[dict], shaped_mbit: float) -> dict:
    """Compare measured goodput with the contracted rates, corrected for header overhead."""
    problems = []
    for r in rows:
        ceil, rate = r["ceil_mbit"] * GOODPUT, r["rate_mbit"] * GOODPUT
        r["solo_ratio"] = round(r["solo_mbit"] / ceil, 4)
        r["together_ratio"] = round(r["together_mbit"] / rate, 4)
        if abs(r["solo_ratio"] - 1) > SOLO_TOLERANCE:
            problems.append(f"{r['class']} alone: {r['solo_mbit']} Mbit/s, not within "
                            f"{SOLO_TOLERANCE:.0%} of its corrected ceiling {ceil:.2f}")
        if r["counted_in"] != r["classid"]:
            problems.append(f"{r['class']} traffic was counted in {r['counted_in']}")
        if r["together_ratio"] < GUARANTEE_FLOOR:
            problems.append(f"{r['class']} under contention: {r['together_mbit']} Mbit/s, "
                            f"below {GUARANTEE_FLOOR:.0%} of its corrected guarantee {rate:.2f}")
    total = sum(r["together_mbit"] for r in rows)
    limit = shaped_mbit * GOODPUT
    if total > limit * (1 + SUM_SLACK):
        problems.append(f"all classes together: {total:.2f} Mbit/s, above the corrected "
                        f"uplink {limit:.2f}")
    return {"classes": rows, "together_mbit": round(total, 3),
            "together_ratio": round(total / limit, 4), "ok": not problems, "problems": problems}


def run(setup: Setup, seconds: int = 4, directions: tuple[str, ...] = policy.DIRECTIONS) -> dict:
    shaped = setup.spec["shaped_kbit"] / 1000
    report = {"site": setup.site, "tier": setup.spec["tier"],
              "link_mbit": setup.spec["link_kbit"] / 1000, "shaped_mbit": shaped,
              "goodput_factor": round(GOODPUT, 4), "seconds": seconds, "directions": {}}
    for d in directions:
        report["directions"][d] = judge(run_direction(setup, d, seconds), shaped)
    report["ok"] = all(d["ok"] for d in report["directions"].values())
    return report


def report_table(report: dict) -> Table:
    table = PlainTable(title=f"{report['site']} ({report['tier']}): link {report['link_mbit']:g} "
                  f"Mbit/s, shaped {report['shaped_mbit']:g}; goodput = layer 2 x "
                  f"{report['goodput_factor']}", title_justify="left")
    for col in ("direction", "class", "DSCP", "guarantee", "ceiling", "alone", "alone/ceil",
                "together", "together/guar."):
        table.add_column(col, justify="left" if col in ("direction", "class", "DSCP") else "right")
    for d, res in report["directions"].items():
        for r in res["classes"]:
            table.add_row(d, r["class"], r["dscp"], f"{r['rate_mbit']:g}", f"{r['ceil_mbit']:g}",
                          f"{r['solo_mbit']:.2f}", f"{r['solo_ratio']:.1%}",
                          f"{r['together_mbit']:.2f}", f"{r['together_ratio']:.1%}")
        table.add_row(d, Text("all", style="bold"), "", "", f"{report['shaped_mbit']:g}", "", "",
                      f"{res['together_mbit']:.2f}", f"{res['together_ratio']:.1%} of uplink",
                      end_section=True)
    problems = [p for res in report["directions"].values() for p in res["problems"]]
    table.caption = "all classes within bounds" if not problems else "; ".join(problems)
    return table
