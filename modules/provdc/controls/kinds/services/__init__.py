"""service_enabled / service_disabled: systemd units, enabled at boot and running (or not).

Effective state: systemd's own answer (`systemctl is-enabled`, `is-active`), which follows
every alias, wants/ symlink and mask, whoever made them. Foreign drift: none separate: the
breaker's `systemctl disable` is such drift.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import PERSISTED, RUNTIME, Breaker, Evidence, Strict

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("service_enabled", "service_disabled")


class Params(Strict):
    kind: Literal["service_enabled", "service_disabled"]
    services: list[str] = Field(min_length=1)
    masked: bool = False


PARAMS = (Params,)


def _states(probe: Probe, units: list[str]) -> dict[str, tuple[str, str]]:
    cmd = "; ".join(
        f"printf '%s|%s|%s\\n' {u} \"$(systemctl is-enabled {u} 2>/dev/null)\" "
        f"\"$(systemctl is-active {u} 2>/dev/null)\"" for u in units
    )
    out = {}
    for line in probe.out(cmd).splitlines():
        if line.count("|") == 2:
            unit, enabled, active = line.split("|")
            out[unit] = (enabled or "not-found", active or "unknown")
    return out


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    states = _states(probe, control.check.services)
    if control.kind == "service_enabled":
        return _enabled(states, runtime)
    return _disabled(states, control.check.masked)


def _enabled(states: dict[str, tuple[str, str]], runtime: bool) -> list[Evidence]:
    ev = []
    for unit, (enabled, active) in states.items():
        ev.append(Evidence(unit, PERSISTED, "enabled", enabled, enabled == "enabled"))
        if runtime:
            ev.append(Evidence(unit, RUNTIME, "active", active, active == "active"))
    return ev


def _disabled(states: dict[str, tuple[str, str]], masked: bool) -> list[Evidence]:
    ev = []
    for unit, (enabled, active) in states.items():
        if enabled == "not-found":
            ev.append(Evidence(unit, PERSISTED, "absent, disabled or masked", "not installed",
                               True))
            continue
        want = "masked" if masked else "disabled or masked"
        ok = enabled == "masked" if masked else enabled in ("disabled", "masked", "static")
        ev.append(Evidence(unit, PERSISTED, want, enabled, ok))
        ev.append(Evidence(unit, RUNTIME, "inactive", active, active != "active"))
    return ev


def fix_items(control: Control) -> list[dict]:
    return [{"id": control.id, "unit": u, "masked": control.check.masked}
            for u in control.check.services]


def breaker(control: Control, in_container: bool) -> Breaker:
    p, cid = control.check, control.id
    unit = p.services[0]
    if control.kind == "service_enabled":
        # stop and start it too where the check wants it running: systemd 252 can lose the
        # state of a running unit whose Alias= symlink goes and comes back (rsyslog's
        # syslog.service; it failed five lab tests once), leaving it "inactive" with its
        # daemon still there
        now = " --now" if not control.configuration_only(in_container) else ""
        return Breaker(cid, f"systemctl disable -q{now} {unit}", f"systemctl enable -q{now} {unit}")
    if p.masked:
        return Breaker(cid, f"systemctl unmask -q {unit}", f"systemctl mask -q {unit}")
    return Breaker(cid, f"systemctl enable -q {unit}", f"systemctl disable -q {unit}")


def touched(control: Control) -> list[str]:
    return []


def state(control: Control) -> list[str]:
    return [f"systemctl is-enabled {shlex.quote(u)}" for u in control.check.services]


def apply(engine, kind: str, sel, osv: dict) -> None:
    # every item in one command, by the host-side code the role's baseline_fix module runs
    ids = " ".join(sel.ids[kind])
    engine.ops.host_fix(name=f"{kind}: units | {ids}", kind="services", items=sel.fix[kind],
                        in_container=sel.in_container)
