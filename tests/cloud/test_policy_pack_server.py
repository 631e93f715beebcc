"""The real policy pack (stacks/policy) started as the Pulumi CLI starts it: a process that
prints its gRPC port. We ask it what it enforces and have it analyze a good and a bad
resource, exactly as `pulumi preview --policy-pack stacks/policy` would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from provdc.cloud import policy

ROOT = Path(__file__).resolve().parents[2]
MANDATORY = 1  # pulumirpc.EnforcementLevel.MANDATORY


@pytest.fixture(scope="module")
def analyzer():
    proc = subprocess.Popen([sys.executable, "stacks/policy"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            # unbuffered, as the Pulumi CLI runs a Python plugin: the port
                            # line must arrive before the server blocks
                            env={"PATH": "/usr/bin:/bin", "PROVDC_STACK": "soctrang",
                                 "PYTHONUNBUFFERED": "1"})
    try:
        port = proc.stdout.readline().strip()
        assert port.isdigit(), proc.stderr.read() if proc.poll() is not None else port
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()  # our own child, by its handle
        proc.wait(timeout=30)


def analyze(stub, typ: str, props: dict) -> list:
    request = analyzer_pb2.AnalyzeRequest(type=typ, urn=f"urn:pulumi:t::p::{typ}::r", name="r")
    struct = struct_pb2.Struct()
    struct.update(props)
    request.properties.CopyFrom(struct)
    return list(stub.Analyze(request).diagnostics)


def test_pack_serves_every_rule_as_mandatory(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "provdc-policy"
    names = {p.name for p in info.policies}
    assert {r.id for r in policy.RULES} <= names  # every rule under its own id
    assert len(names) == len(info.policies) == 19
    assert all(p.enforcementLevel == MANDATORY for p in info.policies)


def test_pack_rejects_imdsv1_and_accepts_imdsv2(analyzer):
    bad = analyze(analyzer, policy.INSTANCE, {
        "metadataOptions": {"httpTokens": "optional"}, "rootBlockDevice": {"encrypted": True}})
    assert [d.policyName for d in bad] == ["PDC-IMDS-01"]
    assert "[PDC-IMDS-01] instance metadata allows IMDSv1" in bad[0].message
    good = analyze(analyzer, policy.INSTANCE, {
        "metadataOptions": {"httpTokens": "required"}, "rootBlockDevice": {"encrypted": True}})
    assert good == []


def test_pack_applies_the_stack_level(analyzer):
    lock = policy.LOCK_TYPES[0]
    short = analyze(analyzer, lock, {"rule": {"defaultRetention": {"mode": "GOVERNANCE",
                                                                    "days": 60}}})
    assert [d.policyName for d in short] == ["PDC-LOG-01"]
    assert "needs at least 90" in short[0].message
    assert analyze(analyzer, lock, {"rule": {"defaultRetention": {"days": 90}}}) == []
