"""provdc's pyinfra operations: what pyinfra has no operation for, or not with the semantics
the Ansible role has (so both engines leave the same bytes on disk).

Every operation reads the host through a fact at generation time (pyinfra 3 generates an
operation's commands again at execution, after the earlier operations ran), yields nothing
when the host already matches, and writes files as validate-then-move: the candidate is
written next to the destination, checked (`sshd -t -f`, `nft -c -f`), then renamed over it.
"""

from __future__ import annotations

import base64
import difflib
import json
import re
import shlex
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from gevent import subprocess as gsubprocess
from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand, OperationError, operation
from pyinfra.api.operation import OperationMeta

from provdc.pyinfra_engine import facts, hostfix, lineedit
from provdc.pyinfra_engine.lineedit import ensure_line

NEW_SUFFIX = ".provdc-new"  # matches no Include glob (*.conf, *.nft) while it is a candidate


def changed(ops: Iterable[OperationMeta]) -> Callable[[], bool]:
    """For `_if=` and for handlers: did any of these operations change (or would they)?"""
    ops = list(ops)

    def any_changed() -> bool:
        if state.is_executing:
            return any(op.is_complete() and op.did_change() for op in ops)
        return any(op._maybe_is_change for op in ops)

    return any_changed


def _mode_int(mode: str | int) -> int:
    return mode if isinstance(mode, int) else int(str(mode), 8)


def _log_diff(path: str, old: bytes | None, new: bytes) -> None:
    if not state.config.DIFF:
        return
    a = (old or b"").decode(errors="replace").splitlines(keepends=True)
    b = new.decode(errors="replace").splitlines(keepends=True)
    for line in difflib.unified_diff(a, b, f"{path} (host)", f"{path} (provdc)"):
        logger.info("    %s", line.rstrip("\n"))


def write_command(path: str, content: bytes, mode: str, owner: str, group: str,
                  validate: str | None = None) -> str:
    """One shell command: candidate file, owner and mode, validation, atomic rename."""
    tmp = shlex.quote(path + NEW_SUFFIX)
    b64 = base64.b64encode(content).decode()
    steps = [
        f"mkdir -p {shlex.quote(path.rsplit('/', 1)[0] or '/')}",
        f"printf %s {b64} | base64 -d > {tmp}",
        f"chown {shlex.quote(owner)}:{shlex.quote(group)} {tmp}",
        f"chmod {_mode_int(mode):04o} {tmp}",
    ]
    if validate:
        check = validate.replace("%s", tmp)
        steps.append(f"if ! {check} >&2; then rm -f {tmp}; "
                     f"echo 'validation failed: {check}' >&2; exit 1; fi")
    steps.append(f"mv -f {tmp} {shlex.quote(path)}")
    return "set -e; " + "; ".join(steps)


def _attributes(path: str, now: tuple[str, str, str], mode: str, owner: str, group: str):
    if _mode_int(now[0]) != _mode_int(mode):
        yield f"chmod {_mode_int(mode):04o} {shlex.quote(path)}"
    if (now[1], now[2]) != (owner, group):
        yield f"chown {shlex.quote(owner)}:{shlex.quote(group)} {shlex.quote(path)}"


@operation()
def managed_file(path: str, content: str | bytes, mode: str = "0644", owner: str = "root",
                 group: str = "root", validate: str | None = None):
    """A whole file with exactly this content (ansible.builtin.copy/template semantics).

    + validate: a command with %s for the candidate file; the file is replaced only if it
      exits 0, so a bad candidate never reaches its destination.
    """
    want = content.encode() if isinstance(content, str) else content
    now = host.get_fact(facts.ManagedFile, path=path)
    if now is None or now.content != want:
        _log_diff(path, now.content if now else None, want)
        yield write_command(path, want, mode, owner, group, validate)
    else:
        yield from _attributes(path, (now.mode, now.owner, now.group), mode, owner, group)


@operation()
def line_in_file(path: str, line: str, regexp: str | None = None,
                 insertafter: str | None = None, insertbefore: str | None = None,
                 create: bool = False, mode: str = "0644", validate: str | None = None):
    """ansible.builtin.lineinfile (state=present): the last line matching `regexp` becomes
    `line`, else `line` is inserted (EOF by default). An existing file keeps its owner and
    mode; `create` makes a missing file root-owned with `mode`."""
    now = host.get_fact(facts.ManagedFile, path=path)
    if now is None and not create:
        raise OperationError(f"{path} does not exist (line_in_file without create)")
    new = ensure_line(now.content if now else None, line, regexp, insertafter, insertbefore)
    if now is None or new != now.content:
        _log_diff(path, now.content if now else None, new)
        attrs = (now.mode, now.owner, now.group) if now else (mode, "root", "root")
        yield write_command(path, new, *attrs, validate=validate)


@operation()
def file_mode(path: str, mode: str, owner: str = "root", group: str = "root",
              missing_ok: bool = False):
    """Mode and owner of an existing path (a missing one is skipped only if missing_ok)."""
    now = host.get_fact(facts.PathMode, path=path)
    if now is None:
        if not missing_ok:
            raise OperationError(f"{path} does not exist")
        return
    yield from _attributes(path, now, mode, owner, group)


@cache
def hostfix_script() -> str:
    """`hostfix` with `lineedit` in place of its import block: one standard-library script
    for the host's python3 (what the role's baseline_fix module runs, without Ansible)."""
    fix = Path(hostfix.__file__).read_text(encoding="utf-8")
    start, end = fix.index("# <ensure_line>"), fix.index("# </ensure_line>\n")
    line_edit = Path(lineedit.__file__).read_text(encoding="utf-8")
    body = fix[:start] + line_edit + fix[end + len("# </ensure_line>\n"):]
    future = "from __future__ import annotations\n"
    return future + body.replace(future, "")


def _hostfix_command(mode: str, request: str) -> str:
    script = base64.b64encode(hostfix_script().encode()).decode()
    return f'python3 -c "$(printf %s {script} | base64 -d)" {mode} {request}'


@operation()
def host_fix(kind: str, items: list[dict], **options):
    """Every item of one kind by the host-side code the role's baseline_fix module runs
    (provdc.pyinfra_engine.hostfix): read in check mode (a fact: what would change), then
    applied in one command when something differs."""
    request = base64.b64encode(json.dumps({"kind": kind, "items": items,
                                           "options": options}).encode()).decode()
    rc, out = host.get_fact(facts.Probe, command=_hostfix_command("check", request))
    result = _json(rc, out)
    if result is None:
        raise OperationError(f"{kind}: the host could not read what to change (rc {rc}): "
                             f"{out[-400:]}")
    for warning in result["warnings"]:
        host.log(warning, log_func=logger.warning)
    if result["ids"]:
        for change in result["changes"]:
            host.log(change, log_func=logger.info)
        yield _hostfix_command("apply", request)


@operation()
def fix_found(probe: list[str], fix: list[str]):
    """Run `fix` when the read-only `probe` prints anything (find ... -print / -exec)."""
    _, out = host.get_fact(facts.Probe, command=shlex.join(probe))
    if out.strip():
        yield shlex.join(fix)


@operation()
def unit(unit_name: str, enabled: bool | None = None, running: bool | None = None,
         masked: bool = False, skip_missing: bool = False,
         daemon_reload: Callable[[], bool] | None = None):
    """A systemd unit enabled/disabled/masked and started/stopped (systemd_service).

    + daemon_reload: e.g. `changed([unit_file_op])`: reload systemd first when it says so
    """
    now = host.get_fact(facts.UnitState, unit=unit_name)
    if now.load == "not-found" and skip_missing:
        return
    if daemon_reload is not None and daemon_reload():
        yield "systemctl daemon-reload"
    u = shlex.quote(unit_name)
    active = now.active == "active"
    if masked and now.enabled != "masked":
        yield f"systemctl mask {u}"
    elif enabled is True and now.enabled_rc != 0:
        if running is True and active and now.enabled == "disabled":
            # systemd 252 can forget that a unit runs when enabling it brings back its
            # Alias= symlink (rsyslog's syslog.service): stop it first, or the start below
            # could run a second daemon beside the first (see the role's services.yml)
            yield f"systemctl stop {u}"
            active = False
        yield f"systemctl enable {u}"
    elif enabled is False and now.enabled_rc == 0 and now.enabled != "masked":
        yield f"systemctl disable {u}"
    if running is True and not active:
        yield f"systemctl start {u}"
    elif running is False and now.active in ("active", "activating", "reloading"):
        yield f"systemctl stop {u}"


@operation(is_idempotent=False)
def run_when(command: str, when: Callable[[], bool]):
    """A handler: `command` runs only if `when()` (e.g. `changed([...])`) says so."""
    if when():
        yield command


@operation()
def host_firewall(script: str, text: str, staged: str, confirm_within: int,
                  confirm: Callable[[], None]):
    """The host firewall rendered from the flow matrix, through the provdc-segmentation
    script the segmentation role ships. Nothing runs when the live table and its boot copy
    match the rendering. Otherwise it is applied with a self-revert timer and confirmed over
    a NEW SSH session (`confirm`, on the controller): the running session survives any
    ruleset through conntrack, only a new one proves the operator still gets in."""
    b64 = base64.b64encode(text.encode()).decode()
    rc, out = host.get_fact(facts.Probe, command=f"{script} check b64:{b64}")
    result = _json(rc, out)
    if result is not None and not result.get("changed"):
        return
    for d in (result or {}).get("differences", []):
        host.log(f"firewall: {d}", log_func=logger.info)
    yield f"{script} apply {shlex.quote(staged)} --confirm-within {int(confirm_within)}"
    yield FunctionCommand(confirm, (), {})


@operation()
def verify_controls(script: str, judge: Callable[[str], dict]):
    """The fix wins or fails loudly, as the role's verify step: after the fixes, the selected
    controls are read again in one round trip (`script`, the checks' batch) and judged on
    the controller (`judge`: provdc.controls.gate.explained); nothing runs when all pass.
    Lines written elsewhere that override a control and may be disabled alone are commented
    out, then the controls are judged again; one that still fails stops the host naming it
    and the file that decides."""
    _rc, out = host.get_fact(facts.Probe, command=f"sh -c {shlex.quote(script)}")
    if not judge("\n" + out)["failing"]:
        return

    def verify() -> None:
        verdict = judge("\n" + _run(f"sh -c {shlex.quote(script)}"))
        if verdict["overrides"]:
            changed = [o for o in verdict["overrides"] if _disable(o)]
            for then in dict.fromkeys(o["then"] for o in changed if o["then"]):
                _run(then)
            verdict = judge("\n" + _run(f"sh -c {shlex.quote(script)}"))
        if verdict["failing"]:
            raise OperationError(
                f"{len(verdict['failing'])} control(s) still fail after their fix, so a "
                "setting outside provdc's files decides (remove or correct it, or set the "
                "control's toggle to false and record a waiver): "
                + " | ".join(verdict["failing"].values()))

    yield FunctionCommand(verify, (), {})


def _run(command: str) -> str:
    _ok, output = host.run_shell_command(command, print_output=False)
    return output.stdout


def _disable(override: dict) -> bool:
    """Comment out the overriding lines of one file (as the role's `replace` task does),
    keeping its owner and mode; True if the file changed."""
    q = shlex.quote(override["path"])
    text = base64.b64decode(_run(f"base64 -w0 {q} 2>/dev/null").strip() or b"").decode()
    marker = f"# disabled by provdc {override['control']} (it overrode the control): "
    new = re.sub(override["pattern"], lambda m: marker + m.group(0), text, flags=re.M)
    if new == text:
        return False
    mode, owner, group = _run(f"stat -c '%a %U %G' {q}").split()
    host.log(f"{override['control']}: disabled overriding lines in {override['path']}",
             log_func=logger.warning)
    _run(write_command(override["path"], new.encode(), mode, owner, group))
    return True


def _json(rc: int, out: str):
    """The JSON a provdc script printed, or None if it failed or printed none."""
    if rc != 0:
        return None
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        return None


@operation()
def htb_apply(script: str, spec_path: str):
    """The bandwidth policy of one interface, applied atomically by the provdc-bandwidth
    script the Ansible role ships (validate on a scratch link, one `tc -batch`, read back,
    restore on failure). Nothing runs when the live tree already matches."""
    rc, out = host.get_fact(facts.Probe, command=f"{script} check {shlex.quote(spec_path)}")
    results = _json(rc, out)
    if results is None or any(r.get("changed") for r in results):
        for r in results or []:
            for d in r.get("differences", []):
                host.log(f"{r['device']}: {d}", log_func=logger.info)
        yield f"{script} apply {shlex.quote(spec_path)}"


def _core_run(python: str, script: str, netns: str, command: str, spec: str) -> tuple[int, str]:
    proc = gsubprocess.run(["ip", "netns", "exec", netns, python, script, command, "-"],
                           input=spec, capture_output=True, text=True)
    return proc.returncode, proc.stdout


@operation()
def htb_apply_core_netns(python: str, script: str, netns: str, spec: str):
    """The lab's DC->site side: the core router is a network namespace on the controller,
    so the same script runs there, from the checkout, as the Ansible role does."""
    results = _json(*_core_run(python, script, netns, "check", spec))
    if results is not None and not any(r.get("changed") for r in results):
        return

    def apply() -> None:
        rc, out = _core_run(python, script, netns, "apply", spec)
        if rc != 0:
            raise OperationError(f"provdc-bandwidth apply in {netns} failed: {out[-400:]}")

    yield FunctionCommand(apply, (), {})
