"""Backups by security level: how long snapshots are kept, when an off-site copy is due and
how often a restore must be proven; and the checks of the services' backup policies.

The host role, the cloud vault, the policy pack, the restore drill and the audit all read
these numbers from here. Each row says where the number comes from and how sure we are
(same scale as the control catalogue: verified / partial / unverified).
"""

from __future__ import annotations

from dataclasses import dataclass

from provdc.errors import ProvdcError
from provdc.topology.schema import BackupPolicy, Service, Topology


@dataclass(frozen=True)
class BackupLevel:
    level: int
    retention_days: int  # the shortest a snapshot may be kept
    offsite: bool  # a second copy outside the data centre, write-once (3-2-1)
    drill_days: int  # the longest time between two proven restores
    source: str
    confidence: str


TABLE: dict[int, BackupLevel] = {
    1: BackupLevel(1, 30, False, 365, "TCVN 14423:2026 matrix, backup row: a policy and "
                   "protected copies; restore tests 'periodic' (provdc: yearly and a month's "
                   "copies, as the SOC's operational floor)", "partial"),
    2: BackupLevel(2, 30, False, 365, "TCVN 14423:2026 matrix: separate backup "
                   "infrastructure; kept as long as level 2 logs (1 month)", "partial"),
    3: BackupLevel(3, 90, True, 365, "TCVN 14423:2026 matrix: 3-2-1, automated, encrypted; "
                   "kept as long as level 3 logs (3 months)", "partial"),
    4: BackupLevel(4, 180, True, 182, "TCVN 14423:2026 matrix: restore test 6-monthly; kept "
                   "as long as level 4 logs (6 months, immutable)", "partial"),
    5: BackupLevel(5, 365, True, 92, "TCVN 14423:2026 matrix: restore test quarterly, "
                   "geo-redundant; kept 12 months", "unverified"),
}

REFERENCES = (
    "TCVN 14423:2026 matrix, backup row: L2 separate backup infrastructure, L3 3-2-1 "
    "automated and encrypted, L4 HA and hot restore, L5 geo-redundant [P]",
    "TCVN 14423:2026 matrix, restore test: periodic, L4 6-monthly, L5 quarterly [P]",
    "Circular 12/2022/TT-BTTTT appendices (backup from level 3) [P]",
)

# The oldest a last successful snapshot may be for its schedule: the interval plus the
# timer's randomised delay and a run's own duration.
MAX_AGE_HOURS = {"hourly": 2, "daily": 26, "weekly": 7 * 24 + 2}
# The repository host's off-site copy runs daily (provdc-offsite.timer): as a daily backup.
OFFSITE_MAX_AGE_HOURS = 26
ON_CALENDAR = {"hourly": "hourly", "daily": "*-*-* 01:30:00", "weekly": "Sun *-*-* 01:30:00"}


def level(number: int) -> BackupLevel:
    if number not in TABLE:
        raise ProvdcError(f"security level {number} is not 1-5", field="security_level",
                          fix="use a Decree 85/2016 level between 1 and 5")
    return TABLE[number]


def retention_days(service: Service) -> int:
    """Days the service's snapshots are kept: its policy's, or the level's minimum."""
    policy = service.backup
    assert policy is not None
    return policy.retention_days or level(service.security_level).retention_days


def destinations(service: Service) -> list[str]:
    """Where the service's snapshots go: the BACKUP zone always, off-site when the level
    requires it or the policy asks for it."""
    policy = service.backup
    assert policy is not None
    if policy.destinations is not None:
        return list(dict.fromkeys(policy.destinations))
    return ["backup-zone"] + (["offsite"] if level(service.security_level).offsite else [])


def backed_up(topo: Topology) -> list[Service]:
    return [s for s in topo.services if s.backup is not None]


def vault_retention_days(topo: Topology) -> int:
    """The off-site vault's object-lock retention: the longest any service sends there."""
    days = [retention_days(s) for s in backed_up(topo) if "offsite" in destinations(s)]
    return max(days, default=level(topo.max_security_level).retention_days)


# --- validation ---------------------------------------------------------------------------


def check_section(topo: Topology, chk) -> None:
    """Every policy against its level, the repository service and the flow matrix."""
    services = backed_up(topo)
    if not services:
        return
    repo = _check_repository(topo, chk)
    for service in services:
        index = topo.services.index(service)
        _check_policy(service, service.backup, ("services", index, "backup"), chk)
        if repo is not None:
            _check_flow(topo, service, repo, chk)
    if repo is not None and any("offsite" in destinations(s) for s in services):
        _check_offsite_flow(topo, repo, chk)


def _check_repository(topo: Topology, chk) -> Service | None:
    settings = topo.operations.backup
    where = ("operations", "backup", "repository_service")
    repo = next((s for s in topo.services if s.slug == settings.repository_service), None)
    if repo is None:
        chk.add(where if "backup" in topo.operations.model_fields_set else ("services",),
                f"no service '{settings.repository_service}' holds the backup repositories",
                "add the BACKUP zone's service (`role: backup`) or name it in "
                "operations.backup.repository_service")
        return None
    index = topo.services.index(repo)
    if repo.role != "backup" or repo.zone != "BACKUP":
        chk.add(("services", index), f"service '{repo.slug}' holds the backup repositories but "
                f"has role '{repo.role}' in zone {repo.zone}",
                f"give services[{index}] `role: backup` and `zone: BACKUP`")
    if settings.port not in repo.ports:
        chk.add(("services", index, "ports"), f"the backup repository listens on tcp/"
                f"{settings.port} (SFTP), which service '{repo.slug}' does not list",
                f"add {settings.port} to services[{index}].ports")
    return repo


def _check_policy(service: Service, policy: BackupPolicy, where: tuple, chk) -> None:
    row = level(service.security_level)
    if policy.retention_days is not None and policy.retention_days < row.retention_days:
        chk.add(where + ("retention_days",),
                f"{policy.retention_days} days is shorter than the {row.retention_days} days "
                f"security level {row.level} requires ({row.source})",
                f"set retention_days to {row.retention_days} or more, or leave it out")
    if policy.destinations is not None:
        if "backup-zone" not in policy.destinations:
            chk.add(where + ("destinations",), "the first copy must go to the BACKUP zone's "
                    "repository", "add backup-zone to destinations")
        if row.offsite and "offsite" not in policy.destinations:
            chk.add(where + ("destinations",), f"security level {row.level} requires an "
                    f"off-site write-once copy (3-2-1; {row.source})",
                    "add offsite to destinations, or leave destinations out")


def _serves(flow, service: Service) -> bool:
    return flow.source in (f"service:{service.slug}", f"zone:{service.zone}")


def _check_flow(topo: Topology, service: Service, repo: Service, chk) -> None:
    if service.zone == repo.zone:
        return  # inside one zone the firewalls add the flow themselves
    port = topo.operations.backup.port
    if any(_serves(f, service) and f.to in (f"service:{repo.slug}", f"zone:{repo.zone}")
           and f.proto == "tcp" and port in f.ports for f in topo.flows):
        return
    index = topo.services.index(service)
    chk.add(("services", index, "backup"),
            f"no flow lets service '{service.slug}' ({service.zone}) reach the backup "
            f"repository '{repo.slug}' on tcp/{port}",
            f"add `- {{from: \"zone:{service.zone}\", to: \"service:{repo.slug}\", proto: tcp, "
            f"ports: [{port}]}}` to flows")


def _check_offsite_flow(topo: Topology, repo: Service, chk) -> None:
    if any(_serves(f, repo) and f.to.startswith("external:") and f.proto == "tcp"
           and 443 in f.ports for f in topo.flows):
        return
    index = topo.services.index(repo)
    chk.add(("services", index),
            "services send backups off-site, but no flow lets the backup repository "
            f"'{repo.slug}' reach the cloud's object storage on tcp/443",
            f"add `- {{from: \"service:{repo.slug}\", to: \"external:object-storage\", "
            "proto: tcp, ports: [443]}` to flows")
