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

from provdc.errors import EXIT_INVALID, ProvdcError

# Wide tables when piped (rich assumes 80 columns without a terminal).
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def plain(text: object) -> str:
    """Text safe to embed in rich markup: markup escaped, control characters (but newlines)
    shown as Python escapes."""
    shown = "".join(c if c == "\n" or c.isprintable() else repr(c)[1:-1] for c in str(text))
    return escape(shown)


def print_error(exc: ProvdcError) -> None:
    """Print a user error as one paragraph."""
    err.print(f"[bold red]error:[/] {plain(exc)}", highlight=False, soft_wrap=True)


def fail(exc: ProvdcError) -> NoReturn:
    """Print a user error as one paragraph (no traceback) and exit 2."""
    print_error(exc)
    raise typer.Exit(EXIT_INVALID)
