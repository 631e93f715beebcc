"""`provdc segmentation`: render the firewalls from the flow matrix, prove them with traffic."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from provdc.console import FORMAT, Format, PlainTable, emit, fail, out, print_all
from provdc.errors import ProvdcError
from provdc.hosts import inventory as host_inventory
from provdc.segmentation import guard, sources
from provdc.segmentation import render as rnd

group = typer.Typer(help="Zone segmentation (nftables) from the topology's allowed-flow matrix.",
                    no_args_is_help=True)

ZONE_FIREWALL = "zone-firewall"


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="segmentation")


def _address(value: str, field: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ProvdcError(f"{value!r} is not an IPv4 address", field=field,
                          fix="give the address your SSH comes from, e.g. 10.94.4.5") from None


def summary_table(seg) -> Table:
    table = PlainTable(title=f"segmentation of {seg.loaded.path}: {len(seg.hosts)} host firewalls "
                  "and the zone firewall", title_justify="left")
    for col in ("firewall", "role", "chain", "rules", "address entries", "bytes", "digest"):
        table.add_column(col, justify="right" if col in ("rules", "address entries", "bytes")
                         else "left")
    rows = [(ZONE_FIREWALL, "core", seg.zone)] + [
        (name, seg.node(name).role, rs) for name, rs in seg.hosts.items()]
    for name, role, rs in rows:
        size = rnd.size(rs)
        table.add_row(name, role, rs.hook, str(size["rules"]), str(size["addresses"]),
                      str(size["bytes"]), rnd.digest(rs))
    return table


@group.command()
def render(
    host: str | None = typer.Argument(None, help=f"a host of the inventory, or {ZONE_FIREWALL}"),
    inventory: Path | None = typer.Option(None, "-i", "--inventory", help="Ansible inventory"),
    topology: Path | None = typer.Option(None, "--topology", "-t", help="topology YAML"),
    operator_from: str | None = typer.Option(
        None, "--operator-from", help="the address your SSH comes from (default: each host's "
        "single-address provdc_admin_sources, as the lab writes them)"),
    format: Format = typer.Option(Format.table, "--format", "-f",
                                  help="table (a summary, or one file) or json (every file)"),
) -> None:
    """Print a host's (or the zone firewall's) nftables file, or a summary of all of them.

    Refuses (exit 2) a matrix that misses an operations flow, and a ruleset that would cut
    the operator's SSH path."""

    try:
        if operator_from is not None:
            _address(operator_from, "--operator-from")
        if inventory:
            seg, hostvars = sources.from_inventory(inventory, topology)
            clients = ({h: operator_from for h in seg.hosts} if operator_from
                       else sources.operator_clients(hostvars))
            guard.check_operator_path(seg, clients, str(inventory))
        else:
            seg = sources.from_hostvars({}, topology)
        if host and host != ZONE_FIREWALL and host not in seg.hosts:
            raise ProvdcError(f"no host '{host}' in the inventory", field="HOST",
                              fix=f"name a host of the inventory or {ZONE_FIREWALL}")
    except ProvdcError as exc:
        fail(exc)
    emit(format, lambda: {"hosts": {h: rnd.render(rs) for h, rs in seg.hosts.items()},
                          "zone": rnd.render(seg.zone)},
         lambda: _print_render(seg, host))


def _print_render(seg, host: str | None) -> None:
    if host:
        sys.stdout.write(rnd.render(seg.zone if host == ZONE_FIREWALL else seg.hosts[host]))
    else:
        out.print(summary_table(seg))


@group.command(hidden=True)  # plumbing: the segmentation role's controller step
def specs(
    topology: Path | None = typer.Option(None, "--topology", "-t", help="topology YAML"),
) -> None:
    """Used by the playbook. Reads {"hostvars": {...}, "clients": {host: address}} on stdin,
    checks the matrix and the operator's SSH path for every host, then prints
    {"hosts": {host: nft text}, "zone": nft text} as JSON. Nothing is printed on error."""

    try:
        data = host_inventory.read_request(
            sys.stdin.read(), {"clients": str | None},
            fix='pass {"hostvars": {host: {provdc_...}}, "clients": {host: SSH_CONNECTION}}')
        source = data.get("source") or "inventory"
        seg = sources.from_hostvars(data.get("hostvars") or {}, topology, source)
        # the playbook passes each host's SSH_CONNECTION: "client port server port"
        clients = {h: (c or "").split()[0] for h, c in (data.get("clients") or {}).items()
                   if (c or "").split()}
        guard.check_operator_path(seg, clients, source)
    except ProvdcError as exc:
        fail(exc)
    result = {"hosts": {h: rnd.render(rs) for h, rs in seg.hosts.items()},
              "zone": rnd.render(seg.zone)}
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")


@group.command()
def verify(
    inventory: Path = typer.Option(..., "-i", "--inventory", help="the lab's Ansible inventory"),
    topology: Path | None = typer.Option(None, "--topology", "-t", help="topology YAML"),
    format: Format = FORMAT,
    timeout: float = typer.Option(1.5, help="seconds before a probe counts as blocked"),
) -> None:
    """Prove the segmentation with real traffic on the lab: one connection per flow of the
    matrix must open, every generated forbidden pair must stay closed. Exit 1 on any
    mismatch."""
    from provdc.segmentation import verify as vf

    try:
        seg, hostvars = sources.from_inventory(inventory, topology)
        report = vf.run(seg, hostvars, str(inventory), timeout=timeout)
    except ProvdcError as exc:
        fail(exc)
    emit(format, report, lambda: print_all(vf.tables(report)))
    if not report["ok"]:
        raise typer.Exit(1)
