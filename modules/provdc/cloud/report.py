"""Audit reports: report.json, junit.xml (CI), report.html (auditors).

Self-contained on purpose for now; the host audit has its own writers, and both should
share one writer once the formats settle.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from xml.etree import ElementTree as ET


def write_reports(doc: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "junit.xml", out / "report.html"]
    paths[0].write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    paths[1].write_bytes(junit(doc))
    paths[2].write_text(html_page(doc), encoding="utf-8")
    return paths


def junit(doc: dict) -> bytes:
    """One testsuite per check, one testcase per resource checked."""
    root = ET.Element("testsuites", name=doc["tool"], tests=str(doc["summary"]["total"]),
                      failures=str(doc["summary"]["failed"]))
    suites: dict[str, ET.Element] = {}
    for f in doc["findings"]:
        suite = suites.get(f["check"])
        if suite is None:
            suite = suites[f["check"]] = ET.SubElement(root, "testsuite", name=f["check"],
                                                       tests="0", failures="0")
        suite.set("tests", str(int(suite.get("tests")) + 1))
        case = ET.SubElement(suite, "testcase", classname=f"{f['check']}.{f['rule']}",
                             name=f"{f['title']}: {f['resource']}")
        if f["status"] == "FAIL":
            suite.set("failures", str(int(suite.get("failures")) + 1))
            failure = ET.SubElement(case, "failure", message=f["message"])
            failure.text = f"{f['cis']}; " + "; ".join(f["vn"])
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def html_page(doc: dict) -> str:
    esc = html.escape
    rows = "\n".join(
        f"<tr class='{f['status'].lower()}'><td>{esc(f['status'])}</td><td>{esc(f['check'])}</td>"
        f"<td>{esc(f['title'])}</td><td>{esc(f['resource'])}</td><td>{esc(f['message'])}</td>"
        f"<td>{esc(f['rule'])}: {esc(f['cis'])}<br>{'<br>'.join(esc(v) for v in f['vn'])}</td></tr>"
        for f in doc["findings"]
    )
    s = doc["summary"]
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>{esc(doc['tool'])}</title>
<style>body{{font-family:sans-serif}} td,th{{border:1px solid #ccc;padding:4px}}
table{{border-collapse:collapse}} tr.fail td:first-child{{color:#b00;font-weight:bold}}
tr.pass td:first-child{{color:#070}}</style></head><body>
<h1>Cloud audit / Kiểm tra an toàn hạ tầng đám mây</h1>
<p>Endpoint {esc(doc['endpoint'])}, region {esc(doc['region'])}, security level (cấp độ)
{doc['security_level']}: {s['total']} checks, {s['failed']} failed.</p>
<table><tr><th>Status</th><th>Check</th><th>Title</th><th>Resource</th><th>Detail</th>
<th>References</th></tr>
{rows}
</table></body></html>
"""
