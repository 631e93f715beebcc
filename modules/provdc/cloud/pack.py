"""The pulumi-policy objects built from the rules in policy.py, and the pack's config.

Kept apart from stacks/policy/__main__.py because constructing `PolicyPack` starts the
analyzer's gRPC server and never returns; tests build the policies here and call them.

A stack's own settings (its region allow-list, its security level) reach the pack as the
pack's config, the file of `pulumi preview --policy-pack-config FILE`: each policy declares
the settings it reads in its `config_schema` and reads them with `args.get_config()`.
Without a config the schema's defaults apply: the strictest values over every stack of the
project (`stacks/policy/strictest.json`), so a forgotten config never loosens a rule.
`provdc preview` evaluates the rules through the same config.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from provdc.cloud import policy
from provdc.errors import ProvdcError
from provdc.yamlsource import read_text

PACK_NAME = "provdc-policy"
DEFAULTS_FILE = "strictest.json"  # in the pack's directory
CONFIG_FIX = "write it with `provdc cloud policy-config --stack STACK --out FILE`"


@dataclass(frozen=True)
class Setting:
    """One stack-specific value a rule needs: the policy that reads it, the policy.Context
    field it sets, its JSON Schema and how a JSON value becomes the field's value."""

    rule: str
    field: str
    schema: dict[str, Any]
    parse: Callable[[Any], Any]


def _regions(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(r, str) and r for r in value):
        raise ValueError("a list of region names")
    return tuple(sorted(set(value)))


def _level(value: Any) -> int:
    # the engine hands numbers over as JSON doubles: 3.0 is level 3, 3.5 is no level
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError("a whole number from 1 to 5")
    if not 1 <= int(value) <= 5:
        raise ValueError("a whole number from 1 to 5")
    return int(value)


# Config property -> the setting. Only these two rules read anything beyond the resource.
SETTINGS: dict[str, Setting] = {
    "allowedRegions": Setting(
        "PDC-REG-01", "allowed_regions",
        {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True,
         "description": "the regions resources may be in (the stack's "
                        "provdc:cloud.allowedRegions); an empty list allows none"},
        _regions),
    "securityLevel": Setting(
        "PDC-LOG-01", "security_level",
        {"type": "integer", "minimum": 1, "maximum": 5,
         "description": "the Decree 85/2016 level of the stack (the topology's highest): "
                        "sets the minimum log retention and, from level 4, write-once logs"},
        _level),
}
ENFORCEMENT_KEY = "enforcementLevel"


# --- the config document ----------------------------------------------------------------

def config_of(ctx: policy.Context) -> dict[str, dict[str, Any]]:
    """The --policy-pack-config document that sets every setting to `ctx`'s value."""
    doc: dict[str, dict[str, Any]] = {}
    for key, s in SETTINGS.items():
        value = getattr(ctx, s.field)
        doc.setdefault(s.rule, {})[key] = list(value) if isinstance(value, tuple) else value
    return doc


def _given(doc: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The policy.Context fields a config document sets, parsed."""
    fields: dict[str, Any] = {}
    for key, s in SETTINGS.items():
        part = doc.get(s.rule)
        if not isinstance(part, Mapping) or part.get(key) is None:
            continue
        try:
            fields[s.field] = s.parse(part[key])
        except ValueError as exc:
            raise ProvdcError(f"{part[key]!r} is not {exc}", source, None, f"{s.rule}.{key}",
                              CONFIG_FIX) from None
    return fields


def context(doc: Mapping[str, Any], base: policy.Context,
            source: str = "the policy pack config") -> policy.Context:
    """`base` with the settings the config document gives (what each policy sees)."""
    return dataclasses.replace(base, **_given(doc, source))


def defaults_from(doc: Mapping[str, Any], source: str) -> policy.Context:
    """The pack's defaults: a config document that sets every setting."""
    given = _given(doc, source)
    missing = [f"{s.rule}.{k}" for k, s in SETTINGS.items() if s.field not in given]
    if missing:
        raise ProvdcError("the pack's defaults do not set every setting", source, None,
                          missing[0], "write them with `provdc cloud policy-config --out "
                          f"stacks/policy/{DEFAULTS_FILE}` in the project")
    return policy.Context(**given)


def read_config(path: str | Path, field: str = "--policy-pack-config") -> dict[str, Any]:
    """A --policy-pack-config file, checked as the Pulumi CLI checks it against the schema:
    known policies and properties, values of the right type. Every policy stays mandatory:
    a file that lowers an enforcement level is refused rather than silently obeyed or
    ignored."""
    try:
        doc = json.loads(read_text(path, "policy pack config"))
    except ProvdcError as exc:
        raise ProvdcError(exc.message, exc.file, None, field, CONFIG_FIX) from None
    except json.JSONDecodeError as exc:
        raise ProvdcError(f"not JSON ({exc.msg}, line {exc.lineno})", str(path), exc.lineno,
                          field, CONFIG_FIX) from None
    if not isinstance(doc, dict):
        raise ProvdcError("not a JSON object of policy names", str(path), None, field,
                          CONFIG_FIX)
    for name, part in doc.items():
        _check_part(name, part, str(path))
    _given(doc, str(path))
    return doc


def _check_part(name: str, part: Any, source: str) -> None:
    if name != "all" and name not in policy_names():
        raise ProvdcError(f"unknown policy '{name}'", source, None, name,
                          f"use `all` or a policy of the pack: {', '.join(policy_names())}")
    if isinstance(part, str):
        level = part
    elif isinstance(part, dict):
        level = part.get(ENFORCEMENT_KEY)
    else:
        raise ProvdcError(f"{part!r} is neither an enforcement level nor an object", source,
                          None, name, CONFIG_FIX)
    if level is not None and level != "mandatory":
        raise ProvdcError(f"enforcement level {level!r}: every provdc policy is mandatory",
                          source, None, name, "remove it; an exception belongs under "
                          "provdc:guardrails in the stack config, where reviewers see it")
    allowed = {k for k, s in SETTINGS.items() if s.rule == name} | {ENFORCEMENT_KEY}
    unknown = sorted(set(part) - allowed) if isinstance(part, dict) else []
    if unknown:
        raise ProvdcError(f"unknown property '{unknown[0]}'", source, None,
                          f"{name}.{unknown[0]}", "the settings are " + ", ".join(
                              f"{s.rule}.{k}" for k, s in SETTINGS.items()))


def stack_config(settings) -> dict[str, dict[str, Any]]:
    """The config of one stack (its Pulumi.<stack>.yaml, validated as StackSettings)."""
    return config_of(policy.Context.from_settings(settings))


def strictest(project: Path) -> policy.Context:
    """The strictest settings over every stack of the project: only the regions every
    stack allows, the highest security level (so the longest retention)."""
    from provdc.cloud.settings import load_stack_file, project_dir, stack_names

    names = stack_names(project_dir(project))
    contexts = [policy.Context.from_settings(load_stack_file(n, project)) for n in names]
    regions = set.intersection(*(set(c.allowed_regions) for c in contexts))
    return policy.Context(max(c.security_level for c in contexts), tuple(sorted(regions)))


def load_defaults(path: Path) -> policy.Context:
    return defaults_from(read_config(path, "the pack's defaults"), str(path))


# --- the pulumi-policy objects ------------------------------------------------------------

def _framework(rule: policy.Rule) -> PolicyComplianceFramework:
    return PolicyComplianceFramework(name="TCVN 11930", version="2017",
                                     reference=rule.id, specification="; ".join(rule.vn))


def config_schema(rule: policy.Rule, defaults: policy.Context) -> PolicyConfigSchema | None:
    """The settings `rule` reads, each with its default (the engine fills defaults in)."""
    config_of_defaults = config_of(defaults).get(rule.id, {})
    properties = {key: {**s.schema, "default": config_of_defaults[key]}
                  for key, s in SETTINGS.items() if s.rule == rule.id}
    return PolicyConfigSchema(properties) if properties else None


def _resource_policy(rule: policy.Rule, defaults: policy.Context) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        # the defaults again: a direct call (or an older engine) may pass no config at all
        ctx = context({rule.id: args.get_config() or {}}, defaults)
        for message in rule.check(args.resource_type, args.props, ctx):
            report(policy.violation_text(rule, message), None)

    return ResourceValidationPolicy(
        name=rule.id, description=f"{rule.title} ({rule.cis})", validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.HIGH,
        framework=_framework(rule), remediation_steps=rule.remediation,
        config_schema=config_schema(rule, defaults))


def _stack_policy(rule: policy.Rule, defaults: policy.Context) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [(r.resource_type, r.name, r.props) for r in args.resources]
        for message in rule.stack_check(resources, defaults):
            report(policy.violation_text(rule, message), None)

    return StackValidationPolicy(
        name=stack_policy_name(rule), description=f"{rule.title}: every resource has it",
        validate=validate, enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH, framework=_framework(rule), remediation_steps=rule.remediation)


def policy_names() -> list[str]:
    """The names the pack serves, as a config file names them."""
    return sorted([r.id for r in policy.RULES if r.check]
                  + [stack_policy_name(r) for r in policy.RULES if r.stack_check])


def stack_policy_name(rule: policy.Rule) -> str:
    """A rule with both kinds of check needs two policy names; a stack-only rule keeps its id."""
    return f"{rule.id}-stack" if rule.check else rule.id


def policies(defaults: policy.Context) -> list:
    """Every rule as pulumi-policy objects; `defaults` apply where the config says nothing."""
    out: list = []
    for rule in policy.RULES:
        if rule.check:
            out.append(_resource_policy(rule, defaults))
        if rule.stack_check:
            out.append(_stack_policy(rule, defaults))
    return out
