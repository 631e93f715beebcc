"""The audit's report, waivers and CLI input checks, without hosts."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from provdc.audit import report
from provdc.audit.plugin import _record, host_from_nodeid
from provdc.audit.waivers import load_waivers
from provdc.cli import app
from provdc.errors import ProvdcError

TODAY = date(2026, 11, 28)


def _raw(host: str, control: str, status: str, mode: str = "enforced") -> dict:
    evidence = [{"item": "x", "state": "runtime", "expected": "1", "actual": "0",
                 "ok": status == "pass"}]
    return {"nodeid": f"t.py::test_control[ansible://{host}-{control}]", "outcome": "x",
            "provdc": {"host": host, "control": control, "status": status, "mode": mode,
                       "evidence": evidence, "reason": ""}}


def _waivers(tmp_path: Path, text: str):
    path = tmp_path / "waivers.yml"
    path.write_text(text, encoding="utf-8")
    return load_waivers(path)


WAIVERS = """
waivers:
  - control: VN-SSH-03
    hosts: [mail-*]
    justification: vendor appliance needs aes128-cbc until its replacement
    owner: Sở TT&TT
    expiry: 2027-03-31
  - control: VN-NET-09
    hosts: [lgsp-1]
    justification: firewall migration project, tracked as ticket 42
    owner: Sở TT&TT
    expiry: 2026-01-31
"""


def test_waived_failure_is_waived_and_expired_waiver_is_a_failure(tmp_path):
    raw = [_raw("mail-1", "VN-SSH-03", "fail"), _raw("lgsp-1", "VN-NET-09", "fail"),
           _raw("lgsp-1", "VN-SSH-03", "fail"), _raw("lgsp-1", "VN-KRN-01", "pass",
                                                     "configuration-only")]
    doc = report.build(raw, ["mail-1", "lgsp-1"], "inv.yml", _waivers(tmp_path, WAIVERS), TODAY)
    status = {(r["host"], r["control"]): r for r in doc["results"]}
    assert status[("mail-1", "VN-SSH-03")]["status"] == "waived"
    expired = status[("lgsp-1", "VN-NET-09")]
    assert expired["status"] == "fail" and "expired on 2026-01-31" in expired["reason"]
    assert status[("lgsp-1", "VN-SSH-03")]["status"] == "fail"  # waiver is for mail-* only
    s = doc["scores"]
    mail = s["hosts"]["mail-1"]
    assert mail["score"] == 0.0 and mail["score_with_waivers"] == 100
    assert s["hosts"]["lgsp-1"]["score"] == pytest.approx(33.3)
    assert s["overall"]["configuration_only"] == 1
    assert report.exit_code(doc) == 1


def test_a_host_without_results_is_reported_not_checked():
    doc = report.build([_raw("a", "VN-KRN-01", "pass")], ["a", "b"], "inv.yml", [], TODAY)
    assert doc["unreachable"] == ["b"]
    # not checked is neither compliant nor failed: its own count and exit code, no score
    assert doc["scores"]["hosts"]["b"]["score"] is None
    assert doc["scores"]["overall"]["not_checked"] == 1 and doc["scores"]["overall"]["score"] == 100
    assert report.exit_code(doc) == report.EXIT_NOT_CHECKED == 3


def test_html_escapes_hostile_text_from_hosts_and_evidence():
    """Host names, evidence and reasons come from hosts and inventories: markup in them
    must reach the page as text (an auditor opens it in a browser)."""
    evil = '<script>alert(1)</script>'
    record = _raw(f"h{evil}", "VN-SSH-02", "fail")
    record["provdc"]["evidence"][0].update(actual=f'"><img src=x onerror=alert(2)>{evil}',
                                           item=evil)
    record["provdc"]["reason"] = f"</pre>{evil}"
    other = {"nodeid": "t.py::test_host_table_matches[ansible://h2]", "outcome": "failed",
             "when": "call", "host": "h2", "message": f"</td>{evil}<td>"}
    doc = report.build([record, other], [f"h{evil}", "h2"], f"inv{evil}.yml", [], TODAY)
    html = report.render_html(doc)
    assert "<script" not in html and "<img" not in html and "</pre><script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror=alert(2)" in html  # shown, as text


def test_html_is_self_contained_bilingual_with_matrix_and_references():
    doc = report.build([_raw("h1", "VN-SSH-02", "fail"), _raw("h2", "VN-SSH-02", "pass")],
                       ["h1", "h2"], "inv.yml", [], TODAY)
    html = report.render_html(doc)
    assert "<script" not in html and "http" not in html.split("<body>")[1].split("TCVN")[0]
    for text in ("Hosts × controls", "Ma trận", "Score per control family", "TCVN 11930:2017",
                 "Không đạt / Fail", "h1", "h2", "[runtime] x: 0"):
        assert text in html, text


def test_checks_outside_the_catalogue_reach_the_report_with_their_catalogue_entry():
    """Segmentation and SOC checks are plain tests: the plugin records their outcome and
    message, and the report names them by the id checks.yml gives their test, with its
    references."""
    nodeid = ("test_segmentation.py::test_segmentation_zone_firewall_denies_by_default"
              "[ansible://lgsp-1]")
    record = _record(SimpleNamespace(nodeid=nodeid, outcome="failed", when="call",
                                     user_properties=[], skipped=False,
                                     longreprtext="AssertionError: policy accept"))
    assert record["host"] == "lgsp-1"
    doc = report.build([record, _raw("lgsp-1", "VN-SSH-02", "pass")], ["lgsp-1"], "inv.yml",
                       [], TODAY)
    assert {r["control"] for r in doc["results"]} == {"VN-SEG-03", "VN-SSH-02"}
    html = report.render_html(doc)
    assert "Circular 12/2022/TT-BTTTT" in html and "policy accept" in html
    assert "test_segmentation_zone_firewall_denies_by_default" in html  # named as its test


@pytest.mark.parametrize(("text", "words"), [
    ("waivers:\n  - control: VN-SSH-03\n    hosts: [a]\n", ["justification", "line 2"]),
    ("waivers:\n  - {control: VN-XXX-99, hosts: [a], justification: because we must,"
     " owner: Sở TT&TT, expiry: 2027-01-01}\n", ["unknown control VN-XXX-99", "line 2"]),
    ("waivers:\n  - {control: VN-SSH-03, hosts: [a], justification: because we must,"
     " owner: Sở TT&TT, expiry: soon}\n", ["expiry", "date"]),
    ("- just a list\n", ["mapping"]),
    ("waivers: [\n", ["not valid YAML"]),
])
def test_malformed_waivers_are_clear_errors(tmp_path, text, words):
    with pytest.raises(ProvdcError) as err:
        _waivers(tmp_path, text)
    for word in words:
        assert word in str(err.value)
    assert "waivers.yml" in str(err.value)


def test_cli_rejects_malformed_waivers_before_touching_hosts(tmp_path):
    bad = tmp_path / "w.yml"
    bad.write_text("waivers:\n  - control: VN-SSH-03\n")
    result = CliRunner().invoke(app, ["audit", "-i", str(tmp_path / "missing.yml"),
                                      "--waivers", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "w.yml" in result.output and isinstance(result.exception, SystemExit | None)
    assert not (tmp_path / "o").exists()


def test_cli_rejects_a_missing_inventory(tmp_path):
    result = CliRunner().invoke(app, ["audit", "-i", str(tmp_path / "nope.yml"),
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "inventory file not found" in result.output


def test_host_names_are_read_back_from_test_ids():
    assert host_from_nodeid("a.py::test_x[ansible://gw-phuong-5]") == "gw-phuong-5"
    assert host_from_nodeid("a.py::test_control[ansible://lgsp-1-VN-SSH-02]") == "lgsp-1"
    assert host_from_nodeid("a.py::test_x") is None


def test_cli_rejects_an_unknown_scope_before_touching_hosts(tmp_path):
    result = CliRunner().invoke(app, ["audit", "-i", str(tmp_path / "nope.yml"),
                                      "--scope", "baseline,firewal", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit | None)
    assert "firewal" in result.output and "--scope" in result.output
    assert "segmentation" in result.output  # the fix lists the known scopes


def test_scopes_are_the_files_of_the_compliance_suite():
    from provdc.audit.run import scope_files, scopes

    assert {"baseline", "bandwidth", "segmentation", "soc"} <= set(scopes())
    assert [p.name for p in scope_files(["baseline"])] == ["test_baseline.py"]
    assert len(scope_files(None)) == len(scopes())
