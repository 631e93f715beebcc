"""From the topology to one spec per shaped interface (the input of `provdc.qos.htb`).

A site's TSLCD uplink is shaped on both sides, each side on its egress (the kernels we
target have no IFB redirect nor policing, so egress on each end is the portable way):

- `uplink` (site -> DC): the gateway's uplink interface;
- `downlink` (DC -> site): the core router's interface facing that gateway.

Both carry the same classes: the tier's policy. Checks that need more than the topology
(a gateway without a known interface, more classes than the tree can number) live here and
raise `ProvdcError` before any host is touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from provdc.errors import ProvdcError
from provdc.hosts.contract import INTERFACE
from provdc.qos import htb
from provdc.topology.schema import Tier, Topology

MAX_CLASSES = 15  # leaf minors 1:10 .. 1:f0
DIRECTIONS = ("uplink", "downlink")


@dataclass(frozen=True)
class ClassRow:
    """One row of a site's class table, in the units operators read (Mbit/s)."""

    name: str
    classid: str
    dscp: str
    codepoint: int
    rate_mbit: float
    ceil_mbit: float  # effective: the contract's ceiling capped at the shaped uplink
    contract_ceil_mbit: float
    default: bool


def class_rows(tier: Tier) -> list[ClassRow]:
    bw = tier.bandwidth
    if len(bw.classes) > MAX_CLASSES:
        raise ProvdcError(f"tier '{tier.name}' has {len(bw.classes)} traffic classes",
                          field=f"tiers[{tier.name}].bandwidth.classes",
                          fix=f"merge classes: the HTB tree numbers at most {MAX_CLASSES}")
    return [ClassRow(c.name, f"1:{(i + 1) * 0x10:x}", c.dscp, c.codepoint, c.rate_mbit,
                     min(c.ceil_mbit, bw.shaped_mbit), c.ceil_mbit, c.default)
            for i, c in enumerate(bw.classes)]


def _kbit(mbit: float) -> int:
    return int(round(mbit * 1000))


def check_device(device: str | None, what: str, host: str) -> str:
    if not device or not INTERFACE.fullmatch(str(device)):
        raise ProvdcError(
            f"'{host}' has no usable {what} (got {device!r})",
            field=f"{host}: {what}",
            fix="set it in the inventory (the lab writes provdc_uplink_if and "
            "provdc_core_peer_if for every gateway); interface names are 1-15 characters")
    return str(device)


def site_spec(topo: Topology, site: str, device: str, direction: str) -> dict:
    """The spec of one side of a site's uplink."""
    if direction not in DIRECTIONS:
        raise ValueError(direction)
    try:
        tier = topo.tier(topo.site(site).tier)
    except StopIteration:
        raise ProvdcError(f"unknown site '{site}'",
                          fix="name a site by its slug (`provdc plan` lists them)") from None
    bw = tier.bandwidth
    rows = class_rows(tier)
    spec = {
        "version": 1, "site": site, "tier": tier.name, "direction": direction,
        "device": device, "link_kbit": _kbit(bw.link_mbit), "shaped_kbit": _kbit(bw.shaped_mbit),
        "leaf": list(htb.LEAF_PREFERENCE),
        "classes": [{"name": r.name, "classid": r.classid, "dscp": r.dscp,
                     "codepoint": r.codepoint, "rate_kbit": _kbit(r.rate_mbit),
                     "ceil_kbit": _kbit(r.ceil_mbit), "default": r.default} for r in rows],
    }
    htb.tree_from_spec(spec, "pfifo")  # fails here, not on a host, if the spec is malformed
    return spec


def spec_text(spec: dict) -> str:
    """The spec as shipped to hosts: JSON with one class per line, so that a check-mode diff
    of the file reads as a diff of the class table."""
    head = {k: v for k, v in spec.items() if k != "classes"}
    lines = [json.dumps(c, ensure_ascii=False) for c in spec["classes"]]
    body = json.dumps(head, ensure_ascii=False)[:-1]
    return body + ', "classes": [\n  ' + ",\n  ".join(lines) + "\n]}\n"
