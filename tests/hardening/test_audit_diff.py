"""`provdc audit diff` and the report's baseline section, on report.json pairs written by the
real report code from canned results (no hosts)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provdc.audit import diff, report
from provdc.audit.waivers import load_waivers
from provdc.cli import app

runner = CliRunner()
OLD_DAY, NEW_DAY = date(2026, 11, 1), date(2027, 2, 15)
SEG_TEST = "test_segmentation_host_firewall_is_the_rendering"


def control(host: str, cid: str, status: str, reason: str = "") -> dict:
    return {"nodeid": f"t.py::test_control[ansible://{host}-{cid}]", "outcome": "x",
            "provdc": {"host": host, "control": cid, "status": status, "mode": "enforced",
                       "evidence": [], "reason": reason}}


def check(host: str, test: str, outcome: str) -> dict:
    return {"nodeid": f"s.py::{test}[ansible://{host}]", "outcome": outcome, "when": "call",
            "host": host, "message": "" if outcome == "passed" else "policy accept"}


def waivers(tmp_path: Path, *entries: tuple[str, str, str]):
    path = tmp_path / f"w{len(list(tmp_path.iterdir()))}.yml"
    path.write_text("waivers:\n" + "".join(
        f"  - {{control: {c}, hosts: [{h}], justification: accepted by the security officer, "
        f"owner: Sở TT&TT, expiry: {e}}}\n" for c, h, e in entries), encoding="utf-8")
    return load_waivers(path)


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    """OLD and NEW report.json of four hosts: one change of every kind, and what stays."""
    old_raw = [control("a", "VN-SSH-02", "pass"), control("a", "VN-SSH-03", "fail"),
               control("b", "VN-SSH-03", "fail"), control("b", "VN-NET-09", "fail"),
               control("d", "VN-KRN-01", "pass"), control("c", "VN-KRN-01", "pass"),
               check("a", SEG_TEST, "passed"), control("a", "VN-FS-01", "fail")]
    new_raw = [control("a", "VN-SSH-02", "fail"), control("a", "VN-SSH-03", "pass"),
               control("b", "VN-SSH-03", "fail"), control("b", "VN-NET-09", "fail"),
               control("d", "VN-KRN-01", "not_checked", "host not checked: refused"),
               check("a", SEG_TEST, "passed"), control("a", "VN-FS-01", "fail")]
    net09 = ("VN-NET-09", "b", "2026-12-31")  # valid in OLD, expired by NEW
    old = report.build(old_raw, ["a", "b", "c", "d"], "inv.yml", waivers(tmp_path, net09),
                       OLD_DAY)
    new = report.build(new_raw, ["a", "b", "c", "d"], "inv.yml",
                       waivers(tmp_path, net09, ("VN-SSH-03", "b", "2027-06-30")), NEW_DAY)
    paths = []
    for name, doc in (("old", old), ("new", new)):
        (tmp_path / name).mkdir()
        paths.append(tmp_path / name / "report.json")
        paths[-1].write_text(report.write_json(doc), encoding="utf-8")
    return paths[0], paths[1]


def test_every_kind_of_change_and_nothing_else(pair):
    d = diff.compare(*(diff.load_report(p, "x") for p in pair))
    got = {(c["host"], c["control"]): c["change"] for c in d["changes"]}
    assert got == {("a", "VN-SSH-02"): "worse", ("a", "VN-SSH-03"): "better",
                   ("b", "VN-SSH-03"): "newly_waived", ("b", "VN-NET-09"): "expired",
                   ("d", "VN-KRN-01"): "not_checked", ("c", "(host)"): "not_checked"}
    assert d["counts"] == {"worse": 1, "expired": 1, "better": 1, "newly_waived": 1,
                           "not_checked": 2}
    assert d["hosts"]["a"] == {"worse": 1, "better": 1}
    assert d["families"]["SSH"] == {"worse": 1, "better": 1, "newly_waived": 1}
    assert diff.got_worse(d)


def test_the_diff_command_prints_json_and_exits_1_when_something_got_worse(pair):
    result = runner.invoke(app, ["audit", "diff", *map(str, pair), "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    worse = [c for c in doc["changes"] if c["change"] == "worse"]
    assert worse == [{"host": "a", "control": "VN-SSH-02", "family": "SSH",
                      "title": worse[0]["title"], "change": "worse", "old": "pass",
                      "new": "fail", "reason": ""}]
    assert doc["old"]["report"] == str(pair[0]) and doc["new"]["score"] is not None


def test_the_diff_table_lists_changes_per_host_and_family(pair):
    result = runner.invoke(app, ["audit", "diff", *map(str, pair)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    for text in ("worse", "VN-SSH-02", "newly waived", "expired", "changes per host",
                 "changes per family", "SSH"):
        assert text in result.stdout, text


def test_the_same_report_twice_is_no_change_and_exit_0(pair):
    result = runner.invoke(app, ["audit", "diff", str(pair[1]), str(pair[1]), "-f", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["changes"] == []


def test_a_report_that_named_checks_by_their_test_is_read_by_id(pair):
    """Reports written before the checks had ids named them by test function."""
    old = json.loads(pair[0].read_text())
    for r in old["results"]:
        if r["control"] == "VN-SEG-01":
            r["control"], r["status"] = SEG_TEST, "fail"
    d = diff.compare(old, diff.load_report(pair[1], "NEW"))
    assert {(c["control"], c["change"]) for c in d["changes"] if c["host"] == "a"} >= {
        ("VN-SEG-01", "better")}


@pytest.mark.parametrize(("text", "words"), [
    (None, ["report not found", "OLD"]),
    ("{not json", ["not JSON", "OLD"]),
    ('{"hosts": []}', ["not a provdc audit report", "OLD"]),
])
def test_a_wrong_input_is_one_paragraph_and_exit_2(tmp_path, pair, text, words):
    bad = tmp_path / "bad.json"
    if text is not None:
        bad.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["audit", "diff", str(bad), str(pair[1])])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit | None)
    message = result.stderr.strip()
    assert "\n" not in message
    for word in words + ["bad.json", "Fix:"]:
        assert word in message, word


def test_the_report_shows_the_changes_since_its_baseline(pair):
    old, new = (diff.load_report(p, "x") for p in pair)
    new["baseline"] = diff.compare(old, new, str(pair[0]), str(pair[1]))
    html = report.render_html(new)
    assert "Since the baseline" in html and str(pair[0]) in html
    row = html.split("Xấu đi / Worse</td>", 1)[1].split("</tr>", 1)[0]
    assert "VN-SSH-02" in row and "Đạt / Pass" in row and "Không đạt / Fail" in row
    assert "Miễn trừ hết hạn / Waiver expired</td><td>b</td>" in html
    assert "Theo nhóm / Per family" in html


def test_a_bad_baseline_is_refused_before_any_host_is_read(tmp_path):
    result = runner.invoke(app, ["audit", "-i", str(tmp_path / "hosts.yml"), "--baseline",
                                 str(tmp_path / "gone.json"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--baseline" in result.stderr
    assert "report not found" in result.stderr and not (tmp_path / "o").exists()
