"""What every control kind builds on: the parameter base class, evidence, breakers, and the
small text readers several kinds share. Imports nothing of provdc (kinds sit on it)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

Scalar = str | int

RUNTIME = "runtime"
PERSISTED = "persisted"
STATE = "state"  # files read at use time: on disk is what is in force


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Override:
    """Lines someone else wrote that decide against a control and that the fix may comment
    out (ComplianceAsCode's remediations do the same): `pattern`, a Python regular
    expression (multi-line mode), matches exactly those lines of `path`; `then` is what must
    run afterwards for the program to read it again (empty: it reads its files at use)."""

    path: str
    pattern: str
    then: str = ""


@dataclass
class Evidence:
    item: str
    state: str  # runtime | persisted | state
    expected: str
    actual: str
    ok: bool
    # set on a failing item decided by a line written elsewhere that the fix may disable;
    # None where nothing can be disabled safely (the finding then stops the fix loudly)
    override: Override | None = None


def overridable(path: str) -> bool:
    """Only an administrator's files are edited: /etc, never a package's /usr or /lib."""
    return path.startswith("/etc/")


# --- breakers -------------------------------------------------------------------------------
#
# A breaker is three shell snippets: `snapshot` saves the files it will touch (tar, plus a
# list of the ones that did not exist), `run` breaks, `restore` puts everything back.

STASH = "/var/tmp/provdc-break"


@dataclass
class Breaker:
    control: str
    run: str
    restore: str
    snapshot: str = ""
    # what the failing evidence must name (a foreign breaker's file, "Match at ..."): the
    # lab test proves the finding points at the drift, not only that the control fails
    names: str = ""


def snapshot(paths: list[str]) -> tuple[str, str]:
    """Shell to save these paths and to put them back exactly (absent ones removed)."""
    q = " ".join(shlex.quote(p) for p in paths)
    save = (
        f"rm -rf {STASH} && mkdir -p {STASH} && for p in {q}; do "
        f"if [ -e \"$p\" ]; then echo \"$p\" >> {STASH}/present; "
        f"else echo \"$p\" >> {STASH}/absent; fi; done; "
        f"[ ! -s {STASH}/present ] || tar -C / -cpf {STASH}/saved.tar "
        f"$(sed 's#^/##' {STASH}/present)"
    )
    back = (
        f"[ ! -s {STASH}/saved.tar ] || tar -C / -xpf {STASH}/saved.tar; "
        f"[ ! -s {STASH}/absent ] || xargs rm -rf < {STASH}/absent; rm -rf {STASH}"
    )
    return save, back


def write_file(control: str, path: str, text: str, mode: str = "0644") -> Breaker:
    """A breaker that writes one whole foreign file and removes it again."""
    q = shlex.quote(path)
    write = f"install -m {mode} /dev/null {q} && printf %s {shlex.quote(text)} > {q}"
    return Breaker(control, write, f"rm -f {q}", names=path)


# --- text readers ---------------------------------------------------------------------------


def norm(value: object) -> str:
    return " ".join(str(value).split()).lower()


def active_lines(text: str | None, comment: str = "#") -> list[str]:
    out = []
    for line in (text or "").splitlines():
        line = line.split(comment, 1)[0].strip() if comment else line.strip()
        if line:
            out.append(line)
    return out


def grep_hits(text: str) -> list[tuple[str, str, str]]:
    """`grep -Hn` output as (path, line number, line)."""
    return [tuple((hit.split(":", 2) + ["", ""])[:3]) for hit in text.splitlines()]


def assignments(content: str, separator: str) -> list[tuple[str, str]]:
    """KEY=value (or `Key "value";`) lines of a catalogue file, comments and sections out."""
    out = []
    for line in content.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[", "//")) or separator not in line:
            continue
        key, _, value = line.partition(separator)
        out.append((key.strip(), value.strip()))
    return out


def first_difference(want: str, got: str) -> str:
    w, g = want.rstrip().splitlines(), got.rstrip().splitlines()
    for i in range(max(len(w), len(g))):
        a = w[i] if i < len(w) else "<end>"
        b = g[i] if i < len(g) else "<end>"
        if a != b:
            return f"line {i + 1}: {b!r} (expected {a!r})"
    return "differs"

