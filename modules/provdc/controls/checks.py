"""The check renderer: one function per kind reads a host's state and returns evidence.

A check only needs `host.run(command)` returning an object with `rc` and `stdout` (a testinfra
Host does), so the compliance suite, the audit and the breaker tests share this code.
Where runtime and persisted state can differ (live sysctl vs /etc/sysctl.d, `sshd -T` vs the
drop-in, a mounted file system vs /etc/fstab, a running vs an enabled unit) both are read and
each piece of evidence says which one it is about.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from provdc.controls import applicability, files
from provdc.controls.model import Control

RUNTIME = "runtime"
PERSISTED = "persisted"
STATE = "state"  # files read at use time: on disk is what is in force


@dataclass
class Evidence:
    item: str
    state: str  # runtime | persisted | state
    expected: str
    actual: str
    ok: bool


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


class Probe:
    """Runs commands on one host and caches outputs shared by several controls."""

    def __init__(self, host):
        self.host = host
        self._cache: dict[str, tuple[int, str]] = {}
        # why the host could not be read at all (SSH refused, timed out...), else None: its
        # controls are then "not checked", never failed
        self.unreachable: str | None = None

    def run(self, command: str) -> tuple[int, str]:
        if command not in self._cache:
            res = self.host.run(command)
            self._cache[command] = (res.rc, res.stdout)
        return self._cache[command]

    def out(self, command: str) -> str:
        return self.run(command)[1]

    def prefetch(self, commands: list[str]) -> None:
        """Run many commands in ONE round trip (a shell script with markers), cache outputs."""
        todo = [c for c in dict.fromkeys(commands) if c not in self._cache]
        if todo:
            try:
                res = self.host.run(f"sh -c {shlex.quote(batch_script(todo))}")
            except Exception as exc:  # a backend may raise where SSH would exit 255
                self.unreachable = " ".join(str(exc).split())[-300:] or type(exc).__name__
                return
            found = parse_batch(res.stdout, todo)
            if not found:  # not one frame came back: nothing ran there
                why = res.stderr or res.stdout or f"exit status {res.rc}"
                self.unreachable = " ".join(str(why).split())[-300:]
                return
            self._cache.update(found)

    def read(self, path: str) -> str | None:
        rc, text = self.run(f"cat {shlex.quote(path)} 2>/dev/null")
        return text if rc == 0 else None


class Replay(Probe):
    """A probe answered from a batch's output gathered elsewhere (the Ansible role's gate).
    `missed` lists the commands the batch did not answer: a check that needed one has no
    evidence, whatever it concluded (an absence check would read no output as a pass)."""

    def __init__(self, outputs: dict[str, tuple[int, str]]):
        super().__init__(host=None)
        self._cache = dict(outputs)
        self.missed: list[str] = []

    def run(self, command: str) -> tuple[int, str]:
        if command not in self._cache:
            self.missed.append(command)
            return 127, ""
        return self._cache[command]


_MARK = "@@provdc-probe"


def _key(command: str) -> str:
    # markers name a command by its digest, so output can be matched even when the list of
    # commands that produced it is not the reader's (a role rendered from another catalogue)
    return hashlib.sha1(command.encode()).hexdigest()[:16]


def batch_script(commands: list[str]) -> str:
    """One POSIX shell script that runs every command, framing each output with markers."""
    return "".join(
        f"printf '\\n{_MARK} {_key(c)} begin\\n'; ( {c} ); "
        f"printf '\\n{_MARK} {_key(c)} rc=%s\\n' $?\n"
        for c in dict.fromkeys(commands)
    )


def parse_batch(text: str, commands: list[str]) -> dict[str, tuple[int, str]]:
    """(rc, output) of each command found in a batch_script's output."""
    by_key = {m.group(1): (int(m.group(3)), m.group(2)) for m in _FRAME.finditer(text)}
    return {c: by_key[_key(c)] for c in dict.fromkeys(commands) if _key(c) in by_key}


# one pass over the output (a frame ends at the rc marker with its own key)
_FRAME = re.compile(rf"\n{_MARK} ([0-9a-f]+) begin\n(.*?)\n{_MARK} \1 rc=(\d+)(?:\n|$)", re.S)


class _Recorder(Probe):
    """Answers every command with success and no output, remembering the commands asked."""

    def __init__(self):
        super().__init__(host=None)
        self.commands: list[str] = []

    def run(self, command: str) -> tuple[int, str]:
        self.commands.append(command)
        return 0, ""


def commands_for(controls: list[Control], runtime: bool = True) -> list[str]:
    """Every command the checks of these controls will run (they depend on parameters only)."""
    rec = _Recorder()
    for c in controls:
        CHECKS[c.kind](c, rec, runtime)
    return rec.commands


def evaluate_all(controls: list[Control], probe: Probe, ctx: HostContext) -> list[Result]:
    probe.prefetch(commands_for(controls))
    return [evaluate(c, probe, ctx) for c in controls]


def host_context(probe: Probe, variables: dict | None = None) -> HostContext:
    from provdc.controls.model import DEFAULT_LEVEL

    variables = variables or {}
    rc, _ = probe.run("systemd-detect-virt --container --quiet")
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
    evidence = CHECKS[control.kind](control, probe, not config_only)
    status = "pass" if evidence and all(e.ok for e in evidence) else "fail"
    return Result(control.id, status, mode, evidence)


# --- helpers --------------------------------------------------------------------------------


def _norm(value: object) -> str:
    return " ".join(str(value).split()).lower()


def _active_lines(text: str | None, comment: str = "#") -> list[str]:
    out = []
    for line in (text or "").splitlines():
        line = line.split(comment, 1)[0].strip() if comment else line.strip()
        if line:
            out.append(line)
    return out


# --- one check per kind ---------------------------------------------------------------------

Check = Callable[[Control, Probe, bool], list[Evidence]]


def check_sysctl(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    settings = control.check.settings
    persisted = _effective_sysctl(probe.out(files.SYSCTL_CAT))
    ev = []
    if runtime:
        live = _live_sysctl(probe, list(settings))
    for key, want in settings.items():
        if runtime:
            got = live.get(key, "missing")
            ev.append(Evidence(key, RUNTIME, str(want), got, _norm(got) == _norm(want)))
        got = persisted.get(key, "not set")
        ev.append(Evidence(key, PERSISTED, str(want), got, _norm(got) == _norm(want)))
    return ev


def _live_sysctl(probe: Probe, keys: list[str]) -> dict[str, str]:
    cmd = "; ".join(
        f"printf '%s=' {k}; sysctl -n {k} 2>/dev/null || echo missing" for k in keys
    )
    out = {}
    for line in probe.out(cmd).splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            out[key] = value.strip()
    return out


def _effective_sysctl(text: str) -> dict[str, str]:
    """What systemd-sysctl applies at boot: files in order, the last assignment wins."""
    assignments: list[tuple[str, str]] = []
    for line in _active_lines(text):
        line = line.split(";", 1)[0].strip() if line.startswith(";") else line
        if "=" not in line:
            continue
        key, value = (p.strip() for p in line.split("=", 1))
        assignments.append((key.lstrip("-").replace("/", "."), value))

    class Lookup(dict):
        def get(self, key, default=None):
            found = default
            for pattern, value in assignments:
                if pattern == key or fnmatch.fnmatchcase(key, pattern):
                    found = value
            return found

    return Lookup()


def check_sshd_option(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    effective = {}
    for line in probe.out(files.SSHD_EFFECTIVE).splitlines():
        key, _, value = line.partition(" ")
        effective[key.lower()] = value.strip()
    dropin = {}
    for line in _active_lines(probe.read(files.SSHD_DROPIN)):
        key, _, value = line.partition(" ")
        dropin.setdefault(key.lower(), value.strip())
    contexts = _sshd_contexts(probe.out(files.SSHD_CONTEXTS))
    ev = []
    for key, want in control.check.options.items():
        want_n = _sshd_norm(want)
        got = effective.get(key.lower(), "not reported by sshd -T")
        ev.append(Evidence(key, RUNTIME, str(want), got, _sshd_norm(got) == want_n))
        for where, spec, values in contexts:  # what each Match block makes of it
            got = values.get(key.lower(), "not reported by sshd -T -C")
            if _sshd_norm(got) != want_n:
                ev.append(Evidence(f"{key} (Match at {where}: {spec})", RUNTIME, str(want),
                                   got, False))
        got = dropin.get(key.lower(), f"not in {files.SSHD_DROPIN}")
        ev.append(Evidence(key, PERSISTED, str(want), got, _sshd_norm(got) == want_n))
    return ev


def _sshd_contexts(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """(file:line of the Match, the -C spec, sshd's effective options there) per Match."""
    out: list[tuple[str, str, dict[str, str]]] = []
    for line in text.splitlines():
        if line.startswith("@@ctx "):
            where, _, spec = line[6:].partition(" ")
            out.append((where, spec, {}))
        elif out:
            key, _, value = line.partition(" ")
            out[-1][2][key.lower()] = value.strip()
    return out


def _sshd_norm(value: object) -> str:
    # sshd -T reports prohibit-password under its old name
    return _norm(value).replace("without-password", "prohibit-password")


def check_key_value(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    text = probe.read(p.path)
    if text is None:
        return [Evidence(p.path, STATE, "file present", "missing", False)]
    lines = _active_lines(text)
    ev = []
    for key, want in p.settings.items():
        if want is None:
            found = any(line == key for line in lines)
            ev.append(Evidence(key, STATE, "flag set", "set" if found else "absent", found))
            continue
        values = [v for k, v in (_split_kv(line, p.separator) for line in lines) if k == key]
        got = ", ".join(values) if values else "not set"
        ok = bool(values) and all(_norm(v) == _norm(want) for v in values)
        ev.append(Evidence(key, STATE, str(want), got, ok))
    return ev


def _split_kv(line: str, separator: str) -> tuple[str, str]:
    if separator.strip() == "=":
        key, _, value = line.partition("=")
    else:
        parts = line.split(None, 1)
        key, value = parts[0], parts[1] if len(parts) > 1 else ""
    return key.strip(), value.strip().strip('"')


def check_pam_profile(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    ev = []
    for pam_file, patterns in control.check.expect.items():
        lines = _active_lines(probe.read(f"/etc/pam.d/{pam_file}"))
        for pattern in patterns:
            hit = next((line for line in lines if re.search(pattern, line)), None)
            ev.append(Evidence(f"/etc/pam.d/{pam_file}", STATE, pattern, hit or "no such line",
                               hit is not None))
    return ev


def check_file_line(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    lines = _active_lines(probe.read(p.path))
    hits = [line for line in lines if re.search(p.regexp, line)]
    ok = any(_norm(h) == _norm(p.line) for h in hits)
    return [Evidence(p.path, STATE, p.line, " | ".join(hits) or "no such line", ok)]


def _stat(probe: Probe, paths: list[str]) -> dict[str, tuple[str, str, str] | None]:
    cmd = "; ".join(
        f"stat -c '%n|%a|%U|%G' {shlex.quote(p)} 2>/dev/null || echo '{p}|missing'" for p in paths
    )
    out: dict[str, tuple[str, str, str] | None] = {}
    for line in probe.out(cmd).splitlines():
        parts = line.split("|")
        if len(parts) == 2 and parts[1] == "missing":
            out[parts[0]] = None
        elif len(parts) == 4:
            out[parts[0]] = (parts[1], parts[2], parts[3])
    return out


def _mode_ev(path: str, st, mode: str, owner: str, group: str, missing_ok: bool) -> Evidence:
    expected = f"mode <= {mode}, {owner}:{group}"
    if st is None:
        return Evidence(path, STATE, expected, "missing", missing_ok)
    got_mode, got_owner, got_group = st
    ok = (int(got_mode, 8) & ~int(mode, 8)) == 0 and (got_owner, got_group) == (owner, group)
    return Evidence(path, STATE, expected, f"mode {int(got_mode, 8):04o}, {got_owner}:{got_group}",
                    ok)


def check_file_mode(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    stats = _stat(probe, p.paths)
    return [_mode_ev(x, stats.get(x), p.mode, p.owner, p.group, p.missing_ok) for x in p.paths]


def check_file_content(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    text = probe.read(p.path)
    if text is None:
        return [Evidence(p.path, STATE, "file with the catalogue content", "missing", False)]
    same = text.rstrip() == p.content.rstrip()
    first_diff = "identical" if same else _first_difference(p.content, text)
    ev = [Evidence(p.path, STATE, "content as in the catalogue", first_diff, same)]
    ev.append(_mode_ev(p.path, _stat(probe, [p.path]).get(p.path), p.mode, "root", "root", False))
    if p.effective != "none":
        ev += EFFECTIVE_READERS[p.effective](p.content, probe, p.path)
    return ev


def _journald_effective(content: str, probe: Probe, ours: str) -> list[Evidence]:
    """Each key our drop-in sets, as journald ends up with it (the last assignment in
    `systemd-analyze cat-config` order) and the file that decided."""
    last: dict[str, tuple[str, str]] = {}
    current = "journald.conf"
    for line in probe.out(files.JOURNALD_CAT).splitlines():
        if line.startswith("# /"):
            current = line[2:].strip()
        elif "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            last[key.strip()] = (value.strip(), current)
    return [_decided(f"journald {key}", want, *last.get(key, ("not set", "no file")), ours)
            for key, want in _assignments(content, "=")]


def _apt_effective(content: str, probe: Probe, ours: str) -> list[Evidence]:
    """Each apt setting our file makes, as `apt-config dump` has it, and the last file of
    apt.conf.d (apt's lexical order) that assigns it."""
    dump = {}
    for line in probe.out(files.APT_DUMP).splitlines():
        key, _, value = line.partition(" ")
        dump[key] = value.strip().rstrip(";").strip('"')
    decided: dict[str, str] = {}
    for path, lineno, text in _grep_hits(probe.out(files.APT_FILES)):
        key = text.strip().split(" ", 1)[0]
        if key:
            decided[key] = f"{path}:{lineno}"
    out = []
    for key, want in _assignments(content, " "):
        want = want.rstrip(";").strip('"')
        out.append(_decided(f"apt {key}", want, dump.get(key, "not set"),
                            decided.get(key, "apt's defaults"), ours))
    return out


def _login_shell_effective(content: str, probe: Probe, ours: str) -> list[Evidence]:
    """The variables our profile script sets, as a root login shell ends up with them
    (after /etc/profile and every profile.d script, whoever wrote them)."""
    got = dict(line.split("=", 1) for line in probe.out(files.LOGIN_SHELL_VARS).splitlines()
               if "=" in line)
    return [Evidence(f"login shell {key}", STATE, want, got.get(key, "not read"),
                     got.get(key) == want)
            for key, want in _assignments(content, "=") if key.isupper()]


def _grep_hits(text: str) -> list[tuple[str, str, str]]:
    """`grep -Hn` output as (path, line number, line)."""
    return [tuple((hit.split(":", 2) + ["", ""])[:3]) for hit in text.splitlines()]


def _assignments(content: str, separator: str) -> list[tuple[str, str]]:
    """KEY=value (or `Key "value";`) lines of a catalogue file, comments and sections out."""
    out = []
    for line in content.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[", "//")) or separator not in line:
            continue
        key, _, value = line.partition(separator)
        out.append((key.strip(), value.strip()))
    return out


def _decided(item: str, want: str, got: str, where: str, ours: str) -> Evidence:
    ok = _norm(got) == _norm(want)
    note = "" if where.startswith(ours) else f" (decided by {where})"
    return Evidence(item, STATE, want, f"{got}{note}" if not ok or note else got, ok)


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


def _sudoers_effective(content: str, probe: Probe, ours: str) -> list[Evidence]:
    """Each setting our file makes, as sudo ends up with it: the last Defaults naming it in
    sudo's reading order decides (a later `Defaults !use_pty`, or `Defaults:alice
    !use_pty` for one user, undoes ours)."""
    last: dict[str, tuple[str, str]] = {}
    for path, lineno, text in _grep_hits(probe.out(files.SUDOERS_DEFAULTS)):
        for name, setting in _sudoers_settings(text):
            last[name] = (setting, f"{path}:{lineno}")
    ev = []
    for line in content.splitlines():
        if not line.strip().startswith("Defaults"):
            continue
        for name, want in _sudoers_settings(line):
            got, where = last.get(name, ("not set", "no sudoers file"))
            decided_by_us = where.startswith(ours + ":")
            ok = _norm(got) == _norm(want) and (decided_by_us or got == want)
            ev.append(Evidence(f"sudo Defaults {name}", STATE, want,
                               f"{got} (decided by {where})", ok))
    return ev


def _first_difference(want: str, got: str) -> str:
    w, g = want.rstrip().splitlines(), got.rstrip().splitlines()
    for i in range(max(len(w), len(g))):
        a = w[i] if i < len(w) else "<end>"
        b = g[i] if i < len(g) else "<end>"
        if a != b:
            return f"line {i + 1}: {b!r} (expected {a!r})"
    return "differs"


def _dpkg_status(probe: Probe, packages: list[str]) -> dict[str, str]:
    names = " ".join(shlex.quote(p) for p in packages)
    out = probe.out(f"dpkg-query -W -f='${{Package}} ${{db:Status-Abbrev}}\\n' {names} 2>/dev/null")
    status = {}
    for line in out.splitlines():
        name, _, abbrev = line.partition(" ")
        status[name] = abbrev
    return status


def _installed(abbrev: str | None) -> bool:
    # second letter = current state: i installed, U unpacked, H half, F failed-config, ...
    return bool(abbrev) and len(abbrev) > 1 and abbrev[1] in "iUHFWt"


def check_package_absent(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    status = _dpkg_status(probe, control.check.packages)
    return [
        Evidence(p, STATE, "not installed", "installed" if _installed(status.get(p)) else
                 "not installed", not _installed(status.get(p)))
        for p in control.check.packages
    ]


def check_package_present(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    status = _dpkg_status(probe, control.check.packages)
    return [
        Evidence(p, STATE, "installed", (status.get(p) or "not installed").strip(),
                 (status.get(p) or "").startswith("ii"))
        for p in control.check.packages
    ]


def _unit_states(probe: Probe, units: list[str]) -> dict[str, tuple[str, str]]:
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


def check_service_enabled(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    ev = []
    for unit, (enabled, active) in _unit_states(probe, control.check.services).items():
        ev.append(Evidence(unit, PERSISTED, "enabled", enabled, enabled == "enabled"))
        if runtime:
            ev.append(Evidence(unit, RUNTIME, "active", active, active == "active"))
    return ev


def check_service_disabled(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    masked = control.check.masked
    ev = []
    for unit, (enabled, active) in _unit_states(probe, control.check.services).items():
        if enabled == "not-found":
            ev.append(Evidence(unit, PERSISTED, "absent, disabled or masked", "not installed",
                               True))
            continue
        want = "masked" if masked else "disabled or masked"
        ok = enabled == "masked" if masked else enabled in ("disabled", "masked", "static")
        ev.append(Evidence(unit, PERSISTED, want, enabled, ok))
        ev.append(Evidence(unit, RUNTIME, "inactive", active, active != "active"))
    return ev


def check_kernel_module_disabled(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    config = probe.out("modprobe --showconfig 2>/dev/null | grep -E '^(install|blacklist) '")
    loaded = {line.split()[0] for line in probe.out("cat /proc/modules").splitlines() if line}
    ev = []
    for module in control.check.modules:
        name = module.replace("-", "_")
        install = re.search(rf"^install {name} (/usr)?/bin/(false|true)\b", config, re.M)
        black = re.search(rf"^blacklist {name}$", config, re.M)
        got = ", ".join(x for x, ok in (("install /bin/false", install), ("blacklisted", black))
                        if ok) or "loadable"
        ev.append(Evidence(module, PERSISTED, "install /bin/false, blacklisted", got,
                           bool(install and black)))
        ev.append(Evidence(module, RUNTIME, "not loaded",
                           "loaded" if name in loaded else "not loaded", name not in loaded))
    return ev


def check_mount_option(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    want = ",".join(p.options)
    rc, live = probe.run(f"findmnt -n -o OPTIONS -M {shlex.quote(p.target)}")
    live_opts = set(live.strip().split(",")) if rc == 0 and live.strip() else set()
    ev = [Evidence(p.target, RUNTIME, want, live.strip() or "not a mount point",
                   bool(live_opts) and set(p.options) <= live_opts)]
    fstab = [line.split() for line in _active_lines(probe.read("/etc/fstab"))]
    entry = next((f for f in fstab if len(f) >= 4 and f[1] == p.target), None)
    opts = set(entry[3].split(",")) if entry else set()
    ev.append(Evidence(p.target, PERSISTED, want, entry[3] if entry else "no /etc/fstab entry",
                       bool(entry) and set(p.options) <= opts))
    return ev


def check_auditd_rule(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    path = files.auditd_rules_file(control)
    lines = {_norm(x) for x in _active_lines(probe.read(path))}
    ev = [Evidence(path, PERSISTED, rule, "present" if _norm(rule) in lines else "absent",
                   _norm(rule) in lines) for rule in p.rules]
    if runtime:
        loaded = probe.out("auditctl -l 2>&1; auditctl -s 2>&1")
        for pattern in p.runtime:
            hit = pattern in loaded
            ev.append(Evidence("auditctl", RUNTIME, pattern, "loaded" if hit else "not loaded",
                               hit))
    return ev


def check_find_none(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    cmd = shlex.join(files.find_argv(control.check)) + " 2>/dev/null | head -n 20"
    found = probe.out(cmd).split()
    return [Evidence(" ".join(control.check.expression), STATE, "no match",
                     ", ".join(found) or "no match", not found)]


def check_accounts(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    rule = control.check.rule
    argv, expected = files.ACCOUNT_QUERIES[rule]
    got = probe.out(shlex.join(argv)).split()
    want = expected.split()
    return [Evidence(rule, STATE, " ".join(want) or "none", " ".join(got) or "none", got == want)]


def check_nftables_input(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    ev = []
    rc, live = probe.run(f"nft list chain inet {p.table} input 2>/dev/null")
    ports = files.nft_ports(live)
    if runtime:
        ev.append(Evidence("input policy", RUNTIME, "drop",
                           "drop" if "policy drop" in live else (live.strip() and "accept")
                           or f"no table inet {p.table}", rc == 0 and "policy drop" in live))
        for port in p.allow_tcp:
            ev.append(Evidence(f"tcp/{port}", RUNTIME, "allowed",
                               "allowed" if str(port) in ports else "blocked", str(port) in ports))
        ev.append(_chain_as_confirmed(probe, p.table))
    boot_file = files.firewall_boot_file(p.table)
    text = probe.read(boot_file) or ""
    dropped = "policy drop" in text
    ev.append(Evidence(boot_file, PERSISTED, "policy drop", "policy drop" if dropped else "missing",
                       dropped))
    unit = files.FIREWALL_UNIT
    enabled = probe.out(f"systemctl is-enabled {unit} 2>/dev/null").strip() or "missing"
    ev.append(Evidence(unit, PERSISTED, "enabled", enabled, enabled == "enabled"))
    return ev


def _chain_as_confirmed(probe: Probe, table: str) -> Evidence:
    """The live table as a whole equals its confirmed rendering (the boot copy), so a rule
    someone inserted before the final drop (an accept-all, an extra port) is seen even while
    the policy and the SSH rule still look right. The apply script's own comparison."""
    rc, out = probe.run(files.firewall_compare(table))
    try:
        doc = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    except ValueError:
        doc = {}
    if "changed" not in doc:
        got = " ".join(out.split())[-200:] or f"no answer (exit {rc})"
        return Evidence("live table", RUNTIME, "as confirmed", got, False)
    diffs = doc.get("differences") or []
    got = "as confirmed" if not doc["changed"] else "; ".join(diffs)[:400] or "differs"
    return Evidence(f"live table vs {files.firewall_boot_file(table)}", RUNTIME,
                    "as confirmed", got, not doc["changed"])


EFFECTIVE_READERS = {"sudoers": _sudoers_effective, "journald": _journald_effective,
                     "apt": _apt_effective, "login_shell": _login_shell_effective}


CHECKS: dict[str, Check] = {
    "sysctl": check_sysctl,
    "sshd_option": check_sshd_option,
    "key_value": check_key_value,
    "pam_profile": check_pam_profile,
    "file_line": check_file_line,
    "file_mode": check_file_mode,
    "file_content": check_file_content,
    "package_absent": check_package_absent,
    "package_present": check_package_present,
    "service_enabled": check_service_enabled,
    "service_disabled": check_service_disabled,
    "kernel_module_disabled": check_kernel_module_disabled,
    "mount_option": check_mount_option,
    "auditd_rule": check_auditd_rule,
    "find_none": check_find_none,
    "accounts": check_accounts,
    "nftables_input": check_nftables_input,
}
