"""provdc.idc.backup_host_password: a host's backup repository password, derived on the
controller from the operator's (provdc.backup.secret; documentation: backup_host_password.yml)."""

from __future__ import annotations

from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import provdc


def backup_host_password(operator_password, host):
    return provdc("backup.secret").host_password(str(operator_password), str(host))


class FilterModule:
    def filters(self):
        return {"backup_host_password": backup_host_password}
