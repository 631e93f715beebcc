"""`provdc preview`, `provdc state bootstrap`, `provdc cloud audit|inventory|policy-config`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.text import Text

from provdc.console import FORMAT, Format, PlainTable, emit, fail, out, plain, write_json
from provdc.errors import ProvdcError
from provdc.paths import output_dir

EXIT_POLICY = 1  # a mandatory policy rule failed (2 stays "invalid input")

# Attributes worth a column in the preview table, in order of preference.
KEY_ATTRS = ("cidrBlock", "availabilityZone", "privateIp", "instanceType", "bucket", "ipProtocol",
             "fromPort", "cidrIpv4", "protocol", "port", "trafficType", "region",
             "destinationCidrBlock", "ipAddress", "retentionInDays", "name")

ROOT_OPTION = typer.Option(Path("."), "--root", help="the Pulumi project: the directory of "
                           "Pulumi.yaml and Pulumi.<stack>.yaml")


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
    cloud.command("policy-config")(policy_config_cmd)
    app.add_typer(cloud, name="cloud")


def preview_cmd(
    stack: str = typer.Option(..., "--stack", "-s", help="reads Pulumi.<stack>.yaml"),
    format: Format = FORMAT,
    root: Path = ROOT_OPTION,
    pack_config: Path | None = typer.Option(
        None, "--policy-pack-config", help="evaluate the rules with this pack config, as "
        "`pulumi preview --policy-pack-config` would (default: the stack's own, the file "
        "`provdc cloud policy-config --stack STACK` writes)"),
) -> None:
    """Run the Pulumi program offline (mocks, no cloud, no CLI) and check the policies."""
    from provdc.cloud import pack
    from provdc.cloud.preview import preview
    from provdc.cloud.settings import load_stack_file

    try:
        settings = load_stack_file(stack, root)
        if pack_config is None:
            result = preview(settings)
        else:  # settings the file leaves out take the pack's defaults, as in Pulumi
            result = preview(settings, pack.read_config(pack_config), pack.strictest(root))
    except ProvdcError as exc:
        fail(exc)
    emit(format, preview_document(result), lambda: _print_preview(result))
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
        "policy_config": result.policy_config,
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
    format: Format = FORMAT,
) -> None:
    """Create the Pulumi state bucket (versioned, encrypted, private) and print the login URL.
    On an existing bucket it adds what is missing and never weakens what is there."""
    from provdc.cloud.state import bootstrap

    try:
        result = bootstrap(bucket, endpoint, region, kms_key, dry_run=dry_run)
    except ProvdcError as exc:
        fail(exc)
    doc = {"bucket": bucket, "dry_run": dry_run, "changed": result.changed,
           "notes": result.notes, "login_url": result.login_url}
    emit(format, doc, lambda: _print_bootstrap(doc))


def _print_bootstrap(doc: dict) -> None:
    verb = "would change" if doc["dry_run"] else "changed"
    for change in doc["changed"]:
        out.print(f"[green]{verb}:[/] {plain(change)}", highlight=False)
    for note in doc["notes"]:
        out.print(f"[yellow]note:[/] {plain(note)}", highlight=False)
    if not doc["changed"]:
        out.print(f"ok: bucket {plain(doc['bucket'])} already as required; nothing changed",
                  highlight=False)
    out.print(f"pulumi login '{plain(doc['login_url'])}'", highlight=False, soft_wrap=True)


def audit_cmd(
    endpoint: str = typer.Option(None, "--endpoint", help="API endpoint URL (default: AWS)"),
    region: str = typer.Option("ap-southeast-1", "--region"),
    out_dir: Path = typer.Option(Path("cloud-audit"), "--out", help="where the reports go"),
    topology: Path = typer.Option(Path("inventory/soctrang/topology.yml"), "--topology",
                                  help="sets the security level (its highest)"),
    level: int = typer.Option(None, "--level", min=1, max=5, help="override the level"),
    format: Format = FORMAT,
) -> None:
    """Detective checks on the live account; writes report.json, junit.xml, report.html
    (and prints report.json's document with --format json)."""
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
    doc = report_document(report)
    paths = write_reports(doc, out_dir)
    emit(format, doc, lambda: _print_audit(report, paths))
    if report.failed:
        raise typer.Exit(EXIT_POLICY)


def _print_audit(report, paths: list[Path]) -> None:
    failed = report.failed
    out.print(f"{len(report.findings)} checks, {len(failed)} failed; reports: "
              f"{', '.join(plain(p) for p in paths)}", highlight=False)
    for f in failed[:20]:
        out.print(f"[red]FAIL[/] {plain(f.check)} ({plain(f.rule)}) {plain(f.resource)}: "
                  f"{plain(f.message)}", highlight=False)


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
    write_json(inv)


def policy_config_cmd(
    stack: str | None = typer.Option(None, "--stack", "-s", help="that stack's settings "
                                     "(default: the strictest over every stack: the pack's "
                                     "defaults)"),
    root: Path = ROOT_OPTION,
    out_file: Path | None = typer.Option(None, "--out", help="write the file here instead "
                                         "of printing it"),
) -> None:
    """Print (or write) the policy pack's config for a stack: the file of
    `pulumi preview --policy-pack stacks/policy --policy-pack-config FILE`."""
    from provdc.cloud import pack
    from provdc.cloud.settings import load_stack_file

    try:
        doc = (pack.stack_config(load_stack_file(stack, root)) if stack
               else pack.config_of(pack.strictest(root)))
        if out_file is not None:
            _write_config(out_file, doc)
    except ProvdcError as exc:
        fail(exc)
    if out_file is None:
        write_json(doc)


def _write_config(path: Path, doc: dict) -> None:
    if path.is_dir() or not path.parent.is_dir():
        raise ProvdcError("cannot be written here", str(path), None, "--out",
                          "name a file in an existing directory")
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
