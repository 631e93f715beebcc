"""`provdc preview`, `provdc state bootstrap`, `provdc cloud audit|inventory`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from provdc.console import PlainTable, fail
from provdc.errors import ProvdcError
from provdc.paths import output_dir

EXIT_POLICY = 1  # a mandatory policy rule failed (2 stays "invalid input")

# Attributes worth a column in the preview table, in order of preference.
KEY_ATTRS = ("cidrBlock", "availabilityZone", "privateIp", "instanceType", "bucket", "ipProtocol",
             "fromPort", "cidrIpv4", "protocol", "port", "trafficType", "region",
             "destinationCidrBlock", "ipAddress", "retentionInDays", "name")

out = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("preview")(preview_cmd)
    state = typer.Typer(help="The Pulumi state backend on S3-compatible storage.",
                        no_args_is_help=True)
    state.command("bootstrap")(bootstrap_cmd)
    app.add_typer(state, name="state")
    cloud = typer.Typer(help="Detective checks and inventory for the cloud data centre.",
                        no_args_is_help=True)
    cloud.command("audit")(audit_cmd)
    cloud.command("inventory")(inventory_cmd)
    app.add_typer(cloud, name="cloud")


def preview_cmd(
    stack: str = typer.Option(..., "--stack", "-s", help="reads Pulumi.<stack>.yaml"),
    format: str = typer.Option("table", "--format", "-f", help="table or json"),
    root: Path = typer.Option(Path("."), "--root", help="the project directory"),
) -> None:
    """Run the Pulumi program offline (mocks, no cloud, no CLI) and check the policies."""
    from provdc.cloud.preview import preview
    from provdc.cloud.settings import load_stack_file

    try:
        if format not in ("table", "json"):
            raise ProvdcError(f"unknown format '{format}'", None, None, "--format",
                              "use table or json")
        result = preview(load_stack_file(stack, root))
    except ProvdcError as exc:
        fail(exc)
    if format == "json":
        sys.stdout.write(json.dumps(preview_document(result), ensure_ascii=False, indent=2) + "\n")
    else:
        _print_preview(result)
    if not result.passed:
        raise typer.Exit(EXIT_POLICY)


def preview_document(result) -> dict:
    return {
        "stack": result.stack,
        "passed": result.passed,
        "resource_count": len(result.resources),
        "counts": result.counts,
        "resources": [{"type": r.type, "name": r.name, "parent": r.parent, "protect": r.protect,
                       "props": r.props} for r in result.resources],
        "outputs": result.outputs,
        "policies": [
            {"id": v.rule.id, "title": v.rule.title, "enforcement": "mandatory",
             "cis": v.rule.cis, "vn": list(v.rule.vn),
             "status": "FAIL" if v.violations else "PASS",
             "violations": [{"resource": n, "message": m} for n, m in v.violations]}
            for v in result.verdicts
        ],
    }


def _print_preview(result) -> None:
    table = PlainTable(title=f"stack {result.stack}: {len(result.resources)} resources")
    for col in ("type", "name", "protect", "key attributes"):
        table.add_column(col)
    for r in sorted(result.resources, key=lambda r: (r.type, r.name)):
        attrs = [f"{k}={r.props[k]}" for k in KEY_ATTRS if r.props.get(k) not in (None, "")][:3]
        table.add_row(r.type.split(":")[-1] if r.type.startswith("aws:") else r.type, r.name,
                      "yes" if r.protect else "", ", ".join(attrs))
    out.print(table)
    verdicts = PlainTable(title="policy verdicts (all mandatory)")
    for col in ("rule", "status", "title", "violations"):
        verdicts.add_column(col)
    for v in result.verdicts:
        shown = "; ".join(f"{n}: {m}" for n, m in v.violations[:5])
        more = f" (+{len(v.violations) - 5} more)" if len(v.violations) > 5 else ""
        verdict = Text("FAIL", style="red") if v.violations else Text("PASS", style="green")
        verdicts.add_row(v.rule.id, verdict, v.rule.title, shown + more)
    out.print(verdicts)
    failed = [v.rule.id for v in result.verdicts if v.violations]
    if failed:
        out.print(f"[bold red]policy violations:[/] {', '.join(failed)}", highlight=False)
    else:
        out.print(f"[green]all {len(result.verdicts)} policies pass[/] "
                  f"({result.seconds:.1f} s offline)", highlight=False)


def bootstrap_cmd(
    bucket: str = typer.Option(..., "--bucket", help="the state bucket to create"),
    endpoint: str = typer.Option(None, "--endpoint", help="S3 endpoint URL (default: AWS)"),
    region: str = typer.Option("ap-southeast-1", "--region"),
    kms_key: str = typer.Option(None, "--kms-key", help="KMS key id/ARN (default: SSE-S3; a "
                                "bucket already on KMS keeps it)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="say what would change; write nothing"),
) -> None:
    """Create the Pulumi state bucket (versioned, encrypted, private) and print the login URL.
    On an existing bucket it adds what is missing and never weakens what is there."""
    from provdc.cloud.state import bootstrap

    try:
        result = bootstrap(bucket, endpoint, region, kms_key, dry_run=dry_run)
    except ProvdcError as exc:
        fail(exc)
    verb = "would change" if dry_run else "changed"
    for change in result.changed:
        out.print(f"[green]{verb}:[/] {change}", highlight=False)
    for note in result.notes:
        out.print(f"[yellow]note:[/] {note}", highlight=False)
    if not result.changed:
        out.print(f"ok: bucket {bucket} already as required; nothing changed", highlight=False)
    out.print(f"pulumi login '{result.login_url}'", highlight=False, soft_wrap=True)


def audit_cmd(
    endpoint: str = typer.Option(None, "--endpoint", help="API endpoint URL (default: AWS)"),
    region: str = typer.Option("ap-southeast-1", "--region"),
    out_dir: Path = typer.Option(Path("cloud-audit"), "--out", help="where the reports go"),
    topology: Path = typer.Option(Path("inventory/soctrang/topology.yml"), "--topology",
                                  help="sets the security level (its highest)"),
    level: int = typer.Option(None, "--level", min=1, max=5, help="override the level"),
) -> None:
    """Detective checks on the live account; writes report.json, junit.xml, report.html."""
    from provdc.cloud.audit import report_document, run_audit
    from provdc.cloud.report import write_reports
    from provdc.cloud.state import check_endpoint, check_region
    from provdc.topology.validate import load

    try:
        output_dir(out_dir, "--out")
        check_endpoint(endpoint)
        check_region(region)
        lvl = level or load(topology).topology.max_security_level
        report = run_audit(endpoint, region, lvl)
    except ProvdcError as exc:
        fail(exc)
    paths = write_reports(report_document(report), out_dir)
    failed = report.failed
    out.print(f"{len(report.findings)} checks, {len(failed)} failed; reports: "
              f"{', '.join(str(p) for p in paths)}", highlight=False)
    for f in failed[:20]:
        out.print(f"[red]FAIL[/] {f.check} ({f.rule}) {f.resource}: {f.message}", highlight=False)
    if failed:
        raise typer.Exit(EXIT_POLICY)


def inventory_cmd(
    outputs: Path = typer.Option(..., "--outputs", help="`pulumi stack output --json` file"),
    topology: Path | None = typer.Option(
        None, "--topology", help="default: the stack's `topology` output (relative to the "
        "current directory, the Pulumi project)"),
) -> None:
    """Print the Ansible inventory (JSON) of the hosts the stack created: the host
    contract's groups and variables, validated."""
    from provdc.cloud.inventory import build_inventory, read_outputs, topology_of
    from provdc.topology.validate import load

    try:
        data = read_outputs(outputs)
        path = topology_of(data, topology, Path.cwd(), str(outputs))
        inv = build_inventory(load(path), data, str(outputs))
    except ProvdcError as exc:
        fail(exc)
    sys.stdout.write(json.dumps(inv, indent=2) + "\n")
