"""pam_profile: PAM through the distribution's own tool (pam-auth-update profiles on the
Debian family), so the generated stacks keep correct jump counts.

Effective state: the expected lines in the common file the profile generates, and, for every
service whose stack includes that file (sshd, login, sudo...), the whole stack as PAM runs it
(`@include`, `include` and `substack` expanded): nothing before the expected module ends the
stack with success (`sufficient pam_permit.so`, a `done` action on pam_permit), whoever wrote
that line, and the evidence names the service file and line that does.

Foreign drift: `sufficient pam_permit.so` at the top of a service's own file (/etc/pam.d/login).
The fix never edits a PAM stack it did not generate: such drift stops the role loudly.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import STATE, Breaker, Evidence, Strict, active_lines, snapshot

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("pam_profile",)
CONFIGS_DIR = "/usr/share/pam-configs"
# Every PAM configuration file, each under a "@@pam PATH" header (one command: the audit's
# batch stays one round trip).
PAM_FILES = ("for f in /etc/pam.d/*; do [ -f \"$f\" ] && printf '@@pam %s\\n' \"$f\" && "
             "cat \"$f\"; done 2>/dev/null")
# Modules that always succeed: before the expected module, with an action that ends the
# stack on success, they let everyone through without it.
ALWAYS_SUCCEED = {"pam_permit.so"}


class Params(Strict):
    """A pam-auth-update profile (Debian family): the fix installs and enables it."""

    kind: Literal["pam_profile"]
    # profile name (a file in /usr/share/pam-configs) -> its content
    profiles: dict[str, str] = Field(min_length=1)
    # regexes that must each match an active line of the named /etc/pam.d file
    expect: dict[str, list[str]] = Field(min_length=1)


PARAMS = (Params,)


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    ev = []
    files = pam_files(probe.out(PAM_FILES))
    for pam_file, patterns in control.check.expect.items():
        lines = active_lines(probe.read(f"/etc/pam.d/{pam_file}"))
        for pattern in patterns:
            hit = next((line for line in lines if re.search(pattern, line)), None)
            ev.append(Evidence(f"/etc/pam.d/{pam_file}", STATE, pattern, hit or "no such line",
                               hit is not None))
        ev += [_reached(service, pam_file, patterns[0], files)
               for service in _including(pam_file, files)]
    return ev


def pam_files(text: str) -> dict[str, list[str]]:
    """service name -> its lines, from PAM_FILES' output."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@pam /etc/pam.d/"):
            current = out.setdefault(line.removeprefix("@@pam /etc/pam.d/"), [])
        elif current is not None:
            current.append(line)
    return out


def _including(pam_file: str, files: dict[str, list[str]]) -> list[str]:
    """The services (not common-* files themselves) whose stack reaches `pam_file`."""
    return sorted(s for s in files
                  if not s.startswith("common-") and s != pam_file
                  and any(where.startswith(f"/etc/pam.d/{pam_file}:")
                          for where, _ in stack(s, files)))


def stack(service: str, files: dict[str, list[str]], depth: int = 0) -> list[tuple[str, str]]:
    """(file:line, line) of the service's stack as PAM runs it, includes expanded."""
    out: list[tuple[str, str]] = []
    for n, raw in enumerate(files.get(service, []), 1):
        line = raw.split("#", 1)[0].strip()
        where = f"/etc/pam.d/{service}:{n}"
        words = line.split()
        if not words:
            continue
        if words[0] == "@include" and len(words) > 1 and depth < 8:
            out += stack(words[1], files, depth + 1)
        elif len(words) > 2 and words[1] in ("include", "substack") and depth < 8:
            out += [(w, t) for w, t in stack(words[2], files, depth + 1)
                    if t.split()[0].lstrip("-") == words[0].lstrip("-")]
        else:
            out.append((where, line))
    return out


def _ends_with_success(line: str) -> bool:
    """A line whose module always succeeds and whose action then ends the stack."""
    control, module = _control_and_module(line)
    if module not in ALWAYS_SUCCEED:
        return False
    return control == "sufficient" or re.search(r"\b(success|default)=done\b", control) is not None


def _control_and_module(line: str) -> tuple[str, str]:
    m = re.match(r"-?\w+\s+(\[[^\]]*\]|\S+)\s+(\S+)", line)
    return (m.group(1), m.group(2).rsplit("/", 1)[-1]) if m else ("", "")


def _reached(service: str, pam_file: str, pattern: str, files: dict[str, list[str]]) -> Evidence:
    """The expected module is reached in the service's stack: nothing before it of the same
    type lets everyone through."""
    lines = stack(service, files)
    kind = pattern.lstrip("^").split("\\s", 1)[0]
    item = f"PAM {service} {kind} stack"
    want = f"reaches {pattern} (nothing before it ends the stack with success)"
    for where, line in lines:
        if not line.lstrip("-").startswith(kind):
            continue
        if re.search(pattern, line):
            return Evidence(item, STATE, want, f"reached ({where})", True)
        if _ends_with_success(line):
            return Evidence(item, STATE, want, f"ended before it by {where}: {line}", False)
    return Evidence(item, STATE, want, f"not in the stack of /etc/pam.d/{service}", False)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def fix_items(control: Control) -> dict:
    p = control.check
    probe = " && ".join(
        f"grep -Eq {_quote(rx)} /etc/pam.d/{f}" for f, rxs in p.expect.items() for rx in rxs
    )
    profiles = [{"name": n, "content": t} for n, t in p.profiles.items()]
    return {"id": control.id, "profiles": profiles, "probe": probe}


def breaker(control: Control, in_container: bool) -> Breaker:
    names = " ".join(control.check.profiles)
    return Breaker(control.id, f"pam-auth-update --package --disable {names}",
                   f"pam-auth-update --package --enable {names}")


FOREIGN_SERVICE = "/etc/pam.d/login"


def foreign_breaker(control: Control) -> Breaker | None:
    """A line someone put at the top of a service's own stack (not a file the profile
    generates) that lets everyone through before the common stack runs."""
    kind = next(iter(control.check.expect.values()))[0].lstrip("^").split("\\s", 1)[0]
    save, back = snapshot([FOREIGN_SERVICE])
    line = f"{kind} sufficient pam_permit.so"
    return Breaker(control.id, f"sed -i '1i {line}' {FOREIGN_SERVICE}", back, save,
                   names=f"{FOREIGN_SERVICE}:1")


def touched(control: Control) -> list[str]:
    p = control.check
    return [f"{CONFIGS_DIR}/{n}" for n in p.profiles] + [f"/etc/pam.d/{f}" for f in p.expect]


def apply(engine, kind: str, sel, osv: dict) -> None:
    # by the host-side code the role's baseline_fix module runs
    ids = " ".join(sel.ids[kind])
    engine.ops.host_fix(name=f"{kind}: PAM profiles | {ids}", kind=kind, items=sel.fix[kind],
                        pam_configs=CONFIGS_DIR, pam_update=osv["baseline_pam_update"])
