"""accounts: rules over /etc/passwd and /etc/shadow (one UID 0, no empty password, system
accounts without a login shell).

Effective state: the account databases themselves (what login, su and sshd read).
Foreign drift: none apart from the breaker, which already edits files the role does not own:
whoever adds an account, it is in these two files.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Literal

from provdc.controls.base import STATE, Breaker, Evidence, Strict, snapshot

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("accounts",)
FILES = ["/etc/passwd", "/etc/shadow"]
# rule -> (argv printing the offending names, what it must print)
QUERIES: dict[str, tuple[list[str], str]] = {
    "uid0_only_root": (["awk", "-F:", "$3 == 0 {print $1}", "/etc/passwd"], "root"),
    "no_empty_password": (["awk", "-F:", '$2 == "" {print $1}', "/etc/shadow"], ""),
    "system_nologin": (
        ["awk", "-F:", "$3 > 0 && $3 < 1000 && $1 !~ /^(sync|shutdown|halt)$/ && "
         "$7 !~ /(nologin|false)$/ {print $1}", "/etc/passwd"],
        "",
    ),
}
BREAK = {
    "uid0_only_root": "echo 'toor:x:0:0::/root:/usr/sbin/nologin' >> /etc/passwd",
    "no_empty_password": "sed -i 's/^games:[^:]*:/games::/' /etc/shadow",
    "system_nologin": "sed -i -E 's#^(games:([^:]*:){5})[^:]*$#\\1/bin/sh#' /etc/passwd",
}


class Params(Strict):
    kind: Literal["accounts"]
    rule: Literal["uid0_only_root", "no_empty_password", "system_nologin"]


PARAMS = (Params,)


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    rule = control.check.rule
    argv, expected = QUERIES[rule]
    got = probe.out(shlex.join(argv)).split()
    want = expected.split()
    return [Evidence(rule, STATE, " ".join(want) or "none", " ".join(got) or "none", got == want)]


def fix_items(control: Control) -> dict:
    query, expected = QUERIES[control.check.rule]
    return {"id": control.id, "rule": control.check.rule, "query": query, "expected": expected}


def breaker(control: Control, in_container: bool) -> Breaker:
    save, back = snapshot([*FILES, "/etc/passwd-", "/etc/shadow-"])
    return Breaker(control.id, BREAK[control.check.rule], back, save)


def touched(control: Control) -> list[str]:
    return list(FILES)


def apply(engine, kind: str, sel, osv: dict) -> None:
    # every item in one command, by the host-side code the role's baseline_fix module runs
    ids = " ".join(sel.ids[kind])
    engine.ops.host_fix(name=f"{kind}: nologin, locked empty passwords | {ids}", kind=kind,
                        items=sel.fix[kind], nologin=osv["baseline_nologin"])
