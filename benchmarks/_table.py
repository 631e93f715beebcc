"""Write a benchmark's results table into its section of benchmarks/README.md."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(section: str, title: str, body: str) -> None:
    """Replace the text between <!-- section: X --> and <!-- end: X -->."""
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(
        rf"(<!-- section: {re.escape(section)} -->\n).*?(<!-- end: {re.escape(section)} -->)",
        re.S,
    )
    if not pattern.search(text):
        raise SystemExit(f"benchmarks/README.md has no section '{section}'")
    text = pattern.sub(lambda m: f"{m.group(1)}## {title}\n{body.rstrip()}\n{m.group(2)}", text)
    README.write_text(text, encoding="utf-8")
