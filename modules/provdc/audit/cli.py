"""`provdc audit` (the auditor's command) and `provdc controls` (the catalogue's tools)."""

from __future__ import annotations

from pathlib import Path

import typer

from provdc.console import PlainTable, fail, out
from provdc.errors import ProvdcError
from provdc.paths import output_dir

# The role lives in the project's playbooks, not in the package: by default it is looked for
# from the working directory (the checkout's root); the catalogue it is rendered from is
# package data.
ROLE_DIR = Path("playbooks/roles/baseline")


def audit_cmd(
    inventory: Path = typer.Option(..., "-i", "--inventory", help="Ansible inventory of the hosts"),
    out_dir: Path = typer.Option(Path("reports/audit"), "--out", help="where the reports go"),
    waivers: Path = typer.Option(None, "--waivers", help="waivers YAML (control, hosts, "
                                 "justification, owner, expiry)"),
    workers: int = typer.Option(4, "--workers", help="parallel pytest workers (xdist)"),
    scope: str = typer.Option("", "--scope", help="audit only these concerns, comma-separated: "
                              "baseline, bandwidth, segmentation, soc (default: all)"),
    auditor: str = typer.Option(None, "--auditor", help="who runs the audit, as the report's "
                                "provenance names them (default: the OS user)"),
) -> None:
    """Check every host against the control catalogue; write report.json, junit.xml,
    report.html and manifest.sha256 (the SHA-256 of each, for `sha256sum -c`)."""
    from provdc.audit.run import audit
    from provdc.audit.waivers import load_waivers

    try:
        output_dir(out_dir, "--out")
        accepted = load_waivers(waivers)  # validated before any host is touched
        doc = audit(inventory, out_dir, accepted, workers,
                    [s.strip() for s in scope.split(",") if s.strip()] or None, auditor)
    except ProvdcError as exc:
        fail(exc)
    from provdc.audit.report import exit_code

    s = doc["scores"]["overall"]
    out.print(
        f"audit: {len(doc['hosts'])} hosts, score {s['score']}% (with waivers "
        f"{s['score_with_waivers']}%): {s['pass']} pass, {s['fail']} fail, {s['waived']} "
        f"waived, {s['not_applicable']} not applicable, {s['error']} check errors, "
        f"{s['not_checked']} not checked; "
        f"{s['configuration_only']} configuration-only"
    )
    if doc["unreachable"]:
        out.print(f"[red]not checked:[/] {', '.join(doc['unreachable'])}")
    for key in ("html", "json", "junit", "manifest"):
        out.print(f"{key}: {doc['_files'][key]}")
    raise typer.Exit(exit_code(doc))


controls_app = typer.Typer(help="The baseline control catalogue.", no_args_is_help=True)


@controls_app.command("list")
def list_cmd() -> None:
    """List the controls and the audit's other checks: id, level, kind, title."""
    from provdc.audit.checks import checks
    from provdc.controls import catalogue

    table = PlainTable("id", "level", "kind", "container", "title")
    for c in catalogue().controls:
        table.add_row(c.id, str(c.min_level), c.kind,
                      "enforced" if c.enforce_in_container else "config-only", c.title.en)
    for k in checks().checks:  # the level is the test's own business (roles, services)
        table.add_row(k.id, "-", "check", "enforced", k.title.en)
    out.print(table)


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
    app.command("audit")(audit_cmd)
    app.add_typer(controls_app, name="controls")
