"""file_mode: the most permissive mode and the owner a file may have.

Effective state: `stat` of the file itself. Foreign drift: none separate: a mode belongs to
the file, whoever changed it (the breaker's `chmod g+w` is such drift).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import STATE, Breaker, Evidence, Strict, snapshot

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("file_mode",)


class Params(Strict):
    kind: Literal["file_mode"]
    paths: list[str] = Field(min_length=1)
    mode: str = Field(pattern=r"^0[0-7]{3}$", description="the most permissive mode allowed")
    owner: str = "root"
    group: str = "root"
    missing_ok: bool = False


PARAMS = (Params,)


def stat(probe: Probe, paths: list[str]) -> dict[str, tuple[str, str, str] | None]:
    """path -> (octal mode, owner, group), None where it does not exist."""
    cmd = "; ".join(
        f"stat -c '%n|%a|%U|%G' {shlex.quote(p)} 2>/dev/null || echo '{p}|missing'" for p in paths
    )
    out: dict[str, tuple[str, str, str] | None] = {}
    for line in probe.out(cmd).splitlines():
        parts = line.split("|")
        if len(parts) == 2 and parts[1] == "missing":
            out[parts[0]] = None
        elif len(parts) == 4:
            out[parts[0]] = (parts[1], parts[2], parts[3])
    return out


def mode_evidence(path: str, st, mode: str, owner: str, group: str,
                  missing_ok: bool) -> Evidence:
    expected = f"mode <= {mode}, {owner}:{group}"
    if st is None:
        return Evidence(path, STATE, expected, "missing", missing_ok)
    got_mode, got_owner, got_group = st
    ok = (int(got_mode, 8) & ~int(mode, 8)) == 0 and (got_owner, got_group) == (owner, group)
    return Evidence(path, STATE, expected, f"mode {int(got_mode, 8):04o}, {got_owner}:{got_group}",
                    ok)


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    stats = stat(probe, p.paths)
    return [mode_evidence(x, stats.get(x), p.mode, p.owner, p.group, p.missing_ok)
            for x in p.paths]


def fix_items(control: Control) -> list[dict]:
    p = control.check
    return [{"id": control.id, "path": x, "mode": p.mode, "owner": p.owner, "group": p.group,
             "missing_ok": p.missing_ok} for x in p.paths]


def breaker(control: Control, in_container: bool) -> Breaker:
    p = control.check
    path = p.paths[0]
    save, back = snapshot([path])
    make = f"mkdir -p $(dirname {path}) && install -m {p.mode} /dev/null {path}"
    return Breaker(control.id, f"[ -e {path} ] || {{ {make}; }}; chmod g+w {path}", back, save)


def touched(control: Control) -> list[str]:
    return list(control.check.paths)


def apply(engine, kind: str, sel, osv: dict) -> None:
    # every item in one command, by the host-side code the role's baseline_fix module runs
    ids = " ".join(sel.ids[kind])
    engine.ops.host_fix(name=f"{kind}: mode and owner | {ids}", kind=kind, items=sel.fix[kind])
