"""Ansible lineinfile (state=present), as a pure function on bytes.

pyinfra's own `files.line` replaces *every* matching line; Ansible's lineinfile replaces only
the *last* one (login.defs has a commented `#\tPASS_MAX_DAYS` line before the real one, which
the catalogue's regexps match too). Parity between the engines needs the same edit, so this is
lineinfile's algorithm (ansible-core 2.19 `lineinfile.present()`, without backrefs,
search_string and firstmatch, which the role does not use): the regexp first, then the exact
line, then the insert anchor.
"""

from __future__ import annotations

import re

LINESEP = b"\n"


def ensure_line(text: bytes | None, line: str, regexp: str | None = None,
                insertafter: str | None = None, insertbefore: str | None = None) -> bytes:
    """The file after lineinfile; `text` None means the file does not exist (create)."""
    b_line = line.encode()
    lines = (text or b"").splitlines(keepends=True)
    b_re = re.compile(regexp.encode()) if regexp is not None else None
    anchor = insertafter if insertafter not in (None, "BOF", "EOF") else None
    anchor = anchor or (insertbefore if insertbefore not in (None, "BOF") else None)
    b_ins = re.compile(anchor.encode()) if anchor else None

    match_at, insert_at = -1, -1
    if b_re is not None:  # the last line matching the regexp
        for lineno, cur in enumerate(lines):
            if b_re.search(cur):
                match_at = lineno
    if match_at == -1:  # else the line itself (exact), and where an anchor matched last
        for lineno, cur in enumerate(lines):
            if b_line == cur.rstrip(b"\r\n"):
                match_at = lineno
            elif b_ins is not None and b_ins.search(cur):
                insert_at = lineno + 1 if insertafter else lineno

    new = b_line if b_line.endswith(LINESEP) else b_line + LINESEP
    if match_at != -1:
        lines[match_at] = new
    elif "BOF" in (insertbefore, insertafter):
        lines.insert(0, new)
    elif insertafter == "EOF" or insert_at == -1:
        if lines and lines[-1][-1:] not in (b"\n", b"\r"):
            lines.append(LINESEP)
        lines.append(new)
    elif insertafter:
        if insert_at == len(lines):
            if lines[insert_at - 1].rstrip(b"\r\n") != b_line:
                lines.append(new)
        elif lines[insert_at].rstrip(b"\r\n") != b_line:
            lines.insert(insert_at, new)
    else:
        lines.insert(insert_at, new)
    return b"".join(lines)
