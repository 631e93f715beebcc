"""Each host's backup, worked out on the controller from the inventory and its topology.

The Ansible role (playbooks/roles/backup) and the restore drill read these specs; nothing
here touches a host. A host is backed up when its service has a `backup` policy; its
repository is a directory of its own on the first inventory host of the repository service
(operations.backup.repository_service), reached over SFTP.
"""

from __future__ import annotations

from pathlib import Path

from provdc.errors import ProvdcError
from provdc.hosts import inventory as host_inventory
from provdc.hosts.inventory import Inventory
from provdc.topology import backup

REPOSITORY_ROOT = "/srv/provdc-backup"
ACCOUNT = "provdc-backup"


def specs(inv: Inventory) -> dict:
    """{"repository": {...}, "hosts": {host: spec}} for every backed-up host of `inv`."""
    topo = inv.loaded.topology
    policies = {s.slug: s for s in backup.backed_up(topo)}
    settings = topo.operations.backup
    backed = {h: v for h, v in inv.hosts.items() if v.service in policies}
    if not backed:
        return {"repository": None, "hosts": {}}
    repo_hosts = sorted(h for h, v in inv.hosts.items()
                        if v.service == settings.repository_service)
    if not repo_hosts:
        raise ProvdcError(
            f"no host of the repository service '{settings.repository_service}' in the "
            f"inventory, but {len(backed)} host(s) have a backup policy",
            file=inv.path, field="provdc_service",
            fix=f"add a host with provdc_service: {settings.repository_service} (the BACKUP "
                "zone's backup server), or run without the backed-up hosts")
    repo = repo_hosts[0]
    repository = {"host": repo, "address": str(inv.hosts[repo].address),
                  "port": settings.port, "account": ACCOUNT, "root": REPOSITORY_ROOT}
    return {"repository": repository,
            "hosts": {h: host_spec(h, policies[v.service], repository)
                      for h, v in sorted(backed.items())}}


def host_spec(host: str, service, repository: dict) -> dict:
    policy = service.backup
    path = f"{repository['root']}/{host}"
    return {
        "service": service.slug,
        "security_level": service.security_level,
        "paths": list(policy.paths),
        "databases": list(policy.database.databases) if policy.database else [],
        "schedule": policy.schedule,
        "on_calendar": backup.ON_CALENDAR[policy.schedule],
        "max_age_hours": backup.MAX_AGE_HOURS[policy.schedule],
        "retention_days": backup.retention_days(service),
        "drill_days": backup.level(service.security_level).drill_days,
        "destinations": backup.destinations(service),
        "repository_path": path,
        "repository": (f"sftp:{repository['account']}@{repository['address']}:{path}"
                       if repository["port"] == 22 else
                       f"sftp://{repository['account']}@{repository['address']}:"
                       f"{repository['port']}/{path}"),
    }


def specs_of_hostvars(hostvars: dict[str, dict], topology: str | Path | None = None,
                      source: str = "inventory") -> dict:
    """`specs` of the hosts a playbook hands over: every host is checked against the host
    contract and its topology first, so a bad one stops the run before any host changes."""
    hosts, loaded = host_inventory.validate(hostvars, source, topology)
    return specs(Inventory(source, hostvars, {}, hosts=hosts, loaded=loaded))


def read(path: str | Path, topology: str | Path | None = None) -> dict:
    return specs(host_inventory.read(path, topology))
