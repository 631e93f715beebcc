"""carry_over and the migration section inside one file: `provdc validate` needs no other."""

from __future__ import annotations

import json
from pathlib import Path

from merger_inputs import NEW, one_paragraph_error


def _write(tmp_path, replacements):
    text = NEW.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "topology.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_merged_city_validates_and_plans(invoke):
    assert invoke("validate", NEW).exit_code == 0
    result = invoke("plan", NEW, "--format", "json")
    assert result.exit_code == 0, result.output
    assert '"carried": [' in result.stdout


def test_a_prefix_carried_by_two_sites(invoke, tmp_path):
    path = _write(tmp_path, [("{from: can-tho/phuong-cai-khe, prefix: 10.92.66.0/24}",
                              "{from: can-tho/phuong-cai-khe, prefix: 10.94.66.0/24}")])
    text = one_paragraph_error(invoke("validate", path))
    assert "carried-over prefix 10.94.66.0/24 is claimed by two sites" in text
    assert "route each former prefix to exactly one site" in text


def test_a_carried_prefix_inside_the_data_centre(invoke, tmp_path):
    path = _write(tmp_path, [("prefix: 10.92.66.0/24}", "prefix: 10.92.2.0/24}")])
    text = one_paragraph_error(invoke("validate", path))
    assert "carried-over prefix 10.92.2.0/24 overlaps the data-centre block" in text


def test_a_carried_prefix_outside_the_supernet(invoke, tmp_path):
    path = _write(tmp_path, [("prefix: 10.92.66.0/24}", "prefix: 10.96.66.0/24}")])
    text = one_paragraph_error(invoke("validate", path))
    assert "is outside the LAN supernet 10.92.0.0/14" in text


def test_a_new_site_pinned_on_carried_space(invoke, tmp_path):
    path = _write(tmp_path, [("  - name: Văn phòng UBND\n",
                              "  - {name: Xã Mới, slug: xa-moi, tier: commune, parent: can-tho, "
                              "slot: 578}\n  - name: Văn phòng UBND\n")])
    text = one_paragraph_error(invoke("validate", path))
    assert "block 10.94.66.0/24 of site 'xa-moi' overlaps the carried-over prefix of site " \
           "'phuong-soc-trang'" in text


def test_a_former_province_not_in_the_sources(invoke, tmp_path):
    path = _write(tmp_path, [("sources: [can-tho, hau-giang, soc-trang]",
                              "sources: [can-tho, hau-giang]")])
    text = one_paragraph_error(invoke("validate", path))
    assert "'soc-trang' is not one of the former provinces (can-tho, hau-giang)" in text


def test_a_code_the_list_does_not_have(invoke, tmp_path):
    path = _write(tmp_path, [("gso_code: '31120'", "gso_code: '31121'")])
    text = one_paragraph_error(invoke("validate", path))
    assert "GSO code 31121 is not a unit of Thành phố Cần Thơ in the 2025 unit list" in text
    assert "Phường Cái Khế is 31120 in this list" in text


def test_a_commune_under_the_wrong_district(invoke, tmp_path):
    from merger_inputs import FORMER

    text = FORMER[2].read_text(encoding="utf-8")
    old = "gso_code: '31498', tier: commune, parent: thanh-pho-soc-trang"
    assert old in text
    path = tmp_path / "st.yml"
    path.write_text(text.replace(old, old.replace("thanh-pho-soc-trang", "huyen-ke-sach")),
                    encoding="utf-8")
    out = one_paragraph_error(invoke("validate", path))
    assert "Phường 5 (31498) belongs to district 941 in the former unit list" in out


def test_every_shipped_merger_file_validates_and_plans(invoke):
    from merger_inputs import FORMER

    sites = {}
    for path in (*FORMER, NEW):
        assert invoke("validate", path).exit_code == 0
        result = invoke("plan", path, "-f", "json")
        assert result.exit_code == 0, result.output
        sites[path.stem] = len(json.loads(result.stdout)["sites"])
    assert sites == {"can-tho": 111, "hau-giang": 105, "soc-trang": 141, "topology": 120}


def test_a_carried_prefix_is_admitted_like_the_site_it_now_belongs_to():
    """Phường 7's agency keeps 10.94.67.0/24 behind Phường Sóc Trăng's gateway: the firewalls
    must admit it wherever the flow matrix admits the commune tier, and a prefix nobody
    carries stays out."""
    from provdc.segmentation.matrix import Node, build
    from provdc.topology.validate import load

    merged = load(Path(__file__).parent / "reconverge" / "can-tho.yml")
    qlvb = Node("qlvb-1", "dc", "10.94.2.2", zone="APP", service="qlvb", segment="10.94.2.0/24")
    seg = build(merged, [qlvb])
    for src in ("10.94.66.20", "10.94.67.20", "10.93.67.20"):  # first and further carries
        assert seg.hosts["qlvb-1"].admits(src, "10.94.2.2", "tcp", 443), src
        assert seg.zone.admits(src, "10.94.2.2", "tcp", 443), src
    assert not seg.hosts["qlvb-1"].admits("10.94.68.20", "10.94.2.2", "tcp", 443)
    assert not seg.zone.admits("10.94.68.20", "10.94.2.2", "tcp", 443)
