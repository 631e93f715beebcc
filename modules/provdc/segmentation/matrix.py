"""The allowed-flow matrix resolved to addresses: what each firewall must allow. Pure.

Endpoints resolve through the address plan and the inventory:

- `zone:X`      the zone's subnet (as a destination on a host: the hosts of that zone);
- `service:x`   its hosts' addresses in the inventory, else the whole zone of the service;
- `tier:x`      the LANs of every site of that tier; `site:x` the site's LAN;
- `external:x`  the outside world, which reaches the data centre through the EDGE zone
                (Internet and TSLCD edge routers): the EDGE subnet, or any address outside
                the province's LAN supernet and TSLCD WAN prefix.

On top of the matrix come the operations flows: SSH from the bastion to every zone that
hosts services, log forwarding (RELP over TLS) from every such zone to the SOC collector,
time from the NTP service. Between zones they must be IN the matrix (the cloud security
groups and the zone firewall render the matrix, so a missing one is an error naming the line
to add); inside one zone they need no line in the matrix: both firewalls add them (a zone
firewall that bridges its zones, as the lab's core does with bridge netfilter, sees traffic
inside a zone).
Each host also admits SSH from its administration sources: `provdc_admin_sources` in the
inventory (the lab writes the core's address facing the host: its operator stands in the
core namespace).

An inventory may add flows of its own on top of the matrix (`provdc_extra_flows`, the same
list on every host): the lab adds its bandwidth measurement (iperf3 between agency and DC
hosts, both ways). Nothing here knows about the lab; an inventory without extra flows
renders the matrix and the operations flows only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from netaddr import IPAddress, IPNetwork, cidr_merge

from provdc.errors import ProvdcError
from provdc.hosts.contract import ExtraFlow
from provdc.topology.schema import Flow
from provdc.topology.validate import Checker, Loaded
from provdc.yamlsource import YamlDocument

HOST_TABLE = "provdc_segmentation"
ZONE_TABLE = "provdc_zones"
EDGE_ZONE = "EDGE"
EGRESS_CONTROLLED = ("DB", "MGMT")  # Circular 12/2022 level 3: egress control
SSH_PORT = 22
NTP_PORT = 123


# --- addresses and rules ------------------------------------------------------------------


@dataclass(frozen=True)
class Addr:
    """A set of IPv4 networks, or (negate) every address outside them."""

    nets: tuple[str, ...]
    negate: bool = False

    @classmethod
    def of(cls, nets: Iterable, negate: bool = False) -> Addr:
        merged = cidr_merge([IPNetwork(str(n)) for n in nets])
        return cls(tuple(str(n) for n in merged), negate)

    def contains(self, ip: str) -> bool:
        inside = any(IPAddress(ip) in IPNetwork(n) for n in self.nets)
        return inside != self.negate

    def label(self) -> str:
        text = ", ".join(self.nets[:3]) + (" ..." if len(self.nets) > 3 else "")
        return f"not {text}" if self.negate else text


@dataclass(frozen=True)
class Rule:
    """Accept new connections matching all of: source, destination, protocol, ports."""

    src: Addr | None  # None: any source
    dst: Addr | None  # None: any destination (host rules: the host itself)
    proto: str  # tcp | udp | icmp
    ports: tuple[int, ...]
    why: str  # where the rule comes from: "flow zone:APP -> ..." or "operations: ..."

    def admits(self, src: str, dst: str, proto: str, port: int | None) -> bool:
        return (
            self.proto == proto
            and (proto == "icmp" or port in self.ports)
            and (self.src is None or self.src.contains(src))
            and (self.dst is None or self.dst.contains(dst))
        )


@dataclass
class Ruleset:
    """One firewall: a default-deny chain on `hook` and the rules that accept."""

    name: str  # host name, or "zone-firewall"
    table: str
    hook: str  # input (hosts) | forward (the zone firewall)
    title: str
    rules: list[Rule] = field(default_factory=list)
    egress_drop: list[Addr] = field(default_factory=list)  # zone firewall: (from, to) below
    outside: Addr | None = None

    def admits(self, src: str, dst: str, proto: str, port: int | None) -> bool:
        """Would a new connection be accepted? (The egress drops only make the default
        policy visible: they never cut what a rule above them accepts.)"""
        return any(r.admits(src, dst, proto, port) for r in self.rules)


# --- the hosts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A host of the inventory, as the firewall sees it."""

    name: str
    role: str  # dc | gateway | agency (anything else is treated like dc)
    address: str
    zone: str | None = None
    service: str | None = None
    site: str | None = None
    tier: str | None = None
    segment: str | None = None  # the network the host sits on (zone, site LAN, /31)
    admin_sources: tuple[str, ...] = ()
    core_netns: str | None = None
    core_host: str | None = None


def nodes_from_hostvars(hostvars: dict[str, dict], source: str = "inventory") -> list[Node]:
    """Hosts with a `provdc_address` (what the lab and ops inventories write)."""
    out = []
    for name, v in hostvars.items():
        if not v.get("provdc_address") or v.get("provdc_role") == "core":
            continue  # the core router carries the zone firewall, not a host firewall
        if v.get("provdc_admin_sources") is not None:
            admin = v["provdc_admin_sources"]
            if isinstance(admin, str) or not all(_is_network(a) for a in admin):
                raise ProvdcError(
                    f"provdc_admin_sources of {name} is {admin!r}", file=source,
                    field=f"{name}: provdc_admin_sources",
                    fix="give a YAML list of addresses or CIDRs, e.g. [10.94.8.0/22]")
            admin = tuple(str(IPNetwork(a)) for a in admin)
        else:
            admin = ()
        out.append(Node(
            name=name, role=v.get("provdc_role", "dc"), address=str(v["provdc_address"]),
            zone=v.get("provdc_zone"), service=v.get("provdc_service"),
            site=v.get("provdc_site"), tier=v.get("provdc_tier"),
            segment=_segment(v), admin_sources=admin,
            core_netns=v.get("provdc_core_netns"), core_host=v.get("provdc_core_host"),
        ))
    return out


def _is_network(value: object) -> bool:
    try:
        IPNetwork(str(value))
    except Exception:  # netaddr raises several types for bad input
        return False
    return True


def _segment(v: dict) -> str | None:
    if v.get("provdc_address") and v.get("provdc_prefix_len"):
        return str(IPNetwork(f"{v['provdc_address']}/{v['provdc_prefix_len']}").cidr)
    return None


# --- the matrix, resolved -----------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """One flow of the matrix or of operations, ready for the firewalls."""

    source: str  # endpoint
    to: str
    proto: str
    ports: tuple[int, ...]
    why: str
    implicit: bool = False  # an operations flow inside one zone: host firewalls only


class Resolver:
    """Endpoints -> addresses (sources, destinations) and -> member hosts."""

    def __init__(self, loaded: Loaded, nodes: list[Node]):
        self.topo, self.plan, self.nodes = loaded.topology, loaded.plan, nodes
        prov = self.topo.province
        self.outside = Addr.of([prov.lan_supernet, prov.tslcd_wan], negate=True)
        self.edge = Addr.of([self.plan.zone(EDGE_ZONE).cidr])
        self._addrs: dict[str, list[Addr]] = {}
        self._members: dict[str, set[str]] = {}

    def addrs(self, endpoint: str) -> list[Addr]:
        if endpoint not in self._addrs:  # a province asks for the same endpoints per host
            self._addrs[endpoint] = self._resolve(endpoint)
        return self._addrs[endpoint]

    def member_names(self, endpoint: str) -> set[str]:
        if endpoint not in self._members:
            self._members[endpoint] = {n.name for n in self.members(endpoint)}
        return self._members[endpoint]

    def _resolve(self, endpoint: str) -> list[Addr]:
        kind, _, name = endpoint.partition(":")
        if kind == "zone":
            return [Addr.of([self.plan.zone(name).cidr])]
        if kind == "service":
            hosts = [n.address for n in self.nodes if n.service == name]
            if hosts:
                return [Addr.of(hosts)]
            return [Addr.of([self.plan.zone(self._service(name).zone).cidr])]
        if kind == "tier":
            sites = [sp for sp in self.plan.sites if sp.site.tier == name]
            return [Addr.of(a for sp in sites for a in self._site_sources(sp))]
        if kind == "site":
            return [Addr.of(self._site_sources(self.plan.site(name)))]
        if kind == "role":  # an inventory's extra flow: the networks those hosts are on
            segments = [n.segment or n.address for n in self.members(endpoint)]
            return [Addr.of(segments)] if segments else []
        return [self.edge, self.outside]  # external

    def members(self, endpoint: str) -> list[Node]:
        kind, _, name = endpoint.partition(":")
        if kind == "role":
            return [n for n in self.nodes if _role(n) == name]
        attr = {"zone": "zone", "service": "service", "tier": "tier", "site": "site"}.get(kind)
        if attr is None:
            return []
        return [n for n in self.nodes
                if getattr(n, attr) == name and (kind in ("zone", "service") or
                                                 n.role == "agency")]

    def _site_sources(self, sp) -> list:
        """A site's LAN, the prefixes carried over to it (a merged agency keeps its addresses
        behind the site's gateway) and its gateway's own TSLCD address: traffic the gateway
        itself sends (its log forwarding, its time sync) leaves from the uplink, not the LAN."""
        return [*(sp.carried or (sp.cidr,)), str(self.plan.wan_link(sp.slug)[1])]

    def _service(self, slug: str):
        return next(s for s in self.topo.services if s.slug == slug)


def _role(node: Node) -> str:
    return node.role if node.role in ("gateway", "agency") else "dc"


def flow_why(flow: Flow) -> str:
    """A rule's reason names its flow by what it says, not by its place in the list: a flow
    added or removed above it (a merger drops the district tier's) must not rewrite the
    rules of every host whose flows come later."""
    ports = ",".join(str(p) for p in flow.ports)
    return f"flow {flow.source} -> {flow.to} {flow.proto}{'/' + ports if ports else ''}"


def matrix_edges(loaded: Loaded, extra: Iterable[ExtraFlow] = ()) -> list[Edge]:
    """The matrix plus the implicit (same-zone) operations flows, plus the inventory's own
    extra flows (the lab's measurement)."""
    edges = [Edge(f.source, f.to, f.proto, tuple(f.ports), flow_why(f))
             for f in loaded.topology.flows]
    edges += [Edge(r.source, r.to, r.proto, (r.port,), f"operations: {r.what}", implicit=True)
              for r in operations_required(loaded) if r.same_zone]
    edges += [Edge(f.source, f.to, f.proto, f.all_ports(), f"inventory: {f.why}")
              for f in extra]
    return edges


# --- operations flows the matrix must carry -----------------------------------------------


@dataclass(frozen=True)
class Required:
    source: str
    to: str
    proto: str
    port: int
    what: str
    same_zone: bool


def operations_required(loaded: Loaded) -> list[Required]:
    topo = loaded.topology
    zones = sorted({s.zone for s in topo.services}, key=[z.name for z in
                                                         topo.datacenter.zones].index)
    out: list[Required] = []
    for b in (s for s in topo.services if s.role == "bastion"):
        out += [Required(f"service:{b.slug}", f"zone:{z}", "tcp", SSH_PORT,
                         f"SSH from the bastion {b.slug} to zone {z}", z == b.zone)
                for z in zones]
    for soc in (s for s in topo.services if s.role == "soc"):
        port = topo.operations.syslog_port
        out += [Required(f"zone:{z}", f"service:{soc.slug}", "tcp", port,
                         f"log forwarding (RELP over TLS, tcp/{port}) from zone {z} to the SOC "
                         f"collector {soc.slug}", z == soc.zone)
                for z in zones if z != soc.zone or len(_in_zone(topo, z)) > 1]
    for ntp in (s for s in topo.services if s.role == "ntp"):
        port = NTP_PORT if NTP_PORT in ntp.ports or not ntp.ports else ntp.ports[0]
        out += [Required(f"zone:{z}", f"service:{ntp.slug}", "udp", port,
                         f"time (udp/{port}) from zone {z} to the NTP service {ntp.slug}",
                         z == ntp.zone)
                for z in zones if z != ntp.zone or len(_in_zone(topo, z)) > 1]
    return out


def _in_zone(topo, zone: str) -> list[str]:
    return [s.slug for s in topo.services if s.zone == zone]


def _atoms(topo, endpoint: str) -> set[tuple[str, str]]:
    """What an endpoint covers, in units the operations check can compare."""
    kind, _, name = endpoint.partition(":")
    if kind == "zone":
        return {("service", s) for s in _in_zone(topo, name)} | {("zone", name)}
    if kind == "tier":
        return {("site", s.slug) for s in topo.sites if s.tier == name}
    return {(kind, name)}


def check_matrix(loaded: Loaded, text: str | None = None) -> None:
    """Every problem with the matrix as a segmentation source, before any host is touched:
    flows to a service on a port it does not serve, missing operations services or flows."""
    doc = YamlDocument(loaded.path, text)
    chk = Checker(doc)
    topo = loaded.topology
    services = {s.slug: s for s in topo.services}
    for i, f in enumerate(topo.flows):
        kind, _, name = f.to.partition(":")
        if kind == "service" and f.proto != "icmp" and services[name].ports:
            stray = [p for p in f.ports if p not in services[name].ports]
            if stray:
                chk.add(("flows", i, "ports"),
                        f"port(s) {', '.join(map(str, stray))} are not served by service "
                        f"'{name}' (its ports: {', '.join(map(str, services[name].ports))})",
                        f"use the service's ports, or add the port to services[] "
                        f"'{name}' if it really serves it")
    for role, what in (("bastion", "the bastion (SSH source)"), ("soc", "the SOC collector")):
        if not any(s.role == role for s in topo.services):
            chk.add(("services",), f"no service has role '{role}'; segmentation needs "
                    f"{what} to render the operations flows",
                    f"add a service with `role: {role}` in the MGMT zone")
    port = topo.operations.syslog_port
    for i, s in enumerate(topo.services):
        if s.role == "soc" and s.ports and port not in s.ports:
            chk.add(("operations", "syslog_port"),
                    f"syslog port {port} is not a port of the SOC collector '{s.slug}' "
                    f"(ports: {', '.join(map(str, s.ports))})",
                    f"make operations.syslog_port one of services[{i}].ports")
    chk.raise_if_any()
    _check_operations(loaded, chk)
    chk.raise_if_any()


def _check_operations(loaded: Loaded, chk: Checker) -> None:
    topo = loaded.topology
    provided: set[tuple] = set()
    for f in topo.flows:
        for a in _atoms(topo, f.source):
            for b in _atoms(topo, f.to):
                provided.update((a, b, f.proto, p) for p in f.ports)
    for r in operations_required(loaded):
        if r.same_zone:
            continue
        src = _atoms(topo, r.source) - {("zone", r.source.partition(":")[2])}
        dst = _atoms(topo, r.to) - {("zone", r.to.partition(":")[2])}
        missing = [(a, b) for a in src for b in dst if (a, b, r.proto, r.port) not in provided]
        if missing:
            chk.add(("flows",), f"the matrix leaves out an operations flow: {r.what}",
                    f"add `- {{from: \"{r.source}\", to: \"{r.to}\", proto: {r.proto}, "
                    f"ports: [{r.port}]}}` to flows")


# --- the firewalls ------------------------------------------------------------------------


def host_ruleset(resolver: Resolver, edges: list[Edge], node: Node) -> Ruleset:
    """Inbound, default deny: the flows whose destination includes this host, SSH from
    the host's administration sources."""
    what = node.service or node.site or node.role
    rs = Ruleset(node.name, HOST_TABLE, "input",
                 f"host firewall of {node.name} ({node.role} {what}"
                 f"{', zone ' + node.zone if node.zone else ''}), inbound default deny")
    if node.admin_sources:
        admin = Addr.of(node.admin_sources)
        rs.rules.append(Rule(admin, None, "tcp", (SSH_PORT,),
                             "operations: SSH from the administration sources"))
        rs.rules.append(Rule(admin, None, "icmp", (),
                             "operations: ICMP from the administration sources"))
    for e in edges:
        if node.name not in resolver.member_names(e.to):
            continue
        for src in resolver.addrs(e.source):
            rs.rules.append(Rule(src, None, e.proto, e.ports, e.why))
    return rs


def zone_ruleset(resolver: Resolver, edges: list[Edge]) -> Ruleset:
    """Forward, default deny, on the data-centre core: every flow of the matrix between its
    resolved sources and destinations; DB and MGMT never reach outside unless listed."""
    rs = Ruleset("zone-firewall", ZONE_TABLE, "forward",
                 "zone firewall of the data-centre core, forward default deny")
    # Same-zone operations flows too: where zones are bridges on the core with bridge
    # netfilter (the lab), traffic inside a zone crosses this chain as well.
    for e in edges:
        for src in resolver.addrs(e.source):
            for dst in resolver.addrs(e.to):
                rs.rules.append(Rule(src, dst, e.proto, e.ports, e.why))
    plan = resolver.plan
    rs.egress_drop = [Addr.of([plan.zone(z).cidr]) for z in EGRESS_CONTROLLED
                      if z in {zp.name for zp in plan.zones}]
    rs.outside = resolver.outside
    return rs


@dataclass
class Segmentation:
    """Every firewall of one inventory, rendered from one topology."""

    loaded: Loaded
    nodes: list[Node]
    hosts: dict[str, Ruleset]
    zone: Ruleset
    edges: list[Edge]
    resolver: Resolver

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


def build(loaded: Loaded, nodes: list[Node], text: str | None = None,
          extra: Iterable[ExtraFlow] = ()) -> Segmentation:
    """Check the matrix, then resolve it (and the inventory's extra flows) for every host and
    the core."""
    check_matrix(loaded, text)
    resolver = Resolver(loaded, nodes)
    edges = matrix_edges(loaded, extra)
    hosts = {n.name: host_ruleset(resolver, edges, n) for n in nodes}
    return Segmentation(loaded, nodes, hosts, zone_ruleset(resolver, edges), edges, resolver)
