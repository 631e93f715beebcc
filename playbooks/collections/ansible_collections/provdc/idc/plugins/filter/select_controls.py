"""provdc.idc.select_controls: the baseline role's control selection, provdc's own
applicability rules rather than a copy in Jinja (documentation: select_controls.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import plain, provdc


def select_controls(controls, level, groups, os_family, toggles, wanted=("all",)):
    applicability, errors = provdc("controls.applicability"), provdc("errors")
    try:
        return applicability.select(plain(controls), level=int(level), groups=plain(groups),
                                    os_family=str(os_family), toggles=plain(toggles),
                                    wanted=plain(list(wanted)))
    except errors.ProvdcError as exc:
        raise AnsibleFilterError(f"error: {exc}") from None


class FilterModule:
    def filters(self):
        return {"select_controls": select_controls}
