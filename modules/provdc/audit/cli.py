"""`provdc audit` (the auditor's command) and `provdc controls` (the catalogue's tools)."""

from __future__ import annotations

from pathlib import Path

import typer

from provdc.console import (
    FORMAT,
    Format,
    PlainTable,
    emit,
    fail,
    out,
    plain,
    print_all,
    progress,
)
from provdc.errors import ProvdcError
from provdc.paths import output_dir

# The role lives in the project's playbooks, not in the package: by default it is looked for
# from the working directory (the checkout's root); the catalogue it is rendered from is
# package data.
ROLE_DIR = Path("playbooks/roles/baseline")


audit_app = typer.Typer(
    help="Check hosts against the control catalogue and the audit's checks; compare audits.",
    invoke_without_command=True)


@audit_app.callback()
def audit_cmd(
    ctx: typer.Context,
    inventory: Path = typer.Option(None, "-i", "--inventory", help="Ansible inventory of the "
                                   "hosts (required to run an audit)"),
    out_dir: Path = typer.Option(Path("reports/audit"), "--out", help="where the reports go"),
    waivers: Path = typer.Option(None, "--waivers", help="waivers YAML (control, hosts, "
                                 "justification, owner, expiry)"),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64,
        help="pytest processes (xdist). 1 reads every host at once in threads and suits a "
        "small controller; more pay off only with spare cores"),
    scope: str = typer.Option("", "--scope", help="audit only these concerns, comma-separated: "
                              "baseline, bandwidth, segmentation, soc (default: all)"),
    auditor: str = typer.Option(None, "--auditor", help="who runs the audit, as the report's "
                                "provenance names them (default: the OS user)"),
    baseline: Path = typer.Option(None, "--baseline", help="an earlier report.json: the report "
                                  "gets a section of what got worse, better, waived, expired"),
    format: Format = FORMAT,
) -> None:
    """Check every host against the control catalogue and the audit's checks; write
    report.json, report.html, junit.xml, the OSCAL assessment results and manifest.sha256
    (the SHA-256 of each, for `sha256sum -c`). `provdc audit diff OLD NEW` compares two."""
    if ctx.invoked_subcommand is not None:
        return
    from provdc.audit.diff import load_report
    from provdc.audit.run import audit
    from provdc.audit.waivers import load_waivers

    try:
        if inventory is None:
            raise ProvdcError("no inventory to audit", field="-i/--inventory",
                              fix="pass the hosts' Ansible inventory: provdc audit -i "
                              "INVENTORY (or `provdc audit diff OLD NEW` to compare reports)")
        output_dir(out_dir, "--out")
        accepted = load_waivers(waivers)  # validated before any host is touched
        old = (baseline, load_report(baseline, "--baseline")) if baseline else None
        with progress("hosts audited", 0) as done:
            doc = audit(inventory, out_dir, accepted, workers,
                        [s.strip() for s in scope.split(",") if s.strip()] or None, auditor,
                        old, tell=done)
    except ProvdcError as exc:
        fail(exc)
    from provdc.audit.report import exit_code

    emit(format, lambda: _summary(doc), lambda: _print_summary(doc))
    raise typer.Exit(exit_code(doc))


def _summary(doc: dict) -> dict:
    """The JSON result: scores, hosts not checked, the baseline's counts, files written (the
    whole report is report.json)."""
    return {"scores": doc["scores"], "unreachable": doc["unreachable"],
            "baseline": doc["baseline"]["counts"] if doc.get("baseline") else None,
            "files": {k: v for k, v in doc["_files"].items() if k != "raw"}}


def _print_summary(doc: dict) -> None:
    s = doc["scores"]["overall"]
    out.print(
        f"audit: {len(doc['hosts'])} hosts, score {s['score']}% (with waivers "
        f"{s['score_with_waivers']}%): {s['pass']} pass, {s['fail']} fail, {s['waived']} "
        f"waived, {s['not_applicable']} not applicable, {s['error']} check errors, "
        f"{s['not_checked']} not checked; "
        f"{s['configuration_only']} configuration-only"
    )
    if doc["unreachable"]:
        out.print(f"[red]not checked:[/] {plain(', '.join(doc['unreachable']))}")
    if doc.get("baseline"):
        counts = doc["baseline"]["counts"]
        out.print("since the baseline: " + (", ".join(f"{n} {k.replace('_', ' ')}"
                                                       for k, n in counts.items()) or
                                             "no change"))
    for key, path in doc["_files"].items():
        if key != "raw":
            out.print(f"{key}: {plain(path)}")


@audit_app.command("diff")
def diff_cmd(
    old: Path = typer.Argument(..., help="the earlier report.json"),
    new: Path = typer.Argument(..., help="the later report.json"),
    format: Format = FORMAT,
) -> None:
    """What changed between two audits, per host and per control family.

    Changes: worse, better, newly waived, waiver expired, no longer checked. Exit 1 when
    something got worse (or a waiver expired), else 0."""
    from provdc.audit import diff

    try:
        result = diff.compare(diff.load_report(old, "OLD"), diff.load_report(new, "NEW"),
                              str(old), str(new))
    except ProvdcError as exc:
        fail(exc)
    emit(format, result, lambda: print_all(_diff_tables(result)))
    raise typer.Exit(1 if diff.got_worse(result) else 0)


def _diff_tables(result: dict) -> list:
    from provdc.audit.diff import CHANGES as CHANGE_KINDS

    o, n = result["old"], result["new"]
    changes = PlainTable("change", "host", "control", "family", "old", "new", "title",
                         title=f"{o['report']} ({o['generated']}, score {o['score']}%) -> "
                         f"{n['report']} ({n['generated']}, score {n['score']}%)")
    for c in result["changes"]:
        changes.add_row(c["change"].replace("_", " "), c["host"], c["control"], c["family"],
                        c["old"], c["new"], c["title"]["en"])
    tables = [changes]
    for key, label in (("hosts", "host"), ("families", "family")):
        table = PlainTable(label, *(k.replace("_", " ") for k in CHANGE_KINDS),
                           title=f"changes per {label}")
        for name, counts in result[key].items():
            table.add_row(name, *(str(counts.get(k, 0)) for k in CHANGE_KINDS))
        tables.append(table)
    return tables


controls_app = typer.Typer(help="The baseline control catalogue.", no_args_is_help=True)


@controls_app.command("list")
def list_cmd(format: Format = FORMAT) -> None:
    """List the controls and the audit's other checks: id, level, kind, title."""
    from provdc.audit.checks import checks
    from provdc.controls import catalogue

    rows = [{"id": c.id, "level": c.min_level, "kind": c.kind, "family": c.family,
             "container": "enforced" if c.enforce_in_container else "config-only",
             "title": {"vi": c.title.vi, "en": c.title.en}} for c in catalogue().controls]
    # the level of the audit's other checks is the test's own business (roles, services)
    rows += [{"id": k.id, "level": None, "kind": "check", "family": k.family,
              "container": "enforced", "title": {"vi": k.title.vi, "en": k.title.en}}
             for k in checks().checks]

    def show() -> None:
        table = PlainTable("id", "level", "kind", "container", "title")
        for r in rows:
            table.add_row(r["id"], str(r["level"] or "-"), r["kind"], r["container"],
                          r["title"]["en"])
        out.print(table)

    emit(format, rows, show)


@controls_app.command("render-ansible")
def render_ansible(
    role_dir: Path = typer.Option(ROLE_DIR, "--role-dir", help="the baseline role (default: "
                                  "playbooks/roles/baseline under the working directory)"),
    check: bool = typer.Option(False, "--check", help="only report whether files are stale"),
) -> None:
    """Write the baseline role's generated files (defaults, vars, tasks/main.yml)."""
    from provdc.controls import load_catalogue
    from provdc.controls.ansible import render_role, write_role

    try:
        baseline_role(role_dir)
        cat = load_catalogue()
    except ProvdcError as exc:
        fail(exc)
    if check:
        stale = [p for p, t in render_role(cat, role_dir).items()
                 if not p.exists() or p.read_text(encoding="utf-8") != t]
        for p in stale:
            out.print(f"stale: {p}")
        raise typer.Exit(1 if stale else 0)
    for p in write_role(cat, role_dir):
        out.print(f"wrote {p}")


@controls_app.command("oscal")
def oscal_cmd(
    out_dir: Path = typer.Option(Path("."), "--out", help="directory to write "
                                 "oscal-catalog.json in"),
) -> None:
    """Write the controls and the audit's checks as an OSCAL catalog (oscal-catalog.json),
    the one every audit's OSCAL assessment results refer to by control id."""
    from provdc.audit import oscal

    try:
        output_dir(out_dir, "--out")
    except ProvdcError as exc:
        fail(exc)
    out_dir.mkdir(parents=True, exist_ok=True)
    out.print(f"wrote {plain(oscal.write(oscal.catalog(), out_dir / oscal.CATALOG_FILE))}")


def baseline_role(role_dir: Path) -> Path:
    """The role to render into: an existing Ansible role, so that a command run from the
    wrong directory never scatters a role's files there."""
    if not (role_dir / "meta" / "main.yml").is_file():
        raise ProvdcError("no Ansible role here (no meta/main.yml)", str(role_dir),
                          field="--role-dir",
                          fix="run from the root of the provdc checkout (where "
                          "playbooks/roles/baseline is) or pass --role-dir with the baseline "
                          "role's directory")
    return role_dir


@controls_app.command("gate", hidden=True)  # plumbing: the baseline role's controller step
def gate_cmd(
    verify: bool = typer.Option(False, "--verify", help="After the fixes: print {name: {id: "
                                "why it still fails}} (the role stops those hosts)."),
) -> None:
    """Used by the baseline role. Reads {"hosts": {name: {"output", "controls",
    "in_container"}}} on stdin (the output of the role's probe.sh on each host) and prints
    {name: [ids of the selected controls whose check fails]} as JSON."""
    import json
    import sys

    from provdc.controls import gate, load_catalogue

    try:
        answer = gate.verify if verify else gate.gate
        result = answer(load_catalogue(), sys.stdin.read())
    except ProvdcError as exc:
        fail(exc)
    sys.stdout.write(json.dumps(result) + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    app.add_typer(controls_app, name="controls")
