"""mount_option: nodev/nosuid/noexec on a file system, live (`findmnt`) and at boot
(/etc/fstab)."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import PERSISTED, RUNTIME, Breaker, Evidence, Strict, active_lines

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


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    want = ",".join(p.options)
    rc, live = probe.run(_findmnt(p.target))
    live_opts = set(live.strip().split(",")) if rc == 0 and live.strip() else set()
    ev = [Evidence(p.target, RUNTIME, want, live.strip() or "not a mount point",
                   bool(live_opts) and set(p.options) <= live_opts)]
    fstab = [line.split() for line in active_lines(probe.read(FSTAB))]
    entry = next((f for f in fstab if len(f) >= 4 and f[1] == p.target), None)
    opts = set(entry[3].split(",")) if entry else set()
    ev.append(Evidence(p.target, PERSISTED, want, entry[3] if entry else "no /etc/fstab entry",
                       bool(entry) and set(p.options) <= opts))
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
    ops, items = engine.ops, sel.fix[kind]
    for item in engine.host.loop(items):
        ops.line_in_file(name=f"{item['id']}: {FSTAB} {item['target']}", path=FSTAB,
                         line=item["fstab_line"], regexp=item["fstab_regexp"])
    for item in engine.host.loop(items):
        ops.remount(name=f"{item['id']}: remount {item['target']}", target=item["target"],
                    options=item["options"], remount_options=item["remount"])
