"""boto3 tooling against a real moto server on loopback (HTTP, no patched clients):
`provdc state bootstrap` and `provdc cloud audit` with good and bad resources."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import boto3
import pytest
from typer.testing import CliRunner

from provdc.cli import app
from provdc.cloud import state
from provdc.cloud.audit import run_audit
from provdc.cloud.state import bootstrap

REGION = "ap-southeast-1"
runner = CliRunner()


def aws(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


# --- state bootstrap ------------------------------------------------------------------------

def test_bootstrap_creates_a_safe_bucket_and_is_idempotent(moto):
    first = bootstrap("provdc-state", moto, REGION)
    assert "created the bucket" in first.changed and len(first.changed) == 4
    s3 = aws("s3", moto)
    assert s3.get_bucket_versioning(Bucket="provdc-state")["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket="provdc-state")["ServerSideEncryptionConfiguration"]
    assert rule["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket="provdc-state")["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert bootstrap("provdc-state", moto, REGION).changed == []
    port = moto.rsplit(":", 1)[1]
    assert first.login_url == (f"s3://provdc-state?region={REGION}&endpoint=127.0.0.1%3A{port}"
                               "&s3ForcePathStyle=true&disableSSL=true")


def test_bootstrap_cli_prints_the_login_and_repairs_drift(moto):
    result = runner.invoke(app, ["state", "bootstrap", "--endpoint", moto, "--bucket", "st8",
                                 "--region", REGION])
    assert result.exit_code == 0, result.output
    assert "pulumi login 's3://st8?" in result.output
    aws("s3", moto).put_bucket_versioning(Bucket="st8",
                                          VersioningConfiguration={"Status": "Suspended"})
    again = runner.invoke(app, ["state", "bootstrap", "--endpoint", moto, "--bucket", "st8",
                                "--region", REGION])
    assert again.exit_code == 0
    assert "enabled versioning" in again.output and "created" not in again.output


def test_bootstrap_json_says_what_changed_and_how_to_log_in(moto):
    result = runner.invoke(app, ["state", "bootstrap", "--endpoint", moto, "--bucket", "js8",
                                 "--region", REGION, "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"bucket", "dry_run", "changed", "notes", "login_url"}
    assert doc["bucket"] == "js8" and doc["dry_run"] is False
    assert "created the bucket" in doc["changed"] and doc["login_url"].startswith("s3://js8?")


def test_bootstrap_keeps_an_existing_kms_encryption(moto):
    """Someone's bucket on KMS: bootstrap adds what is missing and leaves KMS in place."""
    s3 = aws("s3", moto)
    key = aws("kms", moto).create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="theirs", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_encryption(Bucket="theirs", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                "KMSMasterKeyID": key}}]})
    result = bootstrap("theirs", moto, REGION)
    assert not any("encryption" in c for c in result.changed), result.changed
    assert "enabled versioning" in result.changed
    assert any("kept the bucket's aws:kms" in n for n in result.notes)
    rule = s3.get_bucket_encryption(Bucket="theirs")["ServerSideEncryptionConfiguration"]
    applied = rule["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert applied == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}


def test_bootstrap_merges_the_tls_statement_into_an_existing_policy(moto):
    """On https endpoints the TLS-only statement joins the bucket's policy; an Allow already
    there stays. (moto serves http on loopback, so the step is driven directly.)"""
    s3 = aws("s3", moto)
    s3.create_bucket(Bucket="shared", CreateBucketConfiguration={"LocationConstraint": REGION})
    allow = {"Sid": "BackupReader", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::shared/*"}
    s3.put_bucket_policy(Bucket="shared", Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow]}))
    result = state.BootstrapResult("shared", "")
    state._ensure_tls_policy(s3, "shared", result)
    policy = json.loads(s3.get_bucket_policy(Bucket="shared")["Policy"])
    sids = [st["Sid"] for st in policy["Statement"]]
    assert sids == ["BackupReader", state.TLS_SID]
    assert policy["Statement"][0] == allow
    assert result.changed == ["merged the TLS-only statement into the bucket policy"]
    again = state.BootstrapResult("shared", "")
    state._ensure_tls_policy(s3, "shared", again)
    assert again.changed == []


def test_bootstrap_dry_run_says_what_and_writes_nothing(moto):
    s3 = aws("s3", moto)
    s3.create_bucket(Bucket="weak", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket="weak", VersioningConfiguration={"Status": "Suspended"})
    result = runner.invoke(app, ["state", "bootstrap", "--endpoint", moto, "--bucket", "weak",
                                 "--region", REGION, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would change: enabled versioning" in result.output
    assert "would change: blocked public access" in result.output
    assert s3.get_bucket_versioning(Bucket="weak")["Status"] == "Suspended"
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_public_access_block(Bucket="weak")
    nothing = runner.invoke(app, ["state", "bootstrap", "--endpoint", moto, "--bucket",
                                  "not-yet", "--region", REGION, "--dry-run"])
    assert "would change: created the bucket" in nothing.output
    assert "not-yet" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize("args, field", [
    (["--bucket", "Bad_Name"], "--bucket"),
    (["--bucket", "ok-name", "--endpoint", "http://10.1.2.3:9000"], "--endpoint"),
    (["--bucket", "ok-name", "--endpoint", "ftp://127.0.0.1"], "--endpoint"),
])
def test_bootstrap_rejects_bad_input_before_any_call(args, field):
    result = runner.invoke(app, ["state", "bootstrap", *args])
    assert result.exit_code == 2
    assert field in result.output and isinstance(result.exception, SystemExit | None)


# --- cloud audit ----------------------------------------------------------------------------

def make_good_and_bad(endpoint: str) -> dict:
    """One compliant and one non-compliant resource of each kind the audit checks."""
    ec2, s3, kms, logs = (aws(s, endpoint) for s in ("ec2", "s3", "kms", "logs"))
    vpc = ec2.create_vpc(CidrBlock="10.94.0.0/20")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.94.2.0/25")["Subnet"]["SubnetId"]
    open_sg = ec2.create_security_group(GroupName="open", Description="bad", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=open_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    closed_sg = ec2.create_security_group(GroupName="closed", Description="ok",
                                          VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=closed_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "10.94.8.0/22"}]}])
    good_vm = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                SubnetId=subnet, MetadataOptions={"HttpTokens": "required"})
    bad_vm = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet,
                               MetadataOptions={"HttpTokens": "optional"})
    key = kms.create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="logs-ok", ObjectLockEnabledForBucket=True,
                     CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_encryption(Bucket="logs-ok", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                               "KMSMasterKeyID": key}}]})
    s3.put_public_access_block(Bucket="logs-ok", PublicAccessBlockConfiguration={
        k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                          "RestrictPublicBuckets")})
    s3.put_bucket_policy(Bucket="logs-ok", Policy=json.dumps({"Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::logs-ok", "arn:aws:s3:::logs-ok/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    s3.put_object_lock_configuration(Bucket="logs-ok", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 90}}})
    s3.create_bucket(Bucket="logs-short", ObjectLockEnabledForBucket=True,
                     CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object_lock_configuration(Bucket="logs-short", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 7}}})
    s3.create_bucket(Bucket="plain", CreateBucketConfiguration={"LocationConstraint": REGION})
    logs.create_log_group(logGroupName="/short")
    logs.put_retention_policy(logGroupName="/short", retentionInDays=7)
    logs.create_log_group(logGroupName="/long")
    logs.put_retention_policy(logGroupName="/long", retentionInDays=90)
    return {"vpc": vpc, "open_sg": open_sg, "closed_sg": closed_sg,
            "good_vm": good_vm["Instances"][0]["InstanceId"],
            "bad_vm": bad_vm["Instances"][0]["InstanceId"]}


def status(report, check: str, resource: str) -> str:
    found = [f for f in report.findings if f.check == check and f.resource.startswith(resource)]
    assert found, f"{check} did not look at {resource}"
    return found[0].status


def test_audit_finds_the_bad_and_passes_the_good(moto):
    ids = make_good_and_bad(moto)
    report = run_audit(moto, REGION, level=3)
    expected = {
        ("CA-NET-01", ids["open_sg"]): "FAIL", ("CA-NET-01", ids["closed_sg"]): "PASS",
        ("CA-NET-02", "sg-"): "FAIL",  # the VPC's default group keeps AWS's default rules
        ("CA-NET-03", ids["vpc"]): "FAIL",
        ("CA-EC2-01", ids["bad_vm"]): "FAIL", ("CA-EC2-01", ids["good_vm"]): "PASS",
        ("CA-S3-01", "logs-ok"): "PASS", ("CA-S3-01", "plain"): "FAIL",
        ("CA-S3-02", "logs-ok"): "PASS", ("CA-S3-02", "plain"): "FAIL",
        ("CA-S3-03", "logs-ok"): "PASS", ("CA-S3-03", "plain"): "FAIL",
        ("CA-LOG-02", "logs-ok"): "PASS", ("CA-LOG-02", "logs-short"): "FAIL",
        ("CA-LOG-02", "/short"): "FAIL", ("CA-LOG-02", "/long"): "PASS",
        ("CA-LOG-01", "(account)"): "FAIL",
    }
    got = {key: status(report, *key) for key in expected}
    assert got == expected


def test_audit_fixes_show_up_as_passes(moto):
    ids = make_good_and_bad(moto)
    ec2 = aws("ec2", moto)
    ec2.modify_instance_metadata_options(InstanceId=ids["bad_vm"], HttpTokens="required")
    ec2.revoke_security_group_ingress(GroupId=ids["open_sg"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    report = run_audit(moto, REGION, level=3)
    assert status(report, "CA-EC2-01", ids["bad_vm"]) == "PASS"
    assert status(report, "CA-NET-01", ids["open_sg"]) == "PASS"


def test_audit_cli_writes_json_junit_html_and_exits_1(moto, tmp_path):
    make_good_and_bad(moto)
    result = runner.invoke(app, ["cloud", "audit", "--endpoint", moto, "--region", REGION,
                                 "--out", str(tmp_path), "--level", "3"])
    assert result.exit_code == 1, result.output
    doc = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert doc["summary"]["failed"] == sum(f["status"] == "FAIL" for f in doc["findings"]) > 0
    assert any(f["rule"] == "PDC-NET-01" and f["status"] == "FAIL" for f in doc["findings"])
    suites = ET.parse(tmp_path / "junit.xml").getroot()
    assert int(suites.get("failures")) == doc["summary"]["failed"]
    assert int(suites.get("tests")) == doc["summary"]["total"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "CA-NET-01" in html and "TCVN 11930:2017" in html


def test_audit_cli_json_is_the_report_document(moto, tmp_path):
    make_good_and_bad(moto)
    result = runner.invoke(app, ["cloud", "audit", "--endpoint", moto, "--region", REGION,
                                 "--out", str(tmp_path), "--level", "3", "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert {"tool", "endpoint", "region", "security_level", "summary", "findings"} <= set(doc)
    assert doc == json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))


def test_audit_cli_unreachable_endpoint_is_exit_2(tmp_path, monkeypatch):
    # credentials present (run alone, no other test has set them): the endpoint is the fault
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    result = runner.invoke(app, ["cloud", "audit", "--endpoint", "http://127.0.0.1:9",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--endpoint" in result.output and isinstance(result.exception, SystemExit | None)
