"""Prove the segmentation with real traffic on the lab.

Actors: one host per service, one agency host per tier, and a probe namespace (a bare
network namespace on the zone's bridge in the lab's core) for each zone a flow names but no
host occupies: EDGE stands for `external:*` (the Internet and TSLCD side of the edge
routers), USER for the IDC staff LAN. Every actor that is a target runs a listener on every
port probed against it, checked locally first, so a closed probe means the firewalls closed
it and not that nothing listened. The listener also records who really arrived.

Probes: every flow of the matrix (and the same-zone operations flows) once, from a member of
its source to a member of its destination, must open; every other (source actor, target
actor, port) pair of the grid that the rendered rulesets do not admit must stay closed; and
the pairs the regulation names (DMZ->DB, agency->DB, APP->edge, commune->MGMT SSH, ...)
must be closed whatever the rulesets say.

What is not proved here: the "outside" half of `external:*` (addresses beyond the province;
the lab has no route there), and tiers with no site in the lab.
"""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from netaddr import IPAddress, IPNetwork
from rich.table import Table
from rich.text import Text

from provdc.console import PlainTable
from provdc.errors import ProvdcError
from provdc.hosts.inventory import ssh_argv
from provdc.segmentation import probe as probe_mod
from provdc.segmentation.guard import on_zone_bridge
from provdc.segmentation.matrix import EDGE_ZONE, Segmentation
from provdc.segmentation.render import port_runs

PROBE_SCRIPT = Path(probe_mod.__file__).read_text()
# Pairs Circular 12/2022 / TCVN 11930 forbid (regulations.md §1.4, §7): closed whatever the
# matrix says. (source selector, target selector, port, why)
MUST_DENY = [
    ("zone:DMZ", "zone:DB", None, "DMZ -> DB: databases only from the application zone"),
    ("agency", "zone:DB", None, "agency site -> DB"),
    ("zone:APP", "zone:EDGE", 443, "APP -> Internet-side edge: egress control"),
    ("zone:DB", "zone:EDGE", 443, "DB -> outside: egress control"),
    ("tier:commune", "zone:MGMT", 22, "commune -> MGMT SSH: administration only from MGMT"),
    ("zone:EDGE", "zone:APP", 22, "Internet side -> SSH"),
    ("zone:USER", "zone:DB", 22, "staff LAN -> DB SSH: only through the bastion"),
]


@dataclass
class Actor:
    name: str  # host name, or the probe namespace
    address: str
    zone: str | None
    tier: str | None
    site: str | None
    service: str | None
    netns: str | None = None  # a probe namespace on the controller (no SSH)
    segment: str | None = None
    role: str | None = None  # dc | agency (the lab's measurement flows name roles)

    @property
    def label(self) -> str:
        if self.netns:
            return f"{self.zone} probe"
        return self.name


# --- running things on actors -------------------------------------------------------------


def _script_argv(mode: str, spec: dict) -> list[str]:
    code = base64.b64encode(PROBE_SCRIPT.encode()).decode()
    loader = "import base64,sys;exec(compile(base64.b64decode(sys.argv.pop(1)),'probe','exec'))"
    return ["python3", "-c", loader, code, mode,
            base64.b64encode(json.dumps(spec).encode()).decode()]


class Runner:
    def __init__(self, hostvars: dict[str, dict]):
        self.hostvars = hostvars

    def argv(self, actor: Actor, mode: str, spec: dict) -> list[str]:
        script = _script_argv(mode, spec)
        if actor.netns:
            return ["ip", "netns", "exec", actor.netns, sys.executable, *script[1:]]
        return ssh_argv(self.hostvars[actor.name]) + [shlex.join(script)]

    def listen(self, actor: Actor, ports: list[tuple[str, int]]) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(actor, "listen", {"address": actor.address, "ports": sorted(ports)}),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def connect(self, actor: Actor, probes: list[dict], timeout: float) -> dict:
        proc = subprocess.run(self.argv(actor, "connect", {"timeout": timeout,
                                                          "probes": probes}),
                              capture_output=True, text=True, timeout=120 + timeout)
        if proc.returncode != 0:
            raise ProvdcError(f"probing from {actor.label} failed: {proc.stderr.strip()[-300:]}",
                              fix="check that the lab is up (`provdc lab status`)")
        return json.loads(proc.stdout)


# --- probe namespaces ---------------------------------------------------------------------


def probe_netns(lab: str, zone: str) -> str:
    return f"{lab}.probe-{zone.lower()}"


def _ip(*args: str, check: bool = True) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise ProvdcError(f"ip {' '.join(args)}: {proc.stderr.strip()}",
                          fix="check that the lab is up (`provdc lab status`)")


def add_probe(seg: Segmentation, lab: str, core: str, zone: str) -> Actor:
    # Sideways on purpose: `verify` proves the rulesets with traffic inside a lab, so it
    # plugs its probe into the lab's zone bridge, named by the lab.
    from provdc.lab.model import zone_bridge

    zp = seg.loaded.plan.zone(zone)
    ns, veth = probe_netns(lab, zone), f"pr-{zone.lower()}"[:15]
    remove_probe(lab, core, zone)
    addr = str(IPAddress(zp.cidr.last - 1))
    _ip("netns", "add", ns)
    _ip("-n", core, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    _ip("-n", core, "link", "set", veth, "master", zone_bridge(zone), "up")
    _ip("-n", ns, "addr", "add", f"{addr}/{zp.cidr.prefixlen}", "dev", "eth0")
    _ip("-n", ns, "link", "set", "eth0", "up")
    _ip("-n", ns, "link", "set", "lo", "up")
    _ip("-n", ns, "route", "add", "default", "via", str(zp.gateway))
    return Actor(ns, addr, zone, None, None, None, netns=ns, segment=str(zp.cidr))


def remove_probe(lab: str, core: str, zone: str) -> None:
    ns = probe_netns(lab, zone)
    if Path("/run/netns", ns).exists():
        _ip("netns", "del", ns, check=False)
    _ip("-n", core, "link", "del", f"pr-{zone.lower()}"[:15], check=False)


# --- the probe plan -----------------------------------------------------------------------


def actors(seg: Segmentation, probes: dict[str, Actor]) -> list[Actor]:
    out = []
    for n in seg.nodes:
        if n.role == "gateway":
            continue
        out.append(Actor(n.name, n.address, n.zone, n.tier if n.role == "agency" else None,
                         n.site, n.service, segment=n.segment,
                         role="agency" if n.role == "agency" else "dc"))
    return out + list(probes.values())


def members(endpoint: str, pool: list[Actor], topo) -> list[Actor]:
    kind, _, name = endpoint.partition(":")
    if kind == "agency":
        return [a for a in pool if a.tier]
    if kind == "external":
        return [a for a in pool if a.netns and a.zone == EDGE_ZONE]
    if kind == "zone":
        return [a for a in pool if a.zone == name and not a.tier]
    return [a for a in pool if getattr(a, kind) == name]


def probed_ports(ports: tuple[int, ...]) -> list[int]:
    """A flow's ports to probe: every port, but of three or more consecutive ones (rendered
    as a range; the lab's measurement flows admit 99) only the two ends."""
    return sorted({p for a, b in port_runs(ports)
                   for p in ((a, b) if b - a >= 2 else range(a, b + 1))})


def expected(seg: Segmentation, src: Actor, dst: Actor, proto: str, port: int) -> bool:
    """What the rendered rulesets admit (host firewall of the target, zone firewall when the
    path crosses the core)."""
    if not dst.netns and not seg.hosts[dst.name].admits(src.address, dst.address, proto, port):
        return False
    same = src.segment and IPAddress(dst.address) in IPNetwork(src.segment)
    if same and not on_zone_bridge(seg, src.segment):
        return True  # a site LAN: bridged in its gateway, which does not filter
    return seg.zone.admits(src.address, dst.address, proto, port)


def plan_probes(seg: Segmentation, pool: list[Actor]) -> tuple[list[dict], list[str]]:
    topo = seg.loaded.topology
    probes: dict[tuple, dict] = {}
    untested: list[str] = []

    def add(src: Actor, dst: Actor, proto: str, port: int, why: str, must_deny: bool = False):
        key = (src.name, dst.name, proto, port)
        want = expected(seg, src, dst, proto, port)
        p = probes.setdefault(key, {"src": src.name, "src_label": src.label,
                                    "src_address": src.address,
                                    "dst": dst.name, "dst_label": dst.label,
                                    "dst_address": dst.address, "proto": proto,
                                    "port": port, "expect": "open" if want else "closed",
                                    "why": why})
        if must_deny:
            p["expect"], p["why"], p["regulation"] = "closed", why, True

    for e in seg.edges:
        srcs, dsts = members(e.source, pool, topo), members(e.to, pool, topo)
        pairs = [(s, d) for s in srcs for d in dsts if s.name != d.name]
        if e.proto == "icmp" or not pairs:
            untested.append(f"{e.why}: " + ("icmp is not probed" if e.proto == "icmp" else
                                             "no lab actor on both ends"))
            continue
        for port in probed_ports(e.ports):
            add(*pairs[0], e.proto, port, e.why)
    targets = [a for a in pool if a.service or a.netns]
    sources = _one_per(pool)
    for src in sources:
        for dst in targets:
            if src.name == dst.name:
                continue
            svc = next((s for s in topo.services if s.slug == dst.service), None)
            ports = {("tcp", 22)} | {(("udp" if p == 123 else "tcp"), p)
                                     for p in (svc.ports if svc else [443])}
            for proto, port in sorted(ports):
                add(src, dst, proto, port, "grid")
    for sel_src, sel_dst, port, why in MUST_DENY:
        for dst in members(sel_dst, targets, topo)[:1]:
            srcs = [a for a in sources if a.tier] if sel_src == "agency" else [
                a for a in members(sel_src, pool, topo) if not _excepted(topo, a, dst)][:1]
            for src in srcs:
                svc = next((s for s in topo.services if s.slug == dst.service), None)
                for p in [port] if port else (svc.ports if svc else [443]):
                    add(src, dst, "udp" if p == 123 else "tcp", p, f"regulation: {why}", True)
    return list(probes.values()), untested


def _excepted(topo, actor: Actor, dst: Actor) -> bool:
    """The matrix names this service by itself as a source towards dst (lgsp -> NGSP): an
    explicit exception to its zone's rule, so not the one to probe the zone's rule with."""
    if not actor.service:
        return False
    towards = {f"zone:{dst.zone}", f"service:{dst.service}"}
    return any(f.source == f"service:{actor.service}" and (
        f.to in towards or (dst.netns and f.to.startswith("external:"))) for f in topo.flows)


def _one_per(pool: list[Actor]) -> list[Actor]:
    """One source per zone and per tier (the first host), plus the probe namespaces."""
    seen, out = set(), []
    for a in pool:
        key = ("tier", a.tier) if a.tier else ("zone", a.zone)
        if key not in seen:
            seen.add(key)
            out.append(a)
    return out


# --- run ----------------------------------------------------------------------------------


def run(seg: Segmentation, hostvars: dict[str, dict], source: str,
        timeout: float = 1.5) -> dict:
    lab_vars = next((v for v in hostvars.values() if v.get("provdc_core_netns")), None)
    if lab_vars is None:
        raise ProvdcError("verify needs the lab: no host of the inventory has provdc_core_netns",
                          file=source, fix="bring a lab up (`provdc lab up`) and pass its "
                          "inventory, e.g. -i inventory/lab/hosts.yml")
    lab, core = lab_vars.get("provdc_lab_name", "provdc"), lab_vars["provdc_core_netns"]
    started = time.monotonic()
    zones_needed = {EDGE_ZONE} | {e.source.partition(":")[2] for e in seg.edges
                                  if e.source.startswith("zone:")}
    occupied = {n.zone for n in seg.nodes if n.zone}
    probes: dict[str, Actor] = {}
    try:
        for zone in sorted(zones_needed - occupied):
            probes[zone] = add_probe(seg, lab, core, zone)
        pool = actors(seg, probes)
        plan, untested = plan_probes(seg, pool)
        results, seen, local = _execute(Runner(hostvars), pool, plan, timeout)
    finally:
        for zone in probes:
            remove_probe(lab, core, zone)
    return report(plan, results, seen, local, untested, lab, time.monotonic() - started)


def _execute(runner: Runner, pool: list[Actor], plan: list[dict], timeout: float):
    by_name = {a.name: a for a in pool}
    listen_ports: dict[str, set] = {}
    for p in plan:
        listen_ports.setdefault(p["dst"], set()).add((p["proto"], p["port"]))
    listeners = {name: runner.listen(by_name[name], list(ports))
                 for name, ports in listen_ports.items()}
    local = {}
    try:
        for name, proc in listeners.items():
            line = proc.stdout.readline()
            if not line:
                raise ProvdcError(f"the listener on {by_name[name].label} did not start: "
                                  f"{proc.stderr.read().strip()[-300:]}",
                                  fix="check that the lab is up (`provdc lab status`)")
            local[name] = json.loads(line)
        for i, p in enumerate(plan):
            p["id"] = str(i)
        per_src: dict[str, list[dict]] = {}
        for p in plan:
            per_src.setdefault(p["src"], []).append(
                {"id": p["id"], "dst": p["dst_address"], "proto": p["proto"], "port": p["port"]})
        results: dict = {}
        with ThreadPoolExecutor(max_workers=8) as pool_:
            for res in pool_.map(lambda kv: runner.connect(by_name[kv[0]], kv[1], timeout),
                                 per_src.items()):
                results.update(res)
    finally:
        seen = {}
        for name, proc in listeners.items():
            try:
                out, _ = proc.communicate(input="", timeout=30)
                last = [json.loads(x) for x in out.splitlines() if x.startswith('{"seen"')]
                seen[name] = last[0]["seen"] if last else []
            except subprocess.TimeoutExpired:
                proc.kill()
                seen[name] = []
    return results, seen, local


def report(plan, results, seen, local, untested, lab, seconds) -> dict:
    arrived = {(name, proto, port, src) for name, items in seen.items()
               for proto, port, src in items}
    for p in plan:
        got = results.get(p["id"], "error")
        key = f"{p['proto']}/{p['port']}"
        ready = local.get(p["dst"], {})
        p["result"] = got
        # the listener reached itself on that port: a closed probe is the firewall's doing
        p["listener_ok"] = ready.get("local", {}).get(key) == "open"
        # ports the probe bound itself also say who arrived (sshd's 22 cannot)
        witnessed = ready.get("ports", {}).get(key) == "bound"
        came = (p["dst"], p["proto"], p["port"], p["src_address"]) in arrived
        p["arrived"] = came if witnessed else None
        if p["expect"] == "open":
            p["pass"] = got == "open" and (came or not witnessed)
        else:
            p["pass"] = p["listener_ok"] and got != "open" and not came
    failed = [p for p in plan if not p["pass"]]
    return {
        "ok": not failed, "lab": lab, "seconds": round(seconds, 2),
        "allowed": sum(p["expect"] == "open" for p in plan),
        "forbidden": sum(p["expect"] == "closed" for p in plan),
        "regulation": sum(bool(p.get("regulation")) for p in plan),
        "failed": len(failed), "untested": untested, "probes": plan,
    }


def _grid_cell(probes: list[dict]) -> Text:
    """`443✓ 22✗`: each port open or not, a failed probe marked `!` in bold red (a styled
    Text: the table prints strings as text, so markup in a string would show as is)."""
    return Text(" ").join(
        Text(f"{'' if p['pass'] else '!'}{p['port']}{'✓' if p['result'] == 'open' else '✗'}",
             style="" if p["pass"] else "bold red")
        for p in probes)


def tables(report: dict) -> list[Table]:
    srcs = list(dict.fromkeys(p["src_label"] for p in report["probes"]))
    dsts = list(dict.fromkeys(p["dst_label"] for p in report["probes"]))
    grid = PlainTable(title=f"lab {report['lab']}: {report['allowed']} allowed probes, "
                 f"{report['forbidden']} forbidden ({report['regulation']} named by the "
                 f"regulation), {report['failed']} failed, {report['seconds']} s",
                 title_justify="left")
    grid.add_column("from \\ to")
    for d in dsts:
        grid.add_column(d)
    for s in srcs:
        row = []
        for d in dsts:
            cell = [p for p in report["probes"] if p["src_label"] == s and p["dst_label"] == d]
            row.append(_grid_cell(sorted(cell, key=lambda p: p["port"])))
        grid.add_row(s, *row)
    out = [grid]
    bad = [p for p in report["probes"] if not p["pass"]]
    if bad:
        t = PlainTable(title="failed probes", title_justify="left")
        for col in ("from", "to", "port", "expected", "got", "listener", "why"):
            t.add_column(col)
        for p in bad:
            t.add_row(p["src_label"], p["dst_label"], f"{p['proto']}/{p['port']}", p["expect"],
                      p["result"], "ok" if p["listener_ok"] else "NOT SERVING", p["why"])
        out.append(t)
    if report["untested"]:
        t = PlainTable(title="not provable in this lab", title_justify="left")
        t.add_column("flow")
        for u in report["untested"]:
            t.add_row(u)
        out.append(t)
    return out
