"""Does a control apply to a host? One answer for the Ansible role, pyinfra and the audit.

A control applies when the host's security level reaches the control's, the host is in no
group the control exempts (site gateways forward packets, for example) and its OS family is
one the control is written for. The engines also honour the control's toggle
(`baseline_vn_ssh_02: false`) and a run's selection (`--tags` and `--skip-tags`, pyinfra's
`baseline_only` and `baseline_skip`); the audit does not: an auditor judges every applicable
control, and a turned-off one is waived, not hidden.

The role reaches this module through the collection's filters `provdc.idc.select_controls`
and `provdc.idc.named_controls`
(`playbooks/collections/ansible_collections/provdc/idc/plugins/filter/`), pyinfra through
`provdc.pyinfra_engine.selection`, the audit through `provdc.controls.checks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from provdc.controls import kinds
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


def names_of(control: Any) -> set[str]:
    """What a run's tags name a control by: its id, its kind, its family (lowercase) and its
    kind's task file in the role (`packages` for package_present and package_absent)."""
    kind = _get(control, "kind")
    return {_get(control, "id"), kind, str(_get(control, "family")).lower(),
            kinds.folder_name(kind)}


def known_names(controls: Iterable[Any]) -> set[str]:
    """Every name a selection may use: the controls' names and the words for all of them."""
    return set().union(EVERYTHING, *(names_of(c) for c in controls))


def _words(values: Iterable[str]) -> set[str]:
    return {str(v).strip() for v in values if str(v).strip()}


def named(control: Any, wanted: Iterable[str]) -> bool:
    """Is the control named by a selection of ids, kinds, families or task files (like
    --tags)? No selection, `all` or `baseline` names every control."""
    wanted = _words(wanted)
    return not wanted or bool(wanted & EVERYTHING) or bool(wanted & names_of(control))


def skipped(control: Any, skip: Iterable[str]) -> bool:
    """Is the control named by --skip-tags? Only a name skips (`baseline` skips them all);
    an empty list skips nothing."""
    return bool(_words(skip) & (names_of(control) | {"baseline"}))


def pick(controls: Iterable[Any], wanted: Iterable[str] = (),
         skip: Iterable[str] = ()) -> list[Any]:
    """The controls a run names (--tags) and does not skip (--skip-tags), in the order given.
    The engines fix and verify these; the shared files still hold every applicable
    control's settings (a skipped control's line is not removed from the sshd drop-in: its
    toggle is what leaves a control unmanaged)."""
    wanted, skip = list(wanted), list(skip)
    return [c for c in controls if named(c, wanted) and not skipped(c, skip)]


def select(controls: Iterable[Any], *, level: int, groups: Iterable[str], os_family: str,
           toggles: Mapping[str, object], wanted: Iterable[str] = ()) -> list[Any]:
    """The controls an engine applies on this host, in catalogue order."""
    groups = list(groups)
    applying = [c for c in controls
                if as_bool(toggles.get(_get(c, "toggle"), True), _get(c, "toggle"))
                and not_applicable_reason(c, level=level, groups=groups,
                                          os_family=os_family) is None]
    return pick(applying, wanted)
