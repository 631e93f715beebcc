"""find_none: no file matches a `find` expression (world-writable, unowned, loose key
modes); the fix runs the control's command on what matches.

Foreign drift: none separate: the check searches the file systems, so a file written by
anyone is seen (the breaker creates one).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import STATE, Breaker, Evidence, Strict

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("find_none",)


class Params(Strict):
    """No file matches a `find` expression (world-writable, unowned, loose key modes)."""

    kind: Literal["find_none"]
    paths: list[str] = Field(min_length=1)
    expression: list[str] = Field(min_length=1, description="find(1) tests, one token each")
    fix: list[str] = Field(min_length=1, description="argv run on matches: find ... -exec FIX {} +")
    xdev: bool = True
    # what a breaker creates: a shell snippet producing one matching file
    breaker: str


PARAMS = (Params,)


def find_argv(params: Params, fix: bool = False) -> list[str]:
    argv = ["find", *params.paths]
    if params.xdev:
        argv.append("-xdev")
    argv += params.expression
    argv += ["-exec", *params.fix, "{}", "+"] if fix else ["-print"]
    return argv


def find_command(params: Params, fix: bool = False) -> str:
    return shlex.join(find_argv(params, fix))


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    found = probe.out(find_command(control.check) + " 2>/dev/null | head -n 20").split()
    return [Evidence(" ".join(control.check.expression), STATE, "no match",
                     ", ".join(found) or "no match", not found)]


def fix_items(control: Control) -> dict:
    p = control.check
    return {"id": control.id, "probe": find_argv(p), "fix": find_argv(p, fix=True)}


def breaker(control: Control, in_container: bool) -> Breaker:
    # the control's own fix puts things right again
    p = control.check
    return Breaker(control.id, p.breaker, find_command(p, fix=True) + " 2>/dev/null; true")


def touched(control: Control) -> list[str]:
    return []


def state(control: Control) -> list[str]:
    return [find_command(control.check)]


def apply(engine, kind: str, sel, osv: dict) -> None:
    # every item in one command, by the host-side code the role's baseline_fix module runs
    ids = " ".join(sel.ids[kind])
    engine.ops.host_fix(name=f"{kind}: fix offending files | {ids}", kind=kind, items=sel.fix[kind])
