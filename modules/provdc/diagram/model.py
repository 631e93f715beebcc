"""What the network diagram shows, as data: one box per place traffic comes from or goes to,
and one link per pair of boxes the flow matrix connects. Pure.

The boxes: each `external:` endpoint the matrix names (the Internet, the national platforms),
each data-centre zone with its services, and the TSLCD with its tiers. A flow's endpoint
lands in the box that holds it: `service:x` in its zone, `tier:x` and `site:x` in the TSLCD.
Flows between two boxes, in either direction, share one link; the flows inside one zone are
listed on a link of the zone with itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from provdc.topology.schema import Flow, Topology
from provdc.topology.validate import Loaded

TSLCD = "tslcd"


@dataclass(frozen=True)
class ServiceBox:
    name: str
    slug: str
    instances: int
    level: int
    ports: tuple[int, ...]
    role: str


@dataclass(frozen=True)
class TrafficClassRow:
    name: str
    dscp: str
    rate_mbit: float
    ceil_mbit: float
    default: bool


@dataclass(frozen=True)
class TierBox:
    name: str
    description: str
    sites: int
    level: int
    link_mbit: float
    shaped_mbit: float
    classes: tuple[TrafficClassRow, ...]


@dataclass
class Node:
    key: str  # "external:internet", "zone:DMZ" or "tslcd"
    kind: str  # external | zone | tslcd
    title: str
    subtitle: str = ""
    internet_facing: bool = False
    services: list[ServiceBox] = field(default_factory=list)
    tiers: list[TierBox] = field(default_factory=list)


@dataclass
class Link:
    """The allowed flows between boxes a and b (a before b in the drawing's order)."""

    number: int
    a: str
    b: str
    to_b: bool = False  # some flow goes a -> b
    to_a: bool = False  # some flow goes b -> a
    lines: list[str] = field(default_factory=list)  # "dvc-portal → lgsp tcp/8443"

    @property
    def inside(self) -> bool:
        return self.a == self.b


@dataclass
class Diagram:
    title: str
    subtitle: str
    nodes: list[Node]
    links: list[Link]

    def node(self, key: str) -> Node:
        return next(n for n in self.nodes if n.key == key)


def build(loaded: Loaded) -> Diagram:
    topo, plan = loaded.topology, loaded.plan
    nodes = [Node(f"external:{name}", "external", name, "outside the province's networks")
             for name in _externals(topo)]
    for zone in topo.datacenter.zones:
        zp = plan.zone(zone.name)
        nodes.append(Node(
            f"zone:{zone.name}", "zone", zone.name,
            " · ".join(x for x in (str(zp.cidr), zone.description) if x),
            zone.internet_facing,
            [ServiceBox(s.name, s.slug, s.instances, s.security_level, tuple(s.ports), s.role)
             for s in topo.services if s.zone == zone.name]))
    nodes.append(Node(TSLCD, "tslcd", "TSLCD",
                      f"WAN {topo.province.tslcd_wan} (CBĐTW) · LAN {topo.province.lan_supernet}",
                      tiers=_tiers(topo)))
    title = f"{topo.province.name}: {topo.datacenter.name}"
    subtitle = (f"{topo.datacenter.block} · regime {topo.province.regime} · highest security "
                f"level {topo.max_security_level} · {len(topo.flows)} allowed flows")
    return Diagram(title, subtitle, nodes, _links(topo, [n.key for n in nodes]))


def _externals(topo: Topology) -> list[str]:
    seen: dict[str, None] = {}
    for f in topo.flows:
        for end in (f.source, f.to):
            kind, _, name = end.partition(":")
            if kind == "external":
                seen.setdefault(name)
    return list(seen)


def _tiers(topo: Topology) -> list[TierBox]:
    sites = Counter(s.tier for s in topo.sites)
    return [TierBox(t.name, t.description, sites[t.name], t.security_level,
                    t.bandwidth.link_mbit, t.bandwidth.shaped_mbit,
                    tuple(TrafficClassRow(c.name, c.dscp, c.rate_mbit, c.ceil_mbit, c.default)
                          for c in t.bandwidth.classes))
            for t in topo.tiers]


def box_of(topo: Topology, endpoint: str) -> str:
    """The box an endpoint of the matrix is drawn in."""
    kind, _, name = endpoint.partition(":")
    if kind == "service":
        return f"zone:{next(s.zone for s in topo.services if s.slug == name)}"
    if kind in ("tier", "site"):
        return TSLCD
    return endpoint  # zone:X and external:x are boxes of their own


def label(endpoint: str) -> str:
    kind, _, name = endpoint.partition(":")
    return name if kind in ("service", "external") else f"{kind} {name}"


def ports_text(flow: Flow) -> str:
    return flow.proto + ("/" + ",".join(map(str, flow.ports)) if flow.ports else "")


def _links(topo: Topology, order: list[str]) -> list[Link]:
    by_pair: dict[tuple[str, str], Link] = {}
    grouped: dict[tuple[str, str], dict[tuple[str, str], list[str]]] = {}
    for f in topo.flows:
        src, dst = box_of(topo, f.source), box_of(topo, f.to)
        a, b = sorted((src, dst), key=order.index)
        link = by_pair.setdefault((a, b), Link(0, a, b))
        if src == a and dst == b:
            link.to_b = True
        if src == b and dst == a:
            link.to_a = True
        # one line per destination and ports, naming every source that reaches it
        sources = grouped.setdefault((a, b), {}).setdefault((label(f.to), ports_text(f)), [])
        if label(f.source) not in sources:
            sources.append(label(f.source))
    links = sorted(by_pair.values(), key=lambda k: (order.index(k.a), order.index(k.b)))
    for number, link in enumerate(links, 1):
        link.number = number
        link.lines = [f"{', '.join(srcs)} → {dst} {ports}"
                      for (dst, ports), srcs in grouped[(link.a, link.b)].items()]
    return links
