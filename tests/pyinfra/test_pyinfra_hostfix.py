"""The script `operations.host_fix` sends to a host: `hostfix` and `lineedit` as one
standard-library program, run here by the system's python3 with nothing of provdc or Ansible
importable (what a host has), on hand-written files in tmp_path."""

from __future__ import annotations

import base64
import json
import os
import subprocess

from provdc.pyinfra_engine.operations import _hostfix_command

LOGIN_DEFS = "# comment\n#\tPASS_MAX_DAYS\tMaximum number of days\nPASS_MAX_DAYS\t99999\n"


def _run(mode: str, request: dict) -> tuple[int, dict | None, str]:
    encoded = base64.b64encode(json.dumps(request).encode()).decode()
    proc = subprocess.run(["sh", "-c", _hostfix_command(mode, encoded)], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin"}, cwd="/", timeout=60)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout else None, proc.stderr


def test_check_then_apply_then_nothing_left(tmp_path):
    (tmp_path / "login.defs").write_text(LOGIN_DEFS)
    (tmp_path / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.chmod(tmp_path / "passwd", 0o666)
    lines = {"kind": "key_value", "items": [
        {"id": "VN-AUTH-04", "path": str(tmp_path / "login.defs"), "create": False,
         "regexp": r"^\s*#?\s*PASS_MAX_DAYS(\s|$)", "line": "PASS_MAX_DAYS 60"}]}
    modes = {"kind": "file_mode", "items": [
        {"id": "VN-FILE-01", "path": str(tmp_path / "passwd"), "mode": "0644",
         "owner": "root", "group": "root", "missing_ok": False}]}

    for request, control in ((lines, "VN-AUTH-04"), (modes, "VN-FILE-01")):
        rc, checked, err = _run("check", request)
        assert rc == 0 and checked["ids"] == [control], err
    assert (tmp_path / "login.defs").read_text() == LOGIN_DEFS  # check mode wrote nothing

    for request in (lines, modes):
        rc, _, err = _run("apply", request)
        assert rc == 0, err
        rc, again, err = _run("check", request)
        assert rc == 0 and again["ids"] == [], err
    # lineinfile's rule: the last matching line is replaced, the commented one kept
    assert (tmp_path / "login.defs").read_text() == LOGIN_DEFS.replace("PASS_MAX_DAYS\t99999",
                                                                       "PASS_MAX_DAYS 60")
    assert oct((tmp_path / "passwd").stat().st_mode & 0o777) == "0o644"


def test_a_fix_that_cannot_apply_exits_1_with_its_reason(tmp_path):
    rc, out, err = _run("apply", {"kind": "file_mode", "items": [
        {"id": "VN-FILE-03", "path": str(tmp_path / "absent"), "mode": "0600",
         "owner": "root", "group": "root", "missing_ok": False}]})
    assert rc == 1 and out is None
    assert f"VN-FILE-03: {tmp_path / 'absent'} does not exist" in err
