"""kernel_module_disabled: modules that must never load (`install … /bin/false` and a
blacklist), in one modprobe.d file.

Effective state: what `modprobe -n -v` would run for each module (kmod runs the FIRST
install line in the name order of every modprobe.d file), with the file that decides, and
the blacklist in `modprobe --showconfig`, and the modules loaded now.

Foreign drift: a modprobe.d file named before ours that installs the module normally again
(`install cramfs /sbin/modprobe --ignore-install cramfs`); the fix disables such a line under
/etc.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import (
    PERSISTED,
    RUNTIME,
    Breaker,
    Evidence,
    Override,
    Strict,
    grep_hits,
    overridable,
    snapshot,
    write_file,
)

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("kernel_module_disabled",)
FILE = "/etc/modprobe.d/60-provdc-baseline.conf"
TEMPLATE = "modprobe.conf.j2"
SHOWCONFIG = "modprobe --showconfig 2>/dev/null | grep -E '^(install|blacklist) '"
# Every install line of every modprobe.d directory kmod reads, with file and line (kmod reads
# the files in the order of their names, whatever the directory, and the FIRST install
# command for a module is the one it runs).
INSTALL_LINES = ("grep -HnE '^[[:space:]]*install[[:space:]]' /etc/modprobe.d/*.conf "
                 "/run/modprobe.d/*.conf /usr/local/lib/modprobe.d/*.conf /lib/modprobe.d/*.conf "
                 "/usr/lib/modprobe.d/*.conf 2>/dev/null")
DISABLED = re.compile(r"^install (/usr)?/bin/(false|true)\b")


class Params(Strict):
    kind: Literal["kernel_module_disabled"]
    modules: list[str] = Field(min_length=1)


PARAMS = (Params,)


def _dry_run(modules: list[str]) -> str:
    """What `modprobe` would do for each module (`-n -v`: nothing is loaded), each under an
    `@@mod NAME` header."""
    names = " ".join(shlex.quote(m) for m in modules)
    return (f"for m in {names}; do printf '@@mod %s\\n' \"$m\"; modprobe -n -v \"$m\" 2>&1; "
            "done")


def _own_insmod_of_other(line: str, module: str) -> bool:
    """`insmod .../cdrom.ko` for udf: a dependency modprobe loads first. Only where the
    kernel's modules are installed (a real host, a VM) does modprobe print these."""
    parts = line.split()
    if len(parts) < 2 or parts[0] != "insmod":
        return False
    stem = parts[1].rsplit("/", 1)[-1].split(".ko", 1)[0]
    return stem.replace("-", "_") != module.replace("-", "_")


def _first_lines(text: str) -> dict[str, str]:
    """module -> the first line modprobe -n -v printed for the module itself (its
    dependencies' insmod lines come before it)."""
    out: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@mod "):
            current = line[6:].strip()
            out[current] = ""
        elif (current is not None and not out[current]
              and not _own_insmod_of_other(line.strip(), current)):
            out[current] = line.strip()
    return out


def _deciding_install(module: str, hits: list[tuple[str, str, str]]) -> str:
    """path:line of the install line kmod runs for the module (first in name order)."""
    name = module.replace("-", "_")
    mine = [(path.rsplit("/", 1)[-1], f"{path}:{n}") for path, n, text in hits
            if len(text.split()) > 1 and text.split()[1].replace("-", "_") == name]
    return min(mine)[1] if mine else ""


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    config = probe.out(SHOWCONFIG)
    would = _first_lines(probe.out(_dry_run(control.check.modules)))
    hits = grep_hits(probe.out(INSTALL_LINES))
    loaded = {line.split()[0] for line in probe.out("cat /proc/modules").splitlines() if line}
    ev = []
    for module in control.check.modules:
        name = module.replace("-", "_")
        ev.append(_install(module, would.get(module, ""), _deciding_install(module, hits)))
        black = re.search(rf"^blacklist {name}$", config, re.M) is not None
        ev.append(Evidence(f"{module} blacklist", PERSISTED, "blacklisted",
                           "blacklisted" if black else "not blacklisted", black))
        ev.append(Evidence(module, RUNTIME, "not loaded",
                           "loaded" if name in loaded else "not loaded", name not in loaded))
    return ev


def _install(module: str, would: str, where: str) -> Evidence:
    ok = DISABLED.match(would) is not None
    got = would or "no answer from modprobe -n -v"
    override = None
    if where and not where.startswith(FILE + ":"):
        got += f" (decided by {where})"
        path = where.rsplit(":", 1)[0]
        if not ok and overridable(path):
            name = re.escape(module).replace("\\-", "[-_]").replace("_", "[-_]")
            override = Override(path, rf"^[ \t]*install[ \t]+{name}[ \t].*$")
    return Evidence(module, PERSISTED, "install /bin/false (what modprobe would run)", got, ok,
                    override)


def fix_items(control: Control) -> list[dict]:
    return [{"id": control.id, "module": m} for m in control.check.modules]


FOREIGN_FILE = "/etc/modprobe.d/00-vendor.conf"


def foreign_breaker(control: Control) -> Breaker | None:
    mod = control.check.modules[0]
    return write_file(control.id, FOREIGN_FILE,
                      f"install {mod} /sbin/modprobe --ignore-install {mod}\n")


def breaker(control: Control, in_container: bool) -> Breaker:
    save, back = snapshot([FILE])
    mod = control.check.modules[0]
    return Breaker(control.id, f"sed -i -E '/^(install|blacklist) {mod}( |$)/d' {FILE}", back,
                   save)


def touched(control: Control) -> list[str]:
    return [FILE]


def apply(engine, kind: str, sel, osv: dict) -> None:
    engine.ops.managed_file(name=f"{kind}: {FILE} | {' '.join(sel.ids[kind])}", path=FILE,
                            content=engine.render(TEMPLATE), mode="0644")
