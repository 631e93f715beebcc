"""Property tests of the address planner: no overlaps, containment, stability."""

from __future__ import annotations

import copy
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netaddr import IPNetwork

from provdc.errors import ProvdcError
from provdc.topology.synthetic import synthetic_province
from provdc.topology.validate import load
from provdc.yamlsource import YamlDocument

SAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "soctrang" / "topology.yml"
BASE = synthetic_province(districts=4, communes_per_district=6, template=SAMPLE)


def plan_of(doc: dict, tmp_path):
    import yaml

    path = tmp_path / "t.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load(path)


def prefixes(loaded) -> dict[str, tuple[IPNetwork, IPNetwork]]:
    return {sp.slug: (sp.block, sp.cidr) for sp in loaded.plan.sites}


communes = st.lists(
    st.tuples(st.integers(1, 4), st.integers(1, 254), st.booleans()),
    min_size=1, max_size=25, unique_by=lambda t: (t[0], t[1]),
)
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def with_sites(extra: list[tuple[int, int, bool]]) -> dict:
    """The base province plus communes (district, slot, pinned) added."""
    doc = copy.deepcopy(BASE)
    taken = {(s.get("parent"), s.get("slot")) for s in doc["sites"]}
    for district, slot, pinned in extra:
        parent = f"huyen-{district}"
        if (parent, slot) in taken:
            continue
        taken.add((parent, slot))
        site = {"name": f"Xã mới {district}-{slot}", "slug": f"moi-{district}-{slot}",
                "tier": "commune", "parent": parent}
        if pinned:
            site["slot"] = slot
        doc["sites"].append(site)
    return doc


@SETTINGS
@given(extra=communes)
def test_no_overlap_and_containment(extra, tmp_path):
    try:
        loaded = plan_of(with_sites(extra), tmp_path)
    except ProvdcError as exc:  # only a full district may refuse more sites
        assert "no room" in str(exc) or "exhausted" in str(exc)
        return
    blocks = {sp.slug: sp.block for sp in loaded.plan.sites}
    for sp in loaded.plan.sites:
        assert sp.cidr in sp.block
        if sp.site.parent:
            assert sp.block in blocks[sp.site.parent]
            assert not (sp.block.first <= loaded.plan.site(sp.site.parent).cidr.last
                        and loaded.plan.site(sp.site.parent).cidr.first <= sp.block.last)
    leaves = sorted((sp.block for sp in loaded.plan.sites if sp.depth == 2), key=lambda n: n.first)
    for a, b in zip(leaves, leaves[1:], strict=False):
        assert a.last < b.first


@SETTINGS
@given(extra=communes)
def test_pinned_sites_never_move_when_others_are_added(extra, tmp_path):
    before = prefixes(plan_of(BASE, tmp_path))
    try:
        after = prefixes(plan_of(with_sites(extra), tmp_path))
    except ProvdcError:
        return
    for slug, nets in before.items():
        assert after[slug] == nets, f"{slug} moved"


@SETTINGS
@given(data=st.data())
def test_pinned_sites_never_move_when_others_are_removed(data, tmp_path):
    doc = copy.deepcopy(BASE)
    removable = [s["slug"] for s in doc["sites"] if s["tier"] == "commune"]
    gone = set(data.draw(st.lists(st.sampled_from(removable), max_size=10, unique=True)))
    before = prefixes(plan_of(doc, tmp_path))
    doc["sites"] = [s for s in doc["sites"] if s["slug"] not in gone]
    after = prefixes(plan_of(doc, tmp_path))
    assert set(after) == set(before) - gone
    for slug, nets in after.items():
        assert before[slug] == nets


@SETTINGS
@given(order=st.permutations(range(len(BASE["sites"]))))
def test_plan_is_deterministic_under_reordering(order, tmp_path):
    """The order of sites in the file changes nothing."""
    doc = copy.deepcopy(BASE)
    reference = prefixes(plan_of(doc, tmp_path))
    doc["sites"] = [BASE["sites"][i] for i in order]
    assert prefixes(plan_of(doc, tmp_path)) == reference


def test_exhaustion_is_reported(tmp_path):
    doc = copy.deepcopy(BASE)
    for c in range(300):  # a /16 district holds 255 commune /24s next to its own LAN
        doc["sites"].append({"name": f"Xã tràn {c}", "slug": f"tran-{c}", "tier": "commune",
                             "parent": "huyen-1"})
    try:
        plan_of(doc, tmp_path)
    except ProvdcError as exc:
        assert "exhausted" in str(exc)
        assert "sites[" in str(exc)
    else:
        raise AssertionError("an exhausted district must be refused")


def test_line_numbers_are_found_for_nested_paths(tmp_path):
    path = tmp_path / "x.yml"
    path.write_text("a:\n  b:\n    - c: 1\n    - c: 2\n", encoding="utf-8")
    doc = YamlDocument(path)
    assert doc.line_of(("a", "b", 1, "c")) == 4
    assert doc.line_of(("a", "b", 1, "missing")) == 4
