"""Reading a host: commands run once, cached, and batched into one round trip.

A check only needs `host.run(command)` returning an object with `rc` and `stdout` (a testinfra
Host does), so the compliance suite, the audit, the gate and the breaker tests share this.
"""

from __future__ import annotations

import hashlib
import re
import shlex


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


MARK = "@@provdc-probe"


def command_key(command: str) -> str:
    # markers name a command by its digest, so output can be matched even when the list of
    # commands that produced it is not the reader's (a role rendered from another catalogue)
    return hashlib.sha1(command.encode()).hexdigest()[:16]


def batch_script(commands: list[str]) -> str:
    """One POSIX shell script that runs every command, framing each output with markers."""
    return "".join(
        f"printf '\\n{MARK} {command_key(c)} begin\\n'; ( {c} ); "
        f"printf '\\n{MARK} {command_key(c)} rc=%s\\n' $?\n"
        for c in dict.fromkeys(commands)
    )


def parse_batch(text: str, commands: list[str]) -> dict[str, tuple[int, str]]:
    """(rc, output) of each command found in a batch_script's output."""
    by_key = {m.group(1): (int(m.group(3)), m.group(2)) for m in FRAME.finditer(text)}
    return {c: by_key[command_key(c)] for c in dict.fromkeys(commands) if command_key(c) in by_key}


# one pass over the output (a frame ends at the rc marker with its own key)
FRAME = re.compile(rf"\n{MARK} ([0-9a-f]+) begin\n(.*?)\n{MARK} \1 rc=(\d+)(?:\n|$)", re.S)


class Recorder(Probe):
    """Answers every command with success and no output, remembering the commands asked."""

    def __init__(self):
        super().__init__(host=None)
        self.commands: list[str] = []

    def run(self, command: str) -> tuple[int, str]:
        self.commands.append(command)
        return 0, ""
