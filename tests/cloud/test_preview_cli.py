"""`provdc preview` through the CLI: the Sóc Trăng stack passes; flipping any guarded
property in a test stack config fails with exactly that rule's id (exit 1); bad stack config
is one paragraph and exit 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from provdc.cli import app

runner = CliRunner()

# guarded property in the stack config -> the rule that must reject it
FLIPS = {
    "aws:region": ("us-east-1", "PDC-REG-01"),
    "provdc:guardrails.bucketEncryption": ("AES256", "PDC-ENC-01"),
    "provdc:guardrails.encryptVolumes": (False, "PDC-ENC-02"),
    "provdc:guardrails.kmsKeyRotation": (False, "PDC-ENC-03"),
    "provdc:guardrails.blockPublicAccess": (False, "PDC-PUB-01"),
    "provdc:guardrails.publicIps": (True, "PDC-PUB-02"),
    "provdc:guardrails.tlsOnlyBuckets": (False, "PDC-TLS-01"),
    "provdc:guardrails.listenerProtocol": ("HTTP", "PDC-TLS-02"),
    "provdc:guardrails.adminSources": (["0.0.0.0/0"], "PDC-NET-01"),
    "provdc:guardrails.restrictDefaultSecurityGroup": (False, "PDC-NET-02"),
    "provdc:guardrails.imdsTokens": ("optional", "PDC-IMDS-01"),
    "provdc:guardrails.logRetentionDays": (30, "PDC-LOG-01"),
    "provdc:guardrails.trailMultiRegion": (False, "PDC-LOG-02"),
    "provdc:guardrails.flowLogs": (False, "PDC-LOG-03"),
    "provdc:guardrails.backupVaultLock": (False, "PDC-BAK-01"),
}


def run_preview(tmp_path, name: str, *extra: str):
    return runner.invoke(app, ["preview", "--stack", name, "--root", str(tmp_path), *extra])


def test_soctrang_preview_lists_the_dc_and_passes(root):
    result = runner.invoke(app, ["preview", "--stack", "soctrang", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert "all 15 policies pass" in result.output
    for text in ("Vpc", "dc-dmz-a", "fleet-dvc-portal-1", "10.94.1.4", "log-archive"):
        assert text in result.output


def test_every_rule_has_a_flip():
    from provdc.cloud.policy import RULES

    assert {rule for _, rule in FLIPS.values()} == {r.id for r in RULES}


@pytest.mark.parametrize("key", sorted(FLIPS))
def test_flipping_a_guarded_property_fails_with_its_rule(tmp_path, write_stack, key):
    value, rule = FLIPS[key]
    write_stack(tmp_path, "flip", {key: value})
    result = run_preview(tmp_path, "flip", "--format", "json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    failed = [p["id"] for p in doc["policies"] if p["status"] == "FAIL"]
    assert failed == [rule]
    assert doc["passed"] is False


def test_flip_in_table_format_names_the_rule(tmp_path, write_stack):
    write_stack(tmp_path, "flip", {"provdc:guardrails.imdsTokens": "optional"})
    result = run_preview(tmp_path, "flip")
    assert result.exit_code == 1
    assert "policy violations: PDC-IMDS-01" in result.output


@pytest.mark.parametrize("changes, words", [
    ({"provdc:guardrail": {}}, ["provdc:guardrail", "unknown stack config key"]),
    ({"provdc:guardrails.imdsTokens": "maybe"}, ["provdc:guardrails.imdsTokens", "required"]),
    ({"provdc:wanLinks": [{"site": "nowhere"}]}, ["provdc:wanLinks[0].site", "nowhere"]),
    ({"provdc:externals": {"ngsp": "198.51.100.0/24"}}, ["provdc:externals.ncsc"]),
    ({"provdc:availabilityZones": ["a"]}, ["provdc:availabilityZones", "two"]),
    ({"provdc:cloud.endpoints": {"s4": "https://x"}}, ["provdc:cloud.endpoints.s4"]),
    ({"provdc:publicNames": {"dvc-portal": "dvc.example.vn"}}, ["provdc:publicNames.e-portal"]),
])
def test_bad_stack_config_is_one_paragraph_exit_2(tmp_path, write_stack, changes, words):
    write_stack(tmp_path, "bad", changes)
    result = run_preview(tmp_path, "bad")
    assert result.exit_code == 2, result.output
    assert "Pulumi.bad.yaml" in result.output and isinstance(result.exception, SystemExit | None)
    for word in words:
        assert word in result.output


def test_lab_profile_reaches_the_provider(root):
    result = runner.invoke(app, ["preview", "--stack", "lab", "--root", str(root),
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    provider = next(r for r in doc["resources"] if r["type"] == "pulumi:providers:aws")
    props = provider["props"]
    assert props["region"] == "ap-southeast-1"
    assert json.loads(props["endpoints"])[0]["s3"] == "http://127.0.0.1:5000"
    assert props["s3UsePathStyle"] == "true" and props["skipCredentialsValidation"] == "true"
    buckets = {r["props"]["bucket"] for r in doc["resources"]
               if r["type"] == "aws:s3/bucket:Bucket"}
    assert buckets == {"soc-trang-lab-log-archive-lab", "soc-trang-lab-backup-lab"}
