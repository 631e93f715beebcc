"""The sites of a province formed by merging former ones (the 2025 reform), generated so that
no agency is renumbered: each new site carries over the prefixes of the former units it
absorbed, and the migration section lists every other former site.

Who goes where comes from data, never from a guess: communes from the official converter
(a commune split between several new ones goes to the one the converter picks by default),
departments from the template's `absorbs`. The seat (the former province whose GSO code the
new one keeps) keeps its data centre and its People's Committee's LAN as they are.
"""

from __future__ import annotations

from collections import defaultdict

from netaddr import IPNetwork

from provdc.errors import ProvdcError
from provdc.topology import units
from provdc.topology.validate import Loaded

Claim = tuple[str, str, str, bool]  # (former ref, short name, prefix, from the seat)


def merged_sites(doc: dict, data: units.ProvinceUnits, template: dict,
                 former: list[Loaded]) -> None:
    conv = units.converter(data.code)
    if conv is None:
        raise ProvdcError(f"the official converter has no one-to-one mapping for "
                          f"{data.name_with_type}", field="gso_code",
                          fix="write the carry_over entries and the migration section by hand")
    root = doc["sites"][0]["slug"]
    absorber = {old: d["slug"] for d in template["departments"] for old in d.get("absorbs", [])}
    communes: dict[str, list[Claim]] = defaultdict(list)
    depts: dict[str, list[Claim]] = defaultdict(list)
    retired: list[dict] = []
    for f in former:
        seat = f.topology.province.gso_code == data.code
        _dispatch(f, seat, conv, absorber, communes, depts, retired, data)
        if not seat:
            retired.append({"former": f"{f.topology.province.slug}/datacenter",
                            "reason": f"its data centre is consolidated into that of "
                                      f"{data.name_with_type}"})
            doc["province"]["reserved"].append(f.topology.datacenter.block)
    doc["sites"] += _new_departments(template, root, depts)
    doc["sites"] += _new_communes(data, root, communes)
    doc["migration"] = {"sources": [f.topology.province.slug for f in former],
                        "retired": retired}


def _dispatch(f: Loaded, seat: bool, conv, absorber, communes, depts, retired, data) -> None:
    prov = f.topology.province
    districts = {d.code for d in units.province(prov.gso_code, "former").districts}
    for sp in f.plan.sites:
        site, ref = sp.site, f"{prov.slug}/{sp.site.slug}"
        claim = (ref, units.short_name(site.name), str(sp.cidr), seat)
        if site.parent is None:
            if not seat:
                retired.append({"former": ref, "reason": f"the People's Committee of "
                                f"{prov.name} merged into {data.name_with_type}'s"})
        elif site.tier == "department" and site.slug in absorber:
            depts[absorber[site.slug]].append(claim)
        elif site.gso_code in conv:
            communes[conv[site.gso_code][0]].append(claim)
        elif site.gso_code in districts:
            retired.append({"former": ref, "reason": "the district level was abolished on "
                            "1 July 2025"})
        else:
            raise ProvdcError(
                f"former site '{site.slug}' (GSO code {site.gso_code}) is neither a district "
                f"nor a commune of the official converter, nor a department the template "
                f"absorbs", f.path, field=f"sites[{f.topology.sites.index(site)}]",
                fix="add it to a department's `absorbs` in the template, or correct its code")


def _ordered(claims: list[Claim], name: str) -> list[dict]:
    """The first carried prefix is the site's LAN: the unit that gave the new one its name,
    else the seat's, else the lowest prefix."""
    ranked = sorted(claims, key=lambda c: (c[1] != name, not c[3],
                                           IPNetwork(c[2]).first))
    return [{"from": ref, "prefix": prefix} for ref, _, prefix, _ in ranked]


def _new_departments(template: dict, root: str, depts) -> list[dict]:
    out = []
    for dept in template["departments"]:
        site = {"name": dept["name"], "slug": dept["slug"], "tier": "department",
                "parent": root, "kind": "so"}
        claims = sorted(depts.get(dept["slug"], []),
                        key=lambda c: (not c[3], dept["absorbs"].index(c[0].split("/")[1]),
                                       c[0]))
        if claims:
            site["carry_over"] = [{"from": r, "prefix": p} for r, _, p, _ in claims]
        out.append(site)
    return out


def _new_communes(data: units.ProvinceUnits, root: str, communes) -> list[dict]:
    slugs = units.slugs(data.communes, {})
    out = []
    for c in data.communes:
        site = {"name": c.name, "slug": slugs[c.code], "gso_code": c.code, "tier": "commune",
                "parent": root, "kind": c.type}
        if communes.get(c.code):
            site["carry_over"] = _ordered(communes[c.code], units.short_name(c.name))
        out.append(site)
    return out
