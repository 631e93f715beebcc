"""Sites against the official unit list the topology declares (`province.units`).

A GSO code names one unit of one list: a code that is not in the list, or a commune hung off
a district the list puts it elsewhere, is caught here, before any address is planned.
"""

from __future__ import annotations

from provdc.errors import ProvdcError
from provdc.topology import units
from provdc.topology.schema import Topology


def check_codes(topo: Topology, chk) -> None:
    list_name = topo.province.units
    if list_name is None:
        return
    try:
        data = units.province(topo.province.gso_code, list_name)
    except ProvdcError as exc:
        chk.add(("province", "gso_code"), exc.message, exc.fix or "")
        return
    by_slug = {s.slug: s for s in topo.sites}
    for i, site in enumerate(topo.sites):
        if site.gso_code is None or site.parent is None:
            continue
        unit = data.by_code.get(site.gso_code)
        if unit is None:
            chk.add(("sites", i, "gso_code"),
                    f"GSO code {site.gso_code} is not a unit of {data.name_with_type} in the "
                    f"{list_name} unit list", _fix(data, site.name))
            continue
        parent = by_slug.get(site.parent)
        expected = None if unit.parent == data.code else unit.parent
        if expected and parent is not None and parent.gso_code != expected:
            chk.add(("sites", i, "parent"),
                    f"{unit.name} ({unit.code}) belongs to district {expected} in the "
                    f"{list_name} unit list, not to '{site.parent}'",
                    f"hang it off the site whose gso_code is '{expected}'")


def _fix(data: units.ProvinceUnits, name: str) -> str:
    match = [u for u in (*data.districts, *data.communes) if u.name == name]
    if match:
        return f"{name} is {match[0].code} in this list"
    return ("check the code against the list (`provdc topology units "
            f"{data.code} --list {data.list_name}` prints it), or leave gso_code out")
