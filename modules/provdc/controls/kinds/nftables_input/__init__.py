"""nftables_input: inbound default deny. One source: the rules are the host firewall the
segmentation engine renders from the flow matrix; this kind checks the table it loads, the
file it keeps for boot and the unit that loads that file, and its fix is that engine's
(the role includes the segmentation role; pyinfra calls the engine's firewall deploy).

Effective state: the live input chain as a whole against its confirmed rendering (the apply
script's own comparison), so a rule inserted before the final drop is seen even while the
policy and the SSH rule still look right.

Foreign drift: an `accept` someone inserted at the top of the live input chain.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from provdc.controls.base import PERSISTED, RUNTIME, Breaker, Evidence, Strict

# Sideways on purpose: VN-NET-09 is the host firewall the segmentation package renders and
# applies; the check reads its boot copy where that package's apply script keeps it.
from provdc.segmentation.nftapply import BOOT_DIR

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("nftables_input",)
# The segmentation engine's apply script and the unit that loads the confirmed table at boot.
UNIT = "provdc-segmentation.service"
SCRIPT = "/usr/local/sbin/provdc-segmentation"


class Params(Strict):
    kind: Literal["nftables_input"]
    table: str = "provdc_segmentation"
    allow_tcp: list[int | str] = Field(min_length=1)


PARAMS = (Params,)


def boot_file(table: str) -> str:
    return f"{BOOT_DIR}/{table}.nft"


def compare_command(table: str) -> str:
    """The apply script's comparison of the live table with its confirmed boot copy (JSON
    with `changed` and `differences`)."""
    return f"{SCRIPT} check {boot_file(table)} 2>&1"


def ports(chain_listing: str) -> set[str]:
    """Ports accepted by `tcp dport` rules in an `nft list chain` output."""
    found: set[str] = set()
    for m in re.finditer(r"tcp dport (\{[^}]*\}|\S+) accept", chain_listing):
        found.update(p.strip() for p in m.group(1).strip("{} ").split(","))
    return found


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    p = control.check
    ev = []
    rc, live = probe.run(f"nft list chain inet {p.table} input 2>/dev/null")
    allowed = ports(live)
    if runtime:
        ev.append(Evidence("input policy", RUNTIME, "drop",
                           "drop" if "policy drop" in live else (live.strip() and "accept")
                           or f"no table inet {p.table}", rc == 0 and "policy drop" in live))
        for port in p.allow_tcp:
            ev.append(Evidence(f"tcp/{port}", RUNTIME, "allowed",
                               "allowed" if str(port) in allowed else "blocked",
                               str(port) in allowed))
        ev.append(_as_confirmed(probe, p.table))
    path = boot_file(p.table)
    text = probe.read(path) or ""
    dropped = "policy drop" in text
    ev.append(Evidence(path, PERSISTED, "policy drop", "policy drop" if dropped else "missing",
                       dropped))
    enabled = probe.out(f"systemctl is-enabled {UNIT} 2>/dev/null").strip() or "missing"
    ev.append(Evidence(UNIT, PERSISTED, "enabled", enabled, enabled == "enabled"))
    return ev


def _as_confirmed(probe: Probe, table: str) -> Evidence:
    rc, out = probe.run(compare_command(table))
    try:
        doc = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    except ValueError:
        doc = {}
    if "changed" not in doc:
        got = " ".join(out.split())[-200:] or f"no answer (exit {rc})"
        return Evidence("live table", RUNTIME, "as confirmed", got, False)
    diffs = doc.get("differences") or []
    got = "as confirmed" if not doc["changed"] else "; ".join(diffs)[:400] or "differs"
    return Evidence(f"live table vs {boot_file(table)}", RUNTIME, "as confirmed", got,
                    not doc["changed"])


def fix_items(control: Control) -> dict:
    p = control.check
    return {"id": control.id, "table": p.table, "allow_tcp": [str(x) for x in p.allow_tcp]}


def breaker(control: Control, in_container: bool) -> Breaker:
    table = control.check.table
    return Breaker(control.id, f"nft delete table inet {table}", f"nft -f {boot_file(table)}")


def foreign_breaker(control: Control) -> Breaker | None:
    """An accept-all someone inserted at the top of the live input chain."""
    table = control.check.table
    return Breaker(control.id, f"nft insert rule inet {table} input accept",
                   f"nft -f {boot_file(table)}", names="live table")


def touched(control: Control) -> list[str]:
    return [boot_file(control.check.table), SCRIPT, f"/etc/systemd/system/{UNIT}"]


def apply(engine, kind: str, sel, osv: dict) -> None:
    engine.host_firewall(sel.fix[kind][0])
