"""Every rule has a must-deny and a must-allow case, run through the real pulumi-policy
objects of the pack (the same ones `pulumi preview --policy-pack stacks/policy` serves)."""

from __future__ import annotations

import json

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from provdc.cloud import pack, policy

CTX = policy.Context(security_level=3, allowed_regions=("ap-southeast-1",))
POLICIES = {p.name: p for p in pack.policies(CTX)}

KMS_SSE = {"rules": [{"applyServerSideEncryptionByDefault": {
    "sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:key"}}]}
TLS_POLICY = json.dumps({"Statement": [{
    "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:b", "arn:b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
GOOD_INSTANCE = {"metadataOptions": {"httpTokens": "required"},
                 "rootBlockDevice": {"encrypted": True}, "associatePublicIpAddress": False}
LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
SG_IN = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

# rule id -> (resource type, props that violate it, props that satisfy it)
RESOURCE_CASES = {
    "PDC-REG-01": ("pulumi:providers:aws", {"region": "us-east-1"},
                   {"region": "ap-southeast-1"}),
    "PDC-ENC-01": (policy.SSE_TYPES[0], {"rules": [{"applyServerSideEncryptionByDefault": {
        "sseAlgorithm": "AES256"}}]}, KMS_SSE),
    "PDC-ENC-02": (policy.INSTANCE, {**GOOD_INSTANCE, "rootBlockDevice": {"encrypted": False}},
                   GOOD_INSTANCE),
    "PDC-ENC-03": ("aws:kms/key:Key", {"enableKeyRotation": False}, {"enableKeyRotation": True}),
    "PDC-PUB-01": (policy.PAB, {"blockPublicAcls": True, "blockPublicPolicy": False,
                                "ignorePublicAcls": True, "restrictPublicBuckets": True},
                   {"blockPublicAcls": True, "blockPublicPolicy": True,
                    "ignorePublicAcls": True, "restrictPublicBuckets": True}),
    "PDC-PUB-02": (policy.INSTANCE, {**GOOD_INSTANCE, "associatePublicIpAddress": True},
                   GOOD_INSTANCE),
    "PDC-TLS-01": (policy.BUCKET_POLICY, {"policy": json.dumps({"Statement": []})},
                   {"policy": TLS_POLICY}),
    "PDC-TLS-02": ("aws:lb/listener:Listener", {"protocol": "HTTP", "port": 80,
                                                "defaultActions": [{"type": "forward"}]},
                   {"protocol": "HTTPS", "port": 443,
                    "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}),
    "PDC-NET-01": (SG_IN, {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                           "cidrIpv4": "0.0.0.0/0"},
                   {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                    "cidrIpv4": "10.94.8.0/22"}),
    "PDC-NET-02": ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
                   {"ingress": [{"protocol": "-1", "self": True}], "egress": []},
                   {"ingress": [], "egress": []}),
    "PDC-IMDS-01": (policy.INSTANCE, {**GOOD_INSTANCE, "metadataOptions": {
        "httpTokens": "optional"}}, GOOD_INSTANCE),
    "PDC-LOG-01": (LOCK, {"rule": {"defaultRetention": {"mode": "GOVERNANCE", "days": 30}}},
                   {"rule": {"defaultRetention": {"mode": "GOVERNANCE", "days": 90}}}),
    "PDC-BAK-01": (policy.VAULT_LOCK, {"backupVaultName": "v", "minRetentionDays": 30,
                                       "changeableForDays": 3},
                   {"backupVaultName": "v", "minRetentionDays": 90, "changeableForDays": 3}),
    "PDC-LOG-02": ("aws:cloudtrail/trail:Trail",
                   {"isMultiRegionTrail": False, "enableLogFileValidation": True,
                    "kmsKeyId": "arn:key"},
                   {"isMultiRegionTrail": True, "enableLogFileValidation": True,
                    "kmsKeyId": "arn:key"}),
}

VPC = ("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.94.0.0/20"})
FLOW_LOG = ("aws:ec2/flowLog:FlowLog", "fl", {"trafficType": "ALL"})
BUCKET = (policy.BUCKET, "b", {"bucket": "b"})
TRAIL = ("aws:cloudtrail/trail:Trail", "t", {})
LOCKED = (LOCK, "l", {})
# rule id -> (stack that violates it, stack that satisfies it)
STACK_CASES = {
    "PDC-ENC-01": ([BUCKET], [BUCKET, (policy.SSE_TYPES[0], "sse", KMS_SSE)]),
    "PDC-PUB-01": ([BUCKET], [BUCKET, (policy.PAB, "pab", {})]),
    "PDC-TLS-01": ([BUCKET], [BUCKET, (policy.BUCKET_POLICY, "pol", {})]),
    "PDC-LOG-01": ([BUCKET], [BUCKET, LOCKED]),
    "PDC-BAK-01": ([(policy.VAULT, "v", {"kmsKeyArn": "arn:key"})],
                   [(policy.VAULT, "v", {"kmsKeyArn": "arn:key"}), (policy.VAULT_LOCK, "vl", {}),
                    (policy.BACKUP_PLAN, "p", {})]),
    "PDC-LOG-02": ([VPC], [VPC, TRAIL]),
    "PDC-LOG-03": ([VPC, ("aws:ec2/flowLog:FlowLog", "fl", {"trafficType": "REJECT"})],
                   [VPC, FLOW_LOG]),
}


def run_resource_policy(p: ResourceValidationPolicy, typ: str, props: dict) -> list[str]:
    reports: list[str] = []
    args = ResourceValidationArgs(typ, props, f"urn:pulumi:t::p::{typ}::r", "r",
                                  PolicyResourceOptions(False, [], None, [], None, []), None)
    p.validate(args, lambda message, urn=None: reports.append(message))
    return reports


def run_stack_policy(p, resources: list[tuple[str, str, dict]]) -> list[str]:
    reports: list[str] = []
    res = [PolicyResource(t, props, f"urn:{n}", n, None, None, None, [], {})
           for t, n, props in resources]
    p.validate(StackValidationArgs(res), lambda message, urn=None: reports.append(message))
    return reports


def test_every_rule_is_mandatory_with_references_and_cases():
    for rule in policy.RULES:
        assert rule.vn and rule.cis and rule.remediation, rule.id
        assert any(ref.endswith(("[V]", "[P]", "[U]")) for ref in rule.vn), rule.id
        assert rule.id in RESOURCE_CASES or rule.id in STACK_CASES, f"{rule.id} has no test"
        if rule.check:
            assert rule.id in RESOURCE_CASES, f"{rule.id} lacks a resource case"
        if rule.stack_check:
            assert rule.id in STACK_CASES, f"{rule.id} lacks a stack case"
    assert all(p.enforcement_level is EnforcementLevel.MANDATORY for p in POLICIES.values())


@pytest.mark.parametrize("rule_id", sorted(RESOURCE_CASES))
def test_resource_rule_denies_and_allows(rule_id):
    typ, bad, good = RESOURCE_CASES[rule_id]
    denied = run_resource_policy(POLICIES[rule_id], typ, bad)
    assert denied and all(m.startswith(f"[{rule_id}]") for m in denied)
    assert run_resource_policy(POLICIES[rule_id], typ, good) == []


@pytest.mark.parametrize("rule_id", sorted(STACK_CASES))
def test_stack_rule_denies_and_allows(rule_id):
    bad, good = STACK_CASES[rule_id]
    stack_policy = POLICIES[pack.stack_policy_name(policy.RULES_BY_ID[rule_id])]
    denied = run_stack_policy(stack_policy, bad)
    assert denied and denied[0].startswith(f"[{rule_id}]")
    assert run_stack_policy(stack_policy, good) == []


@pytest.mark.parametrize("props", [
    {"ipProtocol": "-1", "fromPort": -1, "toPort": -1, "cidrIpv4": "0.0.0.0/0"},
    {"ipProtocol": "tcp", "fromPort": 3000, "toPort": 4000, "cidrIpv6": "::/0"},
])
def test_admin_ports_hidden_in_ranges_are_denied(props):
    assert run_resource_policy(POLICIES["PDC-NET-01"], SG_IN, props)


def test_level_four_needs_compliance_mode_and_180_days():
    strict = policy.Context(4, ("ap-southeast-1",))
    governance = {"rule": {"defaultRetention": {"mode": "GOVERNANCE", "days": 180}}}
    compliance = {"rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 180}}}
    assert policy.check_log_retention(LOCK, governance, strict)
    assert policy.check_log_retention(LOCK, compliance, strict) == []
    assert policy.check_log_retention(LOCK, {"rule": {"defaultRetention": {
        "mode": "COMPLIANCE", "days": 90}}}, strict)


def test_a_stacks_pack_config_holds_its_region_list_and_level(soctrang):
    assert pack.stack_config(soctrang) == {"PDC-REG-01": {"allowedRegions": ["ap-southeast-1"]},
                                           "PDC-LOG-01": {"securityLevel": 3}}
