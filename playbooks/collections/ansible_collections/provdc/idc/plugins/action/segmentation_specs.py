"""provdc.idc.segmentation_specs: every firewall rendered on the controller (see the module's
documentation in plugins/modules/segmentation_specs.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import outcome, plain, provdc

SPEC = {
    "hostvars": {"type": "dict", "required": True},
    "clients": {"type": "dict", "default": {}},
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
        sources = provdc("segmentation.sources")

        def render():
            specs = sources.specs(args["hostvars"], args["clients"],
                                  args["topology"] or None, args["source"])
            return {"changed": False, **specs}

        return {**result, **outcome(render)}
