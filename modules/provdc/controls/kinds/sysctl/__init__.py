"""sysctl: kernel parameters, persisted in one file and set live where the host can.

Effective state: the live value (`sysctl -n`) and the value systemd-sysctl would apply at
boot, every sysctl.d directory in its order, the last assignment winning, and the file that
set it.

Foreign drift: a package's sysctl.d file read after ours (persisted only: the next boot would
apply it). The fix disables such a line when it is under /etc.
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
    Override,
    Scalar,
    Strict,
    norm,
    overridable,
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
    found = assignments(probe.out(CAT))
    ev = []
    if runtime:
        live = _live(probe, list(settings))
    for key, want in settings.items():
        if runtime:
            got = live.get(key, "missing")
            ev.append(Evidence(key, RUNTIME, str(want), got, norm(got) == norm(want)))
        ev.append(_persisted(key, str(want), found))
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


def assignments(text: str) -> list[tuple[str, str, str, str]]:
    """(key pattern, value, file, the key as written) of every assignment, in the order
    systemd-sysctl applies them (`--cat-config` heads each file with `# /path`)."""
    out: list[tuple[str, str, str, str]] = []
    current = ""
    for raw in text.splitlines():
        if raw.startswith("# /"):
            current = raw[2:].strip()
        line = raw.split("#", 1)[0].strip()
        line = line.split(";", 1)[0].strip() if line.startswith(";") else line
        if "=" not in line:
            continue
        written, value = (p.strip() for p in line.split("=", 1))
        out.append((written.lstrip("-").replace("/", "."), value, current, written))
    return out


def deciding(found: list[tuple[str, str, str, str]], key: str):
    """The assignment that decides a key (the last one matching it), or None."""
    hits = [a for a in found if a[0] == key or fnmatch.fnmatchcase(key, a[0])]
    return hits[-1] if hits else None


def effective(text: str) -> dict[str, str]:
    """What systemd-sysctl applies at boot, the last assignment winning; a value set by a
    file other than ours says which one."""
    found = assignments(text)

    class Lookup(dict):
        def get(self, key, default=None):
            hit = deciding(found, key)
            if hit is None:
                return default
            _pattern, value, where, _written = hit
            return value if where in ("", FILE) else f"{value} (decided by {where})"

    return Lookup()


def _persisted(key: str, want: str, found) -> Evidence:
    hit = deciding(found, key)
    if hit is None:
        return Evidence(key, PERSISTED, want, "not set", False)
    _pattern, value, where, written = hit
    ok = norm(value) == norm(want)
    got = value if where in ("", FILE) else f"{value} (decided by {where})"
    override = None
    if not ok and where != FILE and overridable(where):
        override = Override(where, rf"^[ \t]*{re.escape(written)}[ \t]*=.*$")
    return Evidence(key, PERSISTED, want, got, ok, override)


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
    # the live values, by the host-side code the role's baseline_fix module runs
    ops.host_fix(name=f"sysctl: live values | {' '.join(sel.ids[kind])}", kind="sysctl",
                 items=sel.fix[kind], in_container=sel.in_container)
