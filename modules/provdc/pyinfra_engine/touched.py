"""Fingerprints of what each control touches on a host (its kind says what: the files its fix
writes and the state its fix changes, such as unit enablement, packages, mounts). The parity
test fingerprints these on two hosts converged by different engines and compares them."""

from __future__ import annotations

import shlex

from provdc.controls import kinds
from provdc.controls.model import Control


def fingerprint_script(controls: list[Control]) -> str:
    """A shell script printing `CONTROL<TAB>ITEM<TAB>FINGERPRINT` lines for these controls."""
    lines = []
    for c in controls:
        for path in kinds.touched(c):
            q = shlex.quote(path)
            lines.append(
                f"printf '%s\\t%s\\t%s\\n' {c.id} {q} \"$(if [ -e {q} ]; then "
                f"stat -c '%a %U %G' {q}; [ -f {q} ] && sha256sum < {q} | cut -c1-16; "
                f"else echo absent; fi | tr '\\n' ' ')\"")
        for cmd in kinds.state(c):  # the non-file state the fix changes
            lines.append(f"printf '%s\\t%s\\t%s\\n' {c.id} {shlex.quote(cmd)} "
                         f"\"$( ( {cmd} ) 2>&1 | sha256sum | cut -c1-16)\"")
    return "\n".join(lines) + "\n"


def parse_fingerprints(text: str) -> dict[tuple[str, str], str]:
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            out[(parts[0], parts[1])] = parts[2].strip()
    return out
