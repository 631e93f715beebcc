"""mount_option: nodev/nosuid/noexec on a file system, live (`findmnt`) and at boot.

Effective state at boot: systemd mounts the file system from its mount unit, and a unit file
in /etc/systemd/system or /run/systemd/system takes precedence over the one its fstab
generator writes, while a drop-in (`<unit>.d/*.conf`) changes `Options=` of whichever unit
wins. So the boot options are /etc/fstab's entry unless such a unit overrides it, then any
drop-in's, in systemd's order; the evidence names the file that decides.

Foreign drift: a drop-in someone added to the mount unit that drops our options at the next
boot, /etc/fstab untouched.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import (
    PERSISTED,
    RUNTIME,
    Breaker,
    Evidence,
    Override,
    Strict,
    active_lines,
    overridable,
)

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("mount_option",)
FSTAB = "/etc/fstab"


class Params(Strict):
    kind: Literal["mount_option"]
    target: str = Field(pattern=r"^/")
    options: list[Literal["nodev", "nosuid", "noexec"]] = Field(min_length=1)
    fstype: str = "tmpfs"
    source: str = "tmpfs"
    base_options: list[str] = Field(default_factory=lambda: ["defaults"])


PARAMS = (Params,)


def _findmnt(target: str) -> str:
    return f"findmnt -n -o OPTIONS -M {shlex.quote(target)}"


def _units(target: str) -> str:
    """Options= lines of the unit files that override fstab for this mount point and of
    every drop-in, as `@@unit PATH` / `@@dropin PATH` sections."""
    t = shlex.quote(target)
    options = "grep -E '^[[:space:]]*Options[[:space:]]*=' \"$f\""
    return (f"u=$(systemd-escape -p --suffix=mount {t}); "
            "for f in /etc/systemd/system/$u /run/systemd/system/$u; do [ -f \"$f\" ] && "
            f"printf '@@unit %s\\n' \"$f\" && {options}; "
            "done; for f in $(ls -d /etc/systemd/system/$u.d/*.conf "
            "/run/systemd/system/$u.d/*.conf /usr/lib/systemd/system/$u.d/*.conf 2>/dev/null | "
            "awk -F/ '{print $NF\" \"$0}' | "
            "LC_ALL=C sort | cut -d' ' -f2); do printf '@@dropin %s\\n' \"$f\"; "
            f"{options}; done; true")


def boot_options(fstab_text: str | None, units_text: str, target: str) -> tuple[str, str]:
    """(options systemd will mount with at boot, the file that decides)."""
    fstab = [line.split() for line in active_lines(fstab_text)]
    entry = next((f for f in fstab if len(f) >= 4 and f[1] == target), None)
    options, where = (entry[3], FSTAB) if entry else ("", "no /etc/fstab entry")
    current = ""
    for line in units_text.splitlines():
        if line.startswith(("@@unit ", "@@dropin ")):
            current = line.split(" ", 1)[1]
            if line.startswith("@@unit "):  # a unit of its own: fstab's entry no longer counts
                options, where = "", current
        elif "=" in line:
            options, where = line.split("=", 1)[1].strip(), current
    return options, where


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    want = ",".join(p.options)
    rc, live = probe.run(_findmnt(p.target))
    live_opts = set(live.strip().split(",")) if rc == 0 and live.strip() else set()
    ev = [Evidence(p.target, RUNTIME, want, live.strip() or "not a mount point",
                   bool(live_opts) and set(p.options) <= live_opts)]
    options, where = boot_options(probe.read(FSTAB), probe.out(_units(p.target)), p.target)
    ok = bool(options) and set(p.options) <= set(options.split(","))
    override = None
    if where in (FSTAB, "no /etc/fstab entry"):
        got = options or where
    else:
        got = f"{options or 'no Options='} (decided by {where})"
        if not ok and where.endswith(".conf") and overridable(where):  # a drop-in's Options=
            override = Override(where, r"^[ \t]*Options[ \t]*=.*$", "systemctl daemon-reload")
    ev.append(Evidence(p.target, PERSISTED, want, got, ok, override))
    return ev


def fix_items(control: Control) -> dict:
    p = control.check
    opts = ",".join([*p.base_options, *p.options])
    return {
        "id": control.id, "target": p.target, "options": list(p.options),
        "fstab_line": f"{p.source} {p.target} {p.fstype} {opts} 0 0",
        "fstab_regexp": rf"^\S+\s+{re.escape(p.target)}\s",
        "remount": "remount," + ",".join(p.options),
    }


def foreign_breaker(control: Control) -> Breaker | None:
    """A drop-in someone added to the mount unit that mounts it without our options at the
    next boot (fstab untouched)."""
    p = control.check
    unit = p.target.strip("/").replace("/", "-") + ".mount"  # systemd-escape -p, plain paths
    d = f"/etc/systemd/system/{unit}.d"
    text = f"[Mount]\nOptions={','.join(p.base_options)}\n"
    write = f"mkdir -p {d} && printf %s {shlex.quote(text)} > {d}/50-vendor.conf"
    return Breaker(control.id, write, f"rm -rf {d}", names=f"{d}/50-vendor.conf")


def breaker(control: Control, in_container: bool) -> Breaker:
    p = control.check
    opt = p.options[-1]
    undo = opt[2:]  # noexec -> exec
    return Breaker(control.id, f"mount -o remount,{undo} {p.target}",
                   f"mount -o remount,{opt} {p.target}")


def touched(control: Control) -> list[str]:
    return [FSTAB]


def state(control: Control) -> list[str]:
    return [_findmnt(control.check.target)]


def apply(engine, kind: str, sel, osv: dict) -> None:
    # every item in one command, by the host-side code the role's baseline_fix module runs
    ids = " ".join(sel.ids[kind])
    engine.ops.host_fix(name=f"{kind}: fstab and remount | {ids}", kind=kind, items=sel.fix[kind])
