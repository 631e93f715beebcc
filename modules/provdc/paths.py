"""Where provdc writes: a directory the user names must be one, or be creatable."""

from __future__ import annotations

from pathlib import Path

from provdc.errors import ProvdcError


def output_dir(path: str | Path, field: str) -> Path:
    """Check, before any work starts, that `path` is (or can become) a directory; nothing
    is created here."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ProvdcError(f"{p} exists and is not a directory", str(p), field=field,
                          fix="name a directory (it is created when missing)")
    parent = next((a for a in [p, *p.parents] if a.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ProvdcError(f"{parent} is not a directory", str(p), field=field,
                          fix="name a directory under an existing directory")
    return p
