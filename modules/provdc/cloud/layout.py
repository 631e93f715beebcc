"""Pure arithmetic from the topology to cloud shapes: no Pulumi here, so it is cheap to
property-test. The components only turn these specs into resources.
"""

from __future__ import annotations

from dataclasses import dataclass

from netaddr import IPNetwork, cidr_merge

from provdc.topology.addressing import AddressPlan
from provdc.topology.schema import Flow, Topology

ADMIN_PORTS = (22, 3389, 5985, 5986)  # SSH, RDP, WinRM: never from anywhere (CIS 5.2/5.3)
ANYWHERE = ("0.0.0.0/0", "::/0")
LB_GROUP = "lb"  # the security group of the portal load balancer
# A cloud subnet reserves its first four addresses (network, router, DNS, future) and the
# last one; the first host therefore sits at index 2 after the planned gateway (.1).
CLOUD_RESERVED_AFTER_GATEWAY = 2


@dataclass(frozen=True)
class SubnetSpec:
    zone: str
    az: str
    az_index: int
    cidr: str
    internet_facing: bool

    @property
    def key(self) -> str:
        return f"{self.zone.lower()}-{'ab'[self.az_index]}"


@dataclass(frozen=True)
class HostSpec:
    name: str
    service: str
    zone: str
    az: str
    subnet: str  # SubnetSpec.key
    private_ip: str
    security_level: int
    role: str


def subnet_layout(plan: AddressPlan, azs: list[str]) -> list[SubnetSpec]:
    """One subnet per zone per availability zone: the two halves of the planned zone."""
    out = []
    for zp in plan.zones:
        for i, half in enumerate(zp.az_halves()):
            out.append(SubnetSpec(zp.name, azs[i], i, str(half), zp.zone.internet_facing))
    return out


def host_layout(topo: Topology, plan: AddressPlan, azs: list[str]) -> list[HostSpec]:
    """Every instance: services in file order, replicas alternate between the two AZs.

    Addresses are handed out in that order inside each AZ half, so appending a service or a
    replica never moves an existing host.
    """
    used: dict[str, int] = {}
    hosts = []
    for svc in topo.services:
        halves = plan.zone(svc.zone).az_halves()
        for n in range(svc.instances):
            az_index = n % 2
            key = f"{svc.zone.lower()}-{'ab'[az_index]}"
            index = used.get(key, 0)
            used[key] = index + 1
            ip = plan.host_address(halves[az_index], index + CLOUD_RESERVED_AFTER_GATEWAY)
            hosts.append(HostSpec(
                f"{svc.slug}-{n + 1}", svc.slug, svc.zone, azs[az_index], key, str(ip),
                svc.security_level, svc.role,
            ))
    return hosts


def site_lans(topo: Topology, plan: AddressPlan, kind: str, name: str) -> list[str]:
    """The LANs behind `tier:x` or `site:x`, merged into as few prefixes as possible."""
    if kind == "tier":
        nets = [sp.cidr for sp in plan.sites if sp.site.tier == name]
    else:
        nets = [plan.site(name).cidr]
    return [str(n) for n in cidr_merge(nets)]


def vpn_routes(topo: Topology, plan: AddressPlan, slug: str) -> list[str]:
    """What a TSLCD link towards `slug` carries: that site's block, or, for the province
    root, the blocks of everything under it except the data centre itself."""
    site = plan.site(slug)
    if site.site.parent is not None:
        return [str(site.block)]
    dc = IPNetwork(topo.datacenter.block)
    nets = [sp.block for sp in plan.sites if sp.site.parent == slug] + [site.cidr]
    return [str(n) for n in cidr_merge(nets) if not (n.first <= dc.last and dc.first <= n.last)]


@dataclass(frozen=True)
class Peer:
    """The other end of a rule: a security group, a CIDR or a managed prefix list."""

    kind: str  # "sg" (service or zone group), "cidr", "prefix_list"
    ref: str   # sg key ("svc:lgsp", "zone:APP"), a CIDR, or a prefix-list key ("tier:commune")


@dataclass(frozen=True)
class SgRule:
    group: str  # sg key the rule belongs to
    direction: str  # "ingress" | "egress"
    proto: str
    port: int | None  # None for icmp
    peer: Peer
    flow: int  # index of the flow in the topology (for descriptions)

    @property
    def key(self) -> str:
        port = "all" if self.port is None else str(self.port)
        ref = self.peer.ref.replace(":", "-").replace("/", "-").replace(".", "-").lower()
        group = self.group.replace(":", "-").lower()
        return f"{group}-{self.direction[:2]}-{self.proto}{port}-{ref}"


def _endpoint_peers(end: str, plan: AddressPlan, externals: dict[str, str]) -> list[Peer]:
    kind, _, name = end.partition(":")
    if kind == "service":
        return [Peer("sg", f"svc:{name}")]
    if kind == "zone":
        return [Peer("cidr", str(plan.zone(name).cidr))]
    if kind in ("tier", "site"):
        return [Peer("prefix_list", end)]
    cidr = "0.0.0.0/0" if name == "internet" else externals[name]
    return [Peer("cidr", cidr)]


def _endpoint_group(end: str) -> str | None:
    """The security group that receives a rule for this endpoint, if it lives in the DC."""
    kind, _, name = end.partition(":")
    if kind == "service":
        return f"svc:{name}"
    if kind == "zone":
        return f"zone:{name}"
    return None


def sg_rules(topo: Topology, plan: AddressPlan, externals: dict[str, str]) -> list[SgRule]:
    """Render the allowed-flow matrix as security-group rules, and nothing else.

    Ingress goes on the destination's group (service group, or the zone group every instance
    of the zone carries); egress goes on the source's group. Endpoints outside the DC
    (agency tiers, sites, externals) only appear as peers.
    """
    rules: list[SgRule] = []
    for i, flow in enumerate(topo.flows):
        rules += _flow_rules(i, flow, plan, externals)
    # A zone without instances (the staff LAN) has no group to carry egress rules.
    groups = set(security_groups(topo))
    return _unique([r for r in rules if r.group in groups])


def security_groups(topo: Topology) -> list[str]:
    """Group keys: one per service, one per zone that has instances, one for the LB."""
    keys = [f"svc:{svc.slug}" for svc in topo.services]
    keys += [f"zone:{z}" for z in dict.fromkeys(svc.zone for svc in topo.services)]
    return keys + [LB_GROUP]


def _unique(rules: list[SgRule]) -> list[SgRule]:
    """Two flows may need the same rule (e.g. two tiers to one port): declare it once."""
    seen, out = set(), []
    for r in rules:
        if r.key not in seen:
            seen.add(r.key)
            out.append(r)
    return out


def _flow_rules(i: int, flow: Flow, plan: AddressPlan, externals: dict[str, str]) -> list[SgRule]:
    ports: list[int | None] = list(flow.ports) or [None]
    out = []
    dst_group, src_group = _endpoint_group(flow.to), _endpoint_group(flow.source)
    for port in ports:
        if dst_group:
            for peer in _endpoint_peers(flow.source, plan, externals):
                out.append(SgRule(dst_group, "ingress", flow.proto, port, peer, i))
        if src_group:
            for peer in _endpoint_peers(flow.to, plan, externals):
                out.append(SgRule(src_group, "egress", flow.proto, port, peer, i))
    return out


def prefix_lists(topo: Topology, plan: AddressPlan) -> dict[str, list[str]]:
    """Managed prefix lists for every tier/site endpoint the flows mention."""
    out: dict[str, list[str]] = {}
    for flow in topo.flows:
        for end in (flow.source, flow.to):
            kind, _, name = end.partition(":")
            if kind in ("tier", "site") and end not in out:
                out[end] = site_lans(topo, plan, kind, name)
    return out


def load_balanced_services(topo: Topology) -> list[str]:
    """Services the Internet reaches on 443 in an internet-facing zone: behind the TLS LB."""
    facing = {z.name for z in topo.datacenter.zones if z.internet_facing}
    out = []
    for flow in topo.flows:
        kind, _, name = flow.to.partition(":")
        if (flow.source == "external:internet" and kind == "service" and 443 in flow.ports
                and next(s for s in topo.services if s.slug == name).zone in facing
                and name not in out):
            out.append(name)
    return out



def through_load_balancer(rules: list[SgRule], services: list[str]) -> list[SgRule]:
    """Internet ingress to a load-balanced service lands on the LB group instead; the
    service then accepts that port only from the LB."""
    groups = {f"svc:{s}" for s in services}
    out = []
    for r in rules:
        if r.direction == "ingress" and r.group in groups and r.peer.ref in ANYWHERE:
            out += [
                SgRule(LB_GROUP, "ingress", r.proto, r.port, r.peer, r.flow),
                SgRule(LB_GROUP, "egress", r.proto, r.port, Peer("sg", r.group), r.flow),
                SgRule(r.group, "ingress", r.proto, r.port, Peer("sg", LB_GROUP), r.flow),
            ]
        else:
            out.append(r)
    return _unique(out)


# --- network ACLs -----------------------------------------------------------------------------

# Return traffic (NAT, replies to outbound flows) arrives on ephemeral ports. The ranges skip
# the admin ports so no ACL ever opens them to the Internet (CIS 5.1).
def return_port_ranges(low: int = 1024, high: int = 65535) -> list[tuple[int, int]]:
    ranges, start = [], low
    for port in sorted(p for p in ADMIN_PORTS if low <= p <= high):
        if start <= port - 1:
            ranges.append((start, port - 1))
        start = port + 1
    if start <= high:
        ranges.append((start, high))
    return ranges


@dataclass(frozen=True)
class AclEntry:
    direction: str  # ingress | egress
    proto: str  # tcp | udp | icmp | -1
    from_port: int
    to_port: int
    cidr: str


def acl_entries(topo: Topology, plan: AddressPlan, zone: str,
                externals: dict[str, str], nat_zone: str | None) -> list[AclEntry]:
    """A zone's network ACL: everything inside the DC (the security groups decide there),
    the flows that cross the DC boundary, and return traffic; all else is denied.

    The NAT zone forwards every zone's outbound flows, so it allows all of them out.
    """
    vpc = topo.datacenter.block
    out = [AclEntry("ingress", "-1", 0, 0, vpc), AclEntry("egress", "-1", 0, 0, vpc)]
    for flow in topo.flows:
        for direction, here, there in (("ingress", flow.to, flow.source),
                                       ("egress", flow.source, flow.to)):
            if _outside_cidr(there, topo, externals) is None:
                continue
            if not (_in_zone(here, zone, topo) or (direction == "egress" and zone == nat_zone)):
                continue
            cidr = _outside_cidr(there, topo, externals)
            for port in flow.ports or [None]:
                lo, hi = (port, port) if port else (0, 0)
                out.append(AclEntry(direction, flow.proto, lo, hi, cidr))
    for lo, hi in return_port_ranges():
        out.append(AclEntry("ingress", "tcp", lo, hi, "0.0.0.0/0"))
    out.append(AclEntry("egress", "tcp", 1024, 65535, "0.0.0.0/0"))
    seen: set[AclEntry] = set()
    return [e for e in out if not (e in seen or seen.add(e))]


def _in_zone(end: str, zone: str, topo: Topology) -> bool:
    kind, _, name = end.partition(":")
    if kind == "zone":
        return name == zone
    if kind == "service":
        return next(s for s in topo.services if s.slug == name).zone == zone
    return False


def _outside_cidr(end: str, topo: Topology, externals: dict[str, str]) -> str | None:
    """The CIDR an ACL uses for an endpoint outside the DC; None for endpoints inside.
    Agency tiers and sites are summarised as the province LAN: the SGs are the fine layer."""
    kind, _, name = end.partition(":")
    if kind in ("tier", "site"):
        return topo.province.lan_supernet
    if kind == "external":
        return "0.0.0.0/0" if name == "internet" else externals[name]
    return None
