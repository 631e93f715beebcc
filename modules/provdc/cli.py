"""The `provdc` command line: one entry point for engineers, ops teams and auditors."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from typer.core import TyperGroup

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
from provdc.topology import renumber, report
from provdc.topology.validate import load


class ProvdcGroup(TyperGroup):
    """The command tree, whose command-line mistakes (an unknown option, a value outside
    its choices, a missing argument) read like every other provdc error: one paragraph with
    the fix, exit 2, instead of click's usage box."""

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


def _register_subcommands() -> None:
    """Sub-command groups live next to their engines; each registers itself here."""
    import importlib

    for module in (
        "provdc.lab.cli",
        "provdc.audit.cli",
        "provdc.qos.cli",
        "provdc.cloud.cli",
        "provdc.segmentation.cli",
        "provdc.topology.cli",
        "provdc.dossier.cli",
        "provdc.backup.cli",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that part of provdc is not installed yet
            raise
        mod.register(app)


_register_subcommands()


def main() -> None:
    try:
        app()
    except ProvdcError as exc:  # a sub-command raised without catching
        print_error(exc)
        sys.exit(EXIT_INVALID)


