"""The check catalogue (segmentation, SOC, bandwidth): one id per compliance test, and the
report, the waivers and the scores use those ids like the controls' ids."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from provdc.audit import compliance, report
from provdc.audit.checks import CHECKS_PATH, checks, families, load_checks
from provdc.audit.waivers import load_waivers
from provdc.controls import catalogue
from provdc.errors import ProvdcError

SUITE = Path(compliance.__file__).parent
TODAY = date(2026, 11, 28)


def suite_tests() -> list[str]:
    """Every test function of the suite's non-catalogue files (test_baseline.py runs the
    catalogue's controls, which have their ids already)."""
    names = []
    for path in sorted(SUITE.glob("test_*.py")):
        if path.name == "test_baseline.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names += [n.name for n in tree.body
                  if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    return names


def test_every_compliance_test_has_exactly_one_id_and_every_id_a_test():
    tests = suite_tests()
    assert len(tests) >= 15 and len(set(tests)) == len(tests)
    named = [c.test for c in checks().checks]
    assert sorted(named) == sorted(tests)  # none missing, none extra, none twice
    assert len({c.id for c in checks().checks}) == len(named)


def test_check_ids_are_their_own_families_and_never_a_control_id():
    ids = {c.id for c in checks().checks}
    assert not ids & set(catalogue().by_id)
    assert {c.family for c in checks().checks} == {"SEG", "SOC", "BW", "BAK"}
    assert {"SEG", "SOC", "BW", "BAK", "SSH"} <= set(families())


def test_every_check_is_bilingual_and_referenced_with_confidence():
    for c in checks().checks:
        assert c.title.vi != c.title.en and c.rationale.vi != c.rationale.en, c.id
        assert {r.confidence for r in c.references} <= {"verified", "partial", "unverified"}
        assert any(r.regime != "nist" for r in c.references), c.id  # a Vietnamese basis too


def _raw_check(host: str, test: str, outcome: str, message: str = "") -> dict:
    return {"nodeid": f"test_x.py::{test}[ansible://{host}]", "outcome": outcome,
            "when": "call", "host": host, "message": message}


def _raw_control(host: str, control: str, status: str) -> dict:
    return {"nodeid": f"t.py::test_control[ansible://{host}-{control}]", "outcome": "x",
            "provdc": {"host": host, "control": control, "status": status,
                       "mode": "enforced", "evidence": [], "reason": ""}}


def test_report_names_checks_by_id_and_scores_them_in_their_family():
    raw = [_raw_check("gw-1", "test_segmentation_host_firewall_is_the_rendering", "failed",
                      "policy accept"),
           _raw_check("gw-1", "test_bandwidth_policy_persists_across_reboot", "passed"),
           _raw_control("gw-1", "VN-SSH-02", "pass")]
    doc = report.build(raw, ["gw-1"], "inv.yml", [], TODAY)
    by_id = {r["control"]: r for r in doc["results"]}
    assert by_id["VN-SEG-01"]["status"] == "fail" and by_id["VN-BW-03"]["status"] == "pass"
    assert set(doc["scores"]["families"]) == {"SEG", "BW", "SSH"}
    assert doc["controls"]["VN-SEG-01"]["family"] == "SEG"
    html = report.render_html(doc)
    assert "OTHER" not in html and "Network segmentation" in html
    assert "The host&#x27;s live firewall is its rendering of the flow matrix" in html
    assert "SC-7" in html and "confidence: partial" in html


def test_a_test_missing_from_the_check_catalogue_is_a_check_error_never_a_pass():
    doc = report.build([_raw_check("h", "test_something_new", "passed")], ["h"], "inv.yml",
                       [], TODAY)
    [result] = doc["results"]
    assert result["status"] == "error" and "checks.yml" in result["reason"]
    assert doc["scores"]["families"] == {} and report.exit_code(doc) == 1


def test_a_check_can_be_waived_by_its_id(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text("waivers:\n  - {control: VN-SOC-05, hosts: [lgsp-*], justification: the "
                    "collector moves to the new rack this week, owner: Sở TT&TT, "
                    "expiry: 2027-01-31}\n", encoding="utf-8")
    raw = [_raw_check("lgsp-1", "test_soc_agent_connected_to_the_collector", "failed", "no")]
    doc = report.build(raw, ["lgsp-1"], "inv.yml", load_waivers(path), TODAY)
    assert doc["results"][0]["status"] == "waived"
    assert doc["scores"]["families"]["SOC"]["waived"] == 1 and report.exit_code(doc) == 0


@pytest.mark.parametrize(("edit", "words"), [
    (("id: VN-SEG-02", "id: VN-SEG-01"), ["VN-SEG-01 appears twice"]),
    (("test: test_soc_rsyslog_running_and_configuration_valid",
      "test: test_soc_certificate_signed_by_the_provincial_ca"), ["appears twice"]),
    (("id: VN-BW-01", "id: VN-XY-01"), ["family XY is not declared"]),
    (("  SEG: {vi", "  SSH: {vi"), ["SSH is a control family"]),
    (("    test: test_segmentation_zone_firewall_denies_by_default\n", ""),
     ["checks[2].test", "line"]),
])
def test_a_broken_check_catalogue_is_a_clear_error(tmp_path, edit, words):
    text = CHECKS_PATH.read_text(encoding="utf-8")
    assert edit[0] in text
    bad = tmp_path / "checks.yml"
    bad.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(ProvdcError) as err:
        load_checks(bad)
    for word in words:
        assert word in str(err.value)
    assert "checks.yml" in str(err.value)
