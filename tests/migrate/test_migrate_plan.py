"""`provdc migrate plan` on the shipped former and merged topologies, and its refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from merger_inputs import FORMER, NEW, ROOT, one_paragraph_error

from provdc.topology import migration
from provdc.topology.validate import load


@pytest.fixture(scope="module")
def doc():
    return migration.plan([load(p) for p in FORMER], load(NEW))


def test_every_former_site_has_one_fate(doc):
    former = [sp for p in FORMER for sp in load(p).plan.sites]
    assert len(doc["sites"]) == len(former) == doc["summary"]["former_sites"]
    assert {s["fate"] for s in doc["sites"]} <= {"kept", "merged", "retired", "renumbered"}
    retired = [s for s in doc["sites"] if s["fate"] == "retired"]
    # 28 districts, two provincial committees; the seat's committee is kept as it was
    assert sorted({s["tier"] for s in retired}) == ["district", "province"]
    assert len(retired) == 9 + 8 + 11 + 2
    assert next(s for s in doc["sites"] if s["former"] == "can-tho/can-tho")["fate"] == "kept"


def test_no_agency_is_renumbered(doc):
    prefixes = [p for s in doc["sites"] for p in s["prefixes"]]
    assert doc["summary"]["prefixes"] == {"kept": 327, "moved": 0, "released": 30}
    assert all(p["to"] == p["prefix"] for p in prefixes if p["action"] == "kept")
    released = {s["tier"] for s in doc["sites"] if s["prefixes"][0]["action"] == "released"}
    assert released == {"district", "province"}


def test_what_changes_for_the_communes(doc):
    communes = [s for s in doc["sites"] if s["tier"] == "commune"]
    assert len(communes) == 263
    # the uplink policy of a commune grew (30 -> 50 Mbit/s); its level and flows did not
    assert all(s["bandwidth"]["changed"] and s["bandwidth"]["after"]["link_mbit"] == 50
               for s in communes)
    assert not any(s["firewall"]["changed"] for s in communes)
    assert all(s["security_level"]["before"] == s["security_level"]["after"] == 2
               for s in communes)
    # the merged city's TSLCD prefix is new: every link changes
    assert all(s["tslcd"]["changed"] for s in doc["sites"])


def test_the_former_data_centres(doc):
    fates = {d["former"]: d["fate"] for d in doc["datacenters"]}
    assert fates == {"can-tho/datacenter": "kept", "hau-giang/datacenter": "retired",
                     "soc-trang/datacenter": "retired"}
    kept = next(d for d in doc["datacenters"] if d["fate"] == "kept")
    assert {z["action"] for z in kept["zones"]} == {"kept"}


def test_hosts_list_the_changes_a_reconvergence_makes(doc):
    hosts = {h["host"]: h for h in doc["hosts"]}
    new = load(NEW)
    assert len(hosts) == len(doc["hosts"]) == doc["summary"]["hosts"]
    for sp in new.plan.sites:
        assert f"gw-{sp.slug}" in hosts and f"{sp.slug}-1" in hosts
    gateway = hosts["gw-phuong-soc-trang"]
    assert gateway["formerly"] is not None and "bandwidth" in gateway["changes"]
    assert {"tslcd", "routes", "renamed"} <= set(gateway["changes"])
    agency = hosts["phuong-soc-trang-1"]
    assert "bandwidth" not in agency["changes"] and "address" not in agency["changes"]
    # the seat's data centre stays: its hosts keep their zone and address
    assert hosts["lgsp-1"]["changes"] == [] and hosts["lgsp-1"]["formerly"] == "lgsp-1"


def test_the_cli_prints_json_and_tables(invoke):
    result = invoke("migrate", "plan", *FORMER, NEW, "--format", "json")
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    assert parsed["summary"]["former_sites"] == 357
    table = invoke("migrate", "plan", *FORMER, NEW)
    assert table.exit_code == 0 and "Former sites" in table.stdout
    assert "soc-trang/huyen-ke-sach" in table.stdout


# --- refusals -------------------------------------------------------------------------------

def _broken(tmp_path, old: str, new: str):
    text = NEW.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "topology.yml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_a_former_site_mapped_nowhere(invoke, tmp_path):
    path = _broken(tmp_path, "    - {former: soc-trang/huyen-ke-sach, reason: the district "
                   "level was abolished on 1 July 2025}\n", "")
    text = one_paragraph_error(invoke("migrate", "plan", *FORMER, path))
    assert "1 former site(s) are mapped nowhere: soc-trang/huyen-ke-sach" in text
    assert "migration.retired" in text


def test_a_carried_prefix_the_former_site_never_used(invoke, tmp_path):
    path = _broken(tmp_path, "{from: soc-trang/phuong-5, prefix: 10.94.66.0/24}",
                   "{from: soc-trang/phuong-5, prefix: 10.94.48.0/24}")
    text = one_paragraph_error(invoke("migrate", "plan", *FORMER, path))
    assert "former site 'soc-trang/phuong-5' used 10.94.66.0/24, not 10.94.48.0/24" in text


def test_a_migration_that_contradicts_the_converter(invoke, tmp_path):
    """Swap the LANs two new wards carry: each is now sent where the data says it did not go."""
    text = NEW.read_text(encoding="utf-8")
    a = "{from: soc-trang/phuong-5, prefix: 10.94.66.0/24}"
    b = "{from: can-tho/phuong-cai-khe, prefix: 10.92.66.0/24}"
    assert a in text and b in text
    path = tmp_path / "topology.yml"
    path.write_text(text.replace(a, "@A@").replace(b, a).replace("@A@", b), encoding="utf-8")
    out = one_paragraph_error(invoke("migrate", "plan", *FORMER, path))
    assert "the migration contradicts the official converter" in out
    assert "former commune 'can-tho/phuong-cai-khe' (31117) became 31120, not " \
        "'phuong-soc-trang'" in out


def test_a_former_file_missing(invoke):
    text = one_paragraph_error(invoke("migrate", "plan", *FORMER[:2], NEW))
    assert "former province 'soc-trang' was not given" in text


def test_a_former_site_that_does_not_exist(invoke, tmp_path):
    path = _broken(tmp_path, "{from: soc-trang/phuong-5, prefix",
                   "{from: soc-trang/phuong-55, prefix")
    text = one_paragraph_error(invoke("migrate", "plan", *FORMER, path))
    assert "former site 'soc-trang/phuong-55' does not exist" in text


def test_no_traceback_from_the_real_process(tmp_path):
    path = _broken(tmp_path, "{from: soc-trang/phuong-5, prefix: 10.94.66.0/24}",
                   "{from: soc-trang/phuong-5, prefix: 10.94.48.0/24}")
    proc = subprocess.run([sys.executable, "-m", "provdc", "migrate", "plan", *map(str, FORMER),
                           str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")


@pytest.mark.parametrize("base", ["gw-phuong-soc-trang", "gw-" + "x" * 61, "a" * 64])
def test_host_names_are_the_labs(base):
    from provdc.lab.model import _hostname

    assert migration.host_name(base) == _hostname(base)


def test_the_data_centre_services_the_merged_communes_reach():
    """Hậu Giang's wards join the commune tier of the test's merged city, whose data centre
    stays where Sóc Trăng's was: every service the tier reaches admits more sources (no port
    moves), so does the zone firewall; the time source serves the wider supernet; the
    bastion, which the tier does not reach, and the kept department change nothing."""
    data = ROOT / "tests" / "migrate" / "reconverge"
    doc = migration.plan([load(data / "soc-trang.yml"), load(data / "hau-giang.yml")],
                         load(data / "can-tho.yml"))
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert {n: hosts[n]["changes"] for n in ("qlvb-1", "soc-collector-1", "ntp-1",
                                              "bastion-1")} == {
        "qlvb-1": ["firewall"], "soc-collector-1": ["firewall"],
        "ntp-1": ["firewall", "ntp_clients"], "bastion-1": []}
    assert doc["zone_firewall"] == {"changed": True} and doc["summary"]["zone_firewall_changed"]
    assert hosts["gw-so-noi-vu"]["changes"] == hosts["so-noi-vu-1"]["changes"] == []
    assert hosts["gw-phuong-soc-trang"] == {
        "host": "gw-phuong-soc-trang", "role": "gateway", "site": "phuong-soc-trang",
        "formerly": "gw-phuong-5", "changes": ["renamed", "routes", "bandwidth"]}
