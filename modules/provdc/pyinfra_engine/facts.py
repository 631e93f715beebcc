"""The facts the provdc operations read. Each is one shell round trip and always exits 0
(pyinfra turns a failing fact command into the fact's default, hiding the reason)."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

_RC = "@@provdc-rc="


@dataclass(frozen=True)
class FileInfo:
    mode: str  # octal, no leading zero: "644"
    owner: str
    group: str
    content: bytes


class ManagedFile(FactBase):
    """A regular file's mode, owner, group and exact bytes; None when absent."""

    def command(self, path: str) -> str:
        q = shlex.quote(path)
        return (f"if [ -f {q} ]; then stat -c '%a %U %G' {q}; printf 'b64:'; base64 -w0 {q}; "
                "echo; else echo absent; fi")

    def process(self, output: list[str]) -> FileInfo | None:
        if not output or output[0] == "absent":
            return None
        mode, owner, group = output[0].split()
        b64 = "".join(output[1:])
        return FileInfo(mode, owner, group, base64.b64decode(b64.removeprefix("b64:")))


class PathMode(FactBase):
    """(mode, owner, group) of any path (file, directory, link target), None when absent."""

    def command(self, path: str) -> str:
        q = shlex.quote(path)
        return f"stat -L -c '%a %U %G' {q} 2>/dev/null || echo absent"

    def process(self, output: list[str]) -> tuple[str, str, str] | None:
        if not output or output[0] == "absent":
            return None
        mode, owner, group = output[0].split()
        return mode, owner, group


class Probe(FactBase):
    """(exit status, stdout) of a read-only command."""

    def command(self, command: str) -> str:
        return f"( {command} ) 2>/dev/null; printf '\\n{_RC}%s\\n' $?"

    def process(self, output: list[str]) -> tuple[int, str]:
        rc_line = max(i for i, line in enumerate(output) if line.startswith(_RC))
        body = output[:rc_line]
        if body and body[-1] == "":
            body = body[:-1]
        return int(output[rc_line][len(_RC):]), "\n".join(body)

    @staticmethod
    def default() -> tuple[int, str]:
        return 127, ""


@dataclass(frozen=True)
class Unit:
    load: str  # loaded | not-found | masked ...
    enabled: str  # systemctl is-enabled: enabled, disabled, masked, static ...
    enabled_rc: int  # 0: systemd counts it as enabled (enabled, static, alias ...)
    active: str  # systemctl is-active


class UnitState(FactBase):
    def command(self, unit: str) -> str:
        u = shlex.quote(unit)
        return (f"systemctl show --property=LoadState --value {u}; "
                f"e=$(systemctl is-enabled {u} 2>/dev/null); echo \"$? $e\"; "
                f"systemctl is-active {u} 2>/dev/null; true")

    def process(self, output: list[str]) -> Unit:
        load = output[0] if output else "not-found"
        rc, _, enabled = (output[1] if len(output) > 1 else "1 ").partition(" ")
        active = output[2] if len(output) > 2 else "unknown"
        return Unit(load, enabled, int(rc), active)


@dataclass(frozen=True)
class Platform:
    distribution: str  # Ansible's ansible_distribution: Debian, Ubuntu
    major: str  # ansible_distribution_major_version
    family: str  # ansible_os_family: Debian or other
    in_container: bool


class HostPlatform(FactBase):
    """What the role's prepare.yml learns from facts and systemd-detect-virt."""

    def command(self) -> str:
        return (". /etc/os-release 2>/dev/null; echo \"$ID|$ID_LIKE|$VERSION_ID\"; "
                "systemd-detect-virt --container --quiet && echo container || echo host")

    def process(self, output: list[str]) -> Platform:
        os_id, like, version = (output[0].split("|") + ["", "", ""])[:3]
        family = "Debian" if "debian" in (os_id, *like.split()) else "other"
        return Platform(os_id.capitalize(), version.split(".")[0], family,
                        output[-1] == "container")
