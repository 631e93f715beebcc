"""The migration plan from former topologies to a new one (`provdc migrate plan`).

For every former site: where it goes (kept, merged into a site, renumbered, retired), which
of its prefixes are kept, moved or released, whether its TSLCD link, security level, firewall
(the flow matrix seen from its tier) and bandwidth policy change; and for every host of the
new topology, which of those changes reach it. The per-host list is what a re-convergence
should touch, so a lab run can compare the tasks it changed on each host with it.

Nothing is guessed: a former site that no carry_over, `migration.retired` or
`migration.renumbered` names, or that two of them name, stops the plan, as does a
carried-over prefix the former site never used or a move the official converter contradicts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from netaddr import IPNetwork

from provdc.errors import ProvdcError, ValidationFailed
from provdc.topology import addressing as ap
from provdc.topology import units
from provdc.topology.schema import Topology
from provdc.topology.validate import Loaded
from provdc.yamlsource import YamlDocument, field_path


@dataclass(frozen=True)
class Former:
    ref: str  # <province slug>/<site slug>
    loaded: Loaded
    plan: ap.SitePlan


@dataclass(frozen=True)
class Fate:
    kind: str  # kept, merged, renumbered, retired
    to: str | None  # the new site's slug
    where: tuple  # the field of the new topology that says so (for errors)
    reason: str = ""


class Problems:
    """Errors located in the new topology's file, reported together."""

    def __init__(self, new: Loaded):
        self.new = new
        self._doc: YamlDocument | None = None
        self.errors: list[ProvdcError] = []

    def add(self, where: tuple, message: str, fix: str) -> None:
        line = None
        if where:
            if self._doc is None:
                self._doc = YamlDocument(self.new.path)
            line = self._doc.line_of(where)
        self.errors.append(ProvdcError(message, self.new.path, line,
                                       field_path(where) if where else "migration", fix))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def plan(formers: list[Loaded], new: Loaded) -> dict:
    """The migration plan as a document (JSON-ready); ValidationFailed on any contradiction."""
    problems = Problems(new)
    _check_sources(formers, new, problems)
    problems.raise_if_any()
    index = {f"{f.topology.province.slug}/{sp.slug}": Former(
        f"{f.topology.province.slug}/{sp.slug}", f, sp) for f in formers for sp in f.plan.sites}
    fates = _fates(index, formers, new, problems)
    _check_complete(index, formers, fates, problems)
    _check_converter(index, fates, new, problems)
    problems.raise_if_any()
    return _document(index, formers, fates, new)


def _check_sources(formers: list[Loaded], new: Loaded, problems: Problems) -> None:
    mig = new.topology.migration
    slugs = [f.topology.province.slug for f in formers]
    if mig is None:
        problems.add((), f"{new.path} has no migration section",
                     f"add `migration: {{sources: [{', '.join(slugs)}]}}` and say where each "
                     "former site goes (carry_over, migration.retired, migration.renumbered)")
        return
    for slug in sorted({s for s in slugs if slugs.count(s) > 1}):
        problems.add(("migration", "sources"), f"two former topologies are province '{slug}'",
                     "give each former province's file once")
    for i, slug in enumerate(mig.sources):
        if slug not in slugs:
            problems.add(("migration", "sources", i),
                         f"former province '{slug}' was not given",
                         f"pass its topology file too (given: {', '.join(slugs)})")
    for f in formers:
        if f.topology.province.slug not in mig.sources:
            problems.add(("migration", "sources"),
                         f"{f.path} (province '{f.topology.province.slug}') is not one of the "
                         "sources", "add it to migration.sources, or leave the file out")


def _fates(index, formers, new: Loaded, problems: Problems) -> dict[str, list[Fate]]:
    fates: dict[str, list[Fate]] = {}
    by_prefix = {str(f.plan.cidr): f.ref for f in index.values()}
    for i, site in enumerate(new.topology.sites):
        for j, entry in enumerate(site.carry_over):
            where = ("sites", i, "carry_over", j)
            ref = entry.former or by_prefix.get(entry.prefix)
            if not _known(ref, index, where, entry.prefix, problems):
                continue
            if str(index[ref].plan.cidr) != entry.prefix:
                problems.add(where + ("prefix",),
                             f"former site '{ref}' used {index[ref].plan.cidr}, not "
                             f"{entry.prefix}", f"carry over {index[ref].plan.cidr}, the prefix "
                             "its topology plans")
                continue
            same = index[ref].plan.site.slug == site.slug and j == 0
            fates.setdefault(ref, []).append(Fate("kept" if same else "merged", site.slug, where))
    _listed(new.topology, index, fates, problems)
    _same_lan(index, new, fates)
    _datacenters(formers, new, fates)
    return fates


def _known(ref, index, where, prefix, problems: Problems) -> bool:
    if ref is None:
        problems.add(where + ("prefix",), f"carried-over prefix {prefix} is not the LAN of any "
                     "former site", "name the former site with `from:` and copy its prefix "
                     "from `provdc plan` of its topology")
        return False
    if ref not in index:
        problems.add(where + ("from",), f"former site '{ref}' does not exist",
                     "name a site of a former topology as <province slug>/<site slug>")
        return False
    return True


def _listed(topo: Topology, index, fates, problems: Problems) -> None:
    mig = topo.migration
    for key, entries in (("retired", mig.retired), ("renumbered", mig.renumbered)):
        for i, entry in enumerate(entries):
            where = ("migration", key, i)
            if entry.former not in index and not entry.former.endswith("/datacenter"):
                problems.add(where + ("former",), f"former site '{entry.former}' does not exist",
                             "name a site of a former topology as <province slug>/<site slug>")
                continue
            fates.setdefault(entry.former, []).append(
                Fate(key, getattr(entry, "to", None), where, entry.reason))


def _same_lan(index, new: Loaded, fates) -> None:
    """A former site whose LAN is a new site's own LAN (the seat's committee) is kept as is."""
    lans = {str(sp.cidr): sp.slug for sp in new.plan.sites if not sp.carried}
    for ref, former in index.items():
        slug = lans.get(str(former.plan.cidr))
        if slug is not None:
            fates.setdefault(ref, []).append(Fate("kept", slug, ()))


def _datacenters(formers: list[Loaded], new: Loaded, fates) -> None:
    for f in formers:
        if f.topology.datacenter.block == new.topology.datacenter.block:
            fates.setdefault(f"{f.topology.province.slug}/datacenter", []).append(
                Fate("kept", None, ()))


def _check_complete(index, formers, fates, problems: Problems) -> None:
    refs = list(index) + [f"{f.topology.province.slug}/datacenter" for f in formers]
    missing = [r for r in refs if not fates.get(r)]
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8
                                           else "")
        problems.add(("migration",), f"{len(missing)} former site(s) are mapped nowhere: {shown}",
                     "carry each one's prefix over to a site (carry_over), or list it under "
                     "migration.retired or migration.renumbered")
    for ref, found in fates.items():
        if len(found) > 1:
            places = ", ".join(field_path(f.where) if f.where else "the same LAN as "
                               f"'{f.to}'" for f in found)
            problems.add(found[-1].where, f"former site '{ref}' is mapped twice ({places})",
                         "a former site goes to exactly one place; remove all but one")


def _check_converter(index, fates, new: Loaded, problems: Problems) -> None:
    """A commune carried to a new commune the official converter does not send it to."""
    topo = new.topology
    conv = units.converter(topo.province.gso_code) if topo.province.units == "2025" else None
    if conv is None:
        return
    codes = {s.slug: s.gso_code for s in topo.sites}
    for ref, found in fates.items():
        old = index[ref].plan.site.gso_code if ref in index else None
        for fate in found:
            if old in conv and fate.to and fate.kind in ("kept", "merged") \
                    and codes.get(fate.to) not in conv[old]:
                names = ", ".join(conv[old])
                problems.add(fate.where, f"the migration contradicts the official converter: "
                             f"former commune '{ref}' ({old}) became {names}, not '{fate.to}' "
                             f"({codes.get(fate.to)})",
                             f"carry its prefix over to the site with gso_code {conv[old][0]}")


# --- the document ---------------------------------------------------------------------------

def _document(index, formers, fates, new: Loaded) -> dict:
    sites = [_site_entry(f, fates[ref][0], new) for ref, f in index.items()]
    dcs = [_dc_entry(f, fates[f"{f.topology.province.slug}/datacenter"][0], new)
           for f in formers]
    hosts = _hosts(index, fates, formers, new)
    seat = _seat(formers, new)
    zone_firewall = {"changed": None if seat is None else
                     _matrix(seat) != _matrix(new)}  # None: a new data centre
    return {
        "province": {"name": new.topology.province.name, "slug": new.topology.province.slug,
                     "gso_code": new.topology.province.gso_code, "file": new.path},
        "former_provinces": [{"slug": f.topology.province.slug, "name": f.topology.province.name,
                              "gso_code": f.topology.province.gso_code, "file": f.path}
                             for f in formers],
        "summary": {**_summary(sites, hosts), "zone_firewall_changed": zone_firewall["changed"]},
        "sites": sites,
        "datacenters": dcs,
        "zone_firewall": zone_firewall,
        "hosts": hosts,
    }


def _site_entry(former: Former, fate: Fate, new: Loaded) -> dict:
    old, sp = former.loaded, former.plan
    target = new.plan.site(fate.to) if fate.to else None
    entry = {"former": former.ref, "name": sp.site.name, "gso_code": sp.site.gso_code,
             "tier": sp.site.tier, "fate": fate.kind, "into": fate.to,
             "into_name": target.site.name if target else None, "reason": fate.reason or None,
             "prefixes": [_prefix(sp.cidr, fate, target)]}
    entry.update(_changes(old, sp, new, target))
    return entry


def _prefix(cidr: IPNetwork, fate: Fate, target: ap.SitePlan | None) -> dict:
    if fate.kind in ("kept", "merged"):
        return {"prefix": str(cidr), "action": "kept", "to": str(cidr)}
    if fate.kind == "renumbered" and target is not None:
        return {"prefix": str(cidr), "action": "moved", "to": str(target.cidr)}
    return {"prefix": str(cidr), "action": "released", "to": None}


def _changes(old: Loaded, sp: ap.SitePlan, new: Loaded, target: ap.SitePlan | None) -> dict:
    before_tier = old.topology.tier(sp.site.tier)
    link = old.plan.wan_link(sp.slug)
    after = None
    if target is not None:
        after_tier = new.topology.tier(target.site.tier)
        new_link = new.plan.wan_link(target.slug)
        owns_lan = target.cidr == sp.cidr
        after = (after_tier, new_link if owns_lan else None)
    return {
        "tslcd": _tslcd(link, after),
        "security_level": {"before": before_tier.security_level,
                           "after": after[0].security_level if after else None},
        "bandwidth": _bandwidth(before_tier, after[0] if after else None),
        "firewall": _firewall(old.topology, sp.site, new.topology,
                              target.site if target else None),
    }


def _tslcd(link, after) -> dict:
    before = {"core": str(link[0]), "site": str(link[1])}
    if after is None or after[1] is None:
        # retired, or merged into another site's LAN: its own link ends
        return {"before": before, "after": None, "changed": True}
    now = {"core": str(after[1][0]), "site": str(after[1][1])}
    return {"before": before, "after": now, "changed": now != before}


def _bandwidth(before, after) -> dict:
    def policy(tier):
        bw = tier.bandwidth
        return {"link_mbit": bw.link_mbit, "shaped_mbit": bw.shaped_mbit,
                "classes": [c.model_dump(exclude={"description"}) for c in bw.classes]}
    b = policy(before)
    a = policy(after) if after else None
    return {"before": {"link_mbit": b["link_mbit"]},
            "after": {"link_mbit": a["link_mbit"]} if a else None,
            "changed": None if a is None else a != b}  # None: the site ends


def firewall_of(topo: Topology, tier: str, slug: str) -> dict:
    """What the flow matrix lets into and out of an agency host of this tier and site."""
    me = {f"tier:{tier}", f"site:{slug}"}
    out = sorted({f"{f.proto}:{f.to}:{','.join(map(str, f.ports))}" for f in topo.flows
                  if f.source in me})
    return {"tcp_in": topo.inbound_ports("tcp", tier=tier, site=slug),
            "udp_in": topo.inbound_ports("udp", tier=tier, site=slug), "out": out}


def sources(loaded: Loaded, endpoint: str) -> list[str]:
    """The prefixes a flow's endpoint stands for in the address plan, as the firewalls resolve
    it (provdc.segmentation.matrix.Resolver): a site is its LAN, every prefix carried over to
    it (routed to it as well) and its gateway's TSLCD address; a service is its zone (its
    hosts are the inventory's)."""
    plan = loaded.plan
    kind, _, name = endpoint.partition(":")
    if kind in ("tier", "site"):
        sites = [sp for sp in plan.sites if (sp.site.tier if kind == "tier" else sp.slug) == name]
        return [str(net) for sp in sites for net in (sp.carried or (sp.cidr,))] + [
            str(plan.wan_link(sp.slug)[1]) for sp in sites]
    if kind == "zone":
        return [str(plan.zone(name).cidr)]
    if kind == "service":
        svc = next(s for s in loaded.topology.services if s.slug == name)
        return [str(plan.zone(svc.zone).cidr)]
    # external: the EDGE zone, and everything outside the province's LAN and TSLCD WAN,
    # which a merger changes too
    prov = loaded.topology.province
    return [str(plan.zone("EDGE").cidr), f"outside {prov.lan_supernet} {prov.tslcd_wan}"]


def admitted(loaded: Loaded, destinations: set[str]) -> list[str]:
    """What the flow matrix lets into a host that is these endpoints, with its sources
    resolved: a merger that adds communes to a tier changes the rules of every service the
    tier reaches, although no port moves."""
    return sorted({f"{f.proto}/{','.join(map(str, f.ports))} from {net}"
                   for f in loaded.topology.flows if f.to in destinations
                   for net in sources(loaded, f.source)})


def _matrix(loaded: Loaded) -> list[str]:
    """The data centre's zone firewall, resolved: every flow's sources to its destinations."""
    return sorted({f"{f.proto}/{','.join(map(str, f.ports))} {src} -> {dst}"
                   for f in loaded.topology.flows for src in sources(loaded, f.source)
                   for dst in sources(loaded, f.to)})


def _firewall(old: Topology, site, new: Topology, target) -> dict:
    before = firewall_of(old, site.tier, site.slug)
    if target is None:
        return {"changed": None, "before": before, "after": None}  # the site ends
    after = firewall_of(new, target.tier, target.slug)
    return {"changed": before != after, "before": before, "after": after}


def _dc_entry(former: Loaded, fate: Fate, new: Loaded) -> dict:
    zones = []
    for zp in former.plan.zones:
        now = next((z for z in new.plan.zones if z.name == zp.name), None)
        kept = fate.kind == "kept" and now is not None and now.cidr == zp.cidr
        zones.append({"zone": zp.name, "prefix": str(zp.cidr),
                      "action": "kept" if kept else "released",
                      "to": str(now.cidr) if now is not None else None})
    return {"former": f"{former.topology.province.slug}/datacenter",
            "block": former.topology.datacenter.block, "fate": fate.kind,
            "reason": fate.reason or None, "zones": zones}


def _summary(sites: list[dict], hosts: list[dict]) -> dict:
    def count(key, value):
        return sum(1 for s in sites if s[key] == value)
    actions = [p["action"] for s in sites for p in s["prefixes"]]
    return {
        "former_sites": len(sites),
        **{k: count("fate", k) for k in ("kept", "merged", "renumbered", "retired")},
        "prefixes": {a: actions.count(a) for a in ("kept", "moved", "released")},
        "tslcd_links_changed": sum(1 for s in sites if s["tslcd"]["changed"]),
        "security_level_changed": sum(1 for s in sites if s["security_level"]["after"]
                                      not in (None, s["security_level"]["before"])),
        "firewall_changed": sum(1 for s in sites if s["firewall"]["changed"] is True),
        "bandwidth_changed": sum(1 for s in sites if s["bandwidth"]["changed"] is True),
        "hosts": len(hosts),
        "hosts_changed": sum(1 for h in hosts if h["changes"]),
    }


# --- hosts ------------------------------------------------------------------------------

def host_name(base: str) -> str:
    """The lab's host name for `base` (provdc.lab.model, which this layer may not import; a
    test holds the two equal): a name over 63 characters is cut and given a digest."""
    if len(base) <= 63:
        return base
    return f"{base[:56]}-{hashlib.sha256(base.encode()).hexdigest()[:6]}"


def _hosts(index, fates, formers, new: Loaded) -> list[dict]:
    primary = {}  # new site slug -> the former site whose LAN (or agency) it takes over
    for ref, found in fates.items():
        f = found[0]
        if ref in index and f.to and f.kind in ("kept", "merged", "renumbered"):
            first = new.plan.site(f.to).cidr == index[ref].plan.cidr or f.kind == "renumbered"
            if first:
                primary[f.to] = index[ref]
    out = []
    for sp in new.plan.sites:
        out += _site_hosts(sp, primary.get(sp.slug), new)
    out += _dc_hosts(_seat(formers, new), new)
    return out


def _seat(formers: list[Loaded], new: Loaded) -> Loaded | None:
    """The former province whose data centre the new one is (same block), if any."""
    return next((f for f in formers
                 if f.topology.datacenter.block == new.topology.datacenter.block), None)


def _site_hosts(sp: ap.SitePlan, former: Former | None, new: Loaded) -> list[dict]:
    tier = new.topology.tier(sp.site.tier)
    names = [("gateway", f"gw-{sp.slug}", 0)] + [
        ("agency", f"{sp.slug}-{n}", n) for n in range(1, max(1, tier.agency_hosts) + 1)]
    changes = ["new"] if former is None else _site_host_changes(sp, former, new)
    out = []
    for role, name, n in names:
        was = None
        if former is not None:
            was = host_name(f"gw-{former.plan.slug}" if role == "gateway"
                            else f"{former.plan.slug}-{n}")
        mine = [c for c in changes if role == "gateway" or c not in ("bandwidth", "tslcd",
                                                                       "routes")]
        out.append({"host": host_name(name), "role": role, "site": sp.slug, "formerly": was,
                    "changes": mine})
    return out


def _site_host_changes(sp: ap.SitePlan, former: Former, new: Loaded) -> list[str]:
    old = former.loaded
    c = _changes(old, former.plan, new, sp)
    found = []
    if former.plan.slug != sp.slug:
        found.append("renamed")
    if former.plan.cidr != sp.cidr:
        found.append("address")
    if c["tslcd"]["changed"]:
        found.append("tslcd")
    if len(sp.carried) > 1:
        found.append("routes")
    if c["security_level"]["before"] != c["security_level"]["after"]:
        found.append("security_level")
    if c["firewall"]["changed"]:
        found.append("firewall")
    if c["bandwidth"]["changed"]:
        found.append("bandwidth")
    return found


def _dc_hosts(seat: Loaded | None, new: Loaded) -> list[dict]:
    out = []
    for svc in new.topology.services:
        before = next((s for s in seat.topology.services if s.slug == svc.slug), None) \
            if seat else None
        for n in range(1, svc.instances + 1):
            out.append({"host": host_name(f"{svc.slug}-{n}"), "role": "dc", "site": None,
                        "formerly": host_name(f"{svc.slug}-{n}")
                        if before and n <= before.instances else None,
                        "changes": _dc_changes(seat, before, svc, n, new)})
    return out


def _dc_changes(seat, before, svc, n, new: Loaded) -> list[str]:
    if before is None or n > before.instances:
        return ["new"]
    found = []
    if before.zone != svc.zone:
        found.append("zone")
    if seat.plan.zone(before.zone).cidr != new.plan.zone(svc.zone).cidr:
        found.append("address")
    if before.security_level != svc.security_level:
        found.append("security_level")
    if admitted(seat, {f"service:{svc.slug}", f"zone:{before.zone}"}) != admitted(
            new, {f"service:{svc.slug}", f"zone:{svc.zone}"}):
        found.append("firewall")
    # the provincial time source answers the province's LAN supernet, which a merger widens
    if svc.role == "ntp" and (seat.topology.province.lan_supernet
                              != new.topology.province.lan_supernet):
        found.append("ntp_clients")
    return found
