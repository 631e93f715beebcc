"""What the bandwidth engine needs from an inventory: gateways and their two ends.

The inventory is read and validated by `provdc.hosts.inventory` (the host contract); here
each gateway becomes its two shaping points: `provdc_uplink_if` (the site side of the TSLCD
link) and `provdc_core_peer_if` (the core router's interface facing the gateway), which
lives either in a namespace on the controller (`provdc_core_netns`, the lab) or on an
inventory host (`provdc_core_host`, production: the core router).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provdc.errors import ProvdcError
from provdc.hosts import inventory as host_inventory
from provdc.hosts.inventory import Inventory
from provdc.qos.policy import check_device, site_spec, spec_text

__all__ = ["Gateway", "Inventory", "gateway", "gateway_of", "gateways", "read", "specs",
           "specs_of_hostvars"]


@dataclass(frozen=True)
class Gateway:
    host: str
    site: str
    uplink_if: str
    core_if: str
    core_netns: str | None
    core_host: str | None
    vars: dict


def read(path: str | Path, topology: str | Path | None = None) -> Inventory:
    return host_inventory.read(path, topology)


def gateways(inv: Inventory) -> list[Gateway]:
    return [gateway(h, inv.hostvars.get(h, {})) for h in inv.group("gateways")]


def gateway_of(inv: Inventory, site: str) -> Gateway:
    found = [g for g in gateways(inv) if g.site == site]
    if not found:
        known = ", ".join(sorted(g.site for g in gateways(inv))) or "none"
        raise ProvdcError(f"no gateway of site '{site}' in the inventory",
                          file=inv.path, field="gateways",
                          fix=f"name a site that has a gateway here ({known})")
    return found[0]


def gateway(host: str, v: dict) -> Gateway:
    site = v.get("provdc_site")
    if not site:
        raise ProvdcError(f"gateway '{host}' has no provdc_site", field=f"{host}: provdc_site",
                          fix="set provdc_site to the slug of the site the gateway serves")
    return Gateway(host, site, check_device(v.get("provdc_uplink_if"), "provdc_uplink_if", host),
                   check_device(v.get("provdc_core_peer_if"), "provdc_core_peer_if", host),
                   v.get("provdc_core_netns"), v.get("provdc_core_host"), v)


def specs(inv: Inventory) -> dict[str, dict[str, str]]:
    """Every gateway's two spec files (JSON text), {gateway: {"uplink", "downlink"}}, from an
    inventory the host contract has accepted."""
    topo = inv.loaded.topology
    return {g.host: {d: spec_text(site_spec(topo, g.site, dev, d))
                     for d, dev in (("uplink", g.uplink_if), ("downlink", g.core_if))}
            for g in gateways(inv)}


def specs_of_hostvars(hostvars: dict[str, dict], topology: str | Path | None = None,
                      source: str = "inventory") -> dict[str, dict[str, str]]:
    """`specs` of the hosts a playbook hands over (each host's provdc_* variables): every
    host is checked against the host contract first, so a bad one stops the run before any
    host is touched; the gateways are the hosts whose provdc_role is gateway."""
    _, loaded = host_inventory.validate(hostvars, source, topology)
    groups = {"gateways": [h for h, v in hostvars.items() if v.get("provdc_role") == "gateway"]}
    return specs(Inventory(source, hostvars, groups, loaded=loaded))
