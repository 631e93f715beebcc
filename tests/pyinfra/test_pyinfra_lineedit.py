"""`ensure_line` against Ansible's own lineinfile: the same cases run through a real
ansible-playbook (local connection, files in tmp_path) and through the pure function."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provdc.pyinfra_engine.lineedit import ensure_line

LOGIN_DEFS = (b"# comment\n#\tPASS_MAX_DAYS\tMaximum number of days\nPASS_MAX_DAYS\t99999\n"
              b"PASS_MIN_DAYS\t0\n")
# (name, initial bytes or None for a missing file, lineinfile arguments)
CASES = [
    ("replace-last-match", LOGIN_DEFS,
     {"line": "PASS_MAX_DAYS 60", "regexp": r"^\s*#?\s*PASS_MAX_DAYS(\s|$)"}),
    ("append-eof", b"a = 1\n", {"line": "minlen = 14", "regexp": r"^\s*#?\s*minlen\s*="}),
    ("bare-flag-exact-line", b"# enforce_for_root\nenforce_for_root\n",
     {"line": "enforce_for_root", "regexp": r"^\s*#?\s*enforce_for_root\s*="}),
    ("no-final-newline", b"x = 1", {"line": "y = 2", "regexp": r"^y\s*="}),
    ("bof", b"Port 22\n", {"line": "Include /etc/ssh/sshd_config.d/*.conf",
                           "regexp": r"^\s*Include\s+/etc/ssh/sshd_config\.d/\*\.conf",
                           "insertbefore": "BOF"}),
    ("bof-present", b"Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n",
     {"line": "Include /etc/ssh/sshd_config.d/*.conf",
      "regexp": r"^\s*Include\s+/etc/ssh/sshd_config\.d/\*\.conf", "insertbefore": "BOF"}),
    ("insertafter-anchor", b"auth sufficient pam_rootok.so\nauth x\n",
     {"line": "auth required pam_wheel.so use_uid group=sudo",
      "regexp": r"^#?\s*auth\s+required\s+pam_wheel\.so",
      "insertafter": r"^auth\s+sufficient\s+pam_rootok\.so"}),
    ("no-regexp-present", b"flush ruleset\ninclude \"/etc/nftables.d/*.nft\"\n",
     {"line": 'include "/etc/nftables.d/*.nft"'}),
    ("create", None, {"line": "INACTIVE=45", "regexp": r"^\s*#?\s*INACTIVE\s*=", "create": True}),
]


def _ours(initial: bytes | None, args: dict) -> bytes:
    kw = {k: v for k, v in args.items() if k != "create"}
    return ensure_line(initial, kw.pop("line"), **kw)


@pytest.mark.parametrize("name,initial,args", CASES, ids=[c[0] for c in CASES])
def test_idempotent(name, initial, args):
    once = _ours(initial, args)
    assert _ours(once, args) == once


def test_last_match_only_not_every_match():
    out = _ours(LOGIN_DEFS, CASES[0][2]).decode()
    assert out.count("PASS_MAX_DAYS 60") == 1 and "#\tPASS_MAX_DAYS\tMaximum" in out


def test_same_bytes_as_ansible_lineinfile(tmp_path):
    tasks = []
    for name, initial, args in CASES:
        path = tmp_path / name
        if initial is not None:
            path.write_bytes(initial)
        tasks.append({"name": name, "ansible.builtin.lineinfile": {"path": str(path), **args}})
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    ansible = Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.run([str(ansible), "-i", "localhost,", str(tmp_path / "play.yml")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    for name, initial, args in CASES:
        assert (tmp_path / name).read_bytes() == _ours(initial, args), name
