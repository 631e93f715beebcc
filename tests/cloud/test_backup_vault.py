"""The cloud half of the backups: the stack's vault, plans and write-once bucket; PDC-BAK-01's
must-deny and must-allow cases; and `provdc cloud audit`'s CA-BAK checks against a real moto
server, which also enforces the COMPLIANCE lock the stack relies on."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from provdc.cli import app
from provdc.cloud import policy
from provdc.cloud.audit import run_audit

REGION = "ap-southeast-1"
L3 = policy.Context(3, (REGION,))
L4 = policy.Context(4, (REGION,))
runner = CliRunner()


def aws(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


# --- the stack ------------------------------------------------------------------------------

def by_type(preview, typ: str) -> list:
    return [r for r in preview.resources if r.type == typ]


def test_soctrang_locks_its_backups_for_the_longest_policy(soctrang_preview):
    """The topology's longest off-site retention (the SOC collector's 120 d) sets the vault
    lock, the plans' lifecycle and the bucket's COMPLIANCE lock."""
    (lock,) = by_type(soctrang_preview, policy.VAULT_LOCK)
    assert lock.props["minRetentionDays"] == 120 and lock.props["changeableForDays"] == 3
    (vault,) = by_type(soctrang_preview, policy.VAULT)
    assert vault.props["kmsKeyArn"].endswith("keys-data") and vault.protect
    plans = {p.props["name"]: p.props["rules"][0] for p in by_type(soctrang_preview,
                                                                   policy.BACKUP_PLAN)}
    assert set(plans) == {"provdc-soctrang-daily", "provdc-soctrang-hourly"}
    assert all(rule["lifecycle"]["deleteAfter"] == 120 for rule in plans.values())
    selections = {s.props["name"]: {t["value"] for t in s.props["selectionTags"]}
                  for s in by_type(soctrang_preview, "aws:backup/selection:Selection")}
    assert selections == {"provdc-daily": {"qlvb", "mail", "soc-collector"},
                          "provdc-hourly": {"shared-db"}}
    locks = {r.name: r.props["rule"]["defaultRetention"] for r in soctrang_preview.resources
             if r.type in policy.LOCK_TYPES}
    assert locks["backup-lock"] == {"mode": "COMPLIANCE", "days": 120}
    assert soctrang_preview.outputs["backup_retention_days"] == 120


def test_shorter_backup_retention_in_the_stack_config_fails_the_preview(tmp_path, write_stack):
    write_stack(tmp_path, "short", {"provdc:guardrails.backupRetentionDays": 30})
    result = runner.invoke(app, ["preview", "--stack", "short", "--root", str(tmp_path),
                                 "--format", "json"])
    assert result.exit_code == 1, result.output
    failed = {p["id"]: p for p in json.loads(result.stdout)["policies"] if p["status"] == "FAIL"}
    assert "PDC-BAK-01" in failed
    messages = " ".join(v["message"] for v in failed["PDC-BAK-01"]["violations"])
    assert "vault lock keeps recovery points 30 days" in messages


# --- PDC-BAK-01 -----------------------------------------------------------------------------

GOOD_LOCK = {"backupVaultName": "v", "minRetentionDays": 90, "changeableForDays": 3}


@pytest.mark.parametrize("typ, props, words", [
    (policy.VAULT, {"name": "v"}, "not encrypted"),
    (policy.VAULT_LOCK, {**GOOD_LOCK, "minRetentionDays": 30}, "30 days"),
    (policy.VAULT_LOCK, {"backupVaultName": "v", "minRetentionDays": 90}, "governance mode"),
    (policy.BACKUP_PLAN, {"rules": [{"ruleName": "daily", "lifecycle": {"deleteAfter": 14}}]},
     "after 14 days"),
    (policy.BUCKET, {"bucket": "b", "tags": {"Role": "backup"}}, "no object lock"),
])
def test_backup_rule_denies(typ, props, words):
    found = policy.check_backup(typ, props, L3)
    assert found and words in " ".join(found)


@pytest.mark.parametrize("typ, props", [
    (policy.VAULT, {"name": "v", "kmsKeyArn": "arn:key"}),
    (policy.VAULT_LOCK, GOOD_LOCK),
    (policy.BACKUP_PLAN, {"rules": [{"ruleName": "daily", "lifecycle": {"deleteAfter": 90}}]}),
    (policy.BACKUP_PLAN, {"rules": [{"ruleName": "forever"}]}),
    (policy.BUCKET, {"bucket": "b", "tags": {"Role": "backup"}, "objectLockEnabled": True}),
    (policy.BUCKET, {"bucket": "logs", "tags": {"Role": "log-archive"}}),
])
def test_backup_rule_allows(typ, props):
    assert policy.check_backup(typ, props, L3) == []


def test_level_four_needs_180_days():
    assert policy.check_backup(policy.VAULT_LOCK, GOOD_LOCK, L4)
    assert policy.check_backup(policy.VAULT_LOCK, {**GOOD_LOCK, "minRetentionDays": 180}, L4) == []


VAULT = (policy.VAULT, "v", {"kmsKeyArn": "arn:key"})
PLAN = (policy.BACKUP_PLAN, "p", {})
BACKUP_BUCKET = (policy.BUCKET, "b", {"tags": {"Role": "backup"}})


def lock(mode: str, days: int):
    return (policy.LOCK_TYPES[0], "l", {"rule": {"defaultRetention": {"mode": mode,
                                                                       "days": days}}})


@pytest.mark.parametrize("resources, words", [
    ([PLAN], "no backup vault"),
    ([VAULT, PLAN], "1 backup vault(s) but 0 vault lock(s)"),
    ([VAULT, (policy.VAULT_LOCK, "vl", GOOD_LOCK)], "no backup plan"),
    ([VAULT, (policy.VAULT_LOCK, "vl", GOOD_LOCK), PLAN, BACKUP_BUCKET,
      lock("GOVERNANCE", 365)], "not write-once"),
    ([VAULT, (policy.VAULT_LOCK, "vl", GOOD_LOCK), PLAN, BACKUP_BUCKET,
      lock("COMPLIANCE", 30)], "not write-once"),
])
def test_backup_stack_rule_denies(resources, words):
    assert words in " ".join(policy.stack_backups_locked(resources, L3))


def test_backup_stack_rule_allows():
    stack = [VAULT, (policy.VAULT_LOCK, "vl", GOOD_LOCK), PLAN, BACKUP_BUCKET,
             lock("COMPLIANCE", 90)]
    assert policy.stack_backups_locked(stack, L3) == []


# --- against moto ---------------------------------------------------------------------------

def make_vaults_plans_and_buckets(endpoint: str) -> None:
    bk, kms, s3 = aws("backup", endpoint), aws("kms", endpoint), aws("s3", endpoint)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    for name in ("vault-ok", "vault-unlocked", "vault-short", "vault-governance"):
        bk.create_backup_vault(BackupVaultName=name, EncryptionKeyArn=key)
    bk.put_backup_vault_lock_configuration(BackupVaultName="vault-ok", MinRetentionDays=90,
                                           ChangeableForDays=3)
    bk.put_backup_vault_lock_configuration(BackupVaultName="vault-short", MinRetentionDays=30,
                                           ChangeableForDays=3)
    bk.put_backup_vault_lock_configuration(BackupVaultName="vault-governance",
                                           MinRetentionDays=90)
    for name, days in (("plan-ok", 90), ("plan-short", 14)):
        bk.create_backup_plan(BackupPlan={"BackupPlanName": name, "Rules": [{
            "RuleName": "daily", "TargetBackupVaultName": "vault-ok",
            "ScheduleExpression": "cron(30 18 * * ? *)",
            "Lifecycle": {"DeleteAfterDays": days}}]})
    for name, mode, days in (("copy-ok", "COMPLIANCE", 90), ("copy-governance", "GOVERNANCE", 90),
                             ("copy-short", "COMPLIANCE", 30), ("copy-unlocked", None, 0)):
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=mode is not None,
                         CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "Role",
                                                                "Value": "backup"}]})
        if mode:
            s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": mode, "Days": days}}})


def status(report, check: str, resource: str) -> str:
    found = [f for f in report.findings if f.check == check and f.resource == resource]
    assert len(found) == 1, f"{check} looked at {resource} {len(found)} times"
    return found[0].status


def test_audit_judges_vaults_plans_and_the_offsite_bucket(moto):
    make_vaults_plans_and_buckets(moto)
    report = run_audit(moto, REGION, level=3)
    expected = {
        ("CA-BAK-01", "vault-ok"): "PASS", ("CA-BAK-01", "vault-unlocked"): "FAIL",
        ("CA-BAK-01", "vault-short"): "FAIL", ("CA-BAK-01", "vault-governance"): "FAIL",
        ("CA-BAK-02", "plan-ok"): "PASS", ("CA-BAK-02", "plan-short"): "FAIL",
        ("CA-BAK-03", "copy-ok"): "PASS", ("CA-BAK-03", "copy-governance"): "FAIL",
        ("CA-BAK-03", "copy-short"): "FAIL", ("CA-BAK-03", "copy-unlocked"): "FAIL",
    }
    assert {key: status(report, *key) for key in expected} == expected
    # level 4 asks 180 days: the vault that passed at level 3 no longer does
    assert status(run_audit(moto, REGION, level=4), "CA-BAK-01", "vault-ok") == "FAIL"


def test_audit_without_any_vault_fails_the_account(moto):
    report = run_audit(moto, REGION, level=3)
    assert status(report, "CA-BAK-01", "(account)") == "FAIL"


def test_compliance_lock_keeps_a_copy_nobody_can_delete_or_shorten(moto):
    """What the stack relies on: under COMPLIANCE the version cannot be deleted, nor its
    retention shortened, even by the bucket owner with governance bypass."""
    make_vaults_plans_and_buckets(moto)
    s3 = aws("s3", moto)
    version = s3.put_object(Bucket="copy-ok", Key="snapshots/1", Body=b"restic pack")["VersionId"]
    with pytest.raises(ClientError) as denied:
        s3.delete_object(Bucket="copy-ok", Key="snapshots/1", VersionId=version,
                         BypassGovernanceRetention=True)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert s3.get_object(Bucket="copy-ok", Key="snapshots/1",
                         VersionId=version)["Body"].read() == b"restic pack"
    # the governance copy, by contrast, gives way to an administrator
    gov = s3.put_object(Bucket="copy-governance", Key="k", Body=b"x")["VersionId"]
    s3.delete_object(Bucket="copy-governance", Key="k", VersionId=gov,
                     BypassGovernanceRetention=True)
