"""provdc.idc.backup_specs: every backed-up host's backup and the repository host, worked out
on the controller (see the module's documentation in plugins/modules/backup_specs.py)."""

from __future__ import annotations

from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import ControllerAction, provdc


class ActionModule(ControllerAction):
    SPEC = {
        "hostvars": {"type": "dict", "required": True},
        "topology": {"type": "str", "default": ""},
        "source": {"type": "str", "default": "inventory"},
    }

    def compute(self, args: dict) -> dict:
        found = provdc("backup.specs").specs_of_hostvars(
            args["hostvars"], args["topology"] or None, args["source"])
        return {"changed": False, **found}
