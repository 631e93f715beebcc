"""Judging controls on a host: each control's kind reads the host and returns evidence
(provdc.controls.kinds), this module turns that into a result per control.

Where runtime and persisted state can differ (live sysctl vs /etc/sysctl.d, `sshd -T` vs the
drop-in, a mounted file system vs /etc/fstab, a running vs an enabled unit) both are read and
each piece of evidence says which one it is about.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from provdc.controls import applicability, kinds
from provdc.controls.base import Evidence
from provdc.controls.model import DEFAULT_LEVEL, Control
from provdc.controls.probe import Probe, Recorder


@dataclass
class Result:
    control: str
    status: str  # pass | fail | not_applicable
    mode: str  # enforced | configuration-only
    evidence: list[Evidence] = field(default_factory=list)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def failures(self) -> list[Evidence]:
        return [e for e in self.evidence if not e.ok]

    def summary(self) -> str:
        if self.status == "not_applicable":
            return f"{self.control}: not applicable ({self.reason})"
        bad = self.failures()
        if not bad:
            return f"{self.control}: pass ({self.mode})"
        parts = [f"[{e.state}] {e.item}: expected {e.expected}, actual {e.actual}" for e in bad]
        return f"{self.control}: FAIL ({self.mode}) " + "; ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HostContext:
    """What decides applicability: facts about the host and its inventory variables."""

    in_container: bool
    level: int
    groups: list[str] = field(default_factory=list)
    os_family: str = "Debian"


def commands_for(controls: list[Control], runtime: bool = True) -> list[str]:
    """Every command the checks of these controls will run (they depend on parameters only)."""
    rec = Recorder()
    for c in controls:
        kinds.check(c, rec, runtime)
    return rec.commands


def evaluate_all(controls: list[Control], probe: Probe, ctx: HostContext) -> list[Result]:
    probe.prefetch(commands_for(controls))
    return [evaluate(c, probe, ctx) for c in controls]


# Exit status 0 inside a container, where global kernel settings are read-only.
CONTAINER = "systemd-detect-virt --container --quiet"


def host_context(probe: Probe, variables: dict | None = None) -> HostContext:
    variables = variables or {}
    rc, _ = probe.run(CONTAINER)
    os_release = probe.read("/etc/os-release") or ""
    family = "Debian" if re.search(r"^(ID|ID_LIKE)=.*debian", os_release, re.M) else "other"
    return HostContext(
        in_container=rc == 0,
        level=int(variables.get("provdc_security_level", DEFAULT_LEVEL)),
        groups=list(variables.get("group_names", [])),
        os_family=family,
    )


def not_applicable_reason(control: Control, ctx: HostContext) -> str | None:
    return applicability.not_applicable_reason(control, level=ctx.level, groups=ctx.groups,
                                               os_family=ctx.os_family)


def evaluate(control: Control, probe: Probe, ctx: HostContext) -> Result:
    config_only = control.configuration_only(ctx.in_container)
    mode = "configuration-only" if config_only else "enforced"
    reason = not_applicable_reason(control, ctx)
    if reason:
        return Result(control.id, "not_applicable", mode, reason=reason)
    evidence = kinds.check(control, probe, not config_only)
    status = "pass" if evidence and all(e.ok for e in evidence) else "fail"
    return Result(control.id, status, mode, evidence)
