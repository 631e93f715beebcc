"""The offline preview: run the program under recording mocks, in-process, with no cloud,
no credentials and no Pulumi CLI; then evaluate the policy rules on what was recorded.

Mocks answer every resource with its own inputs (plus an id and an ARN), so the recorded
properties are exactly what the program asked for: what the policy pack would see at
`pulumi preview` time.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor, _sync_await, run_pulumi_func

from provdc.cloud import pack, policy
from provdc.cloud.settings import StackSettings

MOCK_ACCOUNT = "000000000000"


@dataclass
class Recorded:
    type: str
    name: str
    props: dict[str, Any]
    protect: bool
    parent: str


@dataclass
class PreviewResult:
    stack: str
    resources: list[Recorded]
    outputs: dict[str, Any]
    verdicts: list[policy.Verdict]
    policy_config: dict[str, Any] = field(default_factory=dict)  # what the rules applied
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not any(v.violations for v in self.verdicts)


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        state.setdefault("arn", f"arn:aws:mock:::{args.name}")
        if args.typ == "aws:s3/bucket:Bucket":
            state["arn"] = f"arn:aws:s3:::{state.get('bucket', args.name)}"
        if args.typ == "aws:kms/key:Key":
            state.setdefault("keyId", f"{args.name}-key")
        if args.typ == "aws:lb/loadBalancer:LoadBalancer":
            state.setdefault("dnsName", f"{args.name}.elb.mock")
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": MOCK_ACCOUNT, "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:root",
                    "userId": MOCK_ACCOUNT, "id": MOCK_ACCOUNT}
        if args.token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-debian12", "name": "debian-12-amd64-mock"}
        return {}


class _RecordingMonitor(MockMonitor):
    """Also records what the mock API does not pass to new_resource: protect and parent."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.options: dict[tuple[str, str], tuple[bool, str]] = {}

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        parent = request.parent.rsplit("::", 1)[-1] if request.parent else ""
        self.options[(request.type, request.name)] = (bool(request.protect), parent)
        return super().RegisterResource(request)


def run_program(settings: StackSettings) -> tuple[list[Recorded], dict[str, Any]]:
    """Run `program.build` under mocks; return the recorded custom resources and outputs."""
    monitor = _RecordingMonitor(_Mocks())
    pulumi.runtime.set_mocks(monitor.mocks, project="provdc", stack=settings.stack,
                             preview=True, monitor=monitor)
    from provdc.cloud.program import build  # after set_mocks, as the SDK requires

    outputs: dict[str, Any] = {}

    def program():
        result = build(settings)
        return pulumi.Output.from_input(result).apply(outputs.update)

    _sync_await(run_pulumi_func(lambda: _sync_await(pulumi.Output.from_input(program()).future())))
    recorded = []
    for reg in monitor.resources.values():
        typ, name = _type_and_name(reg.urn)
        if typ.startswith("provdc:"):
            continue  # components: their children are the resources
        protect, parent = monitor.options.get((typ, name), (False, ""))
        recorded.append(Recorded(typ, name, _plain(reg.state), protect, parent))
    return recorded, outputs


def _type_and_name(urn: str) -> tuple[str, str]:
    # urn:pulumi:stack::project::parent$type::name
    qualified, name = urn.split("::")[2], urn.split("::")[3]
    return qualified.split("$")[-1], name


def _plain(value: Any) -> Any:
    """Mock state back to plain JSON-like values (the policy pack sees the same shapes)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in ("urn",)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def preview(settings: StackSettings, config: dict[str, Any] | None = None,
            defaults: policy.Context | None = None) -> PreviewResult:
    """Run the program offline and evaluate the rules as the pack would with `config` (a
    --policy-pack-config document; default: the stack's own, `pack.stack_config`) over
    `defaults` (the pack's, for the settings `config` leaves out)."""
    start = time.perf_counter()
    resources, outputs = run_program(settings)
    own = policy.Context.from_settings(settings)
    ctx = pack.context(pack.stack_config(settings) if config is None else config,
                       defaults or own)
    verdicts = policy.evaluate([(r.type, r.name, r.props) for r in resources], ctx)
    result = PreviewResult(settings.stack, resources, outputs, verdicts, pack.config_of(ctx))
    result.counts = dict(sorted(Counter(r.type for r in resources).items()))
    result.seconds = time.perf_counter() - start
    return result
