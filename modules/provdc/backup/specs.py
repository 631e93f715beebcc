"""Each host's backup, worked out on the controller from the inventory and its topology.

The Ansible role (playbooks/roles/backup) and the restore drill read these specs; nothing
here touches a host. A host is backed up when its service has a `backup` policy; its
repository is a directory of its own on the first inventory host of the repository service
(operations.backup.repository_service), reached over SFTP with an account of its own that
sshd chroots into that directory: one client cannot see, read or delete another's repository.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from provdc.errors import ProvdcError
from provdc.hosts import inventory as host_inventory
from provdc.hosts.inventory import Inventory
from provdc.topology import backup

REPOSITORY_ROOT = "/srv/provdc-backup"
CLIENTS_GROUP = "provdc-backup-clients"  # sshd's Match block: chroot, SFTP only
KEYS_DIR = "/etc/ssh/provdc-backup-keys"  # root's: a client cannot change its own key line
SFTP_PATH = "/repo"  # the repository as the client sees it, inside its chroot
SSHD_DROPIN = "/etc/ssh/sshd_config.d/50-provdc-backup.conf"
_USER_NAME = re.compile(r"[a-z][a-z0-9-]{0,28}")  # "bk-" + this: at most 32, as useradd takes


def account(host: str) -> str:
    """The host's own account on the repository host: `bk-<host>`, or for a name useradd
    would refuse (too long, other characters), its first letters and a hash of it."""
    if _USER_NAME.fullmatch(host):
        return f"bk-{host}"
    digest = hashlib.sha256(host.encode()).hexdigest()[:8]
    return f"bk-{re.sub(r'[^a-z0-9-]', '-', host.lower())[:20].strip('-')}-{digest}"


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
                  "port": settings.port, "root": REPOSITORY_ROOT, "group": CLIENTS_GROUP,
                  "keys_dir": KEYS_DIR, "sshd_dropin": SSHD_DROPIN}
    hosts = {h: host_spec(h, policies[v.service], repository)
             for h, v in sorted(backed.items())}
    # the repositories the repository host copies to the write-once bucket
    repository["offsite"] = {h: s["repository_path"] for h, s in hosts.items()
                             if "offsite" in s["destinations"]}
    return {"repository": repository, "hosts": hosts}


def host_spec(host: str, service, repository: dict) -> dict:
    policy = service.backup
    chroot = f"{repository['root']}/{host}"
    user = account(host)
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
        "account": user,
        "chroot": chroot,  # root's, as sshd requires of a chroot
        "repository_path": chroot + SFTP_PATH,  # on the repository host (the drill's)
        "sftp_path": SFTP_PATH,
        "repository": (f"sftp:{user}@{repository['address']}:{SFTP_PATH}"
                       if repository["port"] == 22 else
                       f"sftp://{user}@{repository['address']}:{repository['port']}/"
                       f"{SFTP_PATH}"),
    }


def specs_of_hostvars(hostvars: dict[str, dict], topology: str | Path | None = None,
                      source: str = "inventory") -> dict:
    """`specs` of the hosts a playbook hands over: every host is checked against the host
    contract and its topology first, so a bad one stops the run before any host changes."""
    hosts, loaded = host_inventory.validate(hostvars, source, topology)
    return specs(Inventory(source, hostvars, {}, hosts=hosts, loaded=loaded))


def read(path: str | Path, topology: str | Path | None = None) -> dict:
    return specs(host_inventory.read(path, topology))
