"""auditd_rule: audit rules in rules.d (one file per control, loaded in name order), and the
rules the kernel has loaded (`auditctl -l`/`-s`) where there is an audit subsystem.

Effective state: the loaded rules on a real kernel (`auditctl -l`), whoever loaded them;
in a container the rules.d file only (configuration-only: no audit subsystem there).
Foreign drift: none separate: on a real host any foreign `-D` or missing rule shows in
`auditctl -l`; in a container nothing is loaded to override.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import (
    PERSISTED,
    RUNTIME,
    Breaker,
    Evidence,
    Strict,
    active_lines,
    norm,
    snapshot,
)

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("auditd_rule",)


class Params(Strict):
    kind: Literal["auditd_rule"]
    rules: list[str] = Field(min_length=1)
    # how `auditctl -l`/`-s` shows these rules were loaded (runtime check on a real host)
    runtime: list[str] = Field(min_length=1)
    # rules.d files load in name order; `-e 2` must come last
    order: int = Field(default=60, ge=10, le=99)


PARAMS = (Params,)


def rules_file(control: Control) -> str:
    return f"/etc/audit/rules.d/{control.check.order}-provdc-{control.id.lower()}.rules"


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    path = rules_file(control)
    lines = {norm(x) for x in active_lines(probe.read(path))}
    ev = [Evidence(path, PERSISTED, rule, "present" if norm(rule) in lines else "absent",
                   norm(rule) in lines) for rule in p.rules]
    if runtime:
        loaded = probe.out("auditctl -l 2>&1; auditctl -s 2>&1")
        for pattern in p.runtime:
            hit = pattern in loaded
            ev.append(Evidence("auditctl", RUNTIME, pattern, "loaded" if hit else "not loaded",
                               hit))
    return ev


def fix_items(control: Control) -> dict:
    return {"id": control.id, "path": rules_file(control),
            "content": f"## provdc {control.id}\n" + "\n".join(control.check.rules) + "\n"}


def breaker(control: Control, in_container: bool) -> Breaker:
    path = rules_file(control)
    save, back = snapshot([path])
    return Breaker(control.id, f"rm -f {path}", back, save)


def touched(control: Control) -> list[str]:
    return [rules_file(control)]


def apply(engine, kind: str, sel, osv: dict) -> None:
    ops = engine.ops
    made = [ops.managed_file(name=f"{item['id']}: {item['path']}", path=item["path"],
                             content=item["content"], mode="0640")
            for item in engine.host.loop(sel.fix[kind])]
    if not sel.in_container:  # no audit subsystem in a container: configuration-only
        ops.run_when(name="load audit rules", command="augenrules --load",
                     when=ops.changed(made))
