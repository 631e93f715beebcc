"""The policy rules, written once as plain functions over (resource type, props).

The same functions run inside the pulumi-policy pack (`stacks/policy`, at `pulumi preview
--policy-pack`) and in the offline preview (`provdc preview`). Props use the engine's
camelCase keys (`cidrBlock`, `metadataOptions.httpTokens`), as both see them.

Every rule is mandatory. References carry a confidence marker as in the reference notes:
[V] verified, [P] partly verified (third-party checklist), [U] unverified. CIS numbers are
CIS Amazon Web Services Foundations Benchmark v3.0.0 unless stated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provdc.cloud.layout import ADMIN_PORTS, ANYWHERE
from provdc.topology import backup, retention

Props = Mapping[str, Any]
ResourceCheck = Callable[[str, Props, "Context"], list[str]]
StackCheck = Callable[[list[tuple[str, str, Props]], "Context"], list[str]]

DECREE_85 = "Decree 85/2016/NĐ-CP"
CIRCULAR_12 = "Circular 12/2022/TT-BTTTT"
TCVN = "TCVN 11930:2017"

BUCKET = "aws:s3/bucket:Bucket"
SSE_TYPES = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOCK_TYPES = ("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
              "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2")
VAULT = "aws:backup/vault:Vault"
VAULT_LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
BACKUP_PLAN = "aws:backup/plan:Plan"
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
TLS_POLICY_MARKERS = ("TLS13", "TLS-1-2")


@dataclass(frozen=True)
class Context:
    """What a rule needs beyond the resource: the stack's level and region allow-list."""

    security_level: int
    allowed_regions: tuple[str, ...]

    @property
    def min_retention_days(self) -> int:
        return retention.minimum_days(self.security_level)

    @property
    def min_backup_days(self) -> int:
        return backup.level(self.security_level).retention_days

    @classmethod
    def from_settings(cls, s) -> Context:
        return cls(s.topology.max_security_level, tuple(s.config.cloud.allowed_regions))


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    cis: str
    vn: tuple[str, ...]
    remediation: str
    check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
    severity: str = "high"


@dataclass
class Verdict:
    rule: Rule
    violations: list[tuple[str, str]] = field(default_factory=list)  # (resource, message)


# --- helpers ----------------------------------------------------------------------------------

def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _count(resources, types) -> int:
    types = (types,) if isinstance(types, str) else types
    return sum(1 for t, _, _ in resources if t in types)


def covers_admin_port(proto: Any, lo: Any, hi: Any) -> list[int]:
    proto = str(proto).lower()
    if proto in ("-1", "all"):
        return list(ADMIN_PORTS)
    if proto not in ("tcp", "6"):
        return []
    lo, hi = int(lo if lo is not None else 0), int(hi if hi is not None else 65535)
    if lo == -1:  # "all ports"
        return list(ADMIN_PORTS)
    return [p for p in ADMIN_PORTS if lo <= p <= hi]


def _anywhere(*cidrs: Any) -> list[str]:
    flat: list[str] = []
    for c in cidrs:
        flat += c if isinstance(c, list) else [c]
    return [c for c in flat if c in ANYWHERE]


# --- resource checks --------------------------------------------------------------------------

def check_region(typ: str, props: Props, ctx: Context) -> list[str]:
    region = props.get("region")
    if region and region not in ctx.allowed_regions:
        return [f"region '{region}' is outside the allow-list {list(ctx.allowed_regions)}"]
    return []


def check_bucket_encryption(typ: str, props: Props, ctx: Context) -> list[str]:
    if typ in SSE_TYPES:
        rules = props.get("rules") or []
    elif typ == BUCKET and props.get("serverSideEncryptionConfiguration"):
        rules = [props["serverSideEncryptionConfiguration"].get("rule") or {}]
    else:
        return []
    out = []
    for r in rules or [{}]:
        default = r.get("applyServerSideEncryptionByDefault") or {}
        algo = default.get("sseAlgorithm")
        if algo not in ("aws:kms", "aws:kms:dsse"):
            out.append(f"bucket encryption is '{algo}', not a customer-managed KMS key")
        elif not default.get("kmsMasterKeyId"):
            out.append("bucket encryption names no KMS key (kmsMasterKeyId)")
    return out


def stack_buckets_have(types: tuple[str, ...] | str, what: str) -> StackCheck:
    def check(resources, ctx: Context) -> list[str]:
        buckets, have = _count(resources, BUCKET), _count(resources, types)
        if have < buckets:
            return [f"{buckets} bucket(s) but only {have} {what}"]
        return []
    return check


def check_volume_encryption(typ: str, props: Props, ctx: Context) -> list[str]:
    devices: list[tuple[str, Any]] = []
    if typ == INSTANCE:
        devices.append(("root volume", (props.get("rootBlockDevice") or {}).get("encrypted")))
        devices += [(f"volume {d.get('deviceName', '?')}", d.get("encrypted"))
                    for d in props.get("ebsBlockDevices") or []]
    elif typ == "aws:ec2/volume:Volume":
        devices.append(("volume", props.get("encrypted")))
    elif typ == LAUNCH_TEMPLATE:
        devices += [(f"volume {m.get('deviceName', '?')}", (m.get("ebs") or {}).get("encrypted"))
                    for m in props.get("blockDeviceMappings") or []]
    return [f"{what} is not encrypted" for what, enc in devices if not _true(enc)]


def check_key_rotation(typ: str, props: Props, ctx: Context) -> list[str]:
    if typ != "aws:kms/key:Key":
        return []
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and not _true(props.get("enableKeyRotation")):
        return ["key rotation is off (enableKeyRotation)"]
    return []


def check_public_access_block(typ: str, props: Props, ctx: Context) -> list[str]:
    if typ != PAB:
        return []
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    off = [f for f in flags if not _true(props.get(f))]
    return [f"public access is not fully blocked: {', '.join(off)} off"] if off else []


def check_public_ip(typ: str, props: Props, ctx: Context) -> list[str]:
    if typ == INSTANCE and _true(props.get("associatePublicIpAddress")):
        return ["instance gets a public IP (associatePublicIpAddress)"]
    if typ == "aws:ec2/subnet:Subnet" and _true(props.get("mapPublicIpOnLaunch")):
        return ["subnet hands out public IPs (mapPublicIpOnLaunch)"]
    if typ == LAUNCH_TEMPLATE:
        for nic in props.get("networkInterfaces") or []:
            if _true(nic.get("associatePublicIpAddress")):
                return ["launch template gives instances a public IP"]
    return []


def check_tls_only_bucket(typ: str, props: Props, ctx: Context) -> list[str]:
    if typ != BUCKET_POLICY:
        return []
    policy = props.get("policy")
    doc = json.loads(policy) if isinstance(policy, str) else policy or {}
    for st in doc.get("Statement", []):
        actions = st.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        cond = (st.get("Condition") or {}).get("Bool") or {}
        if (st.get("Effect") == "Deny" and ("s3:*" in actions or "*" in actions)
                and str(cond.get("aws:SecureTransport")).lower() == "false"):
            return []
    return ["bucket policy does not deny requests without TLS (aws:SecureTransport)"]


def check_listener_tls(typ: str, props: Props, ctx: Context) -> list[str]:
    if typ not in LISTENER_TYPES:
        return []
    proto = str(props.get("protocol", "")).upper()
    if proto in ("HTTPS", "TLS"):
        ssl = str(props.get("sslPolicy") or "")
        if not any(m in ssl for m in TLS_POLICY_MARKERS):
            return [f"listener TLS policy '{ssl or 'default'}' allows TLS below 1.2"]
        return []
    actions = props.get("defaultActions") or []
    if actions and all(a.get("type") == "redirect"
                       and (a.get("redirect") or {}).get("protocol") == "HTTPS" for a in actions):
        return []  # plain HTTP that only redirects to HTTPS is fine
    return [f"listener serves {proto or 'plain'} traffic without TLS"]


def check_admin_ports(typ: str, props: Props, ctx: Context) -> list[str]:
    found: list[tuple[list[int], list[str]]] = []
    if typ == "aws:ec2/securityGroup:SecurityGroup":
        for r in props.get("ingress") or []:
            found.append((covers_admin_port(r.get("protocol"), r.get("fromPort"), r.get("toPort")),
                          _anywhere(r.get("cidrBlocks") or [], r.get("ipv6CidrBlocks") or [])))
    elif typ == "aws:ec2/securityGroupRule:SecurityGroupRule" and props.get("type") == "ingress":
        found.append((covers_admin_port(props.get("protocol"), props.get("fromPort"),
                                         props.get("toPort")),
                      _anywhere(props.get("cidrBlocks") or [], props.get("ipv6CidrBlocks") or [])))
    elif typ == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        found.append((covers_admin_port(props.get("ipProtocol"), props.get("fromPort"),
                                         props.get("toPort")),
                      _anywhere(props.get("cidrIpv4"), props.get("cidrIpv6"))))
    elif typ == "aws:ec2/networkAcl:NetworkAcl":
        for r in props.get("ingress") or []:
            if str(r.get("action", "")).lower() == "allow":
                found.append((covers_admin_port(r.get("protocol"), r.get("fromPort"),
                                                 r.get("toPort")),
                              _anywhere(r.get("cidrBlock"), r.get("ipv6CidrBlock"))))
    elif (typ == "aws:ec2/networkAclRule:NetworkAclRule" and not _true(props.get("egress"))
          and str(props.get("ruleAction", "")).lower() == "allow"):
        found.append((covers_admin_port(props.get("protocol"), props.get("fromPort"),
                                         props.get("toPort")),
                      _anywhere(props.get("cidrBlock"), props.get("ipv6CidrBlock"))))
    return [f"admin port(s) {ports} open to {', '.join(src)}" for ports, src in found
            if ports and src]


def check_default_sg(typ: str, props: Props, ctx: Context) -> list[str]:
    if typ != "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":
        return []
    if props.get("ingress") or props.get("egress"):
        return ["the VPC default security group still has rules"]
    return []


def check_imdsv2(typ: str, props: Props, ctx: Context) -> list[str]:
    if typ not in (INSTANCE, LAUNCH_TEMPLATE):
        return []
    tokens = (props.get("metadataOptions") or {}).get("httpTokens")
    if tokens != "required":
        return [f"instance metadata allows IMDSv1 (httpTokens={tokens or 'unset'})"]
    return []


def check_log_retention(typ: str, props: Props, ctx: Context) -> list[str]:
    need = ctx.min_retention_days
    if typ in LOCK_TYPES:
        lock = (props.get("rule") or {}).get("defaultRetention") or {}
        days = int(lock.get("days") or 0) + 365 * int(lock.get("years") or 0)
        out = []
        if days < need:
            out.append(f"object lock keeps logs {days} days; level {ctx.security_level} "
                       f"needs at least {need}")
        immutable = ctx.security_level >= retention.IMMUTABLE_FROM_LEVEL
        if immutable and lock.get("mode") != "COMPLIANCE":
            out.append(f"level {ctx.security_level} needs immutable logs (mode COMPLIANCE)")
        return out
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        days = int(props.get("retentionInDays") or 0)  # 0/unset: kept forever
        if 0 < days < need:
            return [f"log group keeps logs {days} days; level {ctx.security_level} "
                    f"needs at least {need}"]
    return []


def stack_log_archive_locked(resources, ctx: Context) -> list[str]:
    if not _count(resources, LOCK_TYPES):
        return ["no bucket has an object-lock retention: the log archive is not write-once"]
    return []


def check_backup(typ: str, props: Props, ctx: Context) -> list[str]:
    """Backups: the vault encrypted with a KMS key and locked in COMPLIANCE mode for the
    level's retention, plans that keep recovery points as long, the off-site bucket locked."""
    need, level = ctx.min_backup_days, ctx.security_level
    if typ == VAULT and not props.get("kmsKeyArn"):
        return ["backup vault is not encrypted with a customer-managed KMS key (kmsKeyArn)"]
    if typ == VAULT_LOCK:
        out = []
        days = int(props.get("minRetentionDays") or 0)
        if days < need:
            out.append(f"vault lock keeps recovery points {days} days; level {level} needs at "
                       f"least {need}")
        if props.get("changeableForDays") in (None, ""):
            out.append("vault lock is in governance mode (no changeableForDays): an "
                       "administrator can remove it; COMPLIANCE mode is required")
        return out
    if typ == BACKUP_PLAN:
        out = []
        for rule in props.get("rules") or []:
            days = int((rule.get("lifecycle") or {}).get("deleteAfter") or 0)  # 0: forever
            if 0 < days < need:
                out.append(f"backup rule '{rule.get('ruleName', '?')}' deletes recovery points "
                           f"after {days} days; level {level} needs at least {need}")
        return out
    if (typ == BUCKET and (props.get("tags") or {}).get("Role") == "backup"
            and not _true(props.get("objectLockEnabled"))):
        return ["the off-site backup bucket has no object lock: its copies are not write-once"]
    return []


def stack_backups_locked(resources, ctx: Context) -> list[str]:
    out = []
    vaults, locks = _count(resources, VAULT), _count(resources, VAULT_LOCK)
    if not vaults:
        out.append("the stack has no backup vault")
    elif locks < vaults:
        out.append(f"{vaults} backup vault(s) but {locks} vault lock(s)")
    if not _count(resources, BACKUP_PLAN):
        out.append("the stack has no backup plan")
    backup_buckets = sum(1 for t, _, p in resources
                         if t == BUCKET and (p.get("tags") or {}).get("Role") == "backup")
    compliant = [p for t, _, p in resources if t in LOCK_TYPES
                 and ((p.get("rule") or {}).get("defaultRetention") or {}).get("mode")
                 == "COMPLIANCE"
                 and int(((p.get("rule") or {}).get("defaultRetention") or {}).get("days") or 0)
                 >= ctx.min_backup_days]
    if backup_buckets and not compliant:
        out.append(f"no object lock in COMPLIANCE mode for {ctx.min_backup_days} days or more: "
                   "the off-site backup copy is not write-once")
    return out


def check_trail(typ: str, props: Props, ctx: Context) -> list[str]:
    if typ != "aws:cloudtrail/trail:Trail":
        return []
    out = []
    if not _true(props.get("isMultiRegionTrail")):
        out.append("trail covers one region only (isMultiRegionTrail)")
    if not _true(props.get("enableLogFileValidation")):
        out.append("trail log-file validation is off")
    if not props.get("kmsKeyId"):
        out.append("trail logs are not encrypted with KMS (kmsKeyId)")
    return out


def stack_has_trail(resources, ctx: Context) -> list[str]:
    return [] if _count(resources, "aws:cloudtrail/trail:Trail") else ["the stack has no trail"]


def stack_flow_logs(resources, ctx: Context) -> list[str]:
    vpcs = _count(resources, "aws:ec2/vpc:Vpc")
    logs = sum(1 for t, _, p in resources
               if t == "aws:ec2/flowLog:FlowLog" and p.get("trafficType") == "ALL")
    if logs < vpcs:
        return [f"{vpcs} VPC(s) but {logs} flow log(s) capturing ALL traffic"]
    return []


# --- the catalogue ----------------------------------------------------------------------------

def _vn(*refs: str) -> tuple[str, ...]:
    """Vietnamese references as a tuple (so a single one needs no trailing comma)."""
    return refs


RULES: tuple[Rule, ...] = (
    Rule("PDC-REG-01", "Resources stay in the allowed (in-country) regions",
         "— (residency; CIS has no control)",
         _vn(f"{DECREE_85} Art. 5: the owner keeps control of the system's data [U]",
             "Law on Cybersecurity 2018 Art. 26 (data localisation) [U]"),
         "set aws:region (or the resource's region) to one in provdc:cloud.allowedRegions",
         check=check_region),
    Rule("PDC-ENC-01", "Every bucket is encrypted with a customer-managed KMS key",
         "CIS AWS 1.4.0 §2.1.1 (S3 encryption at rest)",
         _vn(f"{TCVN} data group: protect stored data (L3) [P]",
             f"{CIRCULAR_12} Appendix (L3 data protection) [P]"),
         "set provdc:guardrails.bucketEncryption to aws:kms",
         check=check_bucket_encryption,
         stack_check=stack_buckets_have(SSE_TYPES, "encryption configuration(s)")),
    Rule("PDC-ENC-02", "Instance volumes are encrypted", "CIS §2.2.1 (EBS encryption)",
         _vn(f"{TCVN} server group: protect stored data (L3) [P]"),
         "set provdc:guardrails.encryptVolumes to true", check=check_volume_encryption),
    Rule("PDC-ENC-03", "KMS keys rotate", "CIS §3.6 (CMK rotation)",
         _vn(f"{TCVN} data group: key management (L3) [P]"),
         "set provdc:guardrails.kmsKeyRotation to true", check=check_key_rotation),
    Rule("PDC-PUB-01", "Buckets block all public access", "CIS §2.1.4 (S3 Block Public Access)",
         _vn(f"{CIRCULAR_12} Appendix: no public exposure of internal data [P]",
             f"{TCVN} data group (L2+) [P]"),
         "set provdc:guardrails.blockPublicAccess to true", check=check_public_access_block,
         stack_check=stack_buckets_have(PAB, "public-access block(s)")),
    Rule("PDC-PUB-02", "No public IP outside the DMZ load balancer",
         "— (CIS §5 networking; no direct control)",
         _vn(f"{CIRCULAR_12} Appendix L3: 7 zones, DMZ in front of servers [P]",
             f"{TCVN} network group: zoning (L3) [P]"),
         "set provdc:guardrails.publicIps to false", check=check_public_ip),
    Rule("PDC-TLS-01", "Buckets refuse requests without TLS", "CIS §2.1.1 (deny HTTP requests)",
         _vn(f"{TCVN} network/application group: secure protocols only (L2+) [P]"),
         "set provdc:guardrails.tlsOnlyBuckets to true", check=check_tls_only_bucket,
         stack_check=stack_buckets_have(BUCKET_POLICY, "bucket polic(ies)")),
    Rule("PDC-TLS-02", "Load-balancer listeners use TLS 1.2 or later",
         "— (CIS §5; AWS FSBP ELB.1/ELB.17)",
         _vn(f"{TCVN} application group: encrypted transport (L2+) [P]",
             "regulations.md §7 L2: TLS<1.2 off [P]"),
         "set provdc:guardrails.listenerProtocol to HTTPS", check=check_listener_tls),
    Rule("PDC-NET-01", "No admin port (22, 3389, 5985, 5986) open to 0.0.0.0/0 or ::/0",
         "CIS §5.1, §5.2, §5.3",
         _vn(f"{TCVN} L3 server/network group: restrict remote-admin source IPs [P]",
             f"{CIRCULAR_12} Appendix L3: management zone is the sole admin source [P]"),
         "remove 0.0.0.0/0 and ::/0 from provdc:guardrails.adminSources; admin via the bastion",
         check=check_admin_ports),
    Rule("PDC-NET-02", "The default security group has no rules", "CIS §5.4",
         _vn(f"{TCVN} network group: deny by default [P]"),
         "set provdc:guardrails.restrictDefaultSecurityGroup to true", check=check_default_sg),
    Rule("PDC-IMDS-01", "Instances require IMDSv2", "CIS §5.6",
         _vn(f"{TCVN} server group: harden before go-live (L3) [P]"),
         "set provdc:guardrails.imdsTokens to required", check=check_imdsv2),
    Rule("PDC-LOG-01", "Logs are kept write-once for the level's retention",
         "CIS §3 (logging); retention from the level table",
         _vn(*retention.REFERENCES),
         "remove provdc:guardrails.logRetentionDays or raise it to the level's minimum",
         check=check_log_retention, stack_check=stack_log_archive_locked),
    Rule("PDC-BAK-01", "Backups are encrypted and kept write-once for the level's retention",
         "— (AWS FSBP Backup.1; AWS Backup Vault Lock in compliance mode)",
         _vn(*backup.REFERENCES),
         "remove provdc:guardrails.backupVaultLock: false, and backupRetentionDays or raise it "
         "to the level's minimum",
         check=check_backup, stack_check=stack_backups_locked),
    Rule("PDC-LOG-02", "A multi-region trail with log-file validation and KMS",
         "CIS §3.1, §3.2, §3.5",
         _vn(f"{TCVN} L3: log configuration changes and admin actions centrally [P]",
             "Circular 31/2017/TT-BTTTT: continuous monitoring [P]"),
         "set provdc:guardrails.trailMultiRegion to true", check=check_trail,
         stack_check=stack_has_trail),
    Rule("PDC-LOG-03", "Every VPC has flow logs for ALL traffic", "CIS §3.7",
         _vn(f"{TCVN} L3 network group: log connections (IP/port, allow/deny) [P]"),
         "set provdc:guardrails.flowLogs to true", stack_check=stack_flow_logs),
)

RULES_BY_ID = {r.id: r for r in RULES}


def evaluate(resources: Iterable[tuple[str, str, Props]], ctx: Context) -> list[Verdict]:
    """Run every rule on every resource, then the stack-wide checks."""
    resources = list(resources)
    verdicts = []
    for rule in RULES:
        v = Verdict(rule)
        if rule.check:
            for typ, name, props in resources:
                v.violations += [(name, msg) for msg in rule.check(typ, props, ctx)]
        if rule.stack_check:
            v.violations += [("(stack)", msg) for msg in rule.stack_check(resources, ctx)]
        verdicts.append(v)
    return verdicts


def violation_text(rule: Rule, message: str) -> str:
    """What the pack reports: the id first, so a failed preview names the rule."""
    return f"[{rule.id}] {message}. Fix: {rule.remediation} ({rule.cis}; {'; '.join(rule.vn)})"
