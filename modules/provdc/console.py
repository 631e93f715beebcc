"""The terminal, for every command: output and error consoles, and the one way to fail.

User text (names, paths, values from files) is printed as text, never as rich markup, and
control characters are shown escaped: a file can neither break the output (`[/x]` would be
a markup error) nor reach the terminal with an escape sequence.
"""

from __future__ import annotations

import sys
from typing import NoReturn

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
