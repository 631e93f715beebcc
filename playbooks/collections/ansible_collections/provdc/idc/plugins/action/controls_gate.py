"""provdc.idc.controls_gate: the baseline's check-first gate, evaluated on the controller
with the audit's own checks (see plugins/modules/controls_gate.py)."""

from __future__ import annotations

import json

from ansible.plugins.action import ActionBase
from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import outcome, plain, provdc

SPEC = {"hosts": {"type": "dict", "required": True},
        "verify": {"type": "bool", "default": False}}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=SPEC)
        request = json.dumps({"hosts": plain(args["hosts"])})
        controls, gate = provdc("controls"), provdc("controls.gate")

        def evaluate():
            if args["verify"]:  # after the fixes: why each control still fails, per host
                return {"changed": False,
                        "verdicts": gate.verify(controls.load_catalogue(), request)}
            return {"changed": False, "failing": gate.gate(controls.load_catalogue(), request)}

        return {**result, **outcome(evaluate)}
