"""Control kinds, one folder each (ComplianceAsCode's template folders are the model).

A kind is how a family of rules is checked, fixed and broken; a control of the catalogue is
one kind with its parameters. Everything about a kind lives in its folder:

- `__init__.py`: `KINDS` (the kind names it serves; `packages` and `services` serve two),
  `PARAMS` (the parameter models the catalogue validates against), `check()` (evidence from
  the host's effective state), `fix_items()` (what both engines apply), `breaker()` (and
  optionally `foreign_breaker()`: drift written outside our files), `touched()` (the files
  the fix writes; optionally `state()`, commands showing the other state it changes) and
  `apply()` (the pyinfra engine's fix, given that engine's operations as an argument, so this
  package never imports pyinfra);
- `tasks.yml`: the Ansible role's task file (`provdc controls render-ansible` copies it into
  playbooks/roles/baseline/tasks/<folder>.yml);
- `*.j2`: the templates of files the kind renders (both engines render these).

Adding a kind: a folder here, its import and place in ORDER below, controls in the catalogue.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from provdc.controls.kinds import (
    accounts,
    auditd_rule,
    file_content,
    file_line,
    file_mode,
    find_none,
    kernel_module_disabled,
    key_value,
    mount_option,
    nftables_input,
    packages,
    pam_profile,
    services,
    sshd_option,
    sysctl,
)

if TYPE_CHECKING:
    from provdc.controls.base import Breaker, Evidence
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

FOLDERS: tuple[ModuleType, ...] = (
    packages, kernel_module_disabled, sysctl, mount_option, key_value, pam_profile, file_line,
    file_content, file_mode, find_none, accounts, services, auditd_rule, sshd_option,
    nftables_input,
)
BY_KIND: dict[str, ModuleType] = {kind: m for m in FOLDERS for kind in m.KINDS}

# The order kinds run in: packages first (a later kind may need them), sshd last but one
# before the firewall so a mistake in either shows up while the session is still open.
ORDER = [
    "package_present", "package_absent", "kernel_module_disabled", "sysctl", "mount_option",
    "key_value", "pam_profile", "file_line", "file_content", "file_mode", "find_none",
    "accounts", "service_enabled", "service_disabled", "auditd_rule", "sshd_option",
    "nftables_input",
]

# Kinds whose fix runs even when the check-first gate finds every control of the kind
# passing: the host firewall's check proves a default-deny table is loaded, not that it is
# today's rendering of the flow matrix, which may have changed since (the segmentation role
# compares the two and changes nothing when they agree).
ALWAYS_RUN = ["nftables_input"]

PARAMS = tuple(p for m in FOLDERS for p in m.PARAMS)


def folder_name(kind: str) -> str:
    """The kind's folder, also the name of its task file in the role."""
    return BY_KIND[kind].__name__.rsplit(".", 1)[1]


def directory(kind: str) -> Path:
    return Path(BY_KIND[kind].__file__).parent


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    return BY_KIND[control.kind].check(control, probe, runtime)


def fix_items(control: Control) -> list[dict] | dict:
    return BY_KIND[control.kind].fix_items(control)


def breaker(control: Control, in_container: bool) -> Breaker:
    return BY_KIND[control.kind].breaker(control, in_container)


def foreign_breaker(control: Control) -> Breaker | None:
    """A breaker that leaves every file the role manages alone (None: the kind has none)."""
    make = getattr(BY_KIND[control.kind], "foreign_breaker", None)
    return make(control) if make else None


def touched(control: Control) -> list[str]:
    return BY_KIND[control.kind].touched(control)


def state(control: Control) -> list[str]:
    read = getattr(BY_KIND[control.kind], "state", None)
    return read(control) if read else []


def apply(engine, kind: str, sel, osv: dict) -> None:
    BY_KIND[kind].apply(engine, kind, sel, osv)
