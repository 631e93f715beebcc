"""provdc.idc.baseline_fix against the builtin modules it replaces: the same items run
through ansible.builtin.file / lineinfile / copy (one task per item, as the role did) on one
copy of hand-written files and through the collection's module (one task per kind) on
another, with a real ansible-playbook of the built and installed collection (local
connection, files in tmp_path only). Both must
leave the same bytes, modes and owners; the module reports exactly the ids it changed, writes
nothing in check mode, and changes nothing the second time."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

# Hand-written starting files (relative to each copy's root) and mode.
FILES = {
    "login.defs": (b"# comment\n#\tPASS_MAX_DAYS\tMaximum number of days\nPASS_MAX_DAYS\t99999\n"
                   b"PASS_MIN_DAYS\t0\nUMASK\t\t022\n", 0o644),
    "pwquality.conf": (b"# minlen = 9\n", 0o600),
    "su": (b"auth       sufficient pam_rootok.so\nauth x\n", 0o644),
    "passwd": (b"root:x:0:0:root:/root:/bin/bash\n", 0o664),
    "shadow": (b"root:*:19000:0:99999:7:::\n", 0o644),
    "issue.net": (b"Debian GNU/Linux\n", 0o644),
}


def _items(root: Path) -> dict[str, list[dict]]:
    r = str(root)
    return {
        "key_value": [
            {"id": "VN-AUTH-04", "path": f"{r}/login.defs", "create": False,
             "regexp": r"^\s*#?\s*PASS_MAX_DAYS(\s|$)", "line": "PASS_MAX_DAYS 60"},
            {"id": "VN-AUTH-04", "path": f"{r}/login.defs", "create": False,
             "regexp": r"^\s*#?\s*PASS_MIN_DAYS(\s|$)", "line": "PASS_MIN_DAYS 0"},
            {"id": "VN-AUTH-05", "path": f"{r}/login.defs", "create": False,
             "regexp": r"^\s*#?\s*UMASK(\s|$)", "line": "UMASK 027"},
            {"id": "VN-AUTH-01", "path": f"{r}/pwquality.conf", "create": False,
             "regexp": r"^\s*#?\s*minlen\s*=", "line": "minlen = 14"},
            {"id": "VN-AUTH-06", "path": f"{r}/useradd", "create": True,
             "regexp": r"^\s*#?\s*INACTIVE\s*=", "line": "INACTIVE=45"},
        ],
        "file_line": [
            {"id": "VN-AUTH-12", "path": f"{r}/su", "regexp": r"^#?\s*auth\s+required\s+pam_wheel",
             "line": "auth required pam_wheel.so use_uid group=sudo",
             "insertafter": r"^auth\s+sufficient\s+pam_rootok\.so"},
        ],
        "file_mode": [
            {"id": "VN-FILE-01", "path": f"{r}/passwd", "mode": "0644", "owner": "root",
             "group": "root", "missing_ok": False},
            {"id": "VN-FILE-02", "path": f"{r}/shadow", "mode": "0640", "owner": "root",
             "group": "root", "missing_ok": False},
            {"id": "VN-FILE-03", "path": f"{r}/passwd-", "mode": "0600", "owner": "root",
             "group": "root", "missing_ok": True},
        ],
        "file_content": [
            {"id": "VN-SSH-07", "path": f"{r}/issue.net", "content": "Authorised use only.\n",
             "mode": "0644", "validate": None, "notify": "none"},
            {"id": "VN-LOG-09", "path": f"{r}/journald.conf.d/60-provdc.conf",
             "content": "[Journal]\nStorage=persistent\n", "mode": "0644",
             "validate": "grep -q Storage= %s", "notify": "journald"},
        ],
    }


def _builtin_tasks(items: dict[str, list[dict]]) -> list[dict]:
    """What the role ran before: one builtin task per item."""
    tasks = []
    for i in items["key_value"]:
        tasks.append({"ansible.builtin.lineinfile": {
            "path": i["path"], "regexp": i["regexp"], "line": i["line"], "create": i["create"],
            **({"mode": "0644"} if i["create"] else {})}})
    for i in items["file_line"]:
        tasks.append({"ansible.builtin.lineinfile": {
            "path": i["path"], "regexp": i["regexp"], "line": i["line"],
            "insertafter": i["insertafter"]}})
    for i in items["file_mode"]:
        tasks.append({"ansible.builtin.stat": {"path": i["path"]}, "register": "st"})
        tasks.append({"ansible.builtin.file": {"path": i["path"], "mode": i["mode"],
                                               "owner": i["owner"], "group": i["group"]},
                      "when": "st.stat.exists or not " + str(i["missing_ok"])})
    for i in items["file_content"]:
        tasks.append({"ansible.builtin.file": {"path": os.path.dirname(i["path"]),
                                               "state": "directory"}})
        tasks.append({"ansible.builtin.copy": {
            "content": i["content"], "dest": i["path"], "owner": "root", "group": "root",
            "mode": i["mode"], **({"validate": i["validate"]} if i["validate"] else {})}})
    return tasks


def _module_tasks(items: dict[str, list[dict]]) -> list[dict]:
    return [{"provdc.idc.baseline_fix": {"kind": kind, "items": kind_items},
             "register": f"fix_{kind}"} for kind, kind_items in items.items()] + [
        {"ansible.builtin.copy": {
            "dest": "{{ result_file }}", "content": "{{ results | to_json }}"},
         "check_mode": False,
         "vars": {"results": {k: f"{{{{ fix_{k} }}}}" for k in items}}}]


def _run(installed, tmp_path: Path, name: str, tasks: list[dict], *args: str):
    book = tmp_path / f"{name}.yml"
    book.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                                     "tasks": tasks}]))
    return installed.run("ansible-playbook", "-i", "localhost,", "-c", "local", str(book),
                         "-e", f"result_file={tmp_path / (name + '.json')}", *args,
                         ANSIBLE_PYTHON_INTERPRETER=sys.executable)


def _playbook(installed, tmp_path: Path, name: str, tasks: list[dict], *args: str) -> str:
    proc = _run(installed, tmp_path, name, tasks, *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


def _tree(root: Path) -> dict[str, tuple[bytes, str, int, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root))] = (path.read_bytes(), oct(st.st_mode & 0o7777),
                                                st.st_uid, st.st_gid)
    return out


def _seed(root: Path) -> None:
    root.mkdir()
    for name, (content, mode) in FILES.items():
        (root / name).write_bytes(content)
        os.chmod(root / name, mode)


def test_same_result_as_the_builtin_modules_one_run_per_kind(installed, tmp_path):
    builtin, ours = tmp_path / "builtin", tmp_path / "ours"
    _seed(builtin)
    _seed(ours)
    _playbook(installed, tmp_path, "builtin", _builtin_tasks(_items(builtin)))
    before = _tree(ours)
    out = _playbook(installed, tmp_path, "check", _module_tasks(_items(ours)), "--check", "--diff")
    assert _tree(ours) == before, "check mode wrote to the files"
    assert "+PASS_MAX_DAYS 60" in out  # --diff shows the edit
    _playbook(installed, tmp_path, "ours", _module_tasks(_items(ours)))
    assert _tree(ours) == _tree(builtin)

    results = json.loads((tmp_path / "ours.json").read_text())
    assert results["key_value"]["changed_ids"] == ["VN-AUTH-04", "VN-AUTH-05", "VN-AUTH-01",
                                                   "VN-AUTH-06"]  # PASS_MIN_DAYS 0 was set
    assert results["file_mode"]["changed_ids"] == ["VN-FILE-01", "VN-FILE-02"]
    assert results["file_content"]["notify"] == ["journald"]
    checked = json.loads((tmp_path / "check.json").read_text())
    assert {k: v["changed_ids"] for k, v in checked.items()} == \
        {k: v["changed_ids"] for k, v in results.items()}

    _playbook(installed, tmp_path, "again", _module_tasks(_items(ours)))
    again = json.loads((tmp_path / "again.json").read_text())
    assert {k: (v["changed"], v["changed_ids"]) for k, v in again.items()} == \
        {k: (False, []) for k in again}


def test_a_candidate_the_validator_refuses_is_never_written(installed, tmp_path):
    root = tmp_path / "files"
    _seed(root)
    items = [{"id": "VN-SSH-07", "path": str(root / "issue.net"), "content": "no marker\n",
              "mode": "0644", "validate": "grep -q Authorised %s", "notify": "none"}]
    proc = _run(installed, tmp_path, "bad",
                [{"provdc.idc.baseline_fix": {"kind": "file_content", "items": items}}])
    assert proc.returncode != 0
    assert "failed to validate with `grep -q Authorised" in proc.stdout
    assert (root / "issue.net").read_bytes() == FILES["issue.net"][0]
    assert sorted(p.name for p in root.iterdir()) == sorted(FILES)  # no candidate left
