"""The Pulumi program: the whole cloud data centre from one StackSettings.

`stacks/__main__.py` calls `build(from_pulumi_config())` under the Pulumi engine; the
offline preview calls the very same `build` under recording mocks.
"""

from __future__ import annotations

import inspect
from typing import Any

import pulumi
import pulumi_aws as aws

from provdc.cloud import layout
from provdc.cloud.components import backup as backup_vault
from provdc.cloud.components.compute import PortalLoadBalancer, ServiceFleet
from provdc.cloud.components.monitoring import AuditTrail
from provdc.cloud.components.network import DcNetwork, TslcdAttachment
from provdc.cloud.components.security import FlowSecurityGroups
from provdc.cloud.components.storage import Keys, SecureBucket
from provdc.cloud.settings import StackSettings
from provdc.errors import ProvdcError
from provdc.topology import retention


def provider(s: StackSettings) -> aws.Provider:
    """The AWS provider for this stack's cloud profile (AWS or an AWS-compatible cloud)."""
    cloud = s.config.cloud
    args: dict[str, Any] = {
        "region": s.region,
        "default_tags": {"tags": {"Province": s.topology.province.slug, "Stack": s.stack,
                                  "ManagedBy": "provdc"}},
    }
    if cloud.endpoints:
        known = set(inspect.signature(aws.ProviderEndpointArgs).parameters)
        unknown = sorted(set(cloud.endpoints) - known)
        if unknown:
            raise ProvdcError(f"unknown endpoint service '{unknown[0]}'", s.source, None,
                              f"provdc:cloud.endpoints.{unknown[0]}",
                              "use the provider's service names (ec2, s3, kms, sts, iam, ...)")
        args["endpoints"] = [cloud.endpoints]
    if cloud.ca_bundle:
        args["custom_ca_bundle"] = cloud.ca_bundle
    if cloud.s3_use_path_style:
        args["s3_use_path_style"] = True
    if cloud.skip_checks:
        args |= {"skip_credentials_validation": True, "skip_region_validation": True,
                 "skip_requesting_account_id": True, "skip_metadata_api_check": True}
    return aws.Provider(f"cloud-{cloud.name}", **args)


def admin_access(s: StackSettings) -> tuple[list[layout.SgRule], dict[str, list[layout.AclEntry]]]:
    """guardrails.adminSources: extra networks allowed to SSH to the bastion (and only it)."""
    sources = s.config.guardrails.admin_sources
    if not sources:
        return [], {}
    bastion = next(svc for svc in s.topology.services if svc.role == "bastion")  # settings
    rules = [layout.SgRule(f"svc:{bastion.slug}", "ingress", "tcp", 22, layout.Peer("cidr", c), -1)
             for c in sources]
    acl = {bastion.zone: [layout.AclEntry("ingress", "tcp", 22, 22, c) for c in sources]}
    return rules, acl


def bucket_name(s: StackSettings, role: str) -> str:
    return f"{s.topology.province.slug}-{s.stack}-{role}{s.config.bucket_suffix}"


def build(s: StackSettings) -> dict[str, Any]:
    """Declare every resource; return the stack outputs."""
    g = s.config.guardrails
    lb_services = layout.load_balanced_services(s.topology)
    admin_rules, admin_acl = admin_access(s)
    rules = layout.through_load_balancer(
        layout.sg_rules(s.topology, s.plan, s.config.externals), lb_services) + admin_rules

    p = provider(s)
    opts = pulumi.ResourceOptions(providers=[p])
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=p)).account_id
    level = s.topology.max_security_level
    days = g.log_retention_days or retention.minimum_days(level)

    keys = Keys("keys", s, account, opts)
    logs = SecureBucket("log-archive", s, bucket_name(s, "log-archive"), keys.logs.arn, account,
                        "log-archive", lock_days=days, protect=True, opts=opts)
    # the hosts' off-site copy: write-once for the level's backup retention (3-2-1)
    backup_days = backup_vault.retention_days(s)
    locked = g.backup_vault_lock
    backup = SecureBucket("backup", s, bucket_name(s, "backup"), keys.data.arn, account,
                          "backup", lock_days=backup_days if locked else None,
                          lock_mode="COMPLIANCE", protect=True, opts=opts)
    vault = backup_vault.BackupVault("backup-vault", s, keys.data.arn, opts)
    net = DcNetwork("dc", s, admin_acl, opts)
    if g.flow_logs:
        net.attach_flow_logs(logs.bucket.arn)
    sgs = FlowSecurityGroups("sg", s, net.vpc.id, rules, opts)
    fleet = ServiceFleet("fleet", s, net.subnets, sgs.groups, keys.data.arn, opts)
    lb = None
    if lb_services:
        lb = PortalLoadBalancer("portal-lb", s, fleet, net.subnets, sgs.groups[layout.LB_GROUP],
                                net.vpc.id, lb_services, opts)
    if s.config.wan_links:
        TslcdAttachment("tslcd", s, net, opts)
    audit = AuditTrail("audit", s, logs.bucket, keys.logs.arn, days, opts)

    return {
        "province": s.topology.province.slug,
        # as configured (relative to the project): the inventory derived from these outputs
        # hands it to every host as provdc_topology
        "topology": s.config.topology,
        "security_level": level,
        "log_retention_days": days,
        "vpc_id": net.vpc.id,
        "subnets": {spec.key: spec.cidr for spec in net.specs},
        "log_archive_bucket": logs.bucket.bucket,
        "backup_bucket": backup.bucket.bucket,
        "backup_vault": vault.vault.name,
        "backup_retention_days": backup_days,
        "soc_topic": audit.topic.arn,
        "portal_lb_dns": lb.lb.dns_name if lb else None,
        "hosts": [
            {"name": h.name, "zone": h.zone, "az": h.az, "service": h.service,
             "security_level": h.security_level, "role": h.role,
             "private_ip": fleet.instances[h.name].private_ip}
            for h in fleet.hosts
        ],
    }
