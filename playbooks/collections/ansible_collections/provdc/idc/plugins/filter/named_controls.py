"""provdc.idc.named_controls: the controls a run's --tags name and its --skip-tags do not,
provdc's own rule (provdc.controls.applicability.pick; documentation: named_controls.yml)."""

from __future__ import annotations

from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import plain, provdc


def named_controls(controls, wanted=("all",), skip=()):
    return provdc("controls.applicability").pick(plain(controls), plain(list(wanted)),
                                                 plain(list(skip)))


class FilterModule:
    def filters(self):
        return {"named_controls": named_controls}
