"""provdc.idc.soc_prepare: the SOC settings and certificates, worked out on the controller
(see plugins/modules/soc_prepare.py)."""

from __future__ import annotations

import json

from ansible.plugins.action import ActionBase
from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import outcome, plain, provdc

SPEC = {
    "topology": {"type": "str", "required": True},
    "pki_dir": {"type": "str", "required": True},
    "ca_name": {"type": "str"},
    "hosts": {"type": "dict", "default": {}},
    "services": {"type": "dict", "default": {}},
    "collector": {"type": "str"},
    "ntp_fallback": {"type": "list", "elements": "str", "default": []},
    "upstream": {"type": "raw"},
    "retention_days": {"type": "raw"},
    "receivers": {"type": "dict", "default": {}},
}
NO_PKI_DIR = ("error: soc.yml: soc_pki_dir: no directory for the SOC CA and the hosts' "
              "certificates was given. Fix: pass it at run time (-e soc_pki_dir=DIR, the "
              "PROVDC_SOC_PKI_DIR environment variable, or a credential that sets either), a "
              "directory outside the project: the CA's private key lives there.")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=SPEC)
        if not args["pki_dir"]:
            return {**result, "failed": True, "msg": NO_PKI_DIR}
        prepare = provdc("soc.prepare")

        def resolve():
            # the same request validation as `python -m provdc.soc.prepare`
            settings = prepare.resolve(prepare.parse_request(json.dumps(plain(args))))
            return {"changed": settings["changed"], "settings": settings}

        return {**result, **outcome(resolve)}
