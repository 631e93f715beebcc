"""`provdc dossier`: the .docx read back with python-docx, its requirement table held against
the regulations research file parsed here on its own, the audit status read from a report
written by hand (not by provdc's report code)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import docx
import pytest
import yaml
from typer.testing import CliRunner

from provdc.cli import app

ROOT = Path(__file__).resolve().parents[2]
SOCTRANG = ROOT / "inventory/soctrang/topology.yml"
# The team's reference on the regulations (how sure each fact is), kept beside the checkout;
# data/regulations.md is a copy of it, so that a clone without the reference still holds
# the dossier to every requirement it lists (and a changed reference fails the copy's test).
SHARED_REGULATIONS = Path(os.environ.get("PROVDC_SHARED_REFERENCE", ROOT.parent / "shared" /
                                         "reference")) / "regulations.md"
REGULATIONS = Path(__file__).parent / "data" / "regulations.md"
runner = CliRunner()
CATALOGUE = ROOT / "modules/provdc/controls/catalogue.yml"
CHECKS = ROOT / "modules/provdc/audit/checks.yml"
# Decree 85/2016 Art. 15: the five parts of the proposal dossier
PARTS_VI = ["1. Mô tả hệ thống thông tin", "2. Thiết kế hệ thống",
            "3. Thuyết minh đề xuất cấp độ",
            "4. Phương án bảo đảm an toàn thông tin theo cấp độ",
            "5. Ý kiến của chuyên gia, tổ chức chuyên môn"]


def provdc(*args: str) -> subprocess.CompletedProcess:
    """The command in this process (start-up is most of a dossier's cost): the same command
    tree, error handling and exit codes as the installed entry point."""
    result = runner.invoke(app, list(args))
    assert isinstance(result.exception, SystemExit | None), result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def dossier(tmp_path: Path, *args: str, topology: Path = SOCTRANG, system: str = "lgsp",
            lang: str = "en") -> Path:
    out = tmp_path / "out"
    proc = provdc("dossier", system, "--topology", str(topology), "--out", str(out),
                  "--lang", lang, *args)
    assert proc.returncode == 0, proc.stderr
    return out / f"dossier-{system}-{lang}.docx"


def table(document, first_header: str) -> list[dict[str, str]]:
    for t in document.tables:
        headers = [c.text for c in t.rows[0].cells]
        if headers[0] == first_header:
            return [dict(zip(headers, (c.text for c in r.cells), strict=True))
                    for r in t.rows[1:]]
    raise AssertionError(f"no table headed {first_header}")


def requirements_table(path: Path) -> list[dict[str, str]]:
    rows = table(docx.Document(str(path)), "Id")
    assert rows and {"Requirement", "Implemented by", "Audit status", "Evidence",
                     "For the operator to fill"} <= set(rows[0])
    return rows


# --- regulations.md, read on its own -----------------------------------------------------

def _section(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("#"))
    return lines[start + 1:end]


def _plain(text: str) -> str:
    return text.replace("**", "").strip()


def level3_requirements() -> list[tuple[str, list[str]]]:
    """(where, [phrases a row must contain]) for every bullet of §1.3 and every row of §1.4's
    L3 column ("same" means the level to its left)."""
    text = REGULATIONS.read_text(encoding="utf-8")
    found = [(f"§1.3 {line[:40]}", [_plain(line[2:])])
             for line in _section(text, "### 1.3") if line.startswith("- ")]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in _section(text, "### 1.4") if line.startswith("|")]
    header, body = rows[0], [r for r in rows[2:] if r]
    l3 = header.index("L3")
    for row in body:
        value, col = row[l3], l3
        while value == "same" and col > 1:
            col -= 1
            value = row[col]
        item = row[0].split(" (")[0]
        found.append((f"§1.4 {row[0]}", [item, _plain(value).lstrip("+")]))
    return found


@pytest.fixture(scope="module")
def known_ids() -> set[str]:
    cat = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    chk = yaml.safe_load(CHECKS.read_text(encoding="utf-8"))
    return {c["id"] for c in cat["controls"]} | {c["id"] for c in chk["checks"]}


@pytest.mark.skipif(not SHARED_REGULATIONS.is_file(),
                    reason=f"{SHARED_REGULATIONS} not present (the copy is used)")
def test_the_copy_of_the_reference_is_current():
    assert REGULATIONS.read_text(encoding="utf-8") == SHARED_REGULATIONS.read_text(
        encoding="utf-8"), f"refresh {REGULATIONS} from {SHARED_REGULATIONS}"


def test_every_level3_requirement_has_a_row_mapped_or_for_the_operator(tmp_path, known_ids):
    rows = requirements_table(dossier(tmp_path))
    wanted = level3_requirements()
    assert len(wanted) >= 12 + 15  # §1.3's bullets and §1.4's rows as the file has them
    for where, phrases in wanted:
        match = [r for r in rows if all(p in r["Requirement"] for p in phrases)]
        assert match, f"{where}: no row holds {phrases}"
        row = match[0]
        ids = re.findall(r"VN-[A-Z]+-\d{2}", row["Implemented by"])
        assert set(ids) <= known_ids, (where, ids)
        assert ids or row["For the operator to fill"].strip(), f"{where}: neither mapped nor " \
            "marked for the operator"
        # the research file marks these [P]: the document must not present them as verified
        assert "[partial" in row["Requirement"] or "[unverified" in row["Requirement"], where


def test_five_parts_in_vietnamese_and_the_same_table_in_both_languages(tmp_path):
    vi = docx.Document(str(dossier(tmp_path, system="lgsp", lang="vi")))
    headings = [p.text for p in vi.paragraphs if p.style.name == "Heading 1"]
    assert headings == PARTS_VI
    en_rows = requirements_table(dossier(tmp_path, lang="en"))
    vi_rows = table(vi, "Mã")
    assert [r["Mã"] for r in vi_rows] == [r["Id"] for r in en_rows]
    body = "\n".join(p.text for p in vi.paragraphs)
    assert "chưa kiểm chứng" in body or "một phần" in body  # the certainty is stated
    assert "dossier-lgsp-network.svg" in body  # the figure beside the document
    assert (tmp_path / "out" / "dossier-lgsp-network.svg").read_text().startswith("<?xml")
    # the sample's answers to the level criteria, in the document's language
    answers = {r[3].rsplit(".", 1)[1]: r[2] for t in vi.tables for r in
               ([c.text for c in row.cells] for row in t.rows) if r[3:4] and
               r[3].startswith("services[") and r[0] == "lgsp"}
    assert answers["system_class"] == "hạ tầng thông tin"
    assert answers["information"] == "thông tin riêng, thông tin cá nhân"
    assert "Các câu trả lời phù hợp với cấp độ 3." in body
    zones = table(vi, "Vùng")
    assert {z["Vùng"] for z in zones} == {"EDGE", "DMZ", "APP", "DB", "MGMT", "BACKUP", "USER"}


REPORT = {  # as an auditor's tool would leave it: only the fields the format defines
    "provdc_audit": 2,
    "generated": "2026-11-30T09:00:00+00:00",
    "hosts": ["lgsp-1", "lgsp-2", "qlvb-1"],
    "provenance": {"hosts": {"lgsp-1": {"os_release": "Debian GNU/Linux 12 (bookworm)",
                                        "kernel": "6.1.0-28-amd64"}}},
    "results": [
        {"host": "lgsp-1", "control": "VN-AUTH-06", "status": "pass", "mode": "enforced",
         "evidence": [{"state": "effective", "item": "INACTIVE", "expected": 45, "actual": 45,
                       "ok": True}], "reason": ""},
        {"host": "lgsp-2", "control": "VN-AUTH-06", "status": "fail", "mode": "enforced",
         "evidence": [{"state": "effective", "item": "INACTIVE", "expected": 45,
                       "actual": -1, "ok": False}], "reason": ""},
        {"host": "qlvb-1", "control": "VN-AUTH-01", "status": "fail", "mode": "enforced",
         "evidence": [{"state": "effective", "item": "minlen", "expected": 14, "actual": 8,
                       "ok": False}], "reason": ""},
        {"host": "lgsp-1", "control": "VN-AUTH-01", "status": "pass", "mode": "enforced",
         "evidence": [], "reason": ""},
        {"host": "lgsp-2", "control": "VN-AUTH-01", "status": "pass", "mode": "enforced",
         "evidence": [], "reason": ""},
        {"host": "lgsp-1", "control": "VN-SOC-08", "status": "waived", "mode": "enforced",
         "evidence": [], "reason": "retention moved to the new SIEM"},
        # another application's host: never evidence for the LGSP, even where it has none
        {"host": "qlvb-1", "control": "VN-SVC-02", "status": "pass", "mode": "enforced",
         "evidence": [], "reason": ""},
        # the core's zone firewall: no LGSP host runs this check, the data centre's core does
        {"host": "core", "control": "VN-SEG-03", "status": "fail", "mode": "enforced",
         "evidence": [{"state": "effective", "item": "forward policy", "expected": "drop",
                       "actual": "accept", "ok": False}], "reason": ""},
    ],
}


def test_audit_status_and_evidence_come_from_the_report(tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT), encoding="utf-8")
    rows = {r["Id"]: r for r in requirements_table(dossier(tmp_path, "--audit", str(report)))}
    by_phrase = {phrase: next(r for r in rows.values() if phrase in r["Requirement"])
                 for phrase in ("Disable inactive accounts", "Password length", "NTP time server",
                                "Log retention", "Log review", "Network zones")}
    inactive = by_phrase["Disable inactive accounts"]
    assert inactive["Audit status"].startswith("FAIL") and "fail 1" in inactive["Audit status"]
    assert "lgsp-2" in inactive["Evidence"] and "-1" in inactive["Evidence"]
    length = by_phrase["Password length"]  # qlvb-1 is not the LGSP's: its failure is not here
    assert length["Audit status"] == "PASS (pass 2)" and "qlvb-1" not in length["Evidence"]
    assert by_phrase["NTP time server"]["Audit status"] == "no result on the system's hosts"
    assert by_phrase["Log retention"]["Audit status"].startswith("WAIVED")
    assert by_phrase["Log review"]["Audit status"] == "—"  # the operator's alone
    zones = by_phrase["Network zones"]  # VN-SEG-03 judged on the shared core, and named so
    assert zones["Audit status"].startswith("FAIL")
    assert "core VN-SEG-03: forward policy expected drop, actual accept" in zones["Evidence"]
    assert "shared infrastructure: core (VN-SEG-03)" in zones["Evidence"]
    document = docx.Document(str(tmp_path / "out/dossier-lgsp-en.docx"))
    hosts = table(document, "Host")
    assert [h["Host"] for h in hosts] == ["lgsp-1", "lgsp-2"]
    assert hosts[0]["OS"].startswith("Debian")
    # the monitoring path: the LGSP's zone reaches the collector through a line of the matrix
    flows = yaml.safe_load(SOCTRANG.read_text(encoding="utf-8"))["flows"]
    line = next(i for i, f in enumerate(flows)
                if f["from"] == "zone:APP" and f["to"] == "service:soc-collector")
    monitoring = next(t for t in document.tables if t.rows[0].cells[1].text == "Collector")
    assert [c.text for c in monitoring.rows[1].cells] == [
        "APP", "soc-collector (MGMT)", "RELP/TLS tcp/6514", f"flows[{line}]"]


@pytest.mark.parametrize("system", ["nope", "../etc", "LGSP", ""])
def test_bad_system_is_one_paragraph_and_writes_nothing(tmp_path, system):
    out = tmp_path / "out"
    proc = provdc("dossier", system, "--topology", str(SOCTRANG), "--out", str(out))
    assert proc.returncode == 2 and proc.stdout == ""
    message = proc.stderr.strip()
    assert "Traceback" not in message and "\n" not in message
    assert "SYSTEM" in message and "Fix:" in message and "lgsp" in message  # the choices
    assert not out.exists()


@pytest.mark.parametrize("content, words", [
    ("{not json", "not JSON"),
    ('{"results": []}', "not a provdc audit report"),
])
def test_bad_audit_report_is_one_paragraph(tmp_path, content, words):
    report = tmp_path / "report.json"
    report.write_text(content)
    out = tmp_path / "out"
    proc = provdc("dossier", "lgsp", "--topology", str(SOCTRANG), "--audit", str(report),
                  "--out", str(out))
    assert proc.returncode == 2 and words in proc.stderr and "--audit" in proc.stderr
    assert not out.exists()


class _Sections(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.scripts, self.cells = 0, 0, []
        self._in_td = False

    def handle_starttag(self, tag, attrs):
        self.sections += tag == "section"
        self.scripts += tag == "script"
        self._in_td = tag == "td"

    def handle_data(self, data):
        if self._in_td:
            self.cells.append(data)


def _with_system(extra: str, slug: str = "dvc-portal") -> str:
    text = SOCTRANG.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if f"slug: {slug}," in x)
    return text.replace(line, line.rstrip().rstrip("}") + ", " + extra + "}")


def test_a_named_system_groups_services_and_quotes_the_answers(tmp_path):
    hostile = 'Sở TT&TT <script>alert(1)</script>'
    answers = ('system: dvc, classification: {owner: ' + json.dumps(hostile) +
               ', users: "citizens and businesses", scope: province, online_service: full, '
               'information: [personal]}')
    text = _with_system(answers)
    text = text.replace("slug: shared-db, zone: DB,", "slug: shared-db, system: dvc, zone: DB,")
    topology = tmp_path / "topology.yml"
    topology.write_text(text, encoding="utf-8")
    document = docx.Document(str(dossier(tmp_path, topology=topology, system="dvc")))
    services = table(document, "Service")
    assert [s["Slug"] for s in services[:2]] == ["dvc-portal", "shared-db"]
    answers_rows = [r for t in document.tables for r in [[c.text for c in row.cells]
                                                         for row in t.rows]
                    if len(r) == 4 and r[0] == "dvc-portal"]
    assert [hostile, "services[0].classification.owner"] == answers_rows[0][2:]
    assert any(r[2] == "full" for r in answers_rows)
    body = "\n".join(p.text for p in document.paragraphs)
    assert "The answers agree with level 3." in body
    assert "highest of theirs" in body  # Art. 5: a composite takes its highest level

    page = _Sections()
    page.feed((tmp_path / "out" / "dossier-dvc-en.html").read_text(encoding="utf-8"))
    assert page.sections == 5 and page.scripts == 0 and hostile in page.cells


def test_answers_that_contradict_the_level_are_pointed_out(tmp_path):
    topology = tmp_path / "topology.yml"
    topology.write_text(_with_system("classification: {scope: national, continuous: true}"),
                        encoding="utf-8")
    document = docx.Document(str(dossier(tmp_path, topology=topology, system="dvc-portal")))
    body = "\n".join(p.text for p in document.paragraphs)
    assert "The answers indicate level 4 while the topology declares level 3" in body


def test_a_bad_classification_is_one_paragraph(tmp_path):
    topology = tmp_path / "topology.yml"
    topology.write_text(_with_system("classification: {information: [secret]}"),
                        encoding="utf-8")
    proc = provdc("dossier", "dvc-portal", "--topology", str(topology), "--out",
                  str(tmp_path / "out"))
    assert proc.returncode == 2 and "classification.information" in proc.stderr
    assert "Fix:" in proc.stderr and "Traceback" not in proc.stderr


def test_level_4_asks_for_the_expert_opinion_and_says_what_is_not_encoded(tmp_path):
    text = SOCTRANG.read_text(encoding="utf-8").replace(
        "slug: lgsp, zone: APP, instances: 2, security_level: 3",
        "slug: lgsp, zone: APP, instances: 2, security_level: 4")
    assert "security_level: 4" in text
    topology = tmp_path / "topology.yml"
    topology.write_text(text, encoding="utf-8")
    document = docx.Document(str(dossier(tmp_path, topology=topology)))
    paragraphs = [p.text for p in document.paragraphs]
    expert = paragraphs[paragraphs.index("5. Expert opinion") + 1]
    assert expert.startswith("Required from level 4")
    assert any("encodes the thresholds of level(s) 3 only" in p for p in paragraphs)
    assert any(p.startswith("Criteria of level 4 (Decree 85/2016 Art. 10)") for p in paragraphs)


def test_the_merged_province_writes_its_dossier(tmp_path):
    merged = ROOT / "inventory/cantho-merged/topology.yml"
    rows = requirements_table(dossier(tmp_path, topology=merged))
    assert len(rows) >= 27
    body = "\n".join(p.text for p in docx.Document(
        str(tmp_path / "out/dossier-lgsp-en.docx")).paragraphs)
    assert "Cần Thơ" in body


def test_out_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "report.docx"
    target.write_text("")
    proc = provdc("dossier", "lgsp", "--topology", str(SOCTRANG), "--out", str(target))
    assert proc.returncode == 2 and "--out" in proc.stderr and "not a directory" in proc.stderr


def test_a_regime_mapping_to_an_unknown_check_does_not_load(tmp_path):
    from provdc.dossier.regime import REGIMES, load_regime
    from provdc.errors import ProvdcError

    text = (REGIMES / "nd85_tt12_tcvn11930.yml").read_text(encoding="utf-8")
    broken = tmp_path / "regime.yml"
    broken.write_text(text.replace("implemented_by: [VN-AUTH-06]",
                                   "implemented_by: [VN-AUTH-66]"), encoding="utf-8")
    with pytest.raises(ProvdcError, match="VN-AUTH-66 is neither a catalogue control"):
        load_regime(broken)
    assert load_regime(REGIMES / "nd85_tt12_tcvn11930.yml").requirements
