"""The audit in OSCAL (NIST's Open Security Controls Assessment Language, JSON, v1.2.1).

- `catalog()`: the control catalogue and the check catalogue as one OSCAL catalog, a group
  per family, each control and check with its id (`VN-SSH-02`, `VN-SEG-01`), English title,
  Vietnamese title and rationale, severity, level, kind, an assessment objective
  (`VN-SSH-02_obj`) and links to its references in the back matter (each with its
  confidence). `provdc controls oscal` writes it; every audit writes it beside its results.
- `assessment_results(doc)`: one report.json as OSCAL assessment results: the hosts (with
  their facts) as inventory items, an observation per host and control or check, and a
  finding for each judged one, targeting the control's objective by id.

Everything is derived from report.json and the catalogues, with name-based UUIDs: the same
report gives the same OSCAL document, so it can be regenerated and compared later.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from provdc.audit.checks import checks, families, metadata
from provdc.controls import catalogue

OSCAL_VERSION = "1.2.1"
NS = "urn:provdc:oscal"  # the namespace of provdc's own properties
CATALOG_FILE = "oscal-catalog.json"
RESULTS_FILE = "oscal-assessment-results.json"
# report status -> OSCAL objective state and reason (not_applicable, not_checked: no finding)
STATE = {"pass": ("satisfied", "pass"), "fail": ("not-satisfied", "fail"),
         "error": ("not-satisfied", "other"), "waived": ("not-satisfied", "other")}


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "provdc:" + ":".join(map(str, parts))))


def _prop(name: str, value: object, own: bool = True) -> dict | None:
    """An OSCAL property; None for an empty value (OSCAL forbids it: the fact is unknown)."""
    text = " ".join(str(value).split())
    if not text:
        return None
    return {"name": name, "value": text} | ({"ns": NS} if own else {})


def _props(*props: dict | None) -> list[dict]:
    return [p for p in props if p]


def _stamp(day: object) -> str:
    return f"{day}T00:00:00+00:00"


# --- catalog --------------------------------------------------------------------------------


def catalog() -> dict:
    """The controls and the checks as one OSCAL catalog."""
    cat, chk = catalogue(), checks()
    meta = metadata()
    resources: dict[tuple, dict] = {}
    groups = []
    for family, (vi, en) in families().items():
        members = [cid for cid, m in meta.items() if m["family"] == family]
        if members:
            groups.append({"id": f"family-{family.lower()}", "class": "family", "title": en,
                           "props": _props(_prop("label", family, own=False),
                                           _prop("title-vi", vi)),
                           "controls": [_control(cid, meta[cid], resources) for cid in members]})
    return {"catalog": {
        "uuid": _uuid("catalog", cat.version, chk.version),
        "metadata": {
            "title": "provdc: baseline controls and audit checks of the provincial data centre",
            "last-modified": _stamp(max(cat.reviewed, chk.reviewed)),
            "version": f"controls {cat.version}, checks {chk.version}",
            "oscal-version": OSCAL_VERSION,
        },
        "groups": groups,
        "back-matter": {"resources": list(resources.values())},
    }}


def _control(cid: str, m: dict, resources: dict[tuple, dict]) -> dict:
    links = []
    for ref in m["references"]:
        key = (ref["regime"], ref["source"], ref["section"], ref["confidence"])
        if key not in resources:
            resources[key] = {
                "uuid": _uuid("reference", *key), "title": f"{ref['source']} {ref['section']}",
                "props": _props(_prop("regime", ref["regime"]),
                                _prop("confidence", ref["confidence"])),
                "citation": {"text": f"{ref['source']}, {ref['section']}"},
            }
        links.append({"href": f"#{resources[key]['uuid']}", "rel": "reference"})
    level = m["min_level"]
    objective = (f"Every host at security level {level} or above passes the check."
                 if level is not None else f"Every host the check {m.get('test')} applies to "
                 "passes it.")
    return {
        "id": cid, "class": "check" if m["kind"] == "check" else "control",
        "title": m["title"]["en"],
        "props": _props(_prop("label", cid, own=False), _prop("title-vi", m["title"]["vi"]),
                        _prop("severity", m["severity"]), _prop("kind", m["kind"]),
                        _prop("min-level", "" if level is None else level),
                        _prop("test", m.get("test", ""))),
        "links": links,
        "parts": [
            {"id": f"{cid}_gdn", "name": "guidance", "prose": m["rationale"]["en"]},
            {"id": f"{cid}_gdn_vi", "name": "guidance", "ns": NS, "class": "vi",
             "prose": m["rationale"]["vi"]},
            {"id": f"{cid}_obj", "name": "assessment-objective", "prose": objective},
        ],
    }


# --- assessment results ---------------------------------------------------------------------


def assessment_results(doc: dict, catalog_href: str = CATALOG_FILE) -> dict:
    """One audit report (report.json's document) as OSCAL assessment results."""
    prov = doc.get("provenance", {})
    run_id = (doc["generated"], prov.get("inventory", {}).get("sha256", doc["inventory"]))
    hosts = {h: _uuid("host", *run_id, h) for h in doc["hosts"]}
    start = prov.get("started", doc["generated"])
    observations, findings = [], []
    for r in doc["results"]:
        obs = _observation(r, hosts, run_id, doc["generated"])
        observations.append(obs)
        if r["status"] in STATE and r["control"] in doc["controls"]:
            findings.append(_finding(r, obs["uuid"], run_id, doc["controls"]))
    ov = doc["scores"]["overall"]
    return {"assessment-results": {
        "uuid": _uuid("assessment-results", *run_id),
        "metadata": _results_metadata(doc, prov),
        "import-ap": {"href": catalog_href, "remarks": "No separate assessment plan: the plan "
                      "is the catalog of controls and checks, every one applied to every host "
                      "it applies to."},
        "results": [{
            "uuid": _uuid("result", *run_id),
            "title": f"Compliance audit of {doc['inventory']}",
            "description": f"{len(doc['hosts'])} hosts audited by provdc; score "
                           f"{ov['score']}% ({ov['score_with_waivers']}% with waivers).",
            "start": start, "end": prov.get("finished", doc["generated"]),
            "props": _props(*(_prop(f"count-{s.replace('_', '-')}", ov[s]) for s in STATE),
                            _prop("score", ov["score"]),
                            _prop("score-with-waivers", ov["score_with_waivers"])),
            "local-definitions": {"inventory-items": [
                _inventory_item(h, hosts[h], prov.get("hosts", {}).get(h, {})) for h in hosts]},
            "reviewed-controls": {"control-selections": [{"include-controls": [
                {"control-id": cid} for cid in sorted({r["control"] for r in doc["results"]}
                                                      & set(doc["controls"]))]}]},
            "observations": observations,
            "findings": findings,
        }],
    }}


def _results_metadata(doc: dict, prov: dict) -> dict:
    tool = prov.get("tool", {})
    auditor = prov.get("auditor")
    meta = {
        "title": f"provdc audit of {doc['inventory']}",
        "last-modified": prov.get("finished", doc["generated"]),
        "version": doc["generated"],
        "oscal-version": OSCAL_VERSION,
        "props": _props(_prop("tool-version", tool.get("version", "")),
                        _prop("tool-commit", tool.get("commit", "")),
                        _prop("tool-uncommitted-changes", str(tool["dirty"]).lower()
                              if "dirty" in tool else ""),
                        _prop("catalogue-version", doc.get("catalogue_version", "")),
                        _prop("checks-version", doc.get("checks_version", "")),
                        _prop("inventory", doc["inventory"]),
                        _prop("inventory-sha256", prov.get("inventory", {}).get("sha256", ""))),
    }
    if auditor:
        party = _uuid("party", auditor)
        meta |= {"roles": [{"id": "assessor", "title": "Assessor"}],
                 "parties": [{"uuid": party, "type": "person", "name": auditor}],
                 "responsible-parties": [{"role-id": "assessor", "party-uuids": [party]}]}
    return meta


def _inventory_item(host: str, item: str, facts: dict) -> dict:
    keys = [f"{k['type']} {k['fingerprint']}" for k in facts.get("ssh_host_keys", [])]
    return {"uuid": item, "description": f"Host {host} of the audited inventory.",
            "props": _props(_prop("asset-id", host, own=False),
                            _prop("hostname", facts.get("hostname", "")),
                            _prop("os-release", facts.get("os_release", "")),
                            _prop("kernel", facts.get("kernel", "")),
                            _prop("machine-id", facts.get("machine_id", "")),
                            *(_prop("ssh-host-key", k) for k in keys))}


def _observation(r: dict, hosts: dict[str, str], run_id: tuple, collected: str) -> dict:
    evidence = [{"description": f"[{e['state']}] {e['item']}: expected {e['expected']!s}, "
                                f"actual {e['actual']!s}" + ("" if e["ok"] else " (wrong)")}
                for e in r["evidence"]]
    subject = hosts.get(r["host"])
    return {
        "uuid": _uuid("observation", *run_id, r["host"], r["control"]),
        "title": f"{r['control']} on {r['host']}: {r['status']}",
        "description": r.get("reason") or f"{r['control']} checked on {r['host']}: "
                                          f"{r['status']}.",
        "props": _props(_prop("status", r["status"]), _prop("mode", r.get("mode", ""))),
        "methods": ["TEST"],
        "subjects": [{"subject-uuid": subject, "type": "inventory-item"}] if subject else [],
        "relevant-evidence": evidence or [{"description": "no evidence rows: see the "
                                                          "description"}],
        "collected": collected,
    }


def _finding(r: dict, observation: str, run_id: tuple, controls: dict) -> dict:
    state, reason = STATE[r["status"]]
    finding = {
        "uuid": _uuid("finding", *run_id, r["host"], r["control"]),
        "title": f"{r['control']} on {r['host']}",
        "description": controls[r["control"]]["title"]["en"],
        "props": _props(_prop("status", r["status"]), _prop("host", r["host"])),
        "target": {"type": "objective-id", "target-id": f"{r['control']}_obj",
                   "status": {"state": state, "reason": reason}},
        "related-observations": [{"observation-uuid": observation}],
    }
    if r.get("waiver"):
        w = r["waiver"]
        finding["remarks"] = (f"Waiver ({'valid' if r['status'] == 'waived' else 'expired'}): "
                              f"{w['justification']}; owner {w['owner']}; expires {w['expiry']}.")
    return finding


def write(data: dict, path: Path) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
