"""key_value: `KEY<sep>VALUE` lines in a flat configuration file (login.defs, pwquality.conf,
faillock.conf, auditd.conf, /etc/default/useradd). These programs read one file, so the file
is the effective state; every line setting a key must carry the wanted value.

Effective state for login.defs' UMASK (`effective: shell_umask`): a profile script's `umask`
line overrides it for every login shell, so a looser one fails the control, naming it.

Foreign drift: with no include path, the only way to override a key is a second line in the
same file, which is what the breaker appends; for UMASK, the catalogue's `foreign` profile
script setting `umask 022`, which the fix disables.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import (
    STATE,
    Breaker,
    Evidence,
    Override,
    Scalar,
    Strict,
    active_lines,
    grep_hits,
    norm,
    overridable,
    snapshot,
    write_file,
)

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("key_value",)


class Params(Strict):
    kind: Literal["key_value"]
    path: str = Field(pattern=r"^/")
    separator: Literal[" ", " = ", "="]
    # None = a bare flag such as pwquality's `enforce_for_root`
    settings: dict[str, Scalar | None] = Field(min_length=1)
    bad: dict[str, Scalar] = Field(default_factory=dict)
    create: bool = False
    # login.defs' UMASK is what PAM gives a session; a profile script's `umask` then
    # overrides it for every login shell: "shell_umask" also judges those lines
    effective: Literal["shell_umask", "none"] = "none"
    # what the foreign breaker writes (a file read where it overrides this key)
    foreign: dict[str, str] | None = None


PARAMS = (Params,)
# Every active `umask` line a login shell runs, with file and line.
SHELL_UMASK = ("grep -HnE '^[[:space:]]*umask[[:space:]]+[0-7]+' /etc/profile /etc/profile.d/*.sh "
               "/etc/bash.bashrc /root/.profile /root/.bash_profile /root/.bash_login "
               "/root/.bashrc 2>/dev/null")


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    text = probe.read(p.path)
    if text is None:
        return [Evidence(p.path, STATE, "file present", "missing", False)]
    lines = active_lines(text)
    ev = []
    for key, want in p.settings.items():
        if want is None:
            found = any(line == key for line in lines)
            ev.append(Evidence(key, STATE, "flag set", "set" if found else "absent", found))
            continue
        values = [v for k, v in (_split(line, p.separator) for line in lines) if k == key]
        got = ", ".join(values) if values else "not set"
        ok = bool(values) and all(norm(v) == norm(want) for v in values)
        ev.append(Evidence(key, STATE, str(want), got, ok))
        if key == "UMASK" and p.effective == "shell_umask":
            ev += _shell_umask(str(want), probe)
    return ev


def _shell_umask(want: str, probe: Probe) -> list[Evidence]:
    """Each profile script line setting a umask looser than `want` (a bit of `want` it
    clears) overrides login.defs for every login shell: one finding per such line."""
    out = []
    for path, n, text in grep_hits(probe.out(SHELL_UMASK)):
        value = text.split()[1]
        if int(want, 8) & ~int(value, 8):
            pattern = rf"^[ \t]*umask[ \t]+{value}\b.*$"
            override = Override(path, pattern) if overridable(path) else None
            out.append(Evidence("login shell umask", STATE, f"{want} or stricter",
                                f"{value} (decided by {path}:{n})", False, override))
    return out


def _split(line: str, separator: str) -> tuple[str, str]:
    if separator.strip() == "=":
        key, _, value = line.partition("=")
    else:
        parts = line.split(None, 1)
        key, value = parts[0], parts[1] if len(parts) > 1 else ""
    return key.strip(), value.strip().strip('"')


def _regexp(key: str, separator: str) -> str:
    """The line that sets KEY, commented out or not."""
    sep = r"\s*=" if separator.strip() == "=" else r"(\s|$)"
    return rf"^\s*#?\s*{re.escape(key)}{sep}"


def fix_items(control: Control) -> list[dict]:
    p = control.check
    return [{"id": control.id, "path": p.path, "create": p.create,
             "regexp": _regexp(k, p.separator),
             "line": k if v is None else f"{k}{p.separator}{v}"}
            for k, v in p.settings.items()]


def foreign_breaker(control: Control) -> Breaker | None:
    f = control.check.foreign
    return write_file(control.id, f["path"], f["content"]) if f else None


def breaker(control: Control, in_container: bool) -> Breaker:
    """A second line for a key, appended after ours, with a weaker value."""
    p = control.check
    key = next(k for k in p.settings if k in p.bad)
    save, back = snapshot([p.path])
    line = f"{key}{p.separator}{p.bad[key]}"
    return Breaker(control.id, f"echo {shlex.quote(line)} >> {p.path}", back, save)


def touched(control: Control) -> list[str]:
    return [control.check.path]


def apply(engine, kind: str, sel, osv: dict) -> None:
    # every item in one command, by the host-side code the role's baseline_fix module runs
    ids = " ".join(sel.ids[kind])
    engine.ops.host_fix(name=f"{kind}: KEY VALUE lines | {ids}", kind=kind, items=sel.fix[kind])
