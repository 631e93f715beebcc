"""The shipped samples: valid, complete, each site inside its parent, stable round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from netaddr import IPNetwork

from provdc.topology.schema import Topology
from provdc.topology.validate import load

ROOT = Path(__file__).resolve().parents[2]
SOCTRANG = ROOT / "inventory/soctrang/topology.yml"
CANTHO = ROOT / "inventory/cantho-2025/topology.yml"


def plan_json(path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "provdc", "plan", str(path), "--format", "json"],
        capture_output=True, text=True, check=True,
    )
    return json.loads(proc.stdout)


def test_soctrang_plan_lists_every_unit():
    data = plan_json(SOCTRANG)
    tiers = [s["tier"] for s in data["sites"]]
    assert tiers.count("province") == 1
    assert tiers.count("district") == 11
    assert tiers.count("commune") == 109
    assert tiers.count("department") >= 20
    for site in data["sites"]:
        assert {"name", "slug", "gso_code", "tier", "parent", "cidr", "gateway"} <= site.keys()
    assert {z["name"] for z in data["zones"]} >= {"EDGE", "DMZ", "APP", "DB", "MGMT", "BACKUP",
                                                  "USER"}
    assert all({"name", "cidr"} <= z.keys() for z in data["zones"])


def test_soctrang_names_keep_diacritics_and_codes():
    data = plan_json(SOCTRANG)
    by_code = {s["gso_code"]: s for s in data["sites"] if s["gso_code"]}
    assert by_code["94"]["name"] == "Tỉnh Sóc Trăng"
    assert by_code["31570"]["name"] == "Xã Hồ Đắc Kiện"
    assert by_code["31570"]["parent"] == "huyen-chau-thanh"
    assert by_code["942"]["name"] == "Huyện Châu Thành"


@pytest.mark.parametrize("path", [SOCTRANG, CANTHO], ids=["soctrang", "cantho-2025"])
def test_no_overlap_and_containment(path):
    data = plan_json(path)
    blocks = {s["slug"]: IPNetwork(s["block"]) for s in data["sites"]}
    lans = {s["slug"]: IPNetwork(s["cidr"]) for s in data["sites"]}
    nets = [(f"zone {z['name']}", IPNetwork(z["cidr"])) for z in data["zones"]]
    nets += [(f"lan {slug}", net) for slug, net in lans.items()]
    nets.sort(key=lambda item: item[1].first)
    for (name_a, a), (name_b, b) in zip(nets, nets[1:], strict=False):
        assert a.last < b.first, f"{name_a} {a} overlaps {name_b} {b}"
    for site in data["sites"]:
        assert lans[site["slug"]] in blocks[site["slug"]]
        assert site["gateway"] == str(lans[site["slug"]][1])
        if site["parent"]:
            assert blocks[site["slug"]] in blocks[site["parent"]]


def test_two_tier_sample_has_no_district_level():
    loaded = load(CANTHO)
    assert {s.tier for s in loaded.topology.sites} == {"province", "department", "commune"}
    assert max(sp.depth for sp in loaded.plan.sites) == 1


@pytest.mark.parametrize("path", [SOCTRANG, CANTHO], ids=["soctrang", "cantho-2025"])
def test_round_trip(path, tmp_path):
    """Dumping the model and loading it again gives the same topology and plan."""
    first = load(path)
    dumped = first.topology.model_dump(mode="json", by_alias=True, exclude_none=True)
    again_path = tmp_path / "again.yml"
    again_path.write_text(yaml.safe_dump(dumped, allow_unicode=True), encoding="utf-8")
    again = load(again_path)
    assert again.topology == first.topology
    assert [(s.slug, s.block, s.cidr) for s in again.plan.sites] == [
        (s.slug, s.block, s.cidr) for s in first.plan.sites
    ]


def test_committed_json_schema_is_current():
    committed = json.loads((ROOT / "inventory/topology.schema.json").read_text())
    proc = subprocess.run([sys.executable, "-m", "provdc", "schema"], capture_output=True,
                          text=True, check=True)
    fix = "run: provdc schema > inventory/topology.schema.json"
    assert json.loads(proc.stdout) == committed, fix
    assert committed["additionalProperties"] is False  # unknown keys are errors for editors too


def test_model_rejects_unknown_keys_directly():
    doc = yaml.safe_load(SOCTRANG.read_text(encoding="utf-8"))
    doc["province"]["colour"] = "red"
    with pytest.raises(ValueError, match="colour"):
        Topology.model_validate(doc)
