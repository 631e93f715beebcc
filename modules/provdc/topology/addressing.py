"""The address plan: deterministic and stable.

Stability rule: a site's block depends only on its own `slot` and on its ancestors'
blocks, never on its siblings. A site with a pinned slot therefore never moves when
another site is added or removed. Sites without a pinned slot get the lowest free slot
(pinned sites first, then unpinned ones in GSO-code order); `provdc plan` shows the slot
it chose so that it can be pinned.

Each tier says how large a site's block is (`block_prefix_len`) and where its own LAN
sits in it (`lan_prefix_len`, `lan_slot`); children are carved from the parent's block
(or from the tier's `pool`) in units of their own block size.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from netaddr import IPAddress, IPNetwork

from provdc.topology.schema import Site, Topology, Zone


@dataclass(frozen=True)
class ZonePlan:
    name: str
    cidr: IPNetwork
    gateway: IPAddress
    slot: int
    zone: Zone

    def az_halves(self) -> list[IPNetwork]:
        """The two availability-zone subnets a cloud deployment splits the zone into."""
        return list(self.cidr.subnet(self.cidr.prefixlen + 1))


@dataclass(frozen=True)
class SitePlan:
    site: Site
    block: IPNetwork
    cidr: IPNetwork  # the site's own LAN
    gateway: IPAddress
    slot: int
    depth: int
    pinned: bool
    # prefixes inherited from former units (the first is `cidr`); all are routed to the site
    carried: tuple[IPNetwork, ...] = ()

    @property
    def slug(self) -> str:
        return self.site.slug


@dataclass
class AddressPlan:
    topology: Topology
    zones: list[ZonePlan] = field(default_factory=list)
    sites: list[SitePlan] = field(default_factory=list)
    _by_slug: dict[str, SitePlan] = field(default_factory=dict, repr=False)

    def site(self, slug: str) -> SitePlan:
        if len(self._by_slug) != len(self.sites):
            self._by_slug = {s.slug: s for s in self.sites}
        return self._by_slug[slug]

    def zone(self, name: str) -> ZonePlan:
        return next(z for z in self.zones if z.name == name)

    def wan_link(self, slug: str) -> tuple[IPAddress, IPAddress]:
        """(core side, site side) of a site's point-to-point /31 in the TSLCD WAN prefix.

        Derived from the position of the site's LAN in the supernet, so it is as stable as
        the LAN itself. In production the CBĐTW allocates these; the lab uses this plan.
        """
        return wan_link(self.topology, self.site(slug).cidr)

    def host_address(self, network: IPNetwork, index: int) -> IPAddress:
        """The index-th host address after the gateway (index 0 -> .2 in a /24)."""
        return IPAddress(network.first + 2 + index)


def _smallest_lan(topo: Topology) -> int:
    return max(t.lan_prefix_len for t in topo.tiers)


def wan_link(topo: Topology, lan: IPNetwork) -> tuple[IPAddress, IPAddress]:
    supernet = IPNetwork(topo.province.lan_supernet)
    unit = 2 ** (32 - _smallest_lan(topo))
    index = (lan.first - supernet.first) // unit
    wan = IPNetwork(topo.province.tslcd_wan)
    core = IPAddress(wan.first + 2 * index)
    return core, core + 1


def wan_links_needed(topo: Topology) -> int:
    supernet = IPNetwork(topo.province.lan_supernet)
    return 2 * (supernet.size // 2 ** (32 - _smallest_lan(topo)))


def gateway_of(net: IPNetwork) -> IPAddress:
    """Convention: the first usable address of every segment is its gateway."""
    return IPAddress(net.first + 1)


def slot_candidates(pool: IPNetwork, prefix_len: int) -> Iterator[tuple[int, IPNetwork]]:
    return enumerate(pool.subnet(prefix_len))


def zone_plan(topo: Topology) -> list[ZonePlan]:
    """Zones get their pinned slot, others the lowest free aligned slot, in file order."""
    block = IPNetwork(topo.datacenter.block)
    taken = Occupied()
    out: list[ZonePlan] = []
    for zone in sorted(topo.datacenter.zones, key=lambda z: z.slot is None):
        slot, net = _place(block, zone.prefix_len, zone.slot, taken)
        if taken.clash(net) is None:  # overlapping pinned zones are reported by the checker
            taken.add(net)
        out.append(ZonePlan(zone.name, net, gateway_of(net), slot, zone))
    order = {z.name: i for i, z in enumerate(topo.datacenter.zones)}
    return sorted(out, key=lambda z: order[z.name])


class Occupied:
    """Non-overlapping networks already placed under one parent, searchable in O(log n)."""

    def __init__(self, fixed: list[IPNetwork] | None = None):
        self._starts: list[int] = []
        self._nets: list[IPNetwork] = []
        self.fixed = list(fixed or [])  # a few ranges that may overlap each other (reserved)

    def clash(self, net: IPNetwork) -> IPNetwork | None:
        for other in self.fixed:
            if _overlaps(net, other):
                return other
        i = bisect.bisect_right(self._starts, net.first)
        for j in (i - 1, i):
            if 0 <= j < len(self._nets) and _overlaps(net, self._nets[j]):
                return self._nets[j]
        return None

    def add(self, net: IPNetwork) -> None:
        i = bisect.bisect_right(self._starts, net.first)
        self._starts.insert(i, net.first)
        self._nets.insert(i, net)

    def __iter__(self):
        return iter(self.fixed + self._nets)


class EitherOccupied:
    """Two Occupied sets seen as one: a parent's own placements and the carried-over space
    every new block must avoid."""

    def __init__(self, *sets: Occupied):
        self.sets = sets

    def clash(self, net: IPNetwork) -> IPNetwork | None:
        return next((hit for s in self.sets if (hit := s.clash(net)) is not None), None)


class NoRoom(Exception):
    """No free slot: the caller turns this into a user-facing capacity error."""


def _place(
    pool: IPNetwork, prefix_len: int, slot: int | None, taken: Occupied | EitherOccupied
) -> tuple[int, IPNetwork]:
    if slot is not None:
        count = 2 ** (prefix_len - pool.prefixlen)
        if slot >= count:
            raise NoRoom(f"slot {slot} is outside {pool} (it has {count} /{prefix_len} slots)")
        first = IPAddress(pool.first + slot * 2 ** (32 - prefix_len))
        return slot, IPNetwork(f"{first}/{prefix_len}")
    for index, net in slot_candidates(pool, prefix_len):
        if taken.clash(net) is None:
            return index, net
    raise NoRoom(f"{pool} has no free /{prefix_len} left")


def _overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    return a.first <= b.last and b.first <= a.last


def sites_in_plan_order(topo: Topology) -> list[tuple[Site, int]]:
    """Breadth-first from the root, children in (pinned first, GSO code, slug) order."""
    order: list[tuple[Site, int]] = []
    frontier = deque([(topo.root, 0)])
    while frontier:
        site, depth = frontier.popleft()
        order.append((site, depth))
        kids = sorted(
            topo.children(site.slug), key=lambda s: (s.slot is None, s.gso_code or "", s.slug)
        )
        frontier.extend((k, depth + 1) for k in kids)
    return order
