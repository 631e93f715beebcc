"""`provdc bandwidth`: render, ship and measure the TSLCD bandwidth policy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from provdc.console import FORMAT, Format, PlainTable, emit, fail, out
from provdc.errors import ProvdcError
from provdc.qos import htb, policy
from provdc.qos import inventory as inv
from provdc.qos.policy import check_device

group = typer.Typer(help="Bandwidth policy (HTB + DSCP) on the site gateways' TSLCD uplinks.",
                    no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="bandwidth")


def _load_topology(topology: Path | None, inventory: inv.Inventory | None):
    """--topology, else the inventory's (validated) topology; never a silent sample."""
    from provdc.topology.validate import load

    if inventory is not None and inventory.loaded is not None:
        return inventory.loaded.topology
    if topology is None:
        raise ProvdcError("no topology given", field="--topology",
                          fix="pass --topology FILE or -i INVENTORY (whose hosts name it)")
    return load(topology).topology


def class_table(spec: dict, title: str) -> Table:
    table = PlainTable(title=title, title_justify="left")
    for col in ("class", "classid", "DSCP", "guaranteed Mbit/s", "ceiling Mbit/s", "default"):
        table.add_column(col, justify="right" if "Mbit" in col else "left")
    for c in spec["classes"]:
        table.add_row(c["name"], c["classid"], f"{c['dscp']} ({c['codepoint']})",
                      f"{c['rate_kbit'] / 1000:g}", f"{c['ceil_kbit'] / 1000:g}",
                      "yes" if c["default"] else "")
    return table


@group.command()
def render(
    site: str = typer.Argument(..., help="site slug"),
    inventory: Path | None = typer.Option(None, "-i", "--inventory", help="Ansible inventory"),
    topology: Path | None = typer.Option(None, "--topology", "-t", help="topology YAML"),
    device: str = typer.Option("eth0", help="uplink interface when no inventory is given"),
    leaf: str = typer.Option("fq_codel", help="leaf qdisc to render (hosts detect their own)"),
    format: Format = FORMAT,
) -> None:
    """Print a site's class table and the tc batch of both ends of its uplink."""

    try:
        check_device(device, "--device", "the command line")
        if leaf not in htb.LEAF_PREFERENCE:
            raise ProvdcError(f"{leaf!r} is not a leaf qdisc provdc renders", field="--leaf",
                              fix=f"use one of {', '.join(htb.LEAF_PREFERENCE)}")
        inventory_ = inv.read(inventory, topology) if inventory else None
        topo = _load_topology(topology, inventory_)
        if inventory_:
            gw = inv.gateway_of(inventory_, site)
            ends = [("uplink", gw.uplink_if, gw.host), ("downlink", gw.core_if, "core")]
        else:
            ends = [("uplink", device, "gateway")]
        specs = [(policy.site_spec(topo, site, dev, d), where) for d, dev, where in ends]
    except ProvdcError as exc:
        fail(exc)
    sides = [{**spec, "where": where,
              "batch": htb.render_batch(spec["device"], htb.tree_from_spec(spec, leaf),
                                        htb.class_names(spec))} for spec, where in specs]
    emit(format, {"site": site, "ends": sides}, lambda: _print_render(site, sides))


def _print_render(site: str, ends: list[dict]) -> None:
    first = ends[0]
    out.print(class_table(first, f"{site} ({first['tier']}): link {first['link_kbit'] / 1000:g} "
                                 f"Mbit/s, shaped at {first['shaped_kbit'] / 1000:g} Mbit/s"))
    for end in ends:
        out.print(f"\n# {end['direction']}: egress of {end['device']} on {end['where']}",
                  highlight=False, markup=False)
        out.print(end["batch"], end="", highlight=False, markup=False)


@group.command(hidden=True)
def specs(
    inventory: Path | None = typer.Option(None, "-i", "--inventory"),
    topology: Path | None = typer.Option(None, "--topology", "-t"),
) -> None:
    """Used by the playbook. Prints the spec files of every gateway, both directions, as
    JSON. Without -i, reads {"hostvars": {host: {provdc_...}}, "source": NAME} on stdin.

    Every host is checked against the host contract before anything is printed, so a bad
    one stops the run before any host is touched."""
    from provdc.hosts import inventory as host_inventory

    try:
        if inventory:
            inventory_ = inv.read(inventory, topology)
        else:
            data = host_inventory.read_request(sys.stdin.read())
            source = str(data.get("source") or "inventory")
            hostvars = data.get("hostvars") or {}
            _, loaded = host_inventory.validate(hostvars, source, topology)
            groups = {"gateways": [h for h, v in hostvars.items()
                                   if v.get("provdc_role") == "gateway"]}
            inventory_ = inv.Inventory(source, hostvars, groups, loaded=loaded)
        topo = _load_topology(topology, inventory_)
        result = {g.host: {d: policy.spec_text(policy.site_spec(topo, g.site, dev, d))
                           for d, dev in (("uplink", g.uplink_if), ("downlink", g.core_if))}
                  for g in inv.gateways(inventory_)}
    except ProvdcError as exc:
        fail(exc)
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")


@group.command()
def measure(
    site: str = typer.Argument(..., help="site slug"),
    inventory: Path = typer.Option(..., "-i", "--inventory"),
    topology: Path | None = typer.Option(None, "--topology", "-t"),
    seconds: int = typer.Option(4, help="length of each iperf3 run"),
    format: Format = FORMAT,
) -> None:
    """Measure each class with iperf3 (DSCP-marked), alone and all at once, site -> DC."""
    from provdc.qos import measure as m

    try:
        inventory_ = inv.read(inventory, topology)
        topo = _load_topology(topology, inventory_)
        setup = m.Setup.from_inventory(inventory_, topo, site)
        report = m.run(setup, seconds=seconds)
    except ProvdcError as exc:
        fail(exc)
    emit(format, report, lambda: out.print(m.report_table(report)))
