"""The vendored unit lists against an input we did not write (the GSO export in
the shared data directory, PROVDC_SHARED_DATA, from another dataset) and against themselves."""

from __future__ import annotations

import csv

import pytest
from merger_inputs import SHARED_CSV

from provdc.errors import ProvdcError
from provdc.topology import units


def _shared_rows() -> list[dict]:
    if not SHARED_CSV.exists():
        pytest.skip(f"{SHARED_CSV} is not on this machine")
    with SHARED_CSV.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_soc_trang_agrees_with_the_independent_export():
    """Same 11 districts; the communes differ only by what happened between the two exports:
    Phường 1 (31513) merged into Phường 9 (31522), which took the name Phường 1, and two
    spellings."""
    rows = _shared_rows()
    st = units.province("94", "former")
    districts = {r["gso_code"]: r["name_with_type"] for r in rows if r["level"] == "district"}
    assert {d.code: d.name for d in st.districts} == districts
    theirs = {r["gso_code"]: (" ".join(r["name_with_type"].split()), r["parent_gso_code"])
              for r in rows if r["level"] == "commune"}
    ours = {c.code: (c.name, c.parent) for c in st.communes}
    assert set(theirs) - set(ours) == {"31513"} and set(ours) <= set(theirs)
    differ = {code for code in ours if ours[code] != theirs[code]}
    assert differ == {"31522", "31729"}
    assert ours["31522"] == ("Phường 1", "941") and theirs["31522"] == ("Phường 9", "941")
    assert ours["31729"] == ("Xã Hòa Tú 2", "947")


def test_can_tho_after_the_reform_has_103_communes():
    ct = units.province("92", "2025")
    assert ct.name_with_type == "Thành phố Cần Thơ" and not ct.districts
    assert len(ct.communes) == 103
    assert {c.type for c in ct.communes} == {"phuong", "xa"}
    assert len({c.code for c in ct.communes}) == 103


def test_the_converter_sends_every_former_commune_to_one_new_one():
    conv = units.converter("92")
    new_codes = {c.code for c in units.province("92", "2025").communes}
    former = [c.code for p in ("92", "93", "94") for c in units.province(p, "former").communes]
    assert len(former) == 263 and set(conv) == set(former)
    assert all(targets and set(targets) <= new_codes for targets in conv.values())
    # every new commune is formed from at least one former one
    assert {t[0] for t in conv.values()} == new_codes


def test_every_province_of_each_list_is_there():
    assert len(units._data()["2025"]) == 34 and len(units._data()["former"]) == 63
    assert sum(len(p["communes"]) for p in units._data()["2025"].values()) == 3321


# Codes and names as the official catalogue (danhmuchanhchinh.nso.gov.vn) lists them, copied by
# hand: units an earlier compilation numbered differently (three Cao Bằng communes rotated, two
# Thốt Nốt wards swapped, Cửa Nam under a neighbour's code) and units whose dataset type column
# contradicts their name (Tân Lộc, Phong Điền, Việt Hòa, Vĩnh Hòa).
OFFICIAL_2025 = [
    ("01", "00082", "Phường Cửa Nam", "phuong"),
    ("04", "01537", "Xã Lý Quốc", "xa"),
    ("04", "01558", "Xã Hạ Lang", "xa"),
    ("04", "01561", "Xã Vinh Quý", "xa"),
    ("92", "31207", "Phường Thốt Nốt", "phuong"),
    ("92", "31228", "Phường Thuận Hưng", "phuong"),
    ("92", "31213", "Phường Tân Lộc", "phuong"),
    ("92", "31299", "Xã Phong Điền", "xa"),
    ("31", "10543", "Phường Việt Hòa", "phuong"),
    ("31", "11848", "Xã Vĩnh Hòa", "xa"),
]


@pytest.mark.parametrize("province, code, name, kind", OFFICIAL_2025)
def test_2025_units_carry_the_official_code_and_type(province, code, name, kind):
    unit = units.province(province, "2025").by_code[code]
    assert (unit.name, unit.type) == (name, kind)


def test_every_2025_commune_is_the_type_its_name_says():
    word = {"xa": "Xã ", "phuong": "Phường ", "dac-khu": "Đặc khu "}
    wrong = [(c.code, c.name, c.type) for p in units._data()["2025"]
             for c in units.province(p, "2025").communes if not c.name.startswith(word[c.type])]
    assert wrong == []


@pytest.mark.parametrize("code, list_name", [("95", "2025"), ("99", "former")])
def test_an_unknown_province_code_is_one_paragraph(code, list_name):
    with pytest.raises(ProvdcError) as exc:
        units.province(code, list_name)
    assert f"no province with GSO code '{code}'" in str(exc.value)
    assert "Fix: use one of: 01 " in str(exc.value)
