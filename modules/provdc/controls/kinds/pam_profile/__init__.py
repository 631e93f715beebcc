"""pam_profile: PAM through the distribution's own tool (pam-auth-update profiles on the
Debian family), so the generated stacks keep correct jump counts."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import STATE, Breaker, Evidence, Strict, active_lines

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("pam_profile",)
CONFIGS_DIR = "/usr/share/pam-configs"


class Params(Strict):
    """A pam-auth-update profile (Debian family): the fix installs and enables it."""

    kind: Literal["pam_profile"]
    # profile name (a file in /usr/share/pam-configs) -> its content
    profiles: dict[str, str] = Field(min_length=1)
    # regexes that must each match an active line of the named /etc/pam.d file
    expect: dict[str, list[str]] = Field(min_length=1)


PARAMS = (Params,)


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    ev = []
    for pam_file, patterns in control.check.expect.items():
        lines = active_lines(probe.read(f"/etc/pam.d/{pam_file}"))
        for pattern in patterns:
            hit = next((line for line in lines if re.search(pattern, line)), None)
            ev.append(Evidence(f"/etc/pam.d/{pam_file}", STATE, pattern, hit or "no such line",
                               hit is not None))
    return ev


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def fix_items(control: Control) -> dict:
    p = control.check
    probe = " && ".join(
        f"grep -Eq {_quote(rx)} /etc/pam.d/{f}" for f, rxs in p.expect.items() for rx in rxs
    )
    profiles = [{"name": n, "content": t} for n, t in p.profiles.items()]
    return {"id": control.id, "profiles": profiles, "probe": probe}


def breaker(control: Control, in_container: bool) -> Breaker:
    names = " ".join(control.check.profiles)
    return Breaker(control.id, f"pam-auth-update --package --disable {names}",
                   f"pam-auth-update --package --enable {names}")


def touched(control: Control) -> list[str]:
    p = control.check
    return [f"{CONFIGS_DIR}/{n}" for n in p.profiles] + [f"/etc/pam.d/{f}" for f in p.expect]


def apply(engine, kind: str, sel, osv: dict) -> None:
    for item in engine.host.loop(sel.fix[kind]):
        engine.ops.pam_profiles(name=f"{item['id']}: PAM profiles", directory=CONFIGS_DIR,
                                profiles=item["profiles"],
                                probe=f"sh -c {shlex.quote(item['probe'])}",
                                enable=osv["baseline_pam_update"])
