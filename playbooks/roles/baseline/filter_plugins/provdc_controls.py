"""The role's control selection: provdc's own applicability rules, not a copy in Jinja.

    baseline_controls | provdc_select_controls(level=..., groups=group_names,
                                               os_family=ansible_os_family,
                                               toggles={...}, wanted=ansible_run_tags)

Runs on the controller, where ansible-playbook's Python has the provdc package.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from provdc.controls.applicability import select
from provdc.errors import ProvdcError


def provdc_select_controls(controls, level, groups, os_family, toggles, wanted=()):
    try:
        return select(controls, level=int(level), groups=groups, os_family=os_family,
                      toggles=toggles, wanted=wanted)
    except ProvdcError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {"provdc_select_controls": provdc_select_controls}
