"""file_content: a whole file with the catalogue's content (a drop-in, a profile script, a
banner, a sudoers file).

Effective state: where the consuming program reads the file among others (its include
order), `effective` names how it does, and the check also judges what the program ends up
with, whoever wrote it: sudo's Defaults (sudoers then sudoers.d in sudo's order), a systemd
component's configuration (journald's, systemd-coredump's: `systemd-analyze cat-config`),
apt's (`apt-config dump`), pam_limits' limits (limits.conf then limits.d), or the variables a
root login shell has after every profile script. The file and line that decide are named.

Foreign drift: the catalogue's `foreign` file (a later sudoers, systemd or apt file, a
profile script read before ours, a later limits.d file); a plain file such as a banner has
none (it is read alone).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from provdc.controls.base import (
    STATE,
    Breaker,
    Evidence,
    Override,
    Strict,
    assignments,
    first_difference,
    grep_hits,
    norm,
    overridable,
    snapshot,
    write_file,
)
from provdc.controls.kinds.file_mode import mode_evidence, stat

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("file_content",)
# The services a file's change restarts (the role's handlers of the same names).
RESTART = {"journald": "systemd-journald.service", "chrony": "chrony.service"}

# Every Defaults line sudo reads, in its order: /etc/sudoers, then the files of
# /etc/sudoers.d in lexical order, skipping names that end in '~' or contain a '.' (as
# sudo's @includedir does). A later Defaults wins.
SUDOERS_DEFAULTS = r"""for f in /etc/sudoers $(ls /etc/sudoers.d 2>/dev/null | LC_ALL=C sort |
    grep -v -e '~$' -e '[.]' | sed 's|^|/etc/sudoers.d/|'); do
  [ -f "$f" ] && grep -HnE '^[[:space:]]*Defaults' "$f"
done 2>/dev/null"""
# A systemd component's configuration as it reads it: NAME.conf then its drop-ins from /etc,
# /run and /usr/lib in systemd's order, each file under a "# /path" header (later assignments
# win). The component is named by our drop-in's directory, /etc/systemd/NAME.conf.d/.
SYSTEMD_DROPIN = re.compile(r"^/etc/systemd/(?P<name>[a-z]+)\.conf\.d/[^/\s]+\.conf$")
# What makes a changed setting take effect, per component (systemd-coredump reads its
# configuration at each crash: nothing to restart).
SYSTEMD_THEN = {"journald": "systemctl restart systemd-journald.service", "coredump": ""}


def systemd_cat(name: str) -> str:
    return f"systemd-analyze cat-config systemd/{name}.conf 2>&1"

# apt's merged configuration, and every file of apt.conf.d that assigns something, in apt's
# (lexical) order with line numbers, to name the file that decided.
APT_DUMP = "apt-config dump 2>&1"
APT_FILES = ("for f in /etc/apt/apt.conf $(ls /etc/apt/apt.conf.d 2>/dev/null | LC_ALL=C sort "
             "| sed 's|^|/etc/apt/apt.conf.d/|'); do [ -f \"$f\" ] && grep -Hn '\"' \"$f\"; "
             "done 2>/dev/null")
# Every limit line pam_limits reads, in its order: limits.conf, then limits.d/*.conf in the
# C locale's order, with file and line.
LIMITS_FILES = ("for f in /etc/security/limits.conf $(ls /etc/security/limits.d 2>/dev/null | "
                "LC_ALL=C sort | grep '[.]conf$' | sed 's|^|/etc/security/limits.d/|'); do "
                "[ -f \"$f\" ] && grep -HnE '^[[:space:]]*[^#[:space:]]' \"$f\"; done 2>/dev/null")
# What a root login shell ends up with after /etc/profile and every profile.d script.
LOGIN_SHELL_VARS = ("env -i HOME=/root TERM=dumb bash -l -c 'for v in TMOUT; do "
                    "eval \"echo $v=\\${$v-unset}\"; done' </dev/null 2>/dev/null")
# Where a login shell's scripts mention those variables, with line numbers (to name who set
# a wrong value: the shell only says what it ended up with).
LOGIN_SHELL_FILES = ("grep -HnwE 'TMOUT' /etc/profile /etc/profile.d/*.sh /etc/bash.bashrc "
                     "/root/.profile /root/.bash_profile /root/.bash_login /root/.bashrc "
                     "2>/dev/null")


class ForeignFile(Strict):
    """Someone else's file that overrides ours in the consuming program's order: what the
    foreign breaker writes (a package's snippet, an admin's drop-in)."""

    path: str = Field(pattern=r"^/[^\s]+$")
    content: str = Field(min_length=1)
    mode: str = Field(default="0644", pattern=r"^0[0-7]{3}$")


class Params(Strict):
    kind: Literal["file_content"]
    path: str = Field(pattern=r"^/")
    content: str = Field(min_length=1)
    mode: str = Field(default="0644", pattern=r"^0[0-7]{3}$")
    validate_cmd: str | None = Field(default=None, alias="validate")
    # a service to restart when the file changes (handler name)
    notify: Literal["journald", "chrony", "none"] = "none"
    # how the consuming program reads the file among others (see the module's docstring)
    effective: Literal["sudoers", "systemd", "apt", "login_shell", "limits", "none"] = "none"
    foreign: ForeignFile | None = None

    @model_validator(mode="after")
    def _systemd_dropin(self) -> Params:
        found = SYSTEMD_DROPIN.match(self.path)
        if self.effective == "systemd" and not (found and found["name"] in SYSTEMD_THEN):
            raise ValueError(
                f"effective: systemd reads /etc/systemd/NAME.conf.d/*.conf for NAME in "
                f"{', '.join(sorted(SYSTEMD_THEN))}; {self.path} is not one")
        return self


PARAMS = (Params,)


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    text = probe.read(p.path)
    if text is None:
        return [Evidence(p.path, STATE, "file with the catalogue content", "missing", False)]
    same = text.rstrip() == p.content.rstrip()
    first_diff = "identical" if same else first_difference(p.content, text)
    ev = [Evidence(p.path, STATE, "content as in the catalogue", first_diff, same)]
    ev.append(mode_evidence(p.path, stat(probe, [p.path]).get(p.path), p.mode, "root", "root",
                            False))
    if p.effective != "none":
        ev += READERS[p.effective](p.content, probe, p.path)
    return ev


def effective_systemd(content: str, probe: Probe, ours: str) -> list[Evidence]:
    """Each key our drop-in sets, as the systemd component ends up with it (the last
    assignment in `systemd-analyze cat-config` order) and the file that decided."""
    name = SYSTEMD_DROPIN.match(ours)["name"]
    last: dict[str, tuple[str, str]] = {}
    current = f"{name}.conf"
    for line in probe.out(systemd_cat(name)).splitlines():
        if line.startswith("# /"):
            current = line[2:].strip()
        elif "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            last[key.strip()] = (value.strip(), current)
    return [_decided(f"{name} {key}", want, *last.get(key, ("not set", "no file")), ours,
                     _assigning(key, "="), then=SYSTEMD_THEN[name])
            for key, want in assignments(content, "=")]


def effective_apt(content: str, probe: Probe, ours: str) -> list[Evidence]:
    """Each apt setting our file makes, as `apt-config dump` has it, and the last file of
    apt.conf.d (apt's lexical order) that assigns it."""
    dump = {}
    for line in probe.out(APT_DUMP).splitlines():
        key, _, value = line.partition(" ")
        dump[key] = value.strip().rstrip(";").strip('"')
    decided: dict[str, str] = {}
    for path, lineno, text in grep_hits(probe.out(APT_FILES)):
        key = text.strip().split(" ", 1)[0]
        if key:
            decided[key] = f"{path}:{lineno}"
    out = []
    for key, want in assignments(content, " "):
        want = want.rstrip(";").strip('"')
        out.append(_decided(f"apt {key}", want, dump.get(key, "not set"),
                            decided.get(key, "apt's defaults"), ours, _assigning(key, " ")))
    return out


def effective_login_shell(content: str, probe: Probe, ours: str) -> list[Evidence]:
    """The variables our profile script sets, as a root login shell ends up with them
    (after /etc/profile and every profile.d script, whoever wrote them)."""
    got = dict(line.split("=", 1) for line in probe.out(LOGIN_SHELL_VARS).splitlines()
               if "=" in line)
    mentions = grep_hits(probe.out(LOGIN_SHELL_FILES))
    out = []
    for key, want in assignments(content, "="):
        if not key.isupper():
            continue
        value, ok = got.get(key, "not read"), got.get(key) == want
        others = [f"{p}:{n}" for p, n, text in mentions
                  if p != ours and re.search(rf"\b{re.escape(key)}\b", text)]
        if not ok and others:
            value += f" (set in {', '.join(others[:3])})"
        pattern = rf"^[ \t]*((readonly|export|declare|typeset)[ \t]+(-\S+[ \t]+)?)?{key}=.*$"
        setters = [p for p, _n, text in mentions
                   if p != ours and overridable(p) and re.match(pattern, text)]
        override = Override(setters[0], pattern) if not ok and setters else None
        out.append(Evidence(f"login shell {key}", STATE, want, value, ok, override))
    return out


def _decided(item: str, want: str, got: str, where: str, ours: str, pattern: str = "",
             then: str = "") -> Evidence:
    """Evidence for a value some file decided (`where`: path or path:line); when that file
    is not ours and may be edited, the lines `pattern` matches there may be disabled."""
    ok = norm(got) == norm(want)
    note = "" if where.startswith(ours) else f" (decided by {where})"
    path = where.split(":", 1)[0]
    override = (Override(path, pattern, then)
                if not ok and pattern and path != ours and overridable(path) else None)
    return Evidence(item, STATE, want, f"{got}{note}" if not ok or note else got, ok, override)


def _assigning(key: str, separator: str) -> str:
    """The lines that assign KEY in a `KEY=value` or `Key "value";` file."""
    sep = r"[ \t]*=" if separator == "=" else r"[ \t]"
    return rf"^[ \t]*{re.escape(key)}{sep}.*$"


_COMMA_OUTSIDE_QUOTES = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')


def _sudoers_settings(line: str) -> list[tuple[str, str]]:
    """`Defaults[:x] a, !b, c="v"` -> [(a, a), (b, !b), (c, c="v")]: name and how it is set."""
    body = line.strip().split(None, 1)
    if len(body) < 2:
        return []
    out = []
    for item in _COMMA_OUTSIDE_QUOTES.split(body[1]):
        item = item.strip()
        name = re.split(r"[+-]?=", item.lstrip("!"), maxsplit=1)[0].strip()
        if name:
            out.append((name, item))
    return out


def effective_sudoers(content: str, probe: Probe, ours: str) -> list[Evidence]:
    """Each setting our file makes, as sudo ends up with it: the last Defaults naming it in
    sudo's reading order decides (a later `Defaults !use_pty`, or `Defaults:alice
    !use_pty` for one user, undoes ours)."""
    last: dict[str, tuple[str, str, str]] = {}
    for path, lineno, text in grep_hits(probe.out(SUDOERS_DEFAULTS)):
        settings = _sudoers_settings(text)
        for name, setting in settings:
            # a line setting only this may be disabled; one setting more must stay
            alone = len(settings) == 1 and not text.rstrip().endswith("\\")
            line = rf"^{re.escape(text)}$" if alone else ""
            last[name] = (setting, f"{path}:{lineno}", line)
    ev = []
    for line in content.splitlines():
        if not line.strip().startswith("Defaults"):
            continue
        for name, want in _sudoers_settings(line):
            got, where, line = last.get(name, ("not set", "no sudoers file", ""))
            decided_by_us = where.startswith(ours + ":")
            ok = norm(got) == norm(want) and (decided_by_us or got == want)
            path = where.split(":", 1)[0]
            override = (Override(path, line) if not ok and line and not decided_by_us
                        and overridable(path) else None)
            ev.append(Evidence(f"sudo Defaults {name}", STATE, want,
                               f"{got} (decided by {where})", ok, override))
    return ev


def effective_limits(content: str, probe: Probe, ours: str) -> list[Evidence]:
    """Each limit our file sets for everyone (`* hard core 0`), as pam_limits ends up with
    it: for the same domain the last line in its reading order wins, and a line for a user or
    a group (more specific than `*`) overrides it for them whoever wrote it."""
    lines = [(f"{path}:{n}", text.split()) for path, n, text in grep_hits(probe.out(LIMITS_FILES))]
    ev = []
    for line in content.splitlines():
        want = line.split()
        if len(want) != 4 or want[0].startswith("#"):
            continue
        domain, kind, item, value = want
        ours_applies = [(w, f) for w, f in lines if len(f) == 4 and f[2] == item
                        and f[1] in (kind, "-")]
        last = next(((w, f) for w, f in reversed(ours_applies) if f[0] == domain), None)
        got, where = (last[1][3], last[0]) if last else ("not set", "no limits file")
        ev.append(_decided(f"limits {domain} {kind} {item}", value, got, where, ours,
                           rf"^[ \t]*{re.escape(domain)}[ \t]+(hard|-)[ \t]+{item}[ \t].*$"))
        for w, f in ours_applies:  # a user or group line overriding ours for them
            if f[0] != domain and norm(f[3]) != norm(value):
                ev.append(Evidence(f"limits {f[0]} {f[1]} {item}", STATE, value,
                                   f"{f[3]} (decided by {w})", False))
    return ev


READERS = {"sudoers": effective_sudoers, "systemd": effective_systemd, "apt": effective_apt,
           "login_shell": effective_login_shell, "limits": effective_limits}


def fix_items(control: Control) -> list[dict]:
    p = control.check
    return [{"id": control.id, "path": p.path, "content": p.content, "mode": p.mode,
             "validate": p.validate_cmd, "notify": p.notify}]


def breaker(control: Control, in_container: bool) -> Breaker:
    p = control.check
    save, back = snapshot([p.path])
    return Breaker(control.id, f"echo '# provdc-break' >> {p.path}", back, save)


def foreign_breaker(control: Control) -> Breaker | None:
    f = control.check.foreign
    return write_file(control.id, f.path, f.content, f.mode) if f else None


def touched(control: Control) -> list[str]:
    return [control.check.path]


def apply(engine, kind: str, sel, osv: dict) -> None:
    ops, written = engine.ops, {}
    for item in engine.host.loop(sel.fix[kind]):
        op = ops.managed_file(name=f"{item['id']}: {item['path']}", path=item["path"],
                              content=item["content"], mode=item["mode"],
                              validate=item["validate"])
        if item["notify"] != "none":
            written.setdefault(item["notify"], []).append(op)
    for notify, made in engine.host.loop(sorted(written.items())):
        ops.run_when(name=f"restart {RESTART[notify]}",
                     command=f"systemctl restart {RESTART[notify]}", when=ops.changed(made))
