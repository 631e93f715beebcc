"""file_line: one line, placed where it takes effect, in a file the role does not own
(`/etc/pam.d/su`).

Foreign drift: none separate: the file is not the role's, so the breaker (deleting the line)
already is drift written outside our files.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import STATE, Breaker, Evidence, Strict, active_lines, norm, snapshot

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("file_line",)


class Params(Strict):
    kind: Literal["file_line"]
    path: str = Field(pattern=r"^/")
    line: str
    regexp: str
    insertafter: str | None = None


PARAMS = (Params,)


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    lines = active_lines(probe.read(p.path))
    hits = [line for line in lines if re.search(p.regexp, line)]
    ok = any(norm(h) == norm(p.line) for h in hits)
    return [Evidence(p.path, STATE, p.line, " | ".join(hits) or "no such line", ok)]


def fix_items(control: Control) -> list[dict]:
    p = control.check
    return [{"id": control.id, "path": p.path, "line": p.line, "regexp": p.regexp,
             "insertafter": p.insertafter or "EOF"}]


def breaker(control: Control, in_container: bool) -> Breaker:
    p = control.check
    save, back = snapshot([p.path])
    return Breaker(control.id, f"sed -i -E {shlex.quote(f'/{p.regexp}/d')} {p.path}", back,
                   save)


def touched(control: Control) -> list[str]:
    return [control.check.path]


def apply(engine, kind: str, sel, osv: dict) -> None:
    # every item in one command, by the host-side code the role's baseline_fix module runs
    ids = " ".join(sel.ids[kind])
    engine.ops.host_fix(name=f"{kind}: lines | {ids}", kind=kind, items=sel.fix[kind])
