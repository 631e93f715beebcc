"""Audit and monitoring: a multi-region trail (log-file validation, KMS) into the log
archive and a log group, the CIS §4 metric-filter alarms that matter for a provincial DC,
and the SNS topic the SOC subscribes to."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from provdc.cloud.settings import StackSettings

# CIS AWS Foundations Benchmark v3.0.0 §4: (control, name, CloudWatch Logs filter pattern).
# §4.9 (AWS Config) and §4.15 (Organizations) are left out: an in-country cloud rarely has
# Config, and a province runs one account, not an organization.
CIS_ALARMS: tuple[tuple[str, str, str], ...] = (
    ("4.1", "unauthorized-api-calls",
     '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }'),
    ("4.2", "console-login-without-mfa",
     '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }'),
    ("4.3", "root-account-usage",
     '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS '
     '&& $.eventType != "AwsServiceEvent" }'),
    ("4.4", "iam-policy-changes",
     "{ ($.eventName = DeleteGroupPolicy) || ($.eventName = DeleteRolePolicy) || "
     "($.eventName = DeleteUserPolicy) || ($.eventName = PutGroupPolicy) || "
     "($.eventName = PutRolePolicy) || ($.eventName = PutUserPolicy) || "
     "($.eventName = CreatePolicy) || ($.eventName = DeletePolicy) || "
     "($.eventName = CreatePolicyVersion) || ($.eventName = DeletePolicyVersion) || "
     "($.eventName = AttachRolePolicy) || ($.eventName = DetachRolePolicy) || "
     "($.eventName = AttachUserPolicy) || ($.eventName = DetachUserPolicy) || "
     "($.eventName = AttachGroupPolicy) || ($.eventName = DetachGroupPolicy) }"),
    ("4.5", "cloudtrail-changes",
     "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || "
     "($.eventName = DeleteTrail) || ($.eventName = StartLogging) || "
     "($.eventName = StopLogging) }"),
    ("4.6", "console-auth-failures",
     '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }'),
    ("4.7", "kms-key-disable-or-deletion",
     "{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || "
     "($.eventName = ScheduleKeyDeletion)) }"),
    ("4.8", "s3-bucket-policy-changes",
     "{ ($.eventSource = s3.amazonaws.com) && (($.eventName = PutBucketAcl) || "
     "($.eventName = PutBucketPolicy) || ($.eventName = PutBucketCors) || "
     "($.eventName = PutBucketLifecycle) || ($.eventName = PutBucketReplication) || "
     "($.eventName = DeleteBucketPolicy) || ($.eventName = DeleteBucketCors) || "
     "($.eventName = DeleteBucketLifecycle) || ($.eventName = DeleteBucketReplication)) }"),
    ("4.10", "security-group-changes",
     "{ ($.eventName = AuthorizeSecurityGroupIngress) || "
     "($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) "
     "|| ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || "
     "($.eventName = DeleteSecurityGroup) }"),
    ("4.11", "nacl-changes",
     "{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || "
     "($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || "
     "($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation) }"),
    ("4.12", "network-gateway-changes",
     "{ ($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || "
     "($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || "
     "($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway) }"),
    ("4.13", "route-table-changes",
     "{ ($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || "
     "($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || "
     "($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || "
     "($.eventName = DisassociateRouteTable) }"),
    ("4.14", "vpc-changes",
     "{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || "
     "($.eventName = ModifyVpcAttribute) || ($.eventName = AcceptVpcPeeringConnection) || "
     "($.eventName = CreateVpcPeeringConnection) || ($.eventName = DeleteVpcPeeringConnection) "
     "|| ($.eventName = RejectVpcPeeringConnection) }"),
)

# CloudWatch Logs accepts only these retention periods (days).
LOG_GROUP_RETENTIONS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                        1827, 2192, 2557, 2922, 3288, 3653)


def log_group_retention(days: int) -> int:
    """The shortest allowed retention that still keeps logs at least `days`."""
    return next((r for r in LOG_GROUP_RETENTIONS if r >= days), LOG_GROUP_RETENTIONS[-1])


class AuditTrail(pulumi.ComponentResource):
    def __init__(self, name: str, s: StackSettings, bucket: aws.s3.Bucket,
                 key_arn: pulumi.Input[str], retention_days: int,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("provdc:cloud:AuditTrail", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic(f"{name}-soc", name=f"provdc-{s.stack}-soc-alerts",
                                   kms_master_key_id=key_arn, opts=child)
        aws.sns.TopicSubscription(f"{name}-soc-email", topic=self.topic.arn, protocol="email",
                                  endpoint=s.config.soc_email, opts=child)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-trail-logs", name=f"/provdc/{s.stack}/cloudtrail",
            retention_in_days=log_group_retention(retention_days), kms_key_id=key_arn, opts=child)
        role = aws.iam.Role(f"{name}-trail-to-logs", assume_role_policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "cloudtrail.amazonaws.com"}}]}), opts=child)
        aws.iam.RolePolicy(f"{name}-trail-to-logs-policy", role=role.id, opts=child,
                           policy=self.log_group.arn.apply(lambda arn: json.dumps({
                               "Version": "2012-10-17", "Statement": [{
                                   "Effect": "Allow",
                                   "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                   "Resource": f"{arn}:*"}]})))
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail", name=f"provdc-{s.stack}", s3_bucket_name=bucket.id,
            s3_key_prefix="cloudtrail", kms_key_id=key_arn,
            is_multi_region_trail=s.config.guardrails.trail_multi_region,
            include_global_service_events=True, enable_log_file_validation=True,
            cloud_watch_logs_group_arn=self.log_group.arn.apply(lambda a: f"{a}:*"),
            cloud_watch_logs_role_arn=role.arn, opts=child,
        )
        for control, alarm, pattern in CIS_ALARMS:
            metric = f"cis-{control.replace('.', '-')}-{alarm}"
            aws.cloudwatch.LogMetricFilter(
                f"{name}-{metric}", log_group_name=self.log_group.name, pattern=pattern,
                metric_transformation={"name": metric, "namespace": "provdc/CIS", "value": "1"},
                opts=child)
            aws.cloudwatch.MetricAlarm(
                f"{name}-{metric}-alarm", name=f"provdc-{s.stack}-{metric}", metric_name=metric,
                namespace="provdc/CIS", statistic="Sum", period=300, evaluation_periods=1,
                threshold=1, comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching", alarm_actions=[self.topic.arn],
                alarm_description=f"CIS AWS 3.0.0 §{control}: {alarm.replace('-', ' ')}",
                opts=child)
        self.register_outputs({"trail": self.trail.arn, "topic": self.topic.arn})
