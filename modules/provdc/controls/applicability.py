"""Does a control apply to a host? One answer for the Ansible role, pyinfra and the audit.

A control applies when the host's security level reaches the control's, the host is in no
group the control exempts (site gateways forward packets, for example) and its OS family is
one the control is written for. The engines also honour the control's toggle
(`baseline_vn_ssh_02: false`) and a selection (`--tags` / `baseline_only`); the audit does
not: an auditor judges every applicable control, and a turned-off one is waived, not hidden.

The role reaches this module through the collection's filter `provdc.idc.select_controls`
(`playbooks/collections/ansible_collections/provdc/idc/plugins/filter/`), pyinfra through
`provdc.pyinfra_engine.selection`, the audit through `provdc.controls.checks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from provdc.errors import ProvdcError

TRUE_WORDS = {"1", "true", "yes", "on", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "off", "n", "f", ""}
EVERYTHING = {"all", "baseline"}


def _get(control: Any, key: str) -> Any:
    """Controls come as catalogue objects (Python) or as the role's dicts (Ansible)."""
    return control[key] if isinstance(control, Mapping) else getattr(control, key)


def not_applicable_reason(control: Any, *, level: int, groups: Iterable[str],
                          os_family: str) -> str | None:
    """Why the control does not apply to this host, or None when it does."""
    min_level = int(_get(control, "min_level"))
    if level < min_level:
        return f"applies from security level {min_level}; host is level {level}"
    exempt = sorted(set(_get(control, "exempt_groups")) & set(groups))
    if exempt:
        return f"hosts of group {exempt[0]} are exempt by design"
    families = list(_get(control, "os_families"))
    if os_family not in families:
        return f"written for {', '.join(families)}; host is {os_family}"
    return None


def as_bool(value: object, name: str) -> bool:
    """Ansible's `| bool` for a toggle; anything else is an input error."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ProvdcError(f"'{value}' is not true or false", field=name,
                      fix=f"set {name} to true or false")


def named(control: Any, wanted: Iterable[str]) -> bool:
    """Is the control named by a selection of ids, kinds or families (like --tags)?"""
    wanted = {str(w).strip() for w in wanted if str(w).strip()}
    if not wanted or wanted & EVERYTHING:
        return True
    return bool(wanted & {_get(control, "id"), _get(control, "kind"),
                          str(_get(control, "family")).lower()})


def select(controls: Iterable[Any], *, level: int, groups: Iterable[str], os_family: str,
           toggles: Mapping[str, object], wanted: Iterable[str] = ()) -> list[Any]:
    """The controls an engine applies on this host, in catalogue order."""
    groups, wanted = list(groups), list(wanted)
    return [c for c in controls
            if as_bool(toggles.get(_get(c, "toggle"), True), _get(c, "toggle"))
            and not_applicable_reason(c, level=level, groups=groups, os_family=os_family) is None
            and named(c, wanted)]
