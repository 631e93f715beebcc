"""The `provdc` command line: one entry point for engineers, ops teams and auditors."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import typer
from typer.core import TyperCommand, TyperGroup

from provdc.console import (
    FORMAT,
    Format,
    emit,
    err,
    fail,
    out,
    plain,
    print_all,
    print_error,
    write_json,
)
from provdc.errors import EXIT_INVALID, ProvdcError

# Sub-command groups live next to their engines and are imported only when one of them runs
# (or its own help is asked for): `provdc --help` and `provdc validate` start without loading
# the lab, cloud, audit or traffic code. Command name -> (module whose `register(app)` adds
# it, the one line the main help shows). A module absent from this installation is left out.
GROUPS = {
    "preview": ("provdc.cloud.cli", "Run the Pulumi program offline (mocks, no cloud, no "
                "CLI) and check the policies."),
    "lab": ("provdc.lab.cli", "The local lab: the province's data centre and agency sites as "
            "real Linux hosts on this machine. Needs root."),
    "audit": ("provdc.audit.cli", "Check hosts against the control catalogue and the audit's "
              "checks; compare audits."),
    "controls": ("provdc.audit.cli", "The baseline control catalogue."),
    "bandwidth": ("provdc.qos.cli", "Bandwidth policy (HTB + DSCP) on the site gateways' "
                  "TSLCD uplinks."),
    "segmentation": ("provdc.segmentation.cli", "Zone segmentation (nftables) from the "
                     "topology's allowed-flow matrix."),
    "state": ("provdc.cloud.cli", "The Pulumi state backend on S3-compatible storage."),
    "cloud": ("provdc.cloud.cli", "Detective checks and inventory for the cloud data centre."),
    "topology": ("provdc.topology.cli", "Topologies generated from the official unit lists."),
    "migrate": ("provdc.topology.cli", "Moving agencies from former provinces to a merged "
                "one."),
    "dossier": ("provdc.dossier.cli", "The security-level proposal dossier (Decree 85/2016) "
                "of one information system."),
    "backup": ("provdc.backup.cli", "Backups of the data centre's hosts: restore drills."),
}


class ProvdcGroup(TyperGroup):
    """The command tree, whose command-line mistakes (an unknown option, a value outside
    its choices, a missing argument) read like every other provdc error: one paragraph with
    the fix, exit 2, instead of click's usage box. Its GROUPS are loaded when resolved (to
    run, to complete, to show their own help); listings show their one line meanwhile."""

    def list_commands(self, ctx) -> list[str]:
        own = super().list_commands(ctx)
        return own + [name for name, (module, _) in GROUPS.items()
                      if name not in own and _installed(module)]

    def get_command(self, ctx, name: str):
        found = super().get_command(ctx, name)
        if found is None and name in GROUPS and _installed(GROUPS[name][0]):
            return TyperCommand(name, help=GROUPS[name][1])  # a listing's line only
        return found

    def resolve_command(self, ctx, args):
        if args and args[0] in GROUPS and args[0] not in self.commands:
            self._load(GROUPS[args[0]][0])
        return super().resolve_command(ctx, args)

    def _load(self, module: str) -> None:
        holder = typer.Typer()
        importlib.import_module(module).register(holder)
        for name, command in typer.main.get_group(holder).commands.items():
            self.add_command(command, name)

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except ProvdcError as exc:  # raised outside a command's own try
            print_error(exc)
            sys.exit(EXIT_INVALID)
        except Exception as exc:
            # click's (vendored by typer) exceptions: duck-typed, their module is private
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                raise
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "provdc"
            if not exc.format_message():  # no_args_is_help: the help was the answer
                sys.exit(int(exc.exit_code or EXIT_INVALID))
            fail_usage(command, exc.format_message(), int(exc.exit_code or EXIT_INVALID))
        sys.exit(code if isinstance(code, int) else 0)


def command_tree() -> ProvdcGroup:
    """The whole command tree with every installed group loaded (for completion scripts,
    documentation and the tests of the CLI's conventions)."""
    tree = typer.main.get_command(app)
    for module in dict.fromkeys(m for m, _ in GROUPS.values()):
        if _installed(module):
            tree._load(module)
    return tree


def _installed(module: str) -> bool:
    """Whether this installation has that part of provdc (a wheel may ship without some)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def fail_usage(command: str, message: str, code: int) -> None:
    # typer words a bad choice "Value error, 'xml' is not one of ..."; the prefix says nothing
    message = message.replace("Value error, ", "")
    err.print(f"[bold red]error:[/] {plain(command)}: {plain(message.rstrip('.'))}. "
              f"Fix: see `{plain(command)} --help`.", highlight=False, soft_wrap=True)
    sys.exit(EXIT_INVALID if code == 2 else code)


app = typer.Typer(
    cls=ProvdcGroup,
    help="provdc: the provincial integrated data centre as code.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # --install-completion / --show-completion: 22 commands and their options complete in
    # bash, zsh, fish and PowerShell
    add_completion=True,
)
DEFAULT_TOPOLOGY = Path("inventory/soctrang/topology.yml")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            out.print(f"provdc {version('provdc')}", highlight=False)
        except PackageNotFoundError:  # running from a source tree that was never installed
            out.print("provdc (not installed)", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print provdc's version and exit"),
) -> None:
    """provdc: the provincial integrated data centre as code."""


@app.command()
def validate(
    topology: Path = typer.Argument(..., help="the province topology YAML"),
    format: Format = FORMAT,
) -> None:
    """Check a topology file: schema, hierarchy, address plan, bandwidth, flows."""
    from provdc.topology.validate import load

    try:
        loaded = load(topology)
    except ProvdcError as exc:
        fail(exc)
    topo = loaded.topology
    doc = {"valid": True, "file": str(topology), "province": topo.province.name,
           "sites": len(topo.sites), "zones": len(topo.datacenter.zones),
           "services": len(topo.services), "flows": len(topo.flows)}
    emit(format, doc, lambda: out.print(
        f"[green]valid:[/] {plain(topology)}: {plain(doc['province'])}, {doc['sites']} sites, "
        f"{doc['zones']} zones, {doc['services']} services, {doc['flows']} flows"))


@app.command()
def plan(
    topology: Path = typer.Argument(..., help="the province topology YAML"),
    against: list[Path] = typer.Option(
        [], "--against", help="a previous plan (plan -f json) or topology, repeatable: refuse "
        "to move its prefixes unless the migration section lists the move"),
    allow_renumber: bool = typer.Option(False, "--allow-renumber",
                                        help="accept the moves --against finds (still listed)"),
    diagram: Path = typer.Option(None, "--diagram", help="also draw the network diagram "
                                 "(zones, services, allowed flows, TSLCD tiers) to FILE.svg"),
    format: Format = FORMAT,
) -> None:
    """Print the address plan (zones, sites) and the bandwidth oversubscription; with
    --diagram, draw the data centre's network diagram as SVG."""
    from provdc.topology import renumber, report
    from provdc.topology.validate import load

    try:
        if diagram is not None:
            from provdc.diagram.svg import check_target

            check_target(diagram)  # before the work, so a typo costs nothing
        loaded = load(topology)
        moves = renumber.guard(loaded, against, allow_renumber)
        if diagram is not None:
            from provdc import diagram as drawing

            drawing.write_svg(diagram, drawing.render(drawing.build(loaded)))
    except ProvdcError as exc:
        fail(exc)
    if diagram is not None:
        err.print(f"diagram: {plain(diagram)}", highlight=False, soft_wrap=True)
    data = report.plan_document(loaded)
    if against:
        data["moves"] = moves
    if moves:
        err.print(f"warning: renumbering accepted: {plain(renumber.describe(moves))}",
                  highlight=False, soft_wrap=True)
    emit(format, data, lambda: print_all(report.plan_tables(data)))


@app.command()
def schema() -> None:
    """Print the topology JSON Schema (for editors: yaml-language-server)."""
    from provdc.topology.schema import Topology

    doc = Topology.model_json_schema(by_alias=True)
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "provdc province topology"
    write_json(doc)


def main() -> None:
    try:
        app()
    except ProvdcError as exc:  # a sub-command raised without catching
        print_error(exc)
        sys.exit(EXIT_INVALID)


