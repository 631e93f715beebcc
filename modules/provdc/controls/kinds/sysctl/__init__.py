"""sysctl: kernel parameters, persisted in one file and set live where the host can.

Effective state: the live value (`sysctl -n`) and the value systemd-sysctl would apply at
boot, every sysctl.d directory in its order, the last assignment winning.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from provdc.controls.base import (
    PERSISTED,
    RUNTIME,
    Breaker,
    Evidence,
    Scalar,
    Strict,
    norm,
    write_file,
)

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("sysctl",)
FILE = "/etc/sysctl.d/60-provdc-baseline.conf"
TEMPLATE = "sysctl.conf.j2"
# Every sysctl file in the order systemd-sysctl applies it (later assignments win).
CAT = (
    "/lib/systemd/systemd-sysctl --cat-config 2>/dev/null || cat /usr/lib/sysctl.d/*.conf "
    "/etc/sysctl.d/*.conf /etc/sysctl.conf 2>/dev/null"
)
BREAK_FILE = "/etc/sysctl.d/99-provdc-break.conf"  # read after ours: a foreign file
FOREIGN_FILE = "/etc/sysctl.d/99-vendor.conf"


class Params(Strict):
    kind: Literal["sysctl"]
    settings: dict[str, Scalar] = Field(min_length=1)

    @field_validator("settings")
    @classmethod
    def _keys(cls, v: dict[str, Scalar]) -> dict[str, Scalar]:
        for key in v:
            if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_-]+)+", key):
                raise ValueError(f"'{key}' is not a sysctl key such as net.ipv4.ip_forward")
        return v


PARAMS = (Params,)


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    settings = control.check.settings
    persisted = effective(probe.out(CAT))
    ev = []
    if runtime:
        live = _live(probe, list(settings))
    for key, want in settings.items():
        if runtime:
            got = live.get(key, "missing")
            ev.append(Evidence(key, RUNTIME, str(want), got, norm(got) == norm(want)))
        got = persisted.get(key, "not set")
        value = got.split(" (decided by ", 1)[0]
        ev.append(Evidence(key, PERSISTED, str(want), got, norm(value) == norm(want)))
    return ev


def _live(probe: Probe, keys: list[str]) -> dict[str, str]:
    cmd = "; ".join(
        f"printf '%s=' {k}; sysctl -n {k} 2>/dev/null || echo missing" for k in keys
    )
    out = {}
    for line in probe.out(cmd).splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            out[key] = value.strip()
    return out


def effective(text: str) -> dict[str, str]:
    """What systemd-sysctl applies at boot: files in order, the last assignment wins. Each
    value carries the file that set it (`--cat-config` heads each file with `# /path`)."""
    assignments: list[tuple[str, str, str]] = []
    current = ""
    for raw in text.splitlines():
        if raw.startswith("# /"):
            current = raw[2:].strip()
        line = raw.split("#", 1)[0].strip()
        line = line.split(";", 1)[0].strip() if line.startswith(";") else line
        if "=" not in line:
            continue
        key, value = (p.strip() for p in line.split("=", 1))
        assignments.append((key.lstrip("-").replace("/", "."), value, current))

    class Lookup(dict):
        def get(self, key, default=None):
            found = default
            for pattern, value, where in assignments:
                if pattern == key or fnmatch.fnmatchcase(key, pattern):
                    found = value if where in ("", FILE) else f"{value} (decided by {where})"
            return found

    return Lookup()


def fix_items(control: Control) -> list[dict]:
    return [{"id": control.id, "key": k, "value": str(v)}
            for k, v in control.check.settings.items()]


def _flip(value: str) -> str:
    return "0" if value != "0" else "1"


def breaker(control: Control, in_container: bool) -> Breaker:
    """A later sysctl.d file (someone else's) sets the first key otherwise."""
    key, want = next(iter(control.check.settings.items()))
    bad = _flip(str(want))
    runtime = not control.configuration_only(in_container)
    live = f"; sysctl -q -w {key}={bad}" if runtime else ""
    # re-apply the whole baseline file too: the kernel couples some keys (turning ip_forward
    # off sets conf.all.accept_redirects back to 1)
    back = (f"; sysctl -q -w {key}={want}; sysctl -q -p {FILE} 2>/dev/null; true"
            if runtime else "")
    return Breaker(control.id, f"echo '{key} = {bad}' > {BREAK_FILE}{live}",
                   f"rm -f {BREAK_FILE}{back}")


def foreign_breaker(control: Control) -> Breaker | None:
    """A package's sysctl.d file read after ours, on disk only: the next boot would apply
    it (the live value stays right until then)."""
    key, want = next(iter(control.check.settings.items()))
    return write_file(control.id, FOREIGN_FILE, f"{key} = {_flip(str(want))}\n")


def touched(control: Control) -> list[str]:
    return [FILE]


def apply(engine, kind: str, sel, osv: dict) -> None:
    ops = engine.ops
    ops.managed_file(name=f"sysctl: {FILE} | {' '.join(sel.ids[kind])}", path=FILE,
                     content=engine.render(TEMPLATE), mode="0644")
    live = [i for i in sel.fix[kind] if i["enforce"] or not sel.in_container]
    if live:
        ops.sysctl_live(name=f"sysctl: live values | {' '.join(sel.ids[kind])}",
                        settings={i["key"]: i["value"] for i in live})
