"""The terminal, for every command: output and error consoles, the one way to fail, the
one way to print a result (`--format table|json`) and progress on long work.

User text (names, paths, values from files) is printed as text, never as rich markup, and
control characters are shown escaped: a file can neither break the output (`[/x]` would be
a markup error) nor reach the terminal with an escape sequence.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from provdc.errors import EXIT_INVALID, ProvdcError

# Wide tables when piped (rich assumes 80 columns without a terminal).
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def plain(text: object) -> str:
    """Text safe to embed in rich markup: markup escaped, control characters (but newlines)
    shown as Python escapes."""
    return escape(escape_controls(text))


class PlainTable(Table):
    """A rich table whose title and string cells are text, not markup: names come from
    files (`Sóc Trăng [/x]` would otherwise be a markup error). Pass a rich Text for a
    styled cell."""

    def __init__(self, *headers, title: str | None = None, **kwargs):
        super().__init__(*headers, title=Text(escape_controls(title)) if title else None, **kwargs)

    def add_row(self, *cells, **kwargs) -> None:
        super().add_row(*(Text(escape_controls(c)) if isinstance(c, str) else c for c in cells),
                        **kwargs)


def escape_controls(text: object) -> str:
    """Control characters (but newlines) shown as Python escapes (for printing; the host
    contract's `plain_text` refuses them instead)."""
    return "".join(c if c == "\n" or c.isprintable() else repr(c)[1:-1] for c in str(text))


def print_error(exc: ProvdcError) -> None:
    """Print a user error as one paragraph."""
    err.print(f"[bold red]error:[/] {plain(exc)}", highlight=False, soft_wrap=True)


def fail(exc: ProvdcError) -> NoReturn:
    """Print a user error as one paragraph (no traceback) and exit 2."""
    print_error(exc)
    raise typer.Exit(EXIT_INVALID)


class Format(StrEnum):
    """How a command prints its result: tables for people, JSON for programs."""

    table = "table"
    json = "json"


# Every command that prints a result declares `format: Format = FORMAT`; a value outside
# the choices is a usage error (one paragraph, exit 2) before the command runs.
FORMAT = typer.Option(Format.table, "--format", "-f",
                      help="table (for people) or json (one document on stdout, for programs)")


def write_json(data: Any) -> None:
    """One JSON document on stdout: no markup, no wrapping, names with their diacritics."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def emit(format: Format, data: Any, show: Callable[[], None]) -> None:
    """Print a command's result: `data` as JSON (a function is called for it, when building
    it costs), or what `show` prints for people."""
    if format is Format.json:
        write_json(data() if callable(data) else data)
    else:
        show()


def print_all(renderables) -> None:
    """Print tables (or any rich renderables) one after the other on stdout."""
    for item in renderables:
        out.print(item)


@contextmanager
def progress(what: str, total: int) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr while long work runs; yields `done(n)` (or `done(n, total)`
    when the total is learnt on the way). It is drawn only on a terminal (logs and pipes stay
    clean) and removed when the work ends."""
    from rich.progress import (  # only long commands draw one: not imported at start-up
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task(what, total=total or None)

        def done(n: int, of: int | None = None) -> None:
            bar.update(task, completed=n, **({"total": of} if of else {}))

        yield done
