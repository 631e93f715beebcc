"""`provdc topology …` (topologies from the official unit lists) and `provdc migrate plan`."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from provdc.console import FORMAT, Format, PlainTable, emit, err, fail, out, plain, print_all
from provdc.errors import ProvdcError
from provdc.topology import migration, units
from provdc.topology.validate import Loaded, load

topology_app = typer.Typer(help="Topologies generated from the official unit lists.",
                           no_args_is_help=True)
migrate_app = typer.Typer(help="Moving agencies from former provinces to a merged one.",
                          no_args_is_help=True)
LIST = typer.Option("2025", "--list", "-l",
                    help="former (before 1 July 2025: province, district, commune) or 2025")


def register(app: typer.Typer) -> None:
    app.add_typer(topology_app, name="topology")
    app.add_typer(migrate_app, name="migrate")


def _list_name(value: str) -> units.ListName:
    if value not in units.LISTS:
        raise ProvdcError(f"--list: '{value}' is not one of {', '.join(units.LISTS)}",
                          fix="pick former or 2025")
    return value  # type: ignore[return-value]


def _named(exc: ProvdcError, command: str) -> ProvdcError:
    """An error about an argument, not a file, names the command instead of '<input>'."""
    if exc.file is None:
        exc.file = command
    return exc


def _load_all(paths: list[Path]) -> list[Loaded]:
    return [load(p) for p in paths]


@topology_app.command("units")
def units_command(
    code: str = typer.Argument(..., help="the province's GSO code, e.g. 92"),
    list_name: str = LIST,
    format: Format = FORMAT,
) -> None:
    """Print a province's units from the vendored official list."""
    try:
        data = units.province(code, _list_name(list_name))
    except ProvdcError as exc:
        fail(_named(exc, "provdc topology units"))
    rows = [{"code": u.code, "name": u.name, "type": u.type, "parent": u.parent}
            for u in (*data.districts, *data.communes)]
    doc = {"province": data.name_with_type, "code": data.code, "list": data.list_name,
           "districts": len(data.districts), "communes": len(data.communes), "units": rows}
    emit(format, doc, lambda: _print_units(doc))


def _print_units(doc: dict) -> None:
    table = PlainTable(title=f"{doc['province']} ({doc['code']}), {doc['list']} list: "
                             f"{doc['districts']} districts, {doc['communes']} communes")
    for col in ("code", "name", "type", "parent"):
        table.add_column(col)
    for u in doc["units"]:
        table.add_row(u["code"], u["name"], u["type"], u["parent"] or "")
    out.print(table)


@topology_app.command("from-units")
def from_units(
    code: str = typer.Argument(..., help="the province's GSO code, e.g. 92"),
    tslcd_wan: str = typer.Option(..., "--tslcd-wan",
                                  help="the TSLCD WAN prefix CBĐTW allocated (an input)"),
    list_name: str = LIST,
    supernet: str = typer.Option(None, "--supernet", help="default 10.<code>.0.0/16, or the "
                                 "network covering the former provinces' with --merge"),
    template: Path = typer.Option(None, "--template", help="zones, tiers, departments, "
                                  "services and flows (default: the one shipped for the list)"),
    keep: Path = typer.Option(None, "--keep", help="a previous topology of this province: "
                              "units with the same GSO code keep their slug and slot"),
    merge: list[Path] = typer.Option([], "--merge", help="a former province's topology "
                                     "(repeat): carry its prefixes over, write the migration"),
    output: Path = typer.Option(None, "--output", "-o", help="write here instead of stdout"),
) -> None:
    """Write a topology skeleton for a province from the official unit lists."""
    from provdc.topology import skeleton

    try:
        opts = skeleton.Options(code, _list_name(list_name), tslcd_wan, supernet, template,
                                load(keep) if keep else None, _load_all(merge))
        text = skeleton.generate(opts)
    except ProvdcError as exc:
        fail(_named(exc, "provdc topology from-units"))
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(_schema_line(text, output), encoding="utf-8")
    err.print(f"wrote {plain(output)}", highlight=False)


def _schema_line(text: str, output: Path) -> str:
    """Point the editor's schema line at the nearest topology.schema.json above the file."""
    for folder in output.resolve().parents:
        schema = folder / "topology.schema.json"
        if schema.is_file():
            rel = os.path.relpath(schema, output.resolve().parent)
            return text.replace("$schema=../topology.schema.json", f"$schema={rel}", 1)
    return text


@migrate_app.command("plan")
def migrate_plan(
    files: list[Path] = typer.Argument(..., help="the former topologies, then the new one"),
    format: Format = FORMAT,
) -> None:
    """Where every former site goes, and what changes for it and for every host."""
    if len(files) < 2:
        fail(ProvdcError("give the former topologies and the new one (at least two files)",
                         "provdc migrate plan",
                         fix="provdc migrate plan OLD1.yml [OLD2.yml …] NEW.yml"))
    try:
        formers, new = _load_all(files[:-1]), load(files[-1])
        doc = migration.plan(formers, new)
    except ProvdcError as exc:
        fail(exc)
    emit(format, doc, lambda: print_all(_plan_tables(doc)))


def _plan_tables(doc: dict) -> list:
    s = doc["summary"]
    summary = PlainTable(title=f"Migration to {doc['province']['name']} from "
                               + ", ".join(p["name"] for p in doc["former_provinces"]))
    summary.add_column("what")
    summary.add_column("count", justify="right")
    for key in ("former_sites", "kept", "merged", "renumbered", "retired",
                "tslcd_links_changed", "security_level_changed", "firewall_changed",
                "bandwidth_changed", "hosts", "hosts_changed"):
        summary.add_row(key.replace("_", " "), str(s[key]))
    changed = s["zone_firewall_changed"]
    summary.add_row("zone firewall", "new" if changed is None else "changes" if changed
                    else "unchanged")
    for action, n in s["prefixes"].items():
        summary.add_row(f"prefixes {action}", str(n))
    sites = PlainTable(title="Former sites")
    for col in ("former", "fate", "into", "prefix", "→", "TSLCD", "level", "firewall",
                "bandwidth"):
        sites.add_column(col)
    for e in doc["sites"]:
        p = e["prefixes"][0]
        level = e["security_level"]
        sites.add_row(e["former"], e["fate"], e["into"] or "", p["prefix"],
                      f"{p['action']}{' ' + p['to'] if p['action'] == 'moved' else ''}",
                      "changes" if e["tslcd"]["changed"] else "",
                      f"{level['before']}→{level['after']}"
                      if level["before"] != level["after"] else "",
                      "changes" if e["firewall"]["changed"] else "",
                      "changes" if e["bandwidth"]["changed"] else "")
    dcs = PlainTable(title="Former data centres")
    for col in ("former", "block", "fate", "zones"):
        dcs.add_column(col)
    for d in doc["datacenters"]:
        dcs.add_row(d["former"], d["block"], d["fate"],
                    ", ".join(f"{z['zone']} {z['action']}" for z in d["zones"]))
    return [summary, sites, dcs]
