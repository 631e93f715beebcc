"""Detective checks on a live account (AWS or an AWS-compatible cloud), with boto3.

The preventive rules (policy.py) stop a bad stack before it is deployed; these checks look
at what is actually there, whoever created it. Each check maps to the policy rule it mirrors
so both report the same references. Every resource checked yields a PASS or a FAIL, so the
report shows coverage, not only problems.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from botocore.exceptions import ClientError

from provdc.cloud import policy
from provdc.cloud.layout import ANYWHERE
from provdc.cloud.state import aws_errors, client
from provdc.topology import backup, retention


@dataclass(frozen=True)
class Finding:
    check: str  # e.g. CA-NET-01
    rule: str  # the policy rule it mirrors (references live there)
    resource: str
    passed: bool
    message: str

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"


@dataclass(frozen=True)
class Check:
    id: str
    rule: str
    title: str
    run: Callable[[Clients, int], Iterator[tuple[str, bool, str]]]


class Clients:
    """boto3 clients for one endpoint and region, created on first use."""

    def __init__(self, endpoint: str | None, region: str):
        self.endpoint, self.region, self._made = endpoint, region, {}

    def __getattr__(self, service: str):
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._made:
            self._made[service] = client(service, self.endpoint, self.region)
        return self._made[service]


# --- network --------------------------------------------------------------------------------

def _admin_ports(c: Clients, level: int):
    for sg in c.ec2.describe_security_groups()["SecurityGroups"]:
        bad = []
        for perm in sg.get("IpPermissions", []):
            ports = policy.covers_admin_port(perm.get("IpProtocol"), perm.get("FromPort"),
                                              perm.get("ToPort"))
            sources = [r.get("CidrIp") for r in perm.get("IpRanges", [])]
            sources += [r.get("CidrIpv6") for r in perm.get("Ipv6Ranges", [])]
            if ports and any(s in ANYWHERE for s in sources):
                bad.append(f"{ports} from {', '.join(s for s in sources if s in ANYWHERE)}")
        yield (sg["GroupId"], not bad,
               "admin ports open to the world: " + "; ".join(bad) if bad else "no admin port open")


def _default_sg(c: Clients, level: int):
    for sg in c.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]:
        rules = len(sg.get("IpPermissions", [])) + len(sg.get("IpPermissionsEgress", []))
        yield (f"{sg['GroupId']} ({sg.get('VpcId')})", rules == 0,
               f"default security group has {rules} rule(s)" if rules else "no rules")


def _flow_logs(c: Clients, level: int):
    logged = {f["ResourceId"] for f in c.ec2.describe_flow_logs()["FlowLogs"]
              if f.get("TrafficType") == "ALL"}
    for vpc in c.ec2.describe_vpcs()["Vpcs"]:
        ok = vpc["VpcId"] in logged
        yield vpc["VpcId"], ok, "flow logs on (ALL)" if ok else "no flow log capturing ALL traffic"


# --- compute --------------------------------------------------------------------------------

def _instances(c: Clients):
    for page in c.ec2.get_paginator("describe_instances").paginate():
        for res in page["Reservations"]:
            for inst in res["Instances"]:
                if inst.get("State", {}).get("Name") != "terminated":
                    yield inst


def _imdsv2(c: Clients, level: int):
    for inst in _instances(c):
        tokens = inst.get("MetadataOptions", {}).get("HttpTokens", "optional")
        yield inst["InstanceId"], tokens == "required", f"HttpTokens={tokens}"


def _volumes(c: Clients, level: int):
    for vol in c.ec2.describe_volumes()["Volumes"]:
        ok = bool(vol.get("Encrypted"))
        yield vol["VolumeId"], ok, "encrypted" if ok else "volume is not encrypted"


# --- storage --------------------------------------------------------------------------------

def _buckets(c: Clients) -> list[str]:
    return [b["Name"] for b in c.s3.list_buckets().get("Buckets", [])]


def _s3_error(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _bucket_encryption(c: Clients, level: int):
    for name in _buckets(c):
        try:
            rules = c.s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
            algo = rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        except ClientError:
            algo = None
        ok = algo in ("aws:kms", "aws:kms:dsse")
        yield name, ok, f"default encryption {algo or 'none'}" + ("" if ok else ", not KMS")


def _bucket_public(c: Clients, level: int):
    for name in _buckets(c):
        try:
            block = c.s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except ClientError:
            block = {}
        off = [k for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                           "RestrictPublicBuckets") if not block.get(k)]
        grants = c.s3.get_bucket_acl(Bucket=name).get("Grants", [])
        public = [g["Grantee"].get("URI", "") for g in grants
                  if g.get("Grantee", {}).get("URI", "").endswith(("AllUsers",
                                                                   "AuthenticatedUsers"))]
        problems = ([f"public access block off: {', '.join(off)}"] if off else []) + (
            [f"ACL grants {', '.join(u.rsplit('/', 1)[-1] for u in public)}"] if public else [])
        yield name, not problems, "; ".join(problems) or "public access blocked"


def _bucket_tls(c: Clients, level: int):
    for name in _buckets(c):
        try:
            text = c.s3.get_bucket_policy(Bucket=name)["Policy"]
        except ClientError:
            text = "{}"
        bad = policy.check_tls_only_bucket(policy.BUCKET_POLICY, {"policy": text}, None)
        yield name, not bad, bad[0] if bad else "denies requests without TLS"


def _retention(c: Clients, level: int):
    need = retention.minimum_days(level)
    for name in _buckets(c):
        try:
            lock = c.s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
        except ClientError:
            lock = None
        tags = _bucket_tags(c, name)
        if lock is None:
            if tags.get("Role") == "log-archive":
                yield name, False, "log archive without object lock"
            continue
        ret = lock.get("Rule", {}).get("DefaultRetention", {})
        days = int(ret.get("Days") or 0) + 365 * int(ret.get("Years") or 0)
        yield name, days >= need, f"object lock {ret.get('Mode')} {days} d (level {level}: {need})"
    for page in c.logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            days = group.get("retentionInDays")  # absent: kept forever
            ok = days is None or days >= need
            yield (group["logGroupName"], ok,
                   f"retention {days or 'forever'} d (level {level}: {need})")


def _bucket_tags(c: Clients, name: str) -> dict[str, str]:
    try:
        return {t["Key"]: t["Value"] for t in c.s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    except ClientError:
        return {}


# --- backups --------------------------------------------------------------------------------

def _backup_vaults(c: Clients, level: int):
    need = backup.level(level).retention_days
    vaults = c.backup.list_backup_vaults().get("BackupVaultList", [])
    for listed in vaults:
        vault = c.backup.describe_backup_vault(BackupVaultName=listed["BackupVaultName"])
        problems = []
        if not vault.get("EncryptionKeyArn"):
            problems.append("not encrypted with a KMS key")
        if not vault.get("Locked"):
            problems.append("no vault lock")
        else:
            days = int(vault.get("MinRetentionDays") or 0)
            if days < need:
                problems.append(f"lock keeps {days} d (level {level}: {need})")
            if vault.get("LockDate") is None:
                problems.append("lock in governance mode (no lock date), not COMPLIANCE")
        yield (listed["BackupVaultName"], not problems, "; ".join(problems) or
               f"KMS-encrypted, locked in COMPLIANCE mode for {vault.get('MinRetentionDays')} d "
               f"(level {level}: {need})")
    if not vaults:
        yield "(account)", False, "no backup vault: volumes are not backed up"


def _backup_plans(c: Clients, level: int):
    need = backup.level(level).retention_days
    for listed in c.backup.list_backup_plans().get("BackupPlansList", []):
        plan = c.backup.get_backup_plan(BackupPlanId=listed["BackupPlanId"])["BackupPlan"]
        short = [f"{r.get('RuleName')}: {r['Lifecycle']['DeleteAfterDays']} d"
                 for r in plan.get("Rules", [])
                 if 0 < int((r.get("Lifecycle") or {}).get("DeleteAfterDays") or 0) < need]
        yield (plan.get("BackupPlanName", listed["BackupPlanId"]), not short,
               f"rules delete recovery points too early ({', '.join(short)}; level {level}: "
               f"{need} d)" if short else f"every rule keeps recovery points {need} d or more")


def _backup_bucket(c: Clients, level: int):
    need = backup.level(level).retention_days
    for name in _buckets(c):
        if _bucket_tags(c, name).get("Role") != "backup":
            continue
        try:
            lock = c.s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
            ret = lock.get("Rule", {}).get("DefaultRetention", {})
        except ClientError:
            ret = None
        if ret is None:
            yield name, False, "off-site backup bucket without object lock"
            continue
        days = int(ret.get("Days") or 0) + 365 * int(ret.get("Years") or 0)
        ok = ret.get("Mode") == "COMPLIANCE" and days >= need
        yield name, ok, f"object lock {ret.get('Mode')} {days} d (level {level}: COMPLIANCE {need})"


# --- audit trail ----------------------------------------------------------------------------

def _trail(c: Clients, level: int):
    trails = c.cloudtrail.describe_trails()["trailList"]
    for t in trails:
        status = c.cloudtrail.get_trail_status(Name=t["TrailARN"])
        missing = [what for what, ok in (
            ("multi-region", t.get("IsMultiRegionTrail")),
            ("log-file validation", t.get("LogFileValidationEnabled")),
            ("KMS", t.get("KmsKeyId")),
            ("logging", status.get("IsLogging")),
        ) if not ok]
        yield t["Name"], not missing, "missing: " + ", ".join(missing) if missing else "complete"
    if not trails:
        yield "(account)", False, "no trail: API activity is not recorded"


CHECKS: tuple[Check, ...] = (
    Check("CA-NET-01", "PDC-NET-01", "No admin port open to the world", _admin_ports),
    Check("CA-NET-02", "PDC-NET-02", "Default security groups carry no rules", _default_sg),
    Check("CA-NET-03", "PDC-LOG-03", "Every VPC has flow logs", _flow_logs),
    Check("CA-EC2-01", "PDC-IMDS-01", "Instances require IMDSv2", _imdsv2),
    Check("CA-EC2-02", "PDC-ENC-02", "Volumes are encrypted", _volumes),
    Check("CA-S3-01", "PDC-ENC-01", "Buckets are KMS-encrypted", _bucket_encryption),
    Check("CA-S3-02", "PDC-PUB-01", "Buckets are not public", _bucket_public),
    Check("CA-S3-03", "PDC-TLS-01", "Buckets refuse plain HTTP", _bucket_tls),
    Check("CA-LOG-01", "PDC-LOG-02", "A complete multi-region trail is logging", _trail),
    Check("CA-LOG-02", "PDC-LOG-01", "Log retention meets the level", _retention),
    Check("CA-BAK-01", "PDC-BAK-01", "Backup vaults are encrypted and locked (COMPLIANCE)",
          _backup_vaults),
    Check("CA-BAK-02", "PDC-BAK-01", "Backup plans keep recovery points for the level",
          _backup_plans),
    Check("CA-BAK-03", "PDC-BAK-01", "The off-site backup bucket is write-once (COMPLIANCE)",
          _backup_bucket),
)


@dataclass
class AuditReport:
    endpoint: str | None
    region: str
    level: int
    findings: list[Finding]

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if not f.passed]


def run_audit(endpoint: str | None, region: str, level: int) -> AuditReport:
    c = Clients(endpoint, region)
    findings = []
    with aws_errors("cloud endpoint", "--endpoint",
                    "check the credentials and that they may read the account"):
        for check in CHECKS:
            for resource, ok, msg in check.run(c, level):
                findings.append(Finding(check.id, check.rule, resource, ok, msg))
    return AuditReport(endpoint, region, level, findings)


def report_document(report: AuditReport) -> dict:
    checks = {c.id: c for c in CHECKS}
    return {
        "tool": "provdc cloud audit",
        "endpoint": report.endpoint or "aws",
        "region": report.region,
        "security_level": report.level,
        "summary": {"total": len(report.findings), "failed": len(report.failed)},
        "findings": [
            {"check": f.check, "title": checks[f.check].title, "rule": f.rule,
             "cis": policy.RULES_BY_ID[f.rule].cis, "vn": list(policy.RULES_BY_ID[f.rule].vn),
             "resource": f.resource, "status": f.status, "message": f.message}
            for f in report.findings
        ],
    }


def dumps(report: AuditReport) -> str:
    return json.dumps(report_document(report), ensure_ascii=False, indent=2)
