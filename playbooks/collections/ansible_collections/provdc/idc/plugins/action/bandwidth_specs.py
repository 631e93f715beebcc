"""provdc.idc.bandwidth_specs: every gateway's class tables rendered on the controller (see
the module's documentation in plugins/modules/bandwidth_specs.py)."""

from __future__ import annotations

from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import ControllerAction, provdc


class ActionModule(ControllerAction):
    SPEC = {
        "hostvars": {"type": "dict", "required": True},
        "topology": {"type": "str", "default": ""},
        "source": {"type": "str", "default": "inventory"},
    }

    def compute(self, args: dict) -> dict:
        gateways = provdc("qos.inventory").specs_of_hostvars(
            args["hostvars"], args["topology"] or None, args["source"])
        return {"changed": False, "gateways": gateways}
