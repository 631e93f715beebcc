"""provdc.idc.controls_gate: the baseline's check-first gate, evaluated on the controller
with the audit's own checks (see plugins/modules/controls_gate.py)."""

from __future__ import annotations

import json

from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import ControllerAction, provdc


class ActionModule(ControllerAction):
    SPEC = {"hosts": {"type": "dict", "required": True},
            "verify": {"type": "bool", "default": False}}

    def compute(self, args: dict) -> dict:
        request = json.dumps({"hosts": args["hosts"]})
        controls, gate = provdc("controls"), provdc("controls.gate")
        catalogue = controls.load_catalogue()
        if args["verify"]:  # after the fixes: why each control still fails, per host
            return {"changed": False, "verdicts": gate.verify(catalogue, request)}
        return {"changed": False, "failing": gate.gate(catalogue, request),
                "in_container": gate.in_containers(request)}
