"""Carried-over prefixes and the migration section, checked inside one topology file.

After a merger an agency keeps its LAN: the site that absorbs it lists the prefix under
`carry_over`. These checks need no other file: every carried prefix lies in the supernet,
outside the data centre and the reserved ranges, and belongs to exactly one site; the
migration section names each former site once. What needs the former topologies (does the
named site exist, did it use that prefix, does the official converter agree) is checked by
`provdc migrate plan` (topology/migration.py).
"""

from __future__ import annotations

from collections import Counter

from netaddr import IPNetwork

from provdc.topology import addressing as ap
from provdc.topology.schema import Topology


def former_refs(topo: Topology) -> list[tuple[tuple, str]]:
    """Every place the file names a former site: (field path, reference)."""
    refs = [(("sites", i, "carry_over", j, "from"), c.former)
            for i, s in enumerate(topo.sites) for j, c in enumerate(s.carry_over) if c.former]
    mig = topo.migration
    if mig is not None:
        refs += [(("migration", "retired", i, "former"), r.former)
                 for i, r in enumerate(mig.retired)]
        refs += [(("migration", "renumbered", i, "former"), r.former)
                 for i, r in enumerate(mig.renumbered)]
    return refs


def check_section(topo: Topology, chk) -> None:
    """Each former site mapped once, to a known site, of a declared former province."""
    mig = topo.migration
    sources = set(mig.sources) if mig else set()
    slugs = {s.slug for s in topo.sites}
    refs = former_refs(topo)
    twice = {r for r, n in Counter(r for _, r in refs).items() if n > 1}
    for path, ref in refs:
        province = ref.split("/", 1)[0]
        if ref in twice:
            places = [_where(p) for p, r in refs if r == ref]
            chk.add(path, f"former site '{ref}' is mapped twice ({', '.join(places)})",
                    "a former site goes to exactly one place: carry it over to one site, or "
                    "retire it, or renumber it")
        if mig is None:
            chk.add(path, f"'{ref}' names a former site but the file has no migration section",
                    f"add `migration: {{sources: [{province}]}}` naming the former provinces")
        elif province not in sources:
            chk.add(path, f"'{province}' is not one of the former provinces "
                          f"({', '.join(sorted(sources))})",
                    "add it to migration.sources or correct the province slug")
    for i, r in enumerate(mig.renumbered if mig else []):
        if r.to not in slugs:
            chk.add(("migration", "renumbered", i, "to"), f"unknown site '{r.to}'",
                    "name the slug of the site that takes the agency over")
    for i, site in enumerate(topo.sites):
        if site.carry_over and site.slot is not None:
            chk.add(("sites", i, "slot"), f"site '{site.slug}' carries its prefix over and "
                    "has a slot", "remove the slot: the first carried-over prefix is its LAN")


def _where(path: tuple) -> str:
    if path[0] == "sites":
        return f"sites[{path[1]}].carry_over"
    return f"migration.{path[1]}[{path[2]}]"


def carried_space(topo: Topology, chk, supernet: IPNetwork,
                  fixed: list[tuple[str, IPNetwork]]) -> dict[str, list[IPNetwork]]:
    """The carried prefixes of each site that passed the checks (site slug -> prefixes)."""
    out: dict[str, list[IPNetwork]] = {}
    claimed = ap.Occupied()
    owners: dict[int, str] = {}
    for i, site in enumerate(topo.sites):
        for j, entry in enumerate(site.carry_over):
            net = IPNetwork(entry.prefix)
            problem = _problem(net, supernet, fixed, claimed, owners, site.slug)
            if problem:
                chk.add(("sites", i, "carry_over", j, "prefix"), *problem)
                continue
            claimed.add(net)
            owners[net.first] = site.slug
            out.setdefault(site.slug, []).append(net)
    return out


def _problem(net, supernet, fixed, claimed, owners, slug) -> tuple[str, str] | None:
    if net not in supernet:
        return (f"carried-over prefix {net} is outside the LAN supernet {supernet}",
                "widen province.lan_supernet to cover the former provinces' prefixes")
    for what, other in fixed:
        if ap._overlaps(net, other):
            return (f"carried-over prefix {net} overlaps {what} ({other})",
                    "carry over only agency LANs; keep the data centre and reserved ranges "
                    "out of carry_over")
    hit = claimed.clash(net)
    if hit is not None:
        owner = owners[hit.first]
        who = "this site already" if owner == slug else f"site '{owner}'"
        return (f"carried-over prefix {net} is claimed by two sites: {who} carries {hit}",
                "route each former prefix to exactly one site; remove it from one of them")
    return None


def relative_slot(container: IPNetwork, net: IPNetwork) -> int:
    """Where a carried block sits in its parent's block, counted in blocks of its size."""
    return (net.first - container.first) // net.size
