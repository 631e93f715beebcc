"""package_present / package_absent: Debian packages, as dpkg records them.

Foreign drift: none separate: dpkg's database is the state, whoever installed or removed.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import STASH, STATE, Breaker, Evidence, Strict, snapshot

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("package_present", "package_absent")


class PackageAbsent(Strict):
    kind: Literal["package_absent"]
    packages: list[str] = Field(min_length=1)


class PackagePresent(Strict):
    kind: Literal["package_present"]
    packages: list[str] = Field(min_length=1)


PARAMS = (PackagePresent, PackageAbsent)


def _status(probe: Probe, packages: list[str]) -> dict[str, str]:
    names = " ".join(shlex.quote(p) for p in packages)
    out = probe.out(f"dpkg-query -W -f='${{Package}} ${{db:Status-Abbrev}}\\n' {names} 2>/dev/null")
    status = {}
    for line in out.splitlines():
        name, _, abbrev = line.partition(" ")
        status[name] = abbrev
    return status


def _installed(abbrev: str | None) -> bool:
    # second letter = current state: i installed, U unpacked, H half, F failed-config, ...
    return bool(abbrev) and len(abbrev) > 1 and abbrev[1] in "iUHFWt"


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    packages = control.check.packages
    status = _status(probe, packages)
    if control.kind == "package_absent":
        return [Evidence(p, STATE, "not installed",
                         "installed" if _installed(status.get(p)) else "not installed",
                         not _installed(status.get(p))) for p in packages]
    return [Evidence(p, STATE, "installed", (status.get(p) or "not installed").strip(),
                     (status.get(p) or "").startswith("ii")) for p in packages]


def fix_items(control: Control) -> dict:
    return {"id": control.id, "packages": list(control.check.packages)}


def breaker(control: Control, in_container: bool) -> Breaker:
    pkg = control.check.packages[0]
    if control.kind == "package_present":
        return Breaker(control.id, f"echo '{pkg} deinstall' | dpkg --set-selections",
                       f"echo '{pkg} install' | dpkg --set-selections")
    build = (
        f"d={STASH}-deb && mkdir -p $d/DEBIAN && printf 'Package: {pkg}\\n"
        f"Version: 0.0-provdc-break\\nArchitecture: all\\n"
        f"Maintainer: provdc <ops@example.org>\\n"
        f"Description: breaker stand-in\\n' > $d/DEBIAN/control && "
        f"dpkg-deb -b $d $d.deb >/dev/null && dpkg -i $d.deb >/dev/null"
    )
    # dpkg creates /var/log/dpkg.log 0644 if it is missing (the lab image has none), which
    # VN-LOG-12 would flag too: create it as the baseline leaves logs, and remove it again on
    # restore if it was not there
    log = "/var/log/dpkg.log"
    build = f"[ -e {log} ] || install -m 0640 /dev/null {log}; {build}"
    save, back = snapshot([log])
    return Breaker(control.id, build, f"dpkg -P {pkg} >/dev/null; rm -rf {STASH}-deb*; {back}",
                   save)


def touched(control: Control) -> list[str]:
    return []


def state(control: Control) -> list[str]:
    return ["dpkg-query -W -f='${Package} ${Status}\\n' "
            + " ".join(shlex.quote(x) for x in control.check.packages)]


def apply(engine, kind: str, sel, osv: dict) -> None:
    names = [p for item in sel.fix[kind] for p in item["packages"]]
    engine.apt.packages(name=f"{kind} | {' '.join(sel.ids[kind])}", packages=names,
                        present=kind == "package_present")
