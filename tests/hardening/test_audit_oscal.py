"""The audit in OSCAL: the catalog of controls and checks and a report's assessment results
validate with compliance-trestle's OSCAL models, and the results name controls by id.

compliance-trestle pins paramiko 5, provdc pins paramiko 4 (testinfra and the lab use it),
so trestle cannot share provdc's environment: the validation runs in a venv of its own,
made once under the user's cache directory (TRESTLE pins its version).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provdc.audit import oscal, report
from provdc.audit.checks import metadata
from provdc.audit.waivers import load_waivers
from provdc.cli import app

TRESTLE = "compliance-trestle==5.2.0"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "provdc-test-tools"
VALIDATE = """
import pathlib, sys
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.catalog import Catalog
models = {"catalog": Catalog, "assessment-results": AssessmentResults}
for kind, path in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        models[kind].oscal_read(pathlib.Path(path))
    except Exception as exc:
        print(f"{path}: {' '.join(str(exc).split())[:600]}")
        sys.exit(1)
    print(f"{path}: valid {kind}")
"""
TODAY = date(2026, 11, 28)
FACTS = {"os_release": "Debian GNU/Linux 12 (bookworm)", "kernel": "Linux 6.1.0 x86_64",
         "hostname": "lgsp-1", "machine_id": "0123456789abcdef",
         "ssh_host_keys": [{"type": "ED25519", "fingerprint": "SHA256:abc"}]}


@pytest.fixture(scope="session")
def trestle() -> Path:
    """The python of a venv holding compliance-trestle (made once, then reused)."""
    venv = CACHE / TRESTLE.replace("==", "-")
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", TRESTLE],
                             capture_output=True, text=True)
        if pip.returncode != 0:  # offline: nothing here can be validated
            pytest.skip(f"cannot install {TRESTLE}: {pip.stderr.strip()[-300:]}")
        (venv / ".complete").touch()
    return python


def validate(python: Path, *docs: tuple[str, Path]) -> subprocess.CompletedProcess:
    args = [a for kind, path in docs for a in (kind, str(path))]
    return subprocess.run([str(python), "-c", VALIDATE, *args], capture_output=True, text=True)


def _control(host: str, cid: str, status: str) -> dict:
    return {"nodeid": f"t.py::test_control[ansible://{host}-{cid}]", "outcome": "x",
            "facts": FACTS | {"hostname": host},
            "provdc": {"host": host, "control": cid, "status": status, "mode": "enforced",
                       "reason": "", "evidence": [{"item": "PermitRootLogin", "state":
                                                   "runtime", "expected": "prohibit-password",
                                                   "actual": "yes", "ok": status == "pass"}]}}


@pytest.fixture
def doc(tmp_path) -> dict:
    waiver = tmp_path / "w.yml"
    waiver.write_text("waivers:\n  - {control: VN-SSH-03, hosts: [lgsp-1], justification: "
                      "vendor appliance until its replacement, owner: Sở TT&TT, "
                      "expiry: 2027-03-31}\n", encoding="utf-8")
    raw = [_control("lgsp-1", "VN-SSH-02", "pass"), _control("lgsp-1", "VN-SSH-03", "fail"),
           _control("lgsp-1", "VN-KRN-01", "not_applicable"),
           _control("db-1", "VN-SSH-02", "fail"),
           {"nodeid": "s.py::test_segmentation_host_firewall_is_the_rendering"
                      "[ansible://db-1]", "outcome": "failed", "when": "call", "host": "db-1",
            "message": "AssertionError: policy accept"}]
    run = {"tool": {"name": "provdc", "version": "0.1.0", "commit": "abc123", "dirty": False},
           "inventory": {"path": "inv.yml", "sha256": "e" * 64}, "auditor": "Nguyễn Văn A",
           "started": "2026-11-28T01:00:00+00:00", "finished": "2026-11-28T01:04:00+00:00"}
    return report.build(raw, ["db-1", "lgsp-1", "gone-1"], "inv.yml", load_waivers(waiver),
                        TODAY, provenance=run)


def test_catalog_and_results_validate_with_trestle(trestle, doc, tmp_path):
    cat = oscal.write(oscal.catalog(), tmp_path / oscal.CATALOG_FILE)
    results = oscal.write(oscal.assessment_results(doc), tmp_path / oscal.RESULTS_FILE)
    check = validate(trestle, ("catalog", cat), ("assessment-results", results))
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": valid ") == 2


def test_the_validation_can_fail(trestle, doc, tmp_path):
    """The validator is strict: an objective state OSCAL does not know is refused."""
    data = oscal.assessment_results(doc)
    data["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = \
        "mostly-satisfied"
    bad = oscal.write(data, tmp_path / "bad.json")
    check = validate(trestle, ("assessment-results", bad))
    assert check.returncode == 1 and "mostly-satisfied" in check.stdout, check.stdout


def test_the_catalog_holds_every_control_and_check_by_id():
    groups = oscal.catalog()["catalog"]["groups"]
    ids = [c["id"] for g in groups for c in g["controls"]]
    assert sorted(ids) == sorted(metadata()) and len(ids) == len(set(ids))
    assert {"family-seg", "family-soc", "family-bw", "family-ssh"} <= {g["id"] for g in groups}
    seg = next(c for g in groups for c in g["controls"] if c["id"] == "VN-SEG-01")
    assert seg["class"] == "check" and {"name": "title-vi", "ns": oscal.NS, "value":
                                        "Tường lửa đang chạy trên máy là bản sinh từ ma trận "
                                        "luồng"} in seg["props"]
    resources = {r["uuid"]: r for r in oscal.catalog()["catalog"]["back-matter"]["resources"]}
    confidence = [p["value"] for link in seg["links"] for p in resources[link["href"][1:]]["props"]
                  if p["name"] == "confidence"]
    assert confidence == ["partial", "verified"]


def test_results_name_controls_by_id_with_hosts_and_their_facts(doc):
    result = oscal.assessment_results(doc)["assessment-results"]["results"][0]
    objectives = {f"{cid}_obj" for cid in metadata()}
    findings = {(f["title"], f["target"]["status"]["state"]) for f in result["findings"]}
    assert findings == {("VN-SSH-02 on lgsp-1", "satisfied"),
                        ("VN-SSH-03 on lgsp-1", "not-satisfied"),  # waived: still not met
                        ("VN-SSH-02 on db-1", "not-satisfied"),
                        ("VN-SEG-01 on db-1", "not-satisfied")}
    assert all(f["target"]["target-id"] in objectives for f in result["findings"])
    waived = next(f for f in result["findings"] if f["title"] == "VN-SSH-03 on lgsp-1")
    assert "Waiver (valid)" in waived["remarks"] and "2027-03-31" in waived["remarks"]
    selected = {c["control-id"] for c in
                result["reviewed-controls"]["control-selections"][0]["include-controls"]}
    assert selected == {"VN-SSH-02", "VN-SSH-03", "VN-KRN-01", "VN-SEG-01"}
    # every result is an observation, the unreached host's included, on its inventory item
    assert len(result["observations"]) == len(doc["results"])
    items = {i["uuid"]: i for i in result["local-definitions"]["inventory-items"]}
    lgsp = next(i for i in items.values() if {"name": "asset-id", "value": "lgsp-1"}
                in i["props"])
    assert {"name": "machine-id", "ns": oscal.NS, "value": "0123456789abcdef"} in lgsp["props"]
    for obs in result["observations"]:
        assert obs["subjects"][0]["subject-uuid"] in items


def test_the_same_report_gives_the_same_oscal_document(doc):
    assert json.dumps(oscal.assessment_results(doc)) == json.dumps(
        oscal.assessment_results(json.loads(report.write_json(doc))))


def test_controls_oscal_writes_the_catalog(tmp_path):
    result = CliRunner().invoke(app, ["controls", "oscal", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "o" / oscal.CATALOG_FILE).read_text(encoding="utf-8"))
    assert data == oscal.catalog()
    (tmp_path / "file").write_text("x")
    bad = CliRunner().invoke(app, ["controls", "oscal", "--out", str(tmp_path / "file")])
    assert bad.exit_code == 2 and "--out" in bad.stderr
