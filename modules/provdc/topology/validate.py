"""Load a topology file, check it end to end, and build its address plan.

All checks run before anything touches a host or a cloud: schema (pydantic), references
(tiers, parents, zones, flows), the hierarchy (one root, no cycles), the address plan
(containment, overlap, reserved ranges, capacity, exhaustion) and the bandwidth policy.
Each problem becomes a ProvdcError naming the file, the line and the field path.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from netaddr import IPNetwork
from pydantic import ValidationError

from provdc.errors import ProvdcError, ValidationFailed
from provdc.text import slugify
from provdc.topology import addressing as ap
from provdc.topology import backup, carryover, official, retention
from provdc.topology.bandwidth import check_bandwidth
from provdc.topology.schema import Topology
from provdc.yamlsource import YamlDocument, field_path

REQUIRED_ZONES = ("EDGE", "DMZ", "APP", "DB", "MGMT", "BACKUP", "USER")


@dataclass
class Loaded:
    """A validated topology, its address plan and where it came from."""

    topology: Topology
    plan: ap.AddressPlan
    path: str


class Checker:
    """Collects problems with their location in the source document."""

    def __init__(self, doc: YamlDocument):
        self.doc = doc
        self.errors: list[ProvdcError] = []

    def add(self, path: tuple, message: str, fix: str) -> None:
        self.errors.append(
            ProvdcError(message, self.doc.path, self.doc.line_of(path), field_path(path), fix)
        )

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def load(path: str | Path, text: str | None = None) -> Loaded:
    """Parse, validate and plan; raise ValidationFailed with every problem found."""
    doc = YamlDocument(path, text)
    topo = parse(doc)
    chk = Checker(doc)
    check_references(topo, chk)
    carryover.check_section(topo, chk)
    official.check_codes(topo, chk)
    chk.raise_if_any()
    plan = build_plan(topo, chk)
    chk.raise_if_any()
    check_bandwidth(topo, chk)
    check_flows(topo, chk)
    check_operations(topo, chk)
    backup.check_section(topo, chk)
    chk.raise_if_any()
    return Loaded(topo, plan, str(path))


# --- schema -----------------------------------------------------------------------------

_FIXES = {
    "extra_forbidden": "remove it or correct its spelling; `provdc schema` lists the allowed keys",
    "missing": "add this field; `provdc schema` describes it",
    "string_pattern_mismatch": "use the format shown",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "list_type": "write a YAML list (lines starting with '- ')",
    "dict_type": "write a mapping of key: value lines",
    "model_type": "write a mapping of key: value lines",
    "string_type": "write text (quote it if YAML reads it as a number or a date)",
    "literal_error": "use one of the allowed values",
    "too_short": "add at least one entry",
    "greater_than": "use a larger value",
    "less_than_equal": "use a smaller value",
    "greater_than_equal": "use a larger value",
    "port_range": "list the ports one by one, e.g. [8000, 8001, 8002] (the firewalls render "
                  "consecutive ports as one range)",
}


def parse(doc: YamlDocument) -> Topology:
    if not isinstance(doc.data, dict):
        raise ProvdcError(
            "the file must be a YAML mapping with province, datacenter, tiers and sites",
            doc.path,
            1,
            fix="start from inventory/soctrang/topology.yml",
        )
    try:
        return Topology.model_validate(doc.data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            loc = tuple("from" if p == "source" else p for p in loc)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key '{loc[-1]}'"
            elif err["type"] == "missing":
                msg = "required field is missing"
            fix = _FIXES.get(err["type"], "correct the value as the message says")
            if err["type"] == "string_pattern_mismatch" and loc[-1] in ("slug", "parent", "tier"):
                msg = f"'{err['input']}' is not a slug"
                fix = (f"slugs are lowercase ASCII letters, digits and hyphens; "
                       f"write '{slugify(str(err['input']))}'"
                       + (" (parent names the slug of a site, not its name)"
                          if loc[-1] == "parent" else ""))
            errors.append(ProvdcError(msg, doc.path, doc.line_of(loc), field_path(loc), fix))
        raise ValidationFailed(errors) from None


# --- references and hierarchy -----------------------------------------------------------


def _duplicates(values: list) -> set:
    return {v for v, n in Counter(values).items() if n > 1 and v is not None}


def check_references(topo: Topology, chk: Checker) -> None:
    tiers = {t.name for t in topo.tiers}
    zones = {z.name for z in topo.datacenter.zones}
    slugs = [s.slug for s in topo.sites]

    for kind, items, key in (
        ("tier", topo.tiers, "name"),
        ("zone", topo.datacenter.zones, "name"),
        ("service", topo.services, "slug"),
    ):
        dups = _duplicates([getattr(x, key) for x in items])
        section = {"tier": ("tiers",), "zone": ("datacenter", "zones"), "service": ("services",)}
        for i, item in enumerate(items):
            if getattr(item, key) in dups:
                chk.add(
                    section[kind] + (i, key),
                    f"duplicate {kind} {key} '{getattr(item, key)}'",
                    f"give each {kind} a unique {key}",
                )
    missing = [z for z in REQUIRED_ZONES if z not in zones]
    if missing:
        chk.add(
            ("datacenter", "zones"),
            f"the data centre lacks the zone(s) {', '.join(missing)}",
            "Circular 12/2022 expects separate EDGE, DMZ, APP, DB, MGMT, BACKUP and USER zones; "
            "add them",
        )

    dup_slugs = _duplicates(slugs)
    dup_codes = _duplicates([s.gso_code for s in topo.sites])
    by_slug = {s.slug: s for s in topo.sites}
    for i, site in enumerate(topo.sites):
        if site.slug in dup_slugs:
            chk.add(("sites", i, "slug"), f"duplicate site slug '{site.slug}'",
                    "slugs name sites everywhere (inventory, hostnames); make each unique")
        if site.gso_code in dup_codes:
            chk.add(("sites", i, "gso_code"), f"GSO code {site.gso_code} is used by two sites",
                    "check the code against the GSO list; each unit has its own")
        if site.tier not in tiers:
            chk.add(("sites", i, "tier"), f"unknown tier '{site.tier}'",
                    f"use one of: {', '.join(sorted(tiers))}")
        if site.parent is not None and site.parent not in by_slug:
            chk.add(("sites", i, "parent"), f"unknown parent '{site.parent}'",
                    "name the slug of an existing site, or leave parent out for the province root")
        if site.parent == site.slug:
            chk.add(("sites", i, "parent"), f"site '{site.slug}' is its own parent",
                    "name the site this one reports to")

    roots = [i for i, s in enumerate(topo.sites) if s.parent is None]
    if len(roots) != 1:
        where = roots[1] if len(roots) > 1 else 0
        chk.add(("sites", where, "parent"),
                f"there must be exactly one root site (no parent); found {len(roots)}",
                "give every site except the province itself a parent")
    _check_cycles(topo, chk, by_slug)

    for i, svc in enumerate(topo.services):
        if svc.zone not in zones:
            chk.add(("services", i, "zone"), f"unknown zone '{svc.zone}'",
                    f"use one of: {', '.join(sorted(zones))}")


def _check_cycles(topo: Topology, chk: Checker, by_slug: dict) -> None:
    index = {s.slug: i for i, s in enumerate(topo.sites)}
    reported: set[str] = set()
    for site in topo.sites:
        seen = [site.slug]
        cur = site
        while cur.parent and cur.parent in by_slug and cur.parent != cur.slug:
            if cur.parent in seen:
                loop = seen[seen.index(cur.parent):] + [cur.parent]
                if not reported & set(loop):
                    chk.add(("sites", index[loop[0]], "parent"),
                            "the hierarchy has a cycle: " + " -> ".join(loop),
                            "make one of these sites hang off a site outside the loop")
                    reported |= set(loop)
                break
            seen.append(cur.parent)
            cur = by_slug[cur.parent]


# --- address plan -----------------------------------------------------------------------


def build_plan(topo: Topology, chk: Checker) -> ap.AddressPlan:
    plan = ap.AddressPlan(topo)
    supernet = IPNetwork(topo.province.lan_supernet)
    dc_block = IPNetwork(topo.datacenter.block)
    reserved = [IPNetwork(r) for r in topo.province.reserved]
    index = {s.slug: i for i, s in enumerate(topo.sites)}

    if dc_block not in supernet:
        chk.add(("datacenter", "block"), f"{dc_block} is not inside the LAN supernet {supernet}",
                "choose a data-centre block inside province.lan_supernet")
    for i, r in enumerate(reserved):
        if r not in supernet:
            chk.add(("province", "reserved", i), f"{r} is not inside the LAN supernet {supernet}",
                    "list only ranges of the supernet")
    wan = IPNetwork(topo.province.tslcd_wan)
    if wan.first <= supernet.last and supernet.first <= wan.last:
        chk.add(("province", "tslcd_wan"),
                f"the TSLCD WAN prefix {wan} overlaps the LAN {supernet}",
                "copy the WAN prefix allocated by CBĐTW; it must be separate from the LAN")
    if wan.size < ap.wan_links_needed(topo):
        chk.add(("province", "tslcd_wan"),
                f"{wan} holds {wan.size // 2} point-to-point links but the plan needs "
                f"{ap.wan_links_needed(topo) // 2}",
                "ask CBĐTW for a larger prefix or use larger site LANs")

    _plan_zones(topo, plan, chk, dc_block)
    fixed = [("the data-centre block", dc_block)] + [("a reserved range", r) for r in reserved]
    carried = carryover.carried_space(topo, chk, supernet, fixed)
    _plan_sites(topo, plan, chk, supernet, [dc_block, *reserved], index, carried)
    return plan


def _plan_zones(topo: Topology, plan: ap.AddressPlan, chk: Checker, block: IPNetwork) -> None:
    zone_index = {z.name: i for i, z in enumerate(topo.datacenter.zones)}
    try:
        plan.zones = ap.zone_plan(topo)
    except ap.NoRoom as exc:
        chk.add(("datacenter", "zones"), f"the zones do not fit in {block}: {exc}",
                "enlarge datacenter.block or shrink the zones")
        return
    for a in plan.zones:
        for b in plan.zones:
            if a.name < b.name and ap._overlaps(a.cidr, b.cidr):
                chk.add(("datacenter", "zones", zone_index[b.name], "slot"),
                        f"zone {b.name} ({b.cidr}) overlaps zone {a.name} ({a.cidr})",
                        "give the zones different slots")
    need = Counter()
    for svc in topo.services:
        need[svc.zone] += svc.instances
    for z in plan.zones:
        # each zone is split into two availability-zone halves; a cloud reserves 5 per subnet
        half = z.cidr.size // 2 - 5
        if need[z.name] and (need[z.name] + 1) // 2 + 1 > half:
            chk.add(("datacenter", "zones", zone_index[z.name], "prefix_len"),
                    f"zone {z.name} /{z.cidr.prefixlen} is too small for its {need[z.name]} "
                    f"instances split over two availability zones",
                    "use a smaller prefix_len (a larger subnet)")


def _plan_sites(topo, plan, chk, supernet, reserved, index, carried) -> None:
    taken: dict[str, ap.Occupied] = {}  # parent slug -> blocks and LAN already used
    placed: dict[str, ap.SitePlan] = {}
    claimed = ap.Occupied()  # carried-over space: no new block may take any of it
    for nets in carried.values():
        for net in nets:
            claimed.add(net)
    for site, depth in ap.sites_in_plan_order(topo):
        if site.slug in carried:
            _carry_site(topo, site, depth, carried[site.slug], placed, taken, chk, index,
                        supernet, reserved)
            continue
        tier = topo.tier(site.tier)
        i = index[site.slug]
        parent = placed.get(site.parent) if site.parent else None
        if site.parent and parent is None:
            continue  # parent failed to place; its error is already reported
        container = parent.block if parent else supernet
        pool = IPNetwork(tier.pool) if tier.pool else container
        if pool not in container:
            chk.add(("sites", i, "tier"),
                    f"tier '{tier.name}' has pool {pool}, outside the parent's block {container}",
                    "move the tier's pool inside the block of the sites' parent")
            continue
        if tier.block_prefix_len < pool.prefixlen:
            chk.add(("sites", i, "tier"),
                    f"a /{tier.block_prefix_len} block of tier '{tier.name}' does not fit in "
                    f"{pool}", "use a longer block_prefix_len for this tier")
            continue
        # the root's block is the supernet itself; everyone below it avoids reserved ranges
        used = taken.setdefault(site.parent or "", ap.Occupied(reserved if parent else []))
        # carried-over space is off limits to new blocks (the root's block holds it all)
        avoid = ap.EitherOccupied(used, claimed) if parent else used
        try:
            slot, block = ap._place(pool, tier.block_prefix_len, site.slot, avoid)
        except ap.NoRoom as exc:
            what = "slot" if site.slot is not None else "parent"
            chk.add(("sites", i, what),
                    f"no room for site '{site.slug}': {exc}",
                    "pick a free slot, enlarge the parent's block or shorten this tier's "
                    "block_prefix_len" if site.slot is not None else
                    "the parent's address block is exhausted; enlarge it or use smaller blocks")
            continue
        clash = avoid.clash(block)
        if clash is not None:
            owner = _owner_of(clash, placed, reserved, topo, carried)
            chk.add(("sites", i, "slot"),
                    f"block {block} of site '{site.slug}' overlaps {owner} ({clash})",
                    "pin a free slot (run `provdc plan` to see the slots in use)")
            continue
        try:
            _, lan = ap._place(block, tier.lan_prefix_len, tier.lan_slot, ap.Occupied())
        except ap.NoRoom:
            count = 2 ** (tier.lan_prefix_len - tier.block_prefix_len)
            chk.add(("tiers", topo.tiers.index(tier), "lan_slot"),
                    f"lan_slot {tier.lan_slot} is outside a /{tier.block_prefix_len} block",
                    f"use a lan_slot below {count}")
            continue
        if 2 ** (32 - tier.lan_prefix_len) - 3 < tier.agency_hosts:
            chk.add(("tiers", topo.tiers.index(tier), "lan_prefix_len"),
                    f"a /{tier.lan_prefix_len} LAN cannot hold {tier.agency_hosts} hosts "
                    "and a gateway",
                    "use a shorter lan_prefix_len or fewer agency_hosts")
            continue
        used.add(block)
        taken[site.slug] = ap.Occupied(reserved)
        taken[site.slug].add(lan)
        sp = ap.SitePlan(site, block, lan, ap.gateway_of(lan), slot, depth, site.slot is not None)
        placed[site.slug] = sp
    plan.sites = [placed[s.slug] for s in topo.sites if s.slug in placed]


def _carry_site(topo, site, depth, nets, placed, taken, chk, index, supernet, reserved) -> None:
    """A site that inherits its LAN: its block is its first carried-over prefix."""
    i = index[site.slug]
    parent = placed.get(site.parent) if site.parent else None
    if site.parent and parent is None:
        return  # parent failed to place; its error is already reported
    container = parent.block if parent else supernet
    lan = nets[0]
    tier = topo.tier(site.tier)
    if lan not in container:
        chk.add(("sites", i, "carry_over", 0, "prefix"),
                f"carried-over prefix {lan} is outside the block {container} of the parent "
                f"'{site.parent}'", "hang the site off a parent whose block covers the prefix")
        return
    used = taken.setdefault(site.parent or "", ap.Occupied(reserved if parent else []))
    clash = used.clash(lan)
    if clash is not None:
        chk.add(("sites", i, "carry_over", 0, "prefix"),
                f"carried-over prefix {lan} of site '{site.slug}' overlaps "
                f"{_owner_of(clash, placed, reserved, topo, {})} ({clash})",
                "move the other site to a free slot (run `provdc plan` to see them)")
        return
    if lan.size - 3 < tier.agency_hosts:
        chk.add(("sites", i, "carry_over", 0, "prefix"),
                f"the carried-over LAN {lan} cannot hold {tier.agency_hosts} hosts and a gateway",
                "carry a larger prefix first, or lower the tier's agency_hosts")
        return
    used.add(lan)
    taken[site.slug] = ap.Occupied(reserved)
    taken[site.slug].add(lan)
    placed[site.slug] = ap.SitePlan(site, lan, lan, ap.gateway_of(lan),
                                    carryover.relative_slot(container, lan), depth, True,
                                    tuple(nets))


def _owner_of(net, placed, reserved, topo, carried) -> str:
    for slug, nets in carried.items():
        if net in nets:
            return f"the carried-over prefix of site '{slug}'"
    for sp in placed.values():
        if sp.block == net:
            return f"site '{sp.slug}'"
        if sp.cidr == net:
            return f"the LAN of site '{sp.slug}'"
    if net == IPNetwork(topo.datacenter.block):
        return "the data-centre block"
    return "a reserved range"


# --- flows ------------------------------------------------------------------------------


def check_flows(topo: Topology, chk: Checker) -> None:
    known = {
        "zone": {z.name for z in topo.datacenter.zones},
        "service": {s.slug for s in topo.services},
        "tier": {t.name for t in topo.tiers},
        "site": {s.slug for s in topo.sites},
    }
    for i, flow in enumerate(topo.flows):
        for key, endpoint in (("from", flow.source), ("to", flow.to)):
            kind, _, name = endpoint.partition(":")
            if kind != "external" and name not in known[kind]:
                chk.add(("flows", i, key), f"unknown {kind} '{name}' in '{endpoint}'",
                        f"use one of the {kind}s defined in the file")
        if flow.source == flow.to:
            chk.add(("flows", i, "to"), "a flow from an endpoint to itself",
                    "remove it; traffic inside one endpoint needs no rule")


# --- operations -------------------------------------------------------------------------


def check_operations(topo: Topology, chk: Checker) -> None:
    """operations.soc against the rest of the file: the collector is a SOC service, the
    retention meets the highest security level, the onward link has a flow out."""
    soc = topo.operations.soc
    where = ("operations", "soc")
    services = {s.slug: s for s in topo.services}
    collector = services.get(soc.collector_service)
    if collector is None and "collector_service" in soc.model_fields_set:
        chk.add(where + ("collector_service",), f"unknown service '{soc.collector_service}'",
                "name the slug of the SOC collector's entry under services")
    elif collector is not None and collector.role != "soc":
        chk.add(where + ("collector_service",),
                f"service '{collector.slug}' has role '{collector.role}', not 'soc'",
                f"give services[{topo.services.index(collector)}] `role: soc` or name the "
                "SOC collector's service")
    level = topo.max_security_level
    minimum = retention.minimum_days(level)
    if soc.retention_days is not None and soc.retention_days < minimum:
        chk.add(where + ("retention_days",),
                f"{soc.retention_days} days is shorter than the {minimum} days security level "
                f"{level} requires ({retention.TABLE[level].source})",
                f"set retention_days to {minimum} or more, or leave it out")
    if soc.upstream is not None and collector is not None and topo.flows:
        sources = {f"service:{collector.slug}", f"zone:{collector.zone}"}
        if not any(f.source in sources and f.to.startswith("external:") and f.proto == "tcp"
                   and soc.upstream.port in f.ports for f in topo.flows):
            chk.add(where + ("upstream", "port"),
                    f"no flow lets the SOC collector reach the upstream on tcp/"
                    f"{soc.upstream.port}",
                    f"add `- {{from: \"service:{collector.slug}\", to: \"external:ncsc\", "
                    f"proto: tcp, ports: [{soc.upstream.port}]}}` to flows, or correct the port")
