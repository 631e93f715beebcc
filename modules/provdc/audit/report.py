"""The audit report: raw test results + catalogue + waivers -> report.json and report.html.

Statuses: pass, fail, waived (a failure covered by a valid waiver), not_applicable (level,
exemption), error (a check that could not run on a host that was read), not_checked (the
host could not be reached or read at all: every result of that host). An expired waiver
leaves the failure a failure and says so. Scores: pass / (pass + fail + waived + error), per
host, per control family and overall; `score_with_waivers` counts waived as passed. A host
not checked is counted apart and never scored: it is neither compliant nor failing.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from datetime import UTC, date, datetime

from provdc.audit.checks import checks, families, metadata
from provdc.audit.waivers import Waiver, find_waiver
from provdc.controls import catalogue

STATUSES = ("pass", "fail", "waived", "error", "not_applicable", "not_checked")
# `provdc audit` exit codes (README, "Baseline hardening and the audit")
EXIT_OK, EXIT_FAILED, EXIT_NOT_CHECKED = 0, 1, 3


def build(raw: list[dict], hosts: list[str], inventory: str, waivers: list[Waiver],
          today: date | None = None, provenance: dict | None = None) -> dict:
    """The report document; `provenance` is the run's (provenance.run_facts), to which the
    hosts' facts recorded by the suite are added."""
    today = today or date.today()
    results = []
    by_test = {c.test: c.id for c in checks().checks}
    for record in raw:
        result = _result(record, by_test)
        if result is None:
            continue
        _apply_waiver(result, waivers, today)
        results.append(result)
    seen = {(r["host"], r["control"]) for r in results}
    for host in hosts:  # a host with no result at all was never reached
        if not any(h == host for h, _ in seen):
            results.append({"host": host, "control": "(host)", "status": "not_checked",
                            "mode": "", "evidence": [], "reason": "no result: host not checked"})
    not_checked = {r["host"] for r in results if r["status"] == "not_checked"}
    for r in results:  # the other checks of a host that could not be read say so too
        if r["host"] in not_checked and r["status"] in ("fail", "error"):
            r["status"] = "not_checked"
    controls = metadata()
    facts = _facts(raw)
    return {
        "provdc_audit": 2,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "inventory": inventory,
        "catalogue_version": catalogue().version,
        "checks_version": checks().version,
        "hosts": sorted(hosts),
        "controls": controls,
        "families": {k: list(v) for k, v in families().items()},
        "provenance": (provenance or {}) | {"hosts": facts},
        # hosts whose runtime kernel state (audit, kernel sysctls, clock) is their own
        "real_kernel_hosts": sorted(h for h, f in facts.items() if f.get("real_kernel")),
        "results": sorted(results, key=lambda r: (r["host"], r["control"])),
        "scores": scores(results, controls),
        "unreachable": sorted(not_checked),
        "waivers": [w.model_dump(mode="json") for w in waivers],
    }


def _facts(raw: list[dict]) -> dict[str, dict]:
    """Each host's facts, as the first of its tests that read them recorded them."""
    out: dict[str, dict] = {}
    for record in raw:
        host = record["provdc"]["host"] if "provdc" in record else record.get("host")
        if host and record.get("facts") and host not in out:
            out[host] = record["facts"]
    return dict(sorted(out.items()))


def _result(record: dict, by_test: dict[str, str]) -> dict | None:
    if "provdc" in record:
        p = record["provdc"]
        return {"host": p["host"], "control": p["control"], "status": p["status"],
                "mode": p["mode"], "evidence": p["evidence"], "reason": p.get("reason", ""),
                "level": p.get("level")}
    host = record.get("host")
    if not host:
        return None
    name = record["nodeid"].split("::")[-1].split("[")[0]
    error = record["outcome"] == "failed" and record.get("when") != "call"
    status = {"passed": "pass", "skipped": "not_applicable"}.get(record["outcome"], "fail")
    reason = record.get("message", "")
    if name not in by_test:  # a suite newer than its checks.yml: never scored as a pass
        status, reason = "error", f"{name} is not in the check catalogue (checks.yml). {reason}"
    return {"host": host, "control": by_test.get(name, name),
            "status": "error" if error else status, "mode": "enforced", "evidence": [],
            "reason": reason}


def _apply_waiver(result: dict, waivers: list[Waiver], today: date) -> None:
    if result["status"] != "fail":
        return
    waiver = find_waiver(waivers, result["control"], result["host"])
    if waiver is None:
        return
    result["waiver"] = waiver.model_dump(mode="json")
    if waiver.expired(today):
        result["reason"] = f"waiver expired on {waiver.expiry.isoformat()}"
    else:
        result["status"] = "waived"


def _score(counts: Counter) -> dict:
    judged = counts["pass"] + counts["fail"] + counts["waived"] + counts["error"]  # not not_checked
    out = {s: counts[s] for s in STATUSES}
    out["score"] = round(100 * counts["pass"] / judged, 1) if judged else None
    out["score_with_waivers"] = (
        round(100 * (counts["pass"] + counts["waived"]) / judged, 1) if judged else None
    )
    out["configuration_only"] = counts["configuration-only"]
    return out


def scores(results: list[dict], controls: dict[str, dict]) -> dict:
    per_host: dict[str, Counter] = {}
    per_family: dict[str, Counter] = {}
    overall: Counter = Counter()
    for r in results:
        buckets = [per_host.setdefault(r["host"], Counter()), overall]
        # a host never reached has one "(host)" result: it belongs to no family
        if r["control"] in controls:
            buckets.append(per_family.setdefault(controls[r["control"]]["family"], Counter()))
        for bucket in buckets:
            bucket[r["status"]] += 1
            if r["mode"] == "configuration-only" and r["status"] != "not_applicable":
                bucket["configuration-only"] += 1
    return {
        "hosts": {h: _score(c) for h, c in sorted(per_host.items())},
        "families": {f: _score(c) for f, c in sorted(per_family.items())},
        "overall": _score(overall),
    }


def exit_code(doc: dict) -> int:
    """0: every applicable control of every host passed or is validly waived; 1: something
    failed (or a check could not run); 3: nothing failed, but a host was not checked."""
    bad = doc["scores"]["overall"]
    if bad["fail"] or bad["error"]:
        return EXIT_FAILED
    return EXIT_NOT_CHECKED if bad["not_checked"] else EXIT_OK


def write_json(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


# --- HTML -----------------------------------------------------------------------------------

MARK = {"pass": "✔", "fail": "✘", "waived": "W", "error": "!", "not_applicable": "–",
        "not_checked": "?"}
LABEL = {
    "pass": "Đạt / Pass", "fail": "Không đạt / Fail", "waived": "Miễn trừ / Waived",
    "error": "Lỗi kiểm tra / Check error", "not_applicable": "Không áp dụng / N/A",
    "not_checked": "Chưa kiểm tra được / Not checked",
}
CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em} td,th{border:1px solid #ccc;padding:2px 5px}
th.v{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
.pass{background:#d9f2d9}.fail{background:#f8d0d0}.waived{background:#fff0c0}
.error{background:#e0d0f0}.not_applicable{background:#eee;color:#888}
.cfg{font-size:.7em;vertical-align:super} .ev td{font-family:monospace;font-size:.8em}
.small{font-size:.8em;color:#555}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def render_html(doc: dict) -> str:
    hosts = doc["hosts"]
    controls = sorted({r["control"] for r in doc["results"]} - {"(host)"})
    cell = {(r["host"], r["control"]): r for r in doc["results"]}
    meta = doc["controls"]
    ov = doc["scores"]["overall"]
    parts = [
        "<!doctype html><html lang='vi'><head><meta charset='utf-8'>",
        f"<title>Báo cáo đánh giá tuân thủ / Compliance audit report</title><style>{CSS}</style>",
        "</head><body>",
        "<h1>Báo cáo đánh giá tuân thủ cấu hình cơ sở / Baseline compliance audit report</h1>",
        f"<p class='small'>Thời điểm / Generated: {_e(doc['generated'])} · Danh mục / "
        f"Catalogue: {_e(doc['catalogue_version'])} · Kho máy / Inventory: "
        f"{_e(doc['inventory'])}</p>",
        f"<p><b>Điểm chung / Overall score: {ov['score']}%</b> (tính cả miễn trừ / with "
        f"waivers: {ov['score_with_waivers']}%) · "
        + " · ".join(f"{LABEL[s]}: {ov[s]}" for s in STATUSES)
        + f" · Chỉ kiểm tra cấu hình / Configuration-only: {ov['configuration_only']}</p>",
    ]
    if doc["unreachable"]:
        parts.append("<p class='fail'>Không kiểm tra được / Not checked (unreachable): "
                     + _e(", ".join(doc["unreachable"])) + "</p>")
    parts.append(
        "<p class='small'><span class='cfg'>c</span> = chỉ kiểm tra cấu hình lưu trữ "
        "(máy trong container: sysctl toàn cục, auditd) / configuration-only: in a container "
        "the persisted configuration is checked, the runtime state cannot be.</p>"
    )
    real = doc.get("real_kernel_hosts", [])
    parts.append("<p>Máy có nhân riêng (máy ảo, máy vật lý), mọi kiểm soát kiểm tra khi chạy / "
                 f"Hosts with a kernel of their own (VM, bare metal), every control checked "
                 f"at runtime: {_e(', '.join(real)) if real else 'none'}</p>")
    parts += _score_tables(doc)
    parts += _provenance(doc.get("provenance") or {})
    if doc.get("baseline"):
        parts += _baseline(doc["baseline"])
    parts.append("<h2>Ma trận máy × kiểm soát / Hosts × controls</h2><table><tr><th>Control</th>"
                 "<th>Tiêu đề / Title</th>"
                 + "".join(f"<th class='v'>{_e(h)}</th>" for h in hosts) + "</tr>")
    for cid in controls:
        m = meta.get(cid)
        title = f"{_e(m['title']['vi'])}<br><span class='small'>{_e(m['title']['en'])}</span>" \
            if m else _e(cid)
        row = f"<tr><td><a href='#{_e(cid)}'>{_e(cid)}</a></td><td>{title}</td>"
        for h in hosts:
            r = cell.get((h, cid))
            if r is None:
                row += "<td></td>"
                continue
            cfg = "<span class='cfg'>c</span>" if r["mode"] == "configuration-only" else ""
            tip = _e(_tip(r))
            row += f"<td class='{r['status']}' title='{tip}'>{MARK[r['status']]}{cfg}</td>"
        parts.append(row + "</tr>")
    parts.append("</table>")
    parts += _findings(doc)
    parts += _control_details(doc, controls)
    parts.append("</body></html>")
    return "\n".join(parts)


def _tip(r: dict) -> str:
    bad = [e for e in r["evidence"] if not e["ok"]]
    if r.get("reason"):
        return r["reason"]
    if bad:
        return "; ".join(f"[{e['state']}] {e['item']}: {e['actual']}" for e in bad[:3])
    return LABEL[r["status"]]


def _score_tables(doc: dict) -> list[str]:
    out = ["<h2>Điểm theo máy / Score per host</h2><table><tr><th>Host</th><th>Score</th>"
           "<th>Pass</th><th>Fail</th><th>Waived</th><th>N/A</th><th>Error</th></tr>"]
    for h, s in doc["scores"]["hosts"].items():
        out.append(f"<tr><td>{_e(h)}</td><td>{s['score']}%</td><td>{s['pass']}</td>"
                   f"<td>{s['fail']}</td><td>{s['waived']}</td><td>{s['not_applicable']}</td>"
                   f"<td>{s['error']}</td></tr>")
    out.append("</table><h2>Điểm theo nhóm kiểm soát / Score per control family</h2><table>"
               "<tr><th>Family</th><th>Score</th><th>Pass</th><th>Fail</th><th>Waived</th>"
               "<th>Configuration-only</th></tr>")
    for f, s in doc["scores"]["families"].items():
        vi, en = doc["families"].get(f, (f, f))
        out.append(f"<tr><td>{_e(f)} — {_e(vi)} / {_e(en)}</td><td>{s['score']}%</td>"
                   f"<td>{s['pass']}</td><td>{s['fail']}</td><td>{s['waived']}</td>"
                   f"<td>{s['configuration_only']}</td></tr>")
    out.append("</table>")
    return out


def _provenance(prov: dict) -> list[str]:
    """Who ran what on which machines: enough to tell later whether a copy is this audit."""
    inv = prov.get("inventory", {})
    rows = [("Công cụ / Tool", _tool_text(prov.get("tool", {}))),
            ("Danh mục / Catalogues", f"controls {prov.get('catalogue_version', '?')}, checks "
                                      f"{prov.get('checks_version', '?')}"),
            ("Kho máy / Inventory", f"{inv.get('path', '?')} (SHA-256 {inv.get('sha256', '?')})"),
            ("Người đánh giá / Auditor", prov.get("auditor", "?")),
            ("Thời gian / Run", f"{prov.get('started', '?')} → {prov.get('finished', '?')}")]
    out = ["<h2>Nguồn gốc bằng chứng / Provenance</h2><table>"]
    out += [f"<tr><th>{k}</th><td>{_e(v)}</td></tr>" for k, v in rows]
    out.append("</table><p class='small'>manifest.sha256 (cùng thư mục / alongside): "
               "<code>sha256sum -c manifest.sha256</code></p><table><tr><th>Host</th>"
               "<th>Hostname</th><th>OS</th><th>Kernel</th><th>Virt</th><th>Machine ID</th>"
               "<th>SSH host keys</th></tr>")
    for host, f in prov.get("hosts", {}).items():
        keys = "<br>".join(f"{_e(k['type'])} {_e(k['fingerprint'])}" for k in f["ssh_host_keys"])
        out.append(f"<tr><td>{_e(host)}</td><td>{_e(f['hostname'])}</td>"
                   f"<td>{_e(f['os_release'])}</td><td>{_e(f['kernel'])}</td>"
                   f"<td>{_e(_virt_text(f))}</td><td><code>{_e(f['machine_id'])}</code></td><td><code>{keys}</code></td></tr>")
    out.append("</table>")
    return out


def _virt_text(facts: dict) -> str:
    kind = facts.get("virt", "unknown")
    tech = facts.get("virt_technology")
    own = "own kernel" if facts.get("real_kernel") else "shared kernel"
    return f"{kind} ({tech}, {own})" if tech else f"{kind} ({own})"


CHANGE_LABEL = {
    "worse": ("Xấu đi / Worse", "fail"), "expired": ("Miễn trừ hết hạn / Waiver expired", "fail"),
    "better": ("Tốt lên / Better", "pass"), "newly_waived": ("Mới miễn trừ / Newly waived",
                                                              "waived"),
    "not_checked": ("Lần này chưa kiểm tra được / Not checked this time", "not_applicable"),
}


def _baseline(diff: dict) -> list[str]:
    """The changes since an earlier audit (`provdc audit --baseline`), per host and family."""
    old = diff["old"]
    out = ["<h2>So với lần đánh giá trước / Since the baseline</h2>",
           f"<p class='small'>Báo cáo gốc / Baseline: {_e(old['report'])} "
           f"({_e(old['generated'])}, {old['score']}%)</p>"]
    if not diff["changes"]:
        return [*out, "<p>Không thay đổi / No change.</p>"]
    out.append("<table><tr><th>Thay đổi / Change</th><th>Host</th><th>Control</th>"
               "<th>Family</th><th>Trước / Before</th><th>Nay / Now</th></tr>")
    for c in diff["changes"]:
        label, css = CHANGE_LABEL[c["change"]]
        out.append(f"<tr class='{css}'><td>{label}</td><td>{_e(c['host'])}</td>"
                   f"<td><a href='#{_e(c['control'])}'>{_e(c['control'])}</a></td>"
                   f"<td>{_e(c['family'])}</td><td>{LABEL.get(c['old'], _e(c['old']))}</td>"
                   f"<td>{LABEL.get(c['new'], _e(c['new']))}</td></tr>")
    out.append("</table>")
    for key, head in (("hosts", "Theo máy / Per host"), ("families", "Theo nhóm / Per family")):
        out.append(f"<h3>{head}</h3><table><tr><th></th>"
                   + "".join(f"<th>{CHANGE_LABEL[k][0]}</th>" for k in CHANGE_LABEL) + "</tr>")
        out += [f"<tr><td>{_e(name)}</td>"
                + "".join(f"<td>{counts.get(k, 0)}</td>" for k in CHANGE_LABEL) + "</tr>"
                for name, counts in diff[key].items()]
        out.append("</table>")
    return out


def _tool_text(t: dict) -> str:
    text = f"provdc {t.get('version', '?')}"
    if t.get("commit"):
        dirty = " + uncommitted changes / có thay đổi chưa commit" if t.get("dirty") else ""
        text += f" (commit {t['commit']}{dirty})"
    return text


def _findings(doc: dict) -> list[str]:
    out = ["<h2>Phát hiện và bằng chứng / Findings and evidence</h2>"]
    bad = [r for r in doc["results"] if r["status"] in ("fail", "waived", "error",
                                                         "not_checked")]
    if not bad:
        out.append("<p class='pass'>Mọi kiểm soát áp dụng đều đạt / Every applicable control "
                   "passed.</p>")
    for r in bad:
        out.append(f"<h3 class='{r['status']}'>{_e(r['host'])} · {_e(r['control'])} · "
                   f"{LABEL[r['status']]}</h3>")
        if r.get("reason"):
            out.append(f"<pre>{_e(r['reason'])}</pre>")
        if r.get("waiver"):
            w = r["waiver"]
            out.append(f"<p class='small'>Miễn trừ / Waiver: {_e(w['justification'])} — "
                       f"{_e(w['owner'])}, hết hạn / expires {_e(w['expiry'])}</p>")
        out.append(_evidence_table(r["evidence"]))
    return out


def _evidence_table(evidence: list[dict]) -> str:
    if not evidence:
        return ""
    rows = "".join(
        f"<tr class='{'pass' if e['ok'] else 'fail'}'><td>{_e(e['state'])}</td>"
        f"<td>{_e(e['item'])}</td><td>{_e(e['expected'])}</td><td>{_e(e['actual'])}</td></tr>"
        for e in evidence
    )
    return ("<table class='ev'><tr><th>Trạng thái / State</th><th>Mục / Item</th>"
            f"<th>Yêu cầu / Expected</th><th>Thực tế / Actual</th></tr>{rows}</table>")


def _control_details(doc: dict, controls: list[str]) -> list[str]:
    out = ["<h2>Kiểm soát và căn cứ / Controls and references</h2>"]
    for cid in controls:
        m = doc["controls"].get(cid)
        if not m:  # a test the check catalogue does not name: its result says so
            out.append(f"<h3 id='{_e(cid)}'>{_e(cid)}</h3>")
            continue
        refs = "".join(
            f"<li>{_e(r['source'])} {_e(r['section'])} <span class='small'>({_e(r['regime'])}, "
            f"độ tin cậy / confidence: {_e(r['confidence'])})</span></li>"
            for r in m["references"]
        )
        cfg = "" if m["enforce_in_container"] else (
            "<p class='small'>Trong container chỉ kiểm tra cấu hình / configuration-only in "
            "containers.</p>")
        out.append(
            f"<h3 id='{_e(cid)}'>{_e(cid)} — {_e(m['title']['vi'])} / {_e(m['title']['en'])}</h3>"
            f"<p>{_e(m['rationale']['vi'])}<br><i>{_e(m['rationale']['en'])}</i></p>"
            f"<p class='small'>{_facts_of(m)}</p>{cfg}<ul>{refs}</ul>"
        )
    return out


def _facts_of(m: dict) -> str:
    """Severity, level and kind of a control; a check names its test instead of a level."""
    parts = [f"Mức độ / Severity: {_e(m['severity'])}"]
    if m["min_level"] is not None:
        parts.append(f"Áp dụng từ cấp độ / From level: {m['min_level']}")
    parts.append(f"Kiểu / Kind: {_e(m['kind'])}")
    if m.get("test"):
        parts.append(f"Phép kiểm tra / Test: {_e(m['test'])}")
    return " · ".join(parts)
