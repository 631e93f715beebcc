"""provdc.idc.bandwidth_specs: every gateway's class tables rendered on the controller (see
the module's documentation in plugins/modules/bandwidth_specs.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import outcome, plain, provdc

SPEC = {
    "hostvars": {"type": "dict", "required": True},
    "topology": {"type": "str", "default": ""},
    "source": {"type": "str", "default": "inventory"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=SPEC)
        args = plain(args)
        qos = provdc("qos.inventory")

        def render():
            gateways = qos.specs_of_hostvars(args["hostvars"], args["topology"] or None,
                                             args["source"])
            return {"changed": False, "gateways": gateways}

        return {**result, **outcome(render)}
