"""The pulumi-policy objects built from the rules in policy.py (no logic of their own).

Kept apart from stacks/policy/__main__.py because constructing `PolicyPack` starts the
analyzer's gRPC server and never returns; tests build the policies here and call them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from provdc.cloud import policy
from provdc.cloud.settings import load_stack_file

PACK_NAME = "provdc-policy"
ROOT = Path(__file__).resolve().parents[3]  # the project (Pulumi.yaml lives there)


def context(root: Path = ROOT, stack: str | None = None) -> policy.Context:
    """The level and region allow-list the rules apply.

    PROVDC_STACK (or `stack`) names the stack whose config and topology to use. Without it,
    the strictest union over every Pulumi.<stack>.yaml of the project: the highest level and
    the regions any stack allows.
    """
    stack = stack or os.environ.get("PROVDC_STACK")
    names = [stack] if stack else sorted(p.name[7:-5] for p in root.glob("Pulumi.*.yaml"))
    contexts = [policy.Context.from_settings(load_stack_file(n, root)) for n in names]
    return policy.Context(max(c.security_level for c in contexts),
                          tuple(sorted({r for c in contexts for r in c.allowed_regions})))


def _framework(rule: policy.Rule) -> PolicyComplianceFramework:
    return PolicyComplianceFramework(name="TCVN 11930", version="2017",
                                     reference=rule.id, specification="; ".join(rule.vn))


def _resource_policy(rule: policy.Rule, ctx: policy.Context) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for message in rule.check(args.resource_type, args.props, ctx):
            report(policy.violation_text(rule, message), None)

    return ResourceValidationPolicy(
        name=rule.id, description=f"{rule.title} ({rule.cis})", validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.HIGH,
        framework=_framework(rule), remediation_steps=rule.remediation)


def _stack_policy(rule: policy.Rule, ctx: policy.Context) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [(r.resource_type, r.name, r.props) for r in args.resources]
        for message in rule.stack_check(resources, ctx):
            report(policy.violation_text(rule, message), None)

    return StackValidationPolicy(
        name=stack_policy_name(rule), description=f"{rule.title}: every resource has it",
        validate=validate, enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH, framework=_framework(rule), remediation_steps=rule.remediation)


def stack_policy_name(rule: policy.Rule) -> str:
    """A rule with both kinds of check needs two policy names; a stack-only rule keeps its id."""
    return f"{rule.id}-stack" if rule.check else rule.id


def policies(ctx: policy.Context) -> list:
    out: list = []
    for rule in policy.RULES:
        if rule.check:
            out.append(_resource_policy(rule, ctx))
        if rule.stack_check:
            out.append(_stack_policy(rule, ctx))
    return out
