"""The baseline's fixes on the host, one call per control kind, for both engines.

Every selected item of a kind is applied in one Python process: one module run per kind and
host for the Ansible role (the collection's `provdc.idc.baseline_fix`, whose module_utils
`baseline_fix.py` is a link to this file) and one command per kind for the pyinfra engine
(`operations.host_fix` sends this file and `lineedit` to the host as one script), so a kind's
fix has one implementation. Standard library only. Each function keeps the semantics of the
builtin modules the role used per item (file, lineinfile, copy with validate, command,
user, systemd_service), reports which control ids it changed, supports check mode (nothing
is written, the would-be changes are reported) and returns diffs for --diff.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shlex
import subprocess
import tempfile

# <ensure_line> (the pyinfra engine's script replaces this block by lineedit's own text)
try:  # in the collection: Ansible sends module_utils along with the module
    from ansible_collections.provdc.idc.plugins.module_utils.lineedit import ensure_line
except ImportError:  # in the provdc package
    from provdc.pyinfra_engine.lineedit import ensure_line
# </ensure_line>


class FixError(Exception):
    """A fix that cannot be applied (missing file, failed validation or command)."""


class Result:
    """What one kind changed: control ids with a line each, diffs, warnings, notifications."""

    def __init__(self, check_mode: bool):
        self.check_mode = check_mode
        self.changes: list[str] = []
        self.ids: list[str] = []
        self.diff: list[dict] = []
        self.warnings: list[str] = []
        self.notify: list[str] = []

    def changed(self, control_ids: str, what: str) -> None:
        """`control_ids`: one id, or several separated by spaces (a file they share)."""
        self.changes.append(f"{control_ids}: {what}")
        for control_id in control_ids.split():
            if control_id not in self.ids:
                self.ids.append(control_id)

    def text_diff(self, path: str, before: bytes | None, after: bytes) -> None:
        self.diff.append({"before_header": path, "after_header": path,
                          "before": (before or b"").decode(errors="replace"),
                          "after": after.decode(errors="replace")})


def run(argv: list[str], check: bool = True, stdin: str | None = None) -> tuple[int, str]:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise FixError(f"{shlex.join(argv)} failed (rc {proc.returncode}): "
                       f"{(proc.stderr or proc.stdout).strip()[-400:]}")
    return proc.returncode, proc.stdout


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _ids(owner: str, group: str) -> tuple[int, int]:
    return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid


def _attributes(path: str, mode: int, uid: int, gid: int) -> list[str]:
    """Exact mode and owner (the file module's semantics); what differed, or would."""
    st = os.stat(path)
    out = []
    if st.st_mode & 0o7777 != mode:
        out.append(f"mode {st.st_mode & 0o7777:04o} -> {mode:04o}")
    if (st.st_uid, st.st_gid) != (uid, gid):
        out.append(f"owner {st.st_uid}:{st.st_gid} -> {uid}:{gid}")
    return out


def write_file(path: str, content: bytes, mode: int, owner: str = "root", group: str = "root",
               validate: str | None = None, check_mode: bool = False) -> str | None:
    """The whole file (copy/template semantics): written only if its bytes differ, through
    a candidate next to it that `validate` (a command with %s) must accept, then renamed
    over it; else only its mode and owner are corrected. What changed, or None."""
    uid, gid = _ids(owner, group)
    now = _read(path)
    if now == content:
        attrs = _attributes(path, mode, uid, gid)
        if attrs and not check_mode:
            os.chmod(path, mode)
            os.chown(path, uid, gid)
        return ", ".join(attrs) or None
    if check_mode:
        return "content"
    directory = os.path.dirname(path) or "/"
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".provdc-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, mode)
        os.chown(tmp, uid, gid)
        if validate:
            proc = subprocess.run(shlex.split(validate.replace("%s", tmp)),
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise FixError(f"{path}: the new content failed to validate with "
                               f"`{validate}` (rc {proc.returncode}: "
                               f"{(proc.stderr or proc.stdout).strip()[-300:]}); "
                               "the file was left as it was")
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return "content"


# --- the kinds -----------------------------------------------------------------------------


def file_mode(items: list[dict], res: Result, **_) -> None:
    for item in items:
        path = item["path"]
        if not os.path.exists(path):
            if item["missing_ok"]:
                continue
            raise FixError(f"{item['id']}: {path} does not exist")
        uid, gid = _ids(item["owner"], item["group"])
        mode = int(item["mode"], 8)
        attrs = _attributes(path, mode, uid, gid)
        if attrs:
            if not res.check_mode:
                os.chmod(path, mode)
                os.chown(path, uid, gid)
            res.changed(item["id"], f"{path} {', '.join(attrs)}")
            res.diff.append({"before_header": path, "after_header": path,
                             "before": f"{path}: {', '.join(a.split(' -> ')[0] for a in attrs)}\n",
                             "after": f"{path}: mode {mode:04o} {item['owner']}:{item['group']}\n"})


def lines(items: list[dict], res: Result, **_) -> None:
    """key_value and file_line: lineinfile (state=present) per item, every item of a file
    applied in memory and the file written once, keeping its owner and mode, through a
    candidate the item's `validate` (a command with %s) must accept where it has one."""
    by_path: dict[str, list[dict]] = {}
    for item in items:
        by_path.setdefault(item["path"], []).append(item)
    for path, edits in by_path.items():
        before = _read(path)
        if before is None and not all(e.get("create") for e in edits):
            raise FixError(f"{edits[0]['id']}: {path} does not exist")
        text, changed_ids = before, []
        for e in edits:
            new = ensure_line(text, e["line"], e.get("regexp"), e.get("insertafter"),
                              e.get("insertbefore"))
            if new != text:
                changed_ids.append(e)
            text = new
        if text == before:
            continue
        if before is None:
            write_file(path, text, 0o644, check_mode=res.check_mode)
        elif not res.check_mode:
            st = os.stat(path)
            write_file(path, text, st.st_mode & 0o7777, pwd.getpwuid(st.st_uid).pw_name,
                       grp.getgrgid(st.st_gid).gr_name,
                       validate=next((e["validate"] for e in edits if e.get("validate")), None))
        res.text_diff(path, before, text)
        for e in changed_ids:
            res.changed(e["id"], f"{path}: {e['line']}")


def files(items: list[dict], res: Result, **_) -> None:
    """file_content and auditd_rule: whole files; a changed file's `notify` (a reader to
    restart) is reported once."""
    for item in items:
        content = item["content"].encode()
        before = _read(item["path"])
        what = write_file(item["path"], content, int(item.get("mode", "0640"), 8),
                          validate=item.get("validate") or None, check_mode=res.check_mode)
        if what:
            res.changed(item["id"], f"{item['path']} {what}")
            if what == "content":
                res.text_diff(item["path"], before, content)
            notify = item.get("notify")
            if notify and notify != "none" and notify not in res.notify:
                res.notify.append(notify)


def find_none(items: list[dict], res: Result, **_) -> None:
    """Run each fix where its read-only probe prints an offending file."""
    for item in items:
        _rc, out = run(item["probe"], check=False)
        if out.strip():
            if not res.check_mode:
                run(item["fix"])
            res.changed(item["id"], " ".join(out.split()))


def accounts(items: list[dict], res: Result, nologin: str = "/usr/sbin/nologin", **_) -> None:
    """System accounts get nologin, empty passwords are locked; a second UID 0 account is
    only reported (it may be someone's only way in)."""
    for item in items:
        _rc, out = run(item["query"])
        names = out.split()
        if item["rule"] == "uid0_only_root":
            if names != ["root"]:
                extra = ", ".join(n for n in names if n != "root")
                res.warnings.append(f"{item['id']}: UID 0 accounts other than root: {extra}; "
                                    "remove them by hand")
            continue
        argv = (["usermod", "-s", nologin] if item["rule"] == "system_nologin"
                else ["usermod", "-L"])
        for name in names:
            if not res.check_mode:
                run([*argv, name])
            res.changed(item["id"], f"{shlex.join(argv[:-1] if len(argv) > 2 else argv)} {name}")


def mount_option(items: list[dict], res: Result, **_) -> None:
    """The options persisted in /etc/fstab, then the live mount remounted with them."""
    lines([{"id": i["id"], "path": "/etc/fstab", "regexp": i["fstab_regexp"],
            "line": i["fstab_line"]} for i in items], res)
    for item in items:
        target = item["target"]
        rc, live = run(["findmnt", "-n", "-o", "OPTIONS", "-M", target], check=False)
        if rc != 0:
            what = f"mount {shlex.quote(target)}, its current files carried over"
            if not res.check_mode:
                _mount_over(target)
        elif set(item["options"]) - set(live.strip().split(",")):
            argv = ["mount", "-o", item["remount"], target]
            what = shlex.join(argv)
            if not res.check_mode:
                run(argv)
        else:
            continue
        res.changed(item["id"], what)


UNDER = "/run/provdc-mount-under"


def _mount_over(target: str) -> None:
    """Mount `target` from /etc/fstab over a directory that is in use, keeping its files.

    On a stock Debian 12 server /tmp is a plain directory on the root file system, and
    processes are using it at that moment: Ansible's own module runs from a directory under
    /tmp/user/0 (libpam-tmpdir). A bare `mount` would hide those files beneath the new file
    system and break them mid-run; so the directory is bind-mounted aside first, the new file
    system mounted, the files copied into it with their modes and owners (`cp -a`), and the
    aside mount removed. The originals stay, hidden, on the root file system: they are not
    deleted, in case a copy was incomplete."""
    os.makedirs(UNDER, mode=0o700, exist_ok=True)
    run(["mount", "--bind", target, UNDER])
    try:
        # Private: else, with / shared (systemd's default), the new mount would propagate
        # onto the aside mount too and hide the very files to be copied.
        run(["mount", "--make-private", UNDER])
        run(["mount", target])
        run(["cp", "-a", "--", f"{UNDER}/.", f"{target}/"])
    finally:
        run(["umount", UNDER], check=False)
        with contextlib.suppress(OSError):
            os.rmdir(UNDER)


def sysctl(items: list[dict], res: Result, in_container: bool = False, **_) -> None:
    """The live kernel values that differ (the persisted file is the role's template). In a
    container, only the items it can enforce (net.* of its own namespace)."""
    live = [i for i in items if i["enforce"] or not in_container]
    if not live:
        return
    _rc, out = run(["sysctl", "-e", *(i["key"] for i in live)], check=False)
    now = {}
    for line in out.splitlines():
        if " = " in line:
            key, value = line.split(" = ", 1)
            now[key] = " ".join(value.split())
    drift = [i for i in live if now.get(i["key"]) != " ".join(i["value"].split())]
    if drift and not res.check_mode:
        run(["sysctl", "-w", *(f"{i['key']}={i['value']}" for i in drift)])
    for i in drift:
        res.changed(i["id"], f"{i['key']} {now.get(i['key'])} -> {i['value']}")


def pam_profile(items: list[dict], res: Result, pam_configs: str = "/usr/share/pam-configs",
                pam_update: list[str] | None = None, **_) -> None:
    """pam-auth-update profiles installed, then enabled when they changed or the live
    stacks do not show them."""
    for item in items:
        wrote = False
        for p in item["profiles"]:
            path = f"{pam_configs}/{p['name']}"
            before = _read(path)
            what = write_file(path, p["content"].encode(), 0o644, check_mode=res.check_mode)
            if what:
                wrote = True
                res.changed(item["id"], f"{path} {what}")
                if what == "content":
                    res.text_diff(path, before, p["content"].encode())
        rc, _ = run(["sh", "-c", item["probe"]], check=False)
        if wrote or rc != 0:
            argv = [*(pam_update or ["pam-auth-update", "--package", "--enable"]),
                    *(p["name"] for p in item["profiles"])]
            if not res.check_mode:
                run(argv)
            res.changed(item["id"], shlex.join(argv))


# systemctl is-enabled exits 0 for these (systemd_service's "enabled")
ENABLED = {"enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient"}
RUNNING = {"active", "activating", "reloading"}


def unit_states(units: list[str]) -> dict[str, dict]:
    """LoadState, UnitFileState and ActiveState of every unit in one systemctl call."""
    _rc, out = run(["systemctl", "show", "--property=Id,LoadState,UnitFileState,ActiveState",
                    *units], check=False)
    states, blocks = {}, out.strip().split("\n\n")
    for unit, block in zip(units, blocks, strict=False):
        states[unit] = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
    return states


def services(items: list[dict], res: Result, in_container: bool = False, **_) -> None:
    """service_enabled: enabled, and started unless a container cannot run it
    (configuration-only); service_disabled: stopped and disabled or masked, skipped when
    the unit does not exist."""
    states = unit_states([i["unit"] for i in items])
    for item in items:
        unit, now = item["unit"], states.get(item["unit"], {})
        file_state, active = now.get("UnitFileState", ""), now.get("ActiveState") in RUNNING
        steps: list[list[str]] = []
        if item["kind"] == "service_enabled":
            start = item["enforce"] or not in_container
            if file_state not in ENABLED:
                if start and active and file_state == "disabled":
                    # systemd 252 can forget that a unit runs when enabling it brings back
                    # its Alias= symlink (rsyslog's syslog.service): stop it first, or the
                    # start below could run a second daemon beside the first
                    steps.append(["systemctl", "stop", unit])
                    active = False
                steps.append(["systemctl", "enable", unit])
            if start and not active:
                steps.append(["systemctl", "start", unit])
        else:
            if now.get("LoadState") == "not-found":
                continue
            if item["masked"] and file_state != "masked":
                steps.append(["systemctl", "mask", unit])
            elif not item["masked"] and file_state in ENABLED:
                steps.append(["systemctl", "disable", unit])
            if active:
                steps.append(["systemctl", "stop", unit])
        for argv in steps:
            if not res.check_mode:
                run(argv)
            res.changed(item["id"], " ".join(argv[1:]))


KINDS = {
    "file_mode": file_mode, "key_value": lines, "file_line": lines, "file_content": files,
    "auditd_rule": files, "find_none": find_none, "accounts": accounts,
    "mount_option": mount_option, "sysctl": sysctl, "pam_profile": pam_profile,
    "services": services,
}


def apply(kind: str, items: list[dict], check_mode: bool, **options) -> Result:
    res = Result(check_mode)
    KINDS[kind](items, res, **options)
    return res


def main(argv: list[str]) -> int:
    """The pyinfra engine's entry: `check|apply BASE64-JSON` ({kind, items, options}); prints
    the result as JSON; a fix that cannot be applied exits 1 with its reason."""
    import base64
    import json
    import sys

    request = json.loads(base64.b64decode(argv[2]))
    try:
        res = apply(request["kind"], request["items"], argv[1] == "check",
                    **request.get("options", {}))
    except (FixError, KeyError, OSError) as exc:
        print(f"{request['kind']}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"ids": res.ids, "changes": res.changes, "warnings": res.warnings,
                      "notify": res.notify}))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
