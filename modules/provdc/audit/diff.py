"""What changed between two audits: `provdc audit diff OLD/report.json NEW/report.json`, and
the baseline section of a report (`provdc audit --baseline OLD/report.json`).

Each (host, control) pair is compared by status. A change is one of:

- worse: it now fails (or its check errors) and did not before, a waiver withdrawn included;
- better: it failed, errored or was waived, and now passes (or no longer applies);
- newly_waived: it is now waived and was not;
- expired: it was waived and its waiver has since expired, so it fails again;
- not_checked: it was judged before and its host could not be read this time (a host not
  reached at all is one change, control "(host)").

A pair present in only one report (another --scope, another catalogue) counts only when it
now fails: a control the old audit did not run is no evidence of an improvement.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from provdc.audit.checks import checks, families
from provdc.errors import ProvdcError

CHANGES = ("worse", "expired", "better", "newly_waived", "not_checked")
BAD = {"fail", "error"}
GOOD = {"pass", "not_applicable"}
HOST = "(host)"  # the report's one result of a host it could not reach at all


def load_report(path: Path, field: str) -> dict:
    """A report.json written by `provdc audit`; a clear error for anything else."""
    fix = "pass the report.json that `provdc audit --out DIR` wrote (DIR/report.json)"
    if not path.is_file():
        raise ProvdcError("report not found", str(path), field=field, fix=fix)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProvdcError(f"not JSON ({exc})", str(path), field=field, fix=fix) from None
    if not isinstance(doc, dict) or "provdc_audit" not in doc or \
            not isinstance(doc.get("results"), list):
        raise ProvdcError("not a provdc audit report (no provdc_audit, results)", str(path),
                          field=field, fix=fix)
    return doc


def statuses(doc: dict) -> dict[tuple[str, str], dict]:
    """(host, control id) -> result. Reports written before the checks had ids name them by
    their test function: those are read as the check's id."""
    by_test = {c.test: c.id for c in checks().checks}
    return {(r["host"], by_test.get(r["control"], r["control"])): r for r in doc["results"]}


def change_of(old: dict | None, new: dict | None) -> str | None:
    """The kind of change from the old result to the new one (None: nothing to report)."""
    if new is None:
        return None
    was, now = (old or {}).get("status"), new["status"]
    if now in BAD:
        if was == "waived" and new.get("waiver"):
            return "expired"
        return None if was in BAD else "worse"
    if old is None:
        return None
    if now in GOOD:
        return "better" if was in BAD | {"waived"} else None
    if now == "waived":
        return None if was == "waived" else "newly_waived"
    return "not_checked" if now == "not_checked" and was != "not_checked" else None


def _family(control: str, *docs: dict) -> str:
    for doc in docs:
        meta = doc.get("controls", {}).get(control)
        if meta and meta.get("family"):
            return meta["family"]
    parts = control.split("-")
    return parts[1] if len(parts) == 3 else control


def _title(control: str, *docs: dict) -> dict:
    for doc in docs:
        meta = doc.get("controls", {}).get(control)
        if meta:
            return meta["title"]
    return {"vi": control, "en": control}


def _summary(doc: dict, path: str) -> dict:
    prov = doc.get("provenance", {})
    return {"report": path, "generated": doc.get("generated"),
            "catalogue_version": doc.get("catalogue_version"),
            "tool": prov.get("tool", {}), "score": doc.get("scores", {}).get("overall", {})
            .get("score")}


def compare(old: dict, new: dict, old_path: str = "", new_path: str = "") -> dict:
    """The diff document: every change, and counts per host and per control family."""
    before, after = statuses(old), statuses(new)
    # a host never reached has one "(host)" result: compared with its earlier results
    judged = {h: {"status": "checked"} for (h, _), r in before.items()
              if r["status"] != "not_checked"}
    changes = []
    for key in sorted(set(before) | set(after)):
        was = before.get(key) or (judged.get(key[0]) if key[1] == HOST else None)
        kind = change_of(was, after.get(key))
        if kind is None:
            continue
        host, control = key
        now = after[key]
        changes.append({
            "host": host, "control": control, "family": _family(control, new, old),
            "title": _title(control, new, old), "change": kind,
            "old": was["status"] if was else "absent", "new": now["status"],
            "reason": now.get("reason", ""),
        })
    changes.sort(key=lambda c: (CHANGES.index(c["change"]), c["host"], c["control"]))
    return {
        "old": _summary(old, old_path), "new": _summary(new, new_path),
        "counts": dict(Counter(c["change"] for c in changes)),
        "hosts": _counts(changes, "host"), "families": _counts(changes, "family"),
        "family_names": {k: list(v) for k, v in families().items()},
        "changes": changes,
    }


def _counts(changes: list[dict], key: str) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {}
    for c in changes:
        out.setdefault(c[key], Counter())[c["change"]] += 1
    return {k: {kind: v[kind] for kind in CHANGES if v[kind]} for k, v in sorted(out.items())}


def got_worse(diff: dict) -> bool:
    """True when anything fails now that did not (the diff command's exit code 1)."""
    return bool(diff["counts"].get("worse") or diff["counts"].get("expired"))
