"""`provdc backup`: each host's backup from the topology, and the restore drill."""

from __future__ import annotations

from pathlib import Path

import typer

from provdc.console import FORMAT, Format, PlainTable, emit, fail, out
from provdc.errors import ProvdcError

group = typer.Typer(help="Backups of the data centre's hosts: what, where, and restore drills.",
                    no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="backup")


@group.command()
def specs(
    inventory: Path = typer.Option(..., "-i", "--inventory", help="Ansible inventory"),
    format: Format = FORMAT,
) -> None:
    """Each backed-up host: what, how often, how long, and its repository."""
    from provdc.backup import specs as backup_specs

    try:
        found = backup_specs.read(inventory)
    except ProvdcError as exc:
        fail(exc)

    def show() -> None:
        table = PlainTable(title="Backups", title_justify="left")
        for col in ("host", "service", "paths", "databases", "schedule", "keep (days)",
                    "destinations", "repository"):
            table.add_column(col)
        for host, s in found["hosts"].items():
            table.add_row(host, s["service"], " ".join(s["paths"]), " ".join(s["databases"]),
                          s["schedule"], str(s["retention_days"]), ", ".join(s["destinations"]),
                          s["repository"])
        out.print(table)

    emit(format, found, show)


@group.command()
def drill(
    host: str = typer.Argument(..., help="the backed-up host whose latest backup is restored"),
    inventory: Path = typer.Option(..., "-i", "--inventory", help="Ansible inventory"),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="the repository password (default: the environment "
        "variable PROVDC_BACKUP_PASSWORD)"),
    format: Format = FORMAT,
) -> None:
    """Back HOST up now, restore it into a scratch directory on the repository host, compare
    checksums and database row counts, and report the recovery time (exit 1 on a mismatch)."""
    from provdc.backup import drill as restore_drill

    try:
        result = restore_drill.run(inventory, host, restore_drill.password(password_file))
    except ProvdcError as exc:
        fail(exc)
    doc = result.document()

    def show() -> None:
        out.print(f"drill {'passed' if result.passed else 'FAILED'}: {host}, snapshot "
                  f"{result.snapshot} ({result.snapshot_time}) restored on "
                  f"{result.repository_host}")
        out.print(f"recovery time {result.recovery_seconds:.1f} s (backup "
                  f"{result.backup_seconds:.1f} s); files {result.files_matched}/"
                  f"{result.files_checked} identical, {len(result.changed_since_snapshot)} "
                  f"changed since the snapshot, {len(result.mismatched)} different, "
                  f"{len(result.missing)} missing")
        for db, d in result.databases.items():
            out.print(f"database {db}: {d['tables']} tables, {d['rows']} rows, "
                      f"{len(d['mismatched'])} tables with other counts")

    emit(format, doc, show)
    if not result.passed:
        raise typer.Exit(1)
