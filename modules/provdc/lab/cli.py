"""`provdc lab up|status|down|ssh|exec`: the local lab on this machine (root)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from provdc.console import FORMAT, Format, PlainTable, emit, err, fail, out, progress
from provdc.errors import ProvdcError
from provdc.lab.model import DEFAULT_LAB_NAME, Profile, check_lab_name, core_netns
from provdc.paths import output_dir

lab_app = typer.Typer(
    help="The local lab: the province's data centre and agency sites as real Linux hosts "
    "(systemd-nspawn) on this machine. Needs root.",
    no_args_is_help=True,
)

NameOpt = typer.Option(
    DEFAULT_LAB_NAME, "--name", "-n", envvar="PROVDC_LAB_NAME",
    help="lab name: prefixes its namespaces, cgroups and directories; several labs can run "
    "side by side",
)


def _log(msg: str) -> None:
    err.print(f"[dim]lab:[/] {msg}", highlight=False)


def hosts_table(st: dict) -> Table:
    table = PlainTable(title=f"lab {st['name']}: {st['status']}, {st.get('running', 0)}/"
                  f"{len(st['hosts'])} hosts running")
    for col in ("host", "role", "address", "segment", "kind", "state"):
        table.add_column(col)
    for h in st["hosts"]:
        table.add_row(h["name"], h["role"] + (" (extra)" if h.get("extra") else ""),
                      h["address"], h["segment"], h.get("virt", "container"),
                      Text("running", style="green") if h["running"]
                      else Text("stopped", style="red"))
    return table


@lab_app.command()
def up(
    topology: Path = typer.Option(Path("inventory/soctrang/topology.yml"), "--topology", "-t",
                                  help="the province topology YAML"),
    profile: Profile = typer.Option(Profile.small, "--profile", "-p",
                                    help="small: ~18 hosts for tests and the demo; "
                                    "province: every site of the topology"),
    name: str = NameOpt,
    inventory_dir: Path = typer.Option(
        None, "--inventory-dir",
        help="where to write hosts.yml, pyinfra_inventory.py and ssh_config (default "
        "inventory/lab/, or inventory/lab-<name>/ for another lab name)"),
    sites: str = typer.Option(None, "--sites",
                              help="comma-separated site slugs instead of the profile's sites"),
    vm: str = typer.Option(None, "--vm",
                           help="comma-separated hosts to run as QEMU virtual machines with "
                           "their own kernel instead of containers (about 35 s to boot and "
                           "0.6 GB each; the inventory marks them provdc_virt: vm)"),
    timeout: float = typer.Option(180, help="seconds to wait for every host's sshd "
                                  "(VM hosts: 600 s more)"),
    format: Format = FORMAT,
) -> None:
    """Bring the lab up (idempotent) and write its inventory; prints its hosts."""
    from provdc.lab import runtime
    from provdc.lab.model import make_vms, plan_lab
    from provdc.topology.validate import load

    try:
        check_lab_name(name)
        if inventory_dir is not None:
            output_dir(inventory_dir, "--inventory-dir")
        loaded = load(topology)
        site_list = [s.strip() for s in sites.split(",") if s.strip()] if sites else None
        plan = plan_lab(loaded, name, profile, site_list)
        if vm:
            make_vms(plan, [h.strip() for h in vm.split(",") if h.strip()])
        with progress("hosts booted", len(plan.hosts)) as booted:
            runtime.up(plan, inventory_dir, log=_log, timeout=timeout, on_ready=booted)
    except ProvdcError as exc:
        fail(exc)
    st = runtime.status(name)
    emit(format, st, lambda: out.print(hosts_table(st)))


@lab_app.command()
def status(
    name: str = NameOpt,
    format: Format = FORMAT,
    all_labs: bool = typer.Option(False, "--all", help="every lab on this machine (json: "
                                  "a list)"),
) -> None:
    """Show a lab's hosts and whether they run (exit 1 if the lab is not fully up)."""
    from provdc.lab import runtime

    try:
        names = runtime.list_labs() if all_labs else [check_lab_name(name)]
    except ProvdcError as exc:
        fail(exc)
    docs = [runtime.status(n) for n in names]
    emit(format, docs if all_labs else docs[0], lambda: _print_status(docs))
    if not all_labs and docs[0]["status"] != "up":
        raise typer.Exit(1)


def _print_status(docs: list[dict]) -> None:
    for st in docs:
        if st["status"] == "down":
            left = st.get("leftovers")
            out.print(Text(f"lab {st['name']}: down" + (f" (leftovers: {left})" if left else "")))
        else:
            out.print(hosts_table(st))
            out.print(Text(f"inventory: {st['inventory']}/hosts.yml"))
    if not docs:
        out.print("no labs on this machine")


@lab_app.command()
def down(name: str = NameOpt) -> None:
    """Stop every host and remove everything the lab created (also after a crash)."""
    from provdc.lab import runtime

    try:
        runtime.down(check_lab_name(name), log=_log)
        left = runtime.leftovers(name)
    except ProvdcError as exc:
        fail(exc)
    if left:
        err.print(f"[bold red]error:[/] lab '{name}' left {left}")
        raise typer.Exit(1)


@lab_app.command(context_settings={"allow_interspersed_args": False})
def ssh(
    host: str = typer.Argument(..., help="a lab host name (see `provdc lab status`)"),
    command: list[str] = typer.Argument(None, help="after `--`: a command to run instead "
                                        "of a shell"),
    name: str = NameOpt,
) -> None:
    """Open a root shell on a lab host, or run `-- CMD` there."""
    from provdc.lab.runtime import LabDir

    cfg = LabDir(check_lab_name(name)).ssh_config
    if not cfg.is_file():
        fail(ProvdcError(f"lab '{name}' is not up", fix="run `provdc lab up` first"))
    args = ["ssh", "-F", str(cfg)] + (["-t"] if not command and sys.stdin.isatty() else [])
    os.execvp("ssh", args + [host, *(command or [])])


@lab_app.command(name="exec", context_settings={"allow_interspersed_args": False})
def exec_(
    command: list[str] = typer.Argument(..., help="after `--`: the command to run"),
    name: str = NameOpt,
) -> None:
    """Run a command in the lab's core namespace (where every lab address is routed)."""
    check_lab_name(name)
    if not Path(f"/run/netns/{core_netns(name)}").exists():
        fail(ProvdcError(f"lab '{name}' is not up", fix="run `provdc lab up` first"))
    os.execvp("nsenter", ["nsenter", f"--net=/run/netns/{core_netns(name)}", *command])


def register(app: typer.Typer) -> None:
    app.add_typer(lab_app, name="lab")
