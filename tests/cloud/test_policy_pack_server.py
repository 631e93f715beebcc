"""The real policy pack (stacks/policy) started as the Pulumi CLI starts it: a process that
prints its gRPC port. We ask it what it enforces and have it analyze a good and a bad
resource, exactly as `pulumi preview --policy-pack stacks/policy` would, without and with
a `--policy-pack-config` (which the engine hands over through Configure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from provdc.cloud import pack, policy

ROOT = Path(__file__).resolve().parents[2]
MANDATORY = 1  # pulumirpc.EnforcementLevel.MANDATORY
PROVIDER = "pulumi:providers:aws"


@pytest.fixture(scope="module")
def analyzer(start_pack):
    with start_pack(ROOT / "stacks" / "policy", cwd=ROOT) as stub:
        yield stub


def analyze(stub, typ: str, props: dict) -> list:
    request = analyzer_pb2.AnalyzeRequest(type=typ, urn=f"urn:pulumi:t::p::{typ}::r", name="r")
    struct = struct_pb2.Struct()
    struct.update(props)
    request.properties.CopyFrom(struct)
    return list(stub.Analyze(request).diagnostics)


def configure(stub, doc: dict) -> None:
    """What the engine sends for `--policy-pack-config FILE` (numbers become doubles)."""
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, properties in doc.items():
        request.policyConfig[name].enforcementLevel = MANDATORY
        request.policyConfig[name].properties.update(properties)
    stub.Configure(request)


def test_pack_serves_every_rule_as_mandatory(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "provdc-policy"
    names = {p.name for p in info.policies}
    assert {r.id for r in policy.RULES} <= names  # every rule under its own id
    assert len(names) == len(info.policies) == 21
    assert all(p.enforcementLevel == MANDATORY for p in info.policies)


def test_pack_declares_its_settings_with_the_strictest_defaults(analyzer):
    info = {p.name: p for p in analyzer.GetAnalyzerInfo(empty_pb2.Empty()).policies}
    strictest = json.loads((ROOT / "stacks/policy/strictest.json").read_text())
    for key, setting in pack.SETTINGS.items():
        schema = info[setting.rule].configSchema.properties[key]
        assert schema["default"] == strictest[setting.rule][key]


def test_pack_rejects_imdsv1_and_accepts_imdsv2(analyzer):
    bad = analyze(analyzer, policy.INSTANCE, {
        "metadataOptions": {"httpTokens": "optional"}, "rootBlockDevice": {"encrypted": True}})
    assert [d.policyName for d in bad] == ["PDC-IMDS-01"]
    assert "[PDC-IMDS-01] instance metadata allows IMDSv1" in bad[0].message
    good = analyze(analyzer, policy.INSTANCE, {
        "metadataOptions": {"httpTokens": "required"}, "rootBlockDevice": {"encrypted": True}})
    assert good == []


def test_pack_applies_its_defaults_then_the_config(analyzer):
    lock = policy.LOCK_TYPES[0]
    short = analyze(analyzer, lock, {"rule": {"defaultRetention": {"mode": "GOVERNANCE",
                                                                    "days": 60}}})
    assert [d.policyName for d in short] == ["PDC-LOG-01"]
    assert "needs at least 90" in short[0].message
    assert analyze(analyzer, lock, {"rule": {"defaultRetention": {"days": 90}}}) == []
    assert analyze(analyzer, PROVIDER, {"region": "us-east-1"})

    configure(analyzer, {"PDC-LOG-01": {"securityLevel": 4},
                         "PDC-REG-01": {"allowedRegions": ["us-east-1"]}})
    try:
        longer = analyze(analyzer, lock, {"rule": {"defaultRetention": {"days": 90}}})
        assert "needs at least 180" in longer[0].message
        assert analyze(analyzer, PROVIDER, {"region": "us-east-1"}) == []
        assert analyze(analyzer, PROVIDER, {"region": "ap-southeast-1"})
    finally:
        configure(analyzer, {})  # the module's other tests see the defaults
