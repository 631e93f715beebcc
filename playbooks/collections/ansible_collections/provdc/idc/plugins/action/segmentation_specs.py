"""provdc.idc.segmentation_specs: every firewall rendered on the controller (see the module's
documentation in plugins/modules/segmentation_specs.py)."""

from __future__ import annotations

from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import ControllerAction, provdc


class ActionModule(ControllerAction):
    SPEC = {
        "hostvars": {"type": "dict", "required": True},
        "clients": {"type": "dict", "default": {}},
        "topology": {"type": "str", "default": ""},
        "source": {"type": "str", "default": "inventory"},
    }

    def compute(self, args: dict) -> dict:
        specs = provdc("segmentation.sources").specs(
            args["hostvars"], args["clients"], args["topology"] or None, args["source"])
        return {"changed": False, **specs}
