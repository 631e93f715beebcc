"""The address plan as data (for `plan --format json`) and as rich tables."""

from __future__ import annotations

from rich.table import Table

from provdc.console import PlainTable
from provdc.topology.bandwidth import oversubscription


def plan_document(loaded) -> dict:
    topo, plan = loaded.topology, loaded.plan
    by_slug = {s.slug: s for s in topo.sites}
    sites = []
    for sp in plan.sites:
        site = sp.site
        core, edge = plan.wan_link(site.slug)
        sites.append({
            "name": site.name,
            "slug": site.slug,
            "gso_code": site.gso_code,
            "tier": site.tier,
            "parent": site.parent,
            "depth": sp.depth,
            "slot": sp.slot,
            "block": str(sp.block),
            "cidr": str(sp.cidr),
            "gateway": str(sp.gateway),
            "carried": [str(n) for n in sp.carried],
            "wan": {"core": str(core), "site": str(edge)},
            "security_level": topo.tier(site.tier).security_level,
            "uplink_mbit": topo.tier(site.tier).bandwidth.link_mbit,
        })
        assert site.parent is None or site.parent in by_slug
    return {
        "province": {
            "name": topo.province.name,
            "slug": topo.province.slug,
            "gso_code": topo.province.gso_code,
            "lan_supernet": topo.province.lan_supernet,
            "tslcd_wan": topo.province.tslcd_wan,
            "max_security_level": topo.max_security_level,
        },
        "zones": [
            {"name": z.name, "cidr": str(z.cidr), "gateway": str(z.gateway), "slot": z.slot,
             "az_subnets": [str(h) for h in z.az_halves()]}
            for z in plan.zones
        ],
        "sites": sites,
        "services": [
            {"slug": s.slug, "name": s.name, "zone": s.zone, "instances": s.instances,
             "security_level": s.security_level}
            for s in topo.services
        ],
        "oversubscription": [
            {"parent": o.parent, "children": o.children, "parent_link_mbit": o.parent_link_mbit,
             "children_link_mbit": o.children_link_mbit, "ratio": round(o.ratio, 2)}
            for o in oversubscription(topo)
        ],
    }


def plan_tables(data: dict) -> list[Table]:
    zones = PlainTable(title=f"Data-centre zones — {data['province']['name']}")
    for col in ("zone", "cidr", "gateway"):
        zones.add_column(col)
    for z in data["zones"]:
        zones.add_row(z["name"], z["cidr"], z["gateway"])

    sites = PlainTable(title=f"Agency sites ({len(data['sites'])})")
    for col in ("site", "GSO", "tier", "parent", "LAN", "gateway", "level", "uplink"):
        sites.add_column(col)
    for s in data["sites"]:
        indent = "  " * s["depth"]
        sites.add_row(indent + s["name"], s["gso_code"] or "", s["tier"], s["parent"] or "",
                      s["cidr"], s["gateway"], str(s["security_level"]), f"{s['uplink_mbit']:g}")

    over = PlainTable(title="Uplink oversubscription by children")
    for col in ("parent", "children", "parent link", "children links", "ratio"):
        over.add_column(col)
    for o in data["oversubscription"]:
        over.add_row(o["parent"], str(o["children"]), f"{o['parent_link_mbit']:g}",
                     f"{o['children_link_mbit']:g}", f"{o['ratio']:.2f}")
    return [zones, sites, over]
