"""Keys and buckets: KMS keys with rotation, the log archive (object lock, retention by
security level) and the backup bucket. Every bucket is versioned, KMS-encrypted, closed to
the public and reachable over TLS only."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from provdc.cloud.settings import StackSettings
from provdc.topology import retention


class Keys(pulumi.ComponentResource):
    """Two customer-managed keys: one for logs (trail, flow logs, log groups, SOC topic),
    one for data (volumes, backups). Separate keys keep log readers away from data."""

    def __init__(self, name: str, s: StackSettings, account_id: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("provdc:cloud:Keys", name, None, opts)
        keep = pulumi.ResourceOptions(parent=self, protect=True)
        rotate = s.config.guardrails.kms_key_rotation
        policy = pulumi.Output.from_input(account_id).apply(lambda a: _key_policy(a, s.region))
        self.logs = aws.kms.Key(f"{name}-logs", description="provdc: audit trail and logs",
                                enable_key_rotation=rotate, deletion_window_in_days=30,
                                policy=policy, opts=keep)
        self.data = aws.kms.Key(f"{name}-data", description="provdc: volumes and backups",
                                enable_key_rotation=rotate, deletion_window_in_days=30,
                                policy=policy, opts=keep)
        for key, alias in ((self.logs, "logs"), (self.data, "data")):
            aws.kms.Alias(f"{name}-{alias}-alias", name=f"alias/provdc-{s.stack}-{alias}",
                          target_key_id=key.key_id, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"logs": self.logs.arn, "data": self.data.arn})


def _key_policy(account: str, region: str) -> str:
    services = ["cloudtrail.amazonaws.com", f"logs.{region}.amazonaws.com",
                "delivery.logs.amazonaws.com", "cloudwatch.amazonaws.com"]
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AccountAdmin", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Sid": "LogServices", "Effect": "Allow", "Principal": {"Service": services},
             "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                        "kms:Describe*"], "Resource": "*"},
        ],
    })


class SecureBucket(pulumi.ComponentResource):
    """One bucket and the resources that make it safe (guarded by PDC-ENC-01, PDC-PUB-01,
    PDC-TLS-01; the log archive also by PDC-LOG-01)."""

    def __init__(self, name: str, s: StackSettings, bucket_name: str, key_arn: pulumi.Input[str],
                 account_id: pulumi.Input[str], role: str, lock_days: int | None = None,
                 lock_mode: str | None = None, protect: bool = False,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("provdc:cloud:SecureBucket", name, None, opts)
        g = s.config.guardrails
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name, bucket=bucket_name, object_lock_enabled=lock_days is not None,
            tags={"Role": role}, opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        aws.s3.BucketVersioning(f"{name}-versioning", bucket=self.bucket.id,
                                versioning_configuration={"status": "Enabled"}, opts=child)
        if g.bucket_encryption != "none":
            default = {"sse_algorithm": g.bucket_encryption}
            if g.bucket_encryption == "aws:kms":
                default["kms_master_key_id"] = key_arn
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-sse", bucket=self.bucket.id, opts=child,
                rules=[{"apply_server_side_encryption_by_default": default,
                        "bucket_key_enabled": True}])
        block = g.block_public_access
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access", bucket=self.bucket.id, block_public_acls=block,
            block_public_policy=block, ignore_public_acls=block, restrict_public_buckets=block,
            opts=child)
        policy = pulumi.Output.all(self.bucket.arn, account_id).apply(
            lambda a: bucket_policy(a[0], a[1], g.tls_only_buckets, role == "log-archive"))
        aws.s3.BucketPolicy(f"{name}-policy", bucket=self.bucket.id, policy=policy, opts=child)
        self.lock = None
        if lock_days is not None:
            self.lock = aws.s3.BucketObjectLockConfiguration(
                f"{name}-lock", bucket=self.bucket.id, opts=child,
                rule={"default_retention": {
                    "mode": lock_mode or retention.lock_mode(s.topology.max_security_level),
                    "days": lock_days}})
        self.register_outputs({"bucket": self.bucket.id})


def bucket_policy(arn: str, account: str, tls_only: bool, log_delivery: bool) -> str:
    statements = []
    if tls_only:
        statements.append({
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        })
    if log_delivery:
        for sid, service, prefix in (("Trail", "cloudtrail.amazonaws.com", "cloudtrail"),
                                     ("FlowLogs", "delivery.logs.amazonaws.com", "vpc-flow-logs")):
            statements += [
                {"Sid": f"{sid}AclCheck", "Effect": "Allow", "Principal": {"Service": service},
                 "Action": "s3:GetBucketAcl", "Resource": arn},
                {"Sid": f"{sid}Write", "Effect": "Allow", "Principal": {"Service": service},
                 "Action": "s3:PutObject", "Resource": f"{arn}/{prefix}/AWSLogs/{account}/*",
                 "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
            ]
    if not statements:  # a policy needs one statement; this one grants nothing new
        statements.append({"Sid": "OwnerOnly", "Effect": "Allow",
                           "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                           "Action": "s3:GetBucketLocation", "Resource": arn})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
