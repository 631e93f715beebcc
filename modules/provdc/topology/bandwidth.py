"""The bandwidth policy of the dedicated government network (TSLCD), per tier and class.

Checks that each tier's guarantees fit its shaped uplink, that no ceiling exceeds the
link, that every tier offers the same classes (a policy that drops a class at one tier
would misclassify that traffic there) and reports each parent's oversubscription.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from provdc.topology.schema import Topology

# Classes every tier must offer; names are free, the DSCP marks are what matter.
REQUIRED_DSCP = {"EF": "video conferencing", "AF41": "business apps (DVC, LGSP)",
                 "AF21": "mail and documents", "CS1": "bulk and backup"}


def check_bandwidth(topo: Topology, chk) -> None:
    all_names = {c.name for t in topo.tiers for c in t.bandwidth.classes}
    for ti, tier in enumerate(topo.tiers):
        bw = tier.bandwidth
        base = ("tiers", ti, "bandwidth")
        names = [c.name for c in bw.classes]
        for ci, cls in enumerate(bw.classes):
            here = base + ("classes", ci)
            if cls.rate_mbit > cls.ceil_mbit:
                chk.add(here + ("rate_mbit",),
                        f"class '{cls.name}' guarantees {cls.rate_mbit:g} Mbit/s, above its "
                        f"ceiling {cls.ceil_mbit:g} Mbit/s", "lower rate_mbit or raise ceil_mbit")
            if cls.ceil_mbit > bw.link_mbit:
                chk.add(here + ("ceil_mbit",),
                        f"class '{cls.name}' has a ceiling of {cls.ceil_mbit:g} Mbit/s, above the "
                        f"{bw.link_mbit:g} Mbit/s link of tier '{tier.name}'",
                        "lower ceil_mbit to at most link_mbit")
            if names.count(cls.name) > 1:
                chk.add(here + ("name",), f"duplicate class '{cls.name}'", "name each class once")
        dscp = Counter(c.codepoint for c in bw.classes)
        for ci, cls in enumerate(bw.classes):
            if dscp[cls.codepoint] > 1:
                chk.add(base + ("classes", ci, "dscp"),
                        f"DSCP {cls.dscp} is used by more than one class",
                        "each DSCP mark selects exactly one class")
        guaranteed = sum(c.rate_mbit for c in bw.classes)
        if guaranteed > bw.shaped_mbit + 1e-9:
            chk.add(base + ("classes",),
                    f"tier '{tier.name}' guarantees {guaranteed:g} Mbit/s in total, above its "
                    f"shaped uplink of {bw.shaped_mbit:g} Mbit/s ({bw.shaped_pct:g}% of "
                    f"{bw.link_mbit:g})", "lower the classes' rate_mbit or raise link_mbit")
        defaults = [c.name for c in bw.classes if c.default]
        if len(defaults) != 1:
            chk.add(base + ("classes",),
                    f"tier '{tier.name}' has {len(defaults)} default classes",
                    "mark exactly one class (usually best effort) with default: true")
        for missing in sorted(all_names - set(names)):
            chk.add(base + ("classes",), f"class '{missing}' is missing at tier '{tier.name}'",
                    "every tier must offer the same classes; add it (a small guarantee is fine)")
        marks = {c.dscp for c in bw.classes}
        for mark, what in REQUIRED_DSCP.items():
            if mark not in marks:
                chk.add(base + ("classes",),
                        f"tier '{tier.name}' has no class for DSCP {mark} ({what})",
                        f"add a class with dscp: {mark}")


@dataclass(frozen=True)
class Oversubscription:
    parent: str
    parent_link_mbit: float
    children: int
    children_link_mbit: float

    @property
    def ratio(self) -> float:
        return self.children_link_mbit / self.parent_link_mbit


def oversubscription(topo: Topology) -> list[Oversubscription]:
    """How much each parent's uplink is oversubscribed by its children's links."""
    out = []
    for site in topo.sites:
        kids = topo.children(site.slug)
        if kids:
            link = topo.tier(site.tier).bandwidth.link_mbit
            total = sum(topo.tier(k.tier).bandwidth.link_mbit for k in kids)
            out.append(Oversubscription(site.slug, link, len(kids), total))
    return out
