"""The cloud half of the backups: an AWS Backup vault, encrypted with the data key and locked
in COMPLIANCE mode for the level's retention, and one plan per schedule for the volumes of
the services whose topology entry has a backup policy (guarded by PDC-BAK-01).

The hosts' own backups (restic, playbooks/roles/backup) copy off-site into the backup
bucket, which `program.build` creates write-once (S3 object lock, COMPLIANCE) for the same
retention.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from provdc.cloud.settings import StackSettings
from provdc.topology import backup

# AWS Backup schedules (cron in UTC); the hosts' timers run at 01:30 local (UTC+7) as well.
CRON = {"hourly": "cron(0 * * * ? *)", "daily": "cron(30 18 * * ? *)",
        "weekly": "cron(30 18 ? * SAT *)"}
# COMPLIANCE mode: after this grace period nobody, the account root included, can shorten
# the lock or delete a recovery point before its retention ends.
GRACE_DAYS = 3
SERVICE_ROLE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"


def retention_days(s: StackSettings) -> int:
    """The vault's (and the backup bucket's) lock: the topology's longest off-site retention,
    or guardrails.backupRetentionDays."""
    return s.config.guardrails.backup_retention_days or backup.vault_retention_days(s.topology)


class BackupVault(pulumi.ComponentResource):
    def __init__(self, name: str, s: StackSettings, key_arn: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("provdc:cloud:BackupVault", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        days = retention_days(s)
        self.vault = aws.backup.Vault(
            name, name=f"{s.topology.province.slug}-{s.stack}-backup", kms_key_arn=key_arn,
            opts=pulumi.ResourceOptions(parent=self, protect=True))
        self.lock = None
        if s.config.guardrails.backup_vault_lock:
            self.lock = aws.backup.VaultLockConfiguration(
                f"{name}-lock", backup_vault_name=self.vault.name, min_retention_days=days,
                changeable_for_days=GRACE_DAYS, opts=child)
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
            "Action": "sts:AssumeRole"}]})
        role = aws.iam.Role(f"{name}-role", name=f"provdc-{s.stack}-backup",
                            assume_role_policy=trust, opts=child)
        aws.iam.RolePolicyAttachment(f"{name}-role-policy", role=role.name,
                                     policy_arn=SERVICE_ROLE_POLICY, opts=child)
        self.plans = {}
        for schedule, services in _by_schedule(s).items():
            keep = max(days, *(backup.retention_days(svc) for svc in services))
            plan = aws.backup.Plan(f"{name}-{schedule}", name=f"provdc-{s.stack}-{schedule}",
                                   rules=[{"rule_name": schedule, "schedule": CRON[schedule],
                                           "target_vault_name": self.vault.name,
                                           "lifecycle": {"delete_after": keep}}], opts=child)
            aws.backup.Selection(
                f"{name}-{schedule}-volumes", name=f"provdc-{schedule}", plan_id=plan.id,
                iam_role_arn=role.arn, opts=child,
                selection_tags=[{"type": "STRINGEQUALS", "key": "Service", "value": svc.slug}
                                for svc in services])
            self.plans[schedule] = plan
        self.register_outputs({"vault": self.vault.name})


def _by_schedule(s: StackSettings) -> dict[str, list]:
    groups: dict[str, list] = {}
    for svc in backup.backed_up(s.topology):
        groups.setdefault(svc.backup.schedule, []).append(svc)
    return groups
