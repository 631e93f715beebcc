"""The renumbering guard (`provdc plan --against PREVIOUS`): no prefix moves silently.

A prefix of the previous plan (a site's LAN or a data-centre zone) must still be where it was:
the same LAN, or carried over by a site of the new topology. Otherwise the move must be listed
in the topology's migration section (the former site retired or renumbered, the former data
centre retired), or accepted for the run with `--allow-renumber`. Without that, a changed
parent (a district abolished), a removed sibling under an unpinned layout or an edited slot
would renumber agencies and nothing would say so.
"""

from __future__ import annotations

import json
from pathlib import Path

from netaddr import IPNetwork

from provdc.errors import ProvdcError
from provdc.topology import report
from provdc.topology.validate import Loaded, load

SHOWN = 8


def previous_plan(path: Path) -> dict:
    """A previous plan: `provdc plan -f json` output, or a topology file to plan now."""
    if path.suffix.lower() != ".json":
        return report.plan_document(load(path))
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProvdcError(f"cannot read the previous plan: {exc}", str(path),
                          fix="give the output of `provdc plan TOPOLOGY -f json`") from None
    _check_shape(doc, path)
    return doc


def _check_shape(doc: object, path: Path) -> None:
    fix = "give the output of `provdc plan TOPOLOGY -f json` (or the topology file itself)"
    if not isinstance(doc, dict) or not isinstance(doc.get("sites"), list):
        raise ProvdcError("not a plan: it has no list of sites", str(path), field="sites",
                          fix=fix)
    for i, site in enumerate(doc["sites"]):
        ok = isinstance(site, dict) and isinstance(site.get("slug"), str)
        try:
            net = IPNetwork(site["cidr"])
            ok = ok and net.ip == net.network and str(net.cidr) == site["cidr"]
        except Exception:  # netaddr raises several types for a bad network
            ok = False
        if not ok:
            raise ProvdcError("a site needs a slug and a CIDR", str(path),
                              field=f"sites[{i}]", fix=fix)


def moves(previous: dict, new: Loaded) -> list[dict]:
    """Every prefix of `previous` that the new plan moves without the migration listing it."""
    prov = (previous.get("province") or {}).get("slug") or _root_slug(previous)
    same_province = prov == new.topology.province.slug
    listed = _listed(new)
    holders = _holders(new)
    now = {sp.slug: str(sp.cidr) for sp in new.plan.sites}
    out = []
    for site in previous["sites"]:
        ref = f"{prov}/{site['slug']}"
        holder = holders.get(site["cidr"])
        # still its own: the same site (same province) holds it, or a site carries it over
        if holder in ((site["slug"] if same_province else None), ref, "") or ref in listed:
            continue
        after = now.get(site["slug"]) if same_province else None
        out.append({"former": ref, "prefix": site["cidr"], "to": after})
    if f"{prov}/datacenter" not in listed:
        zones = {z.name: str(z.cidr) for z in new.plan.zones}
        out += [{"former": f"{prov}/zone:{z['name']}", "prefix": z["cidr"],
                 "to": zones.get(z["name"])}
                for z in previous.get("zones", []) if zones.get(z["name"]) != z["cidr"]]
    return out


def _holders(new: Loaded) -> dict[str, str]:
    """Prefix -> who holds it now: a site's slug (its own LAN), the former site a carry_over
    names, or "" (carried over by prefix alone)."""
    out = {str(sp.cidr): sp.slug for sp in new.plan.sites if not sp.carried}
    for site in new.topology.sites:
        out.update({c.prefix: c.former or "" for c in site.carry_over})
    return out


def _root_slug(previous: dict) -> str:
    return next((s["slug"] for s in previous["sites"] if not s.get("parent")), "")


def _listed(new: Loaded) -> set[str]:
    mig = new.topology.migration
    if mig is None:
        return set()
    return {e.former for e in (*mig.retired, *mig.renumbered)}


def guard(new: Loaded, previous: list[Path], allow: bool) -> list[dict]:
    """The moves against each previous plan; refused (one paragraph) unless `allow`."""
    found = [m for path in previous for m in moves(previous_plan(path), new)]
    if found and not allow:
        raise ProvdcError(
            f"{len(found)} prefix(es) of the previous plan would move: {describe(found)}",
            new.path, field="sites",
            fix="keep the previous slots (`provdc topology from-units --keep`, or pin them), "
            "carry the prefixes over (carry_over), or list each move under migration.renumbered "
            "or migration.retired; --allow-renumber accepts them for this run")
    return found


def describe(found: list[dict]) -> str:
    text = ", ".join(f"{m['former']} {m['prefix']} -> {m['to'] or 'released'}"
                     for m in found[:SHOWN])
    return text + (f" and {len(found) - SHOWN} more" if len(found) > SHOWN else "")
