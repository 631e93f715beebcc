"""kernel_module_disabled: modules that must never load (`install … /bin/false` and a
blacklist), in one modprobe.d file.

Effective state: `modprobe --showconfig`, modprobe's own merge of every modprobe.d file, and
the modules loaded now.

Foreign drift: none separate yet: the breaker deletes our lines, and the check reads
modprobe's merge, so a foreign file's `install` line would show there as well.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import PERSISTED, RUNTIME, Breaker, Evidence, Strict, snapshot

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("kernel_module_disabled",)
FILE = "/etc/modprobe.d/60-provdc-baseline.conf"
TEMPLATE = "modprobe.conf.j2"
SHOWCONFIG = "modprobe --showconfig 2>/dev/null | grep -E '^(install|blacklist) '"


class Params(Strict):
    kind: Literal["kernel_module_disabled"]
    modules: list[str] = Field(min_length=1)


PARAMS = (Params,)


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    config = probe.out(SHOWCONFIG)
    loaded = {line.split()[0] for line in probe.out("cat /proc/modules").splitlines() if line}
    ev = []
    for module in control.check.modules:
        name = module.replace("-", "_")
        install = re.search(rf"^install {name} (/usr)?/bin/(false|true)\b", config, re.M)
        black = re.search(rf"^blacklist {name}$", config, re.M)
        got = ", ".join(x for x, ok in (("install /bin/false", install), ("blacklisted", black))
                        if ok) or "loadable"
        ev.append(Evidence(module, PERSISTED, "install /bin/false, blacklisted", got,
                           bool(install and black)))
        ev.append(Evidence(module, RUNTIME, "not loaded",
                           "loaded" if name in loaded else "not loaded", name not in loaded))
    return ev


def fix_items(control: Control) -> list[dict]:
    return [{"id": control.id, "module": m} for m in control.check.modules]


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
