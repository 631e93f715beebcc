"""A topology skeleton from the official unit lists (`provdc topology from-units`).

The lists give the hierarchy: real names, slugs and GSO codes. A template gives what they do
not (zones, tiers, departments, services, flows); the generator lays out the addresses:

- both layouts keep the first /20 of the province's own /16 for the data centre, its 17th /24
  for the People's Committee and its last /20 for the departments (regulations.md §8);
- three tiers (former list): districts get equal blocks after the first quarter of the /16,
  at slot `first + rank` (Sóc Trăng: 10.94.(64+16i).0/20), communes slot 2 + rank in their
  district's block (slot 0 is the district committee's LAN, slot 1 the district agencies',
  given up to a commune when that keeps a large district in a /20);
- two tiers (2025 list): communes get one /24 each from 10.X.32.0 on, slot 32 + rank.

Every slot is pinned, so the file never moves a site when another is added. Regenerating from
a newer list with `keep` (a previous topology) keeps the slug and slot of every unit whose code
both have; with `former` topologies (a merger) each new site carries over the prefixes of the
former units the official converter maps to it, and the migration section says where the other
former sites went.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from netaddr import IPAddress, IPNetwork, spanning_cidr

from provdc.errors import ProvdcError
from provdc.text import slugify
from provdc.topology import units
from provdc.topology.merger import merged_sites
from provdc.topology.validate import Loaded, load

TEMPLATES = {"former": Path(__file__).with_name("units") / "template-former.yml",
             "2025": Path(__file__).with_name("units") / "template-2025.yml"}


@dataclass
class Options:
    code: str
    list_name: units.ListName
    tslcd_wan: str
    supernet: str | None = None
    template: Path | None = None
    keep: Loaded | None = None  # a previous topology of this province: keep its slugs, slots
    former: list[Loaded] = field(default_factory=list)  # former provinces merged into this one


def own_space(code: str) -> IPNetwork:
    return IPNetwork(f"10.{int(code)}.0.0/16")


def generate(opts: Options) -> str:
    """The topology file's text: validated, every slot pinned."""
    data = units.province(opts.code, opts.list_name)
    template = _template(opts)
    doc = _document(opts, data, template)
    text = render(doc, data)
    loaded = load(f"<generated {data.name_with_type}>", text)
    if _pin_free(doc, loaded):
        text = render(doc, data)
        load(f"<generated {data.name_with_type}>", text)
    return text


def _template(opts: Options) -> dict:
    path = opts.template or TEMPLATES[opts.list_name]
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProvdcError(f"cannot read the template: {exc}", str(path),
                          fix="name a template like modules/provdc/topology/units/"
                          f"template-{opts.list_name}.yml") from None
    required = {"zones", "tiers", "departments", "services", "flows"}
    if not isinstance(doc, dict) or not required <= set(doc):
        raise ProvdcError(f"a template needs the sections {', '.join(sorted(required))}",
                          str(path), fix="start from the template shipped with provdc")
    return doc


def _document(opts: Options, data: units.ProvinceUnits, template: dict) -> dict:
    own = own_space(opts.code)
    supernet = IPNetwork(opts.supernet) if opts.supernet else _cover(own, opts.former)
    if own not in supernet:
        raise ProvdcError(f"the supernet {supernet} does not contain the province's own {own}",
                          field="supernet", fix=f"use {own} or a larger network containing it")
    dc_block = IPNetwork(f"{own.network}/20")
    sites = [{"name": data.name_with_type, "slug": slugify(data.name), "gso_code": data.code,
              "tier": "province", "slot": 0, "kind": data.type}]
    doc = {
        "province": {"name": data.name, "slug": slugify(data.name), "gso_code": data.code,
                     "lan_supernet": str(supernet), "tslcd_wan": opts.tslcd_wan,
                     "reserved": [], "regime": template.get("regime", "nd85_tt12_tcvn11930"),
                     "units": data.list_name},
        "datacenter": {"name": f"Trung tâm tích hợp dữ liệu {data.name_with_type.lower()[:1]}"
                               f"{data.name_with_type[1:]}",
                       "block": str(dc_block), "zones": template["zones"]},
        "tiers": _tiers(template, supernet, own, data),
        "sites": sites,
        "services": template["services"],
        "flows": template["flows"],
        "operations": _operations(template, dc_block),
    }
    if data.list_name == "former":
        doc["province"]["reserved"] = [_net(own.first + 32 * 256, 19)]
        sites += _departments(template, sites[0]["slug"], opts.keep)
        sites += _three_tier(data, sites[0]["slug"], *_district_layout(data), opts.keep)
    elif opts.former:
        merged_sites(doc, data, template, opts.former)
    else:
        sites += _departments(template, sites[0]["slug"], opts.keep)
        sites += _two_tier(data, sites[0]["slug"], opts.keep)
    if not doc["province"]["reserved"]:
        del doc["province"]["reserved"]
    return doc


def _net(first: int, length: int) -> str:
    return f"{IPAddress(first)}/{length}"


def _cover(own: IPNetwork, former: list[Loaded]) -> IPNetwork:
    nets = [own, *(IPNetwork(f.topology.province.lan_supernet) for f in former)]
    return spanning_cidr(nets) if len(nets) > 1 else own


def _tiers(template: dict, supernet: IPNetwork, own: IPNetwork, data) -> list[dict]:
    tiers = []
    for raw in template["tiers"]:
        tier = dict(raw)
        if tier["name"] == "province":
            tier["block_prefix_len"] = supernet.prefixlen
            tier["lan_prefix_len"] = 24
            tier["lan_slot"] = (own.first + 16 * 256 - supernet.first) // 256
        elif tier["name"] == "department":
            tier["pool"] = _net(own.first + 240 * 256, 20)
        elif tier["name"] == "district":
            tier["block_prefix_len"] = _district_layout(data)[0]
        tiers.append(tier)
    return tiers


def _district_layout(data: units.ProvinceUnits) -> tuple[int, int]:
    """(block length, first commune slot) for the districts: slot 0 of a block is the district
    committee's LAN, slot 1 the district agencies' (given up to a commune when that keeps the
    blocks at /20). The blocks must fit between the first quarter of the /16 and the
    departments' /20."""
    if not data.districts:
        return 20, 2
    most = max(sum(1 for c in data.communes if c.parent == d.code) for d in data.districts)
    first_commune = 2 if most + 2 <= 16 or most + 1 > 16 else 1
    length = min(20, 24 - math.ceil(math.log2(most + first_commune)))
    if len(data.districts) > 176 >> (24 - length):
        raise ProvdcError(
            f"{data.name_with_type} has {len(data.districts)} districts and up to {most} "
            f"communes in one: they do not fit the /16 layout of one /24 per commune",
            field="gso_code", fix="write its tiers and slots by hand (a larger supernet), "
            "starting from a generated province of the same shape")
    return length, first_commune


def _operations(template: dict, dc_block: IPNetwork) -> dict:
    ops = dict(template.get("operations") or {})
    soc = dict(ops.get("soc") or {})
    if soc.get("upstream"):
        # the national connector's address in EDGE (.250), as in the Sóc Trăng sample
        soc["upstream"] = {**soc["upstream"], "host": str(IPAddress(dc_block.first + 250))}
        ops["soc"] = soc
    return ops


def _kept(keep: Loaded | None) -> dict[str, tuple[str, int | None]]:
    """GSO code (or a department's slug) -> (slug, slot) in the previous topology."""
    if keep is None:
        return {}
    return {(s.gso_code or s.slug): (s.slug, s.slot) for s in keep.topology.sites}


def _departments(template: dict, root: str, keep: Loaded | None) -> list[dict]:
    kept = _kept(keep)
    out = []
    for i, dept in enumerate(template["departments"]):
        slot = kept.get(dept["slug"], (None, i))[1]
        out.append({"name": dept["name"], "slug": dept["slug"], "tier": "department",
                    "parent": root, "slot": slot if slot is not None else i, "kind": "so"})
    return out


def _three_tier(data, root: str, length: int, first_commune: int,
                keep: Loaded | None) -> list[dict]:
    kept = _kept(keep)
    first = 64 >> (24 - length)
    by_code = {d.code: d for d in data.districts}
    slugs = units.slugs(data.communes, by_code)
    out = []
    district_slots = _slots([d.code for d in data.districts], kept, first)
    for d in data.districts:
        dslug = kept.get(d.code, (slugify(d.name), None))[0]
        out.append({"name": d.name, "slug": dslug, "gso_code": d.code, "tier": "district",
                    "parent": root, "slot": district_slots[d.code], "kind": d.type})
        mine = [c for c in data.communes if c.parent == d.code]
        slots = _slots([c.code for c in mine], kept, first_commune)
        for c in mine:
            out.append({"name": c.name, "slug": kept.get(c.code, (slugs[c.code], None))[0],
                        "gso_code": c.code, "tier": "commune", "parent": dslug,
                        "slot": slots[c.code], "kind": c.type})
    return out


def _two_tier(data, root: str, keep: Loaded | None) -> list[dict]:
    kept = _kept(keep)
    slugs = units.slugs(data.communes, {})
    slots = _slots([c.code for c in data.communes], kept, 32)
    return [{"name": c.name, "slug": kept.get(c.code, (slugs[c.code], None))[0],
             "gso_code": c.code, "tier": "commune", "parent": root, "slot": slots[c.code],
             "kind": c.type} for c in data.communes]


def _slots(codes: list[str], kept: dict, first: int) -> dict[str, int]:
    """Kept slots stay; the others take the lowest free slots from `first`, in code order."""
    taken = {kept[c][1] for c in codes if c in kept and kept[c][1] is not None}
    out, nxt = {}, first
    for code in sorted(codes):
        if code in kept and kept[code][1] is not None:
            out[code] = kept[code][1]
            continue
        while nxt in taken:
            nxt += 1
        out[code] = nxt
        taken.add(nxt)
    return out


def _pin_free(doc: dict, loaded: Loaded) -> bool:
    """Pin the slot the planner chose for every site the generator left free."""
    changed = False
    for site in doc["sites"]:
        if site.get("slot") is None and not site.get("carry_over"):
            site["slot"] = loaded.plan.site(site["slug"]).slot
            changed = True
    return changed


# --- writing ----------------------------------------------------------------------------

def _flow(item) -> str:
    text = yaml.safe_dump(item, default_flow_style=True, allow_unicode=True, width=100_000,
                          sort_keys=False)
    return text.removesuffix("\n...\n").strip()  # a lone scalar ends its document


def _block(item) -> str:
    """Block style, but a list or mapping of plain values on one line (zones, classes)."""
    return yaml.safe_dump(item, default_flow_style=None, allow_unicode=True, width=100_000,
                          sort_keys=False).rstrip()


def _site_lines(site: dict) -> list[str]:
    """One line per site; a site that carries prefixes over lists them one per line."""
    carry = site.get("carry_over")
    plain = {k: v for k, v in site.items() if k != "carry_over" and v is not None}
    if not carry:
        return [f"  - {_flow(plain)}"]
    lines = [f"  {'-' if i == 0 else ' '} {k}: {_flow(v)}"
             for i, (k, v) in enumerate(plain.items())]
    return lines + ["    carry_over:"] + [f"      - {_flow(c)}" for c in carry]


def render(doc: dict, data: units.ProvinceUnits) -> str:
    src = units.sources()
    versions = ", ".join(f"{name} {s['version']}" for name, s in src.items())
    out = ["# yaml-language-server: $schema=../topology.schema.json",
           f"# {data.name_with_type} (GSO {data.code}) from the official {data.list_name} unit "
           f"list ({versions}),",
           "# written by `provdc topology from-units`. The hierarchy, names and codes come from "
           "the list;",
           "# zones, tiers, departments, services and flows from a template: edit those here.",
           "version: 1", ""]
    for key in ("province", "datacenter", "tiers"):
        out += [_block({key: doc[key]}), ""]
    out += ["sites:"] + [line for s in doc["sites"] for line in _site_lines(s)] + [""]
    out += ["services:"] + [f"  - {_flow(s)}" for s in doc["services"]] + [""]
    out += ["flows:"] + [f"  - {_flow(f)}" for f in doc["flows"]] + [""]
    if doc.get("operations"):
        out += [_block({"operations": doc["operations"]}), ""]
    if doc.get("migration"):
        out += _migration_lines(doc["migration"])
    return "\n".join(out).rstrip() + "\n"


def _migration_lines(mig: dict) -> list[str]:
    out = ["# Where the former provinces' sites went: carried over (the sites' carry_over above),",
           "# retired (prefixes released) or renumbered (moved to new space).",
           "migration:", f"  sources: {_flow(mig['sources'])}"]
    for key in ("retired", "renumbered"):
        if mig.get(key):
            out += [f"  {key}:"] + [f"    - {_flow(r)}" for r in mig[key]]
    return out
