"""The pack's stack-specific settings come from its config (`--policy-pack-config`), with
the strictest values over the project's stacks as defaults; the pack lives in its own
directory; `provdc preview` evaluates the rules through the same config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from pulumi_policy import PolicyResourceOptions, ResourceValidationArgs
from typer.testing import CliRunner

from provdc.cli import app
from provdc.cloud import pack, policy
from provdc.errors import ProvdcError

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "stacks" / "policy"
PROVIDER = "pulumi:providers:aws"
LOCK = policy.LOCK_TYPES[0]
runner = CliRunner()


def denied(policies: list, name: str, typ: str, props: dict,
           config: dict | None = None) -> list[str]:
    """What the named policy reports for one resource, given the config the engine passes."""
    reports: list[str] = []
    args = ResourceValidationArgs(typ, props, f"urn:pulumi:t::p::{typ}::r", "r",
                                  PolicyResourceOptions(False, [], None, [], None, []), None,
                                  config)
    next(p for p in policies if p.name == name).validate(
        args, lambda message, urn=None: reports.append(message))
    return reports


def lock(mode: str, days: int) -> dict:
    return {"rule": {"defaultRetention": {"mode": mode, "days": days}}}


@pytest.fixture
def two_stacks(tmp_path, write_stack):
    """A project whose stacks disagree: `wide` allows a second region, `high` runs a level-4
    topology (the shared DB raised to level 4)."""
    topo = (ROOT / "inventory/soctrang/topology.yml").read_text(encoding="utf-8")
    raised = topo.replace("slug: shared-db, zone: DB, instances: 2, security_level: 3",
                          "slug: shared-db, zone: DB, instances: 2, security_level: 4")
    assert raised != topo
    (tmp_path / "level4.yml").write_text(raised, encoding="utf-8")
    write_stack(tmp_path, "wide", {"provdc:cloud.allowedRegions":
                                   ["ap-southeast-1", "ap-southeast-7"]})
    write_stack(tmp_path, "high", {"provdc:topology": str(tmp_path / "level4.yml")})
    return tmp_path


# --- must deny, with and without config --------------------------------------------------

def test_without_config_the_strictest_over_the_stacks_applies(two_stacks):
    defaults = pack.strictest(two_stacks)
    assert defaults == policy.Context(4, ("ap-southeast-1",))
    rules = pack.policies(defaults)
    # allowed by the `wide` stack only: denied while no config names the stack
    assert denied(rules, "PDC-REG-01", PROVIDER, {"region": "ap-southeast-7"})
    assert denied(rules, "PDC-REG-01", PROVIDER, {"region": "ap-southeast-1"}) == []
    # the `high` stack's level: 90 days in GOVERNANCE mode is too little for level 4
    assert denied(rules, "PDC-LOG-01", LOCK, lock("GOVERNANCE", 90))
    assert denied(rules, "PDC-LOG-01", LOCK, lock("COMPLIANCE", 180)) == []


def test_the_config_sets_each_stacks_own_values(two_stacks):
    rules = pack.policies(pack.strictest(two_stacks))
    wide = {"allowedRegions": ["ap-southeast-1", "ap-southeast-7"]}
    assert denied(rules, "PDC-REG-01", PROVIDER, {"region": "ap-southeast-7"}, wide) == []
    assert denied(rules, "PDC-REG-01", PROVIDER, {"region": "us-east-1"}, wide)
    level3 = {"securityLevel": 3}
    assert denied(rules, "PDC-LOG-01", LOCK, lock("GOVERNANCE", 90), level3) == []
    assert denied(rules, "PDC-LOG-01", LOCK, lock("GOVERNANCE", 60), level3)


def test_a_config_can_also_be_stricter_than_the_defaults():
    rules = pack.policies(policy.Context(2, ("ap-southeast-1",)))
    assert denied(rules, "PDC-LOG-01", LOCK, lock("GOVERNANCE", 30)) == []
    assert denied(rules, "PDC-LOG-01", LOCK, lock("GOVERNANCE", 30), {"securityLevel": 5.0})
    assert denied(rules, "PDC-REG-01", PROVIDER, {"region": "ap-southeast-1"},
                  {"allowedRegions": []})


def test_each_setting_is_declared_in_its_policys_schema_with_the_default():
    rules = {p.name: p for p in pack.policies(policy.Context(4, ("han-1", "hcm-1")))}
    regions = rules["PDC-REG-01"].config_schema.properties["allowedRegions"]
    assert regions["type"] == "array" and regions["default"] == ["han-1", "hcm-1"]
    level = rules["PDC-LOG-01"].config_schema.properties["securityLevel"]
    assert (level["minimum"], level["maximum"], level["default"]) == (1, 5, 4)
    readers = {name for name, p in rules.items() if p.config_schema is not None}
    assert readers == {"PDC-REG-01", "PDC-LOG-01"}


def test_the_packs_defaults_are_the_projects_strictest():
    committed = pack.read_config(PACK / pack.DEFAULTS_FILE)
    assert committed == pack.config_of(pack.strictest(ROOT)), (
        "stacks/policy/strictest.json is stale: run "
        "`provdc cloud policy-config --out stacks/policy/strictest.json`")


# --- the config file --------------------------------------------------------------------

@pytest.mark.parametrize("doc, field", [
    ({"PDC-REG-02": {}}, "PDC-REG-02"),
    ({"PDC-REG-01": {"allowedRegion": ["x"]}}, "PDC-REG-01.allowedRegion"),
    ({"PDC-REG-01": {"allowedRegions": "ap-southeast-1"}}, "PDC-REG-01.allowedRegions"),
    ({"PDC-LOG-01": {"securityLevel": 6}}, "PDC-LOG-01.securityLevel"),
    ({"PDC-LOG-01": {"securityLevel": 3.5}}, "PDC-LOG-01.securityLevel"),
    ({"all": "advisory"}, "all"),
    ({"PDC-IMDS-01": {"enforcementLevel": "disabled"}}, "PDC-IMDS-01"),
    ({"PDC-IMDS-01": 3}, "PDC-IMDS-01"),
    (["PDC-REG-01"], "--policy-pack-config"),
])
def test_a_bad_config_file_is_one_paragraph_naming_the_field(tmp_path, doc, field):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ProvdcError) as caught:
        pack.read_config(path)
    assert caught.value.field == field and caught.value.fix
    assert "\n" not in str(caught.value)


def test_a_mandatory_level_and_every_setting_are_accepted(tmp_path):
    path = tmp_path / "config.json"
    doc = {"all": "mandatory", "PDC-REG-01": {"enforcementLevel": "mandatory",
                                              "allowedRegions": ["hcm-1"]},
           "PDC-LOG-01": {"securityLevel": 4}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert pack.context(pack.read_config(path), policy.Context(3, ())) == policy.Context(
        4, ("hcm-1",))


# --- the pack is a Pulumi citizen -------------------------------------------------------

def test_the_pack_is_publishable_on_its_own():
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    venv = (PACK / project["runtime"]["options"]["virtualenv"]).resolve()
    assert venv.is_relative_to(PACK), "the pack's virtualenv must live inside the pack"
    pins = dict(line.split("==") for line in
                (PACK / "requirements.txt").read_text(encoding="utf-8").splitlines()
                if "==" in line and not line.startswith("#"))
    meta = _pyproject()
    assert pins.pop("provdc") == meta["version"]
    assert pins and all(f"{name}=={version}" in meta["dependencies"]
                        for name, version in pins.items())
    ignored = [line for line in (PACK / ".gitignore").read_text(encoding="utf-8").split("\n")
               if line and not line.startswith("#")]
    assert "venv/" in ignored and "wheels/" not in ignored  # published with the pack


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_pack_reads_nothing_outside_its_directory(tmp_path, start_pack):
    """A copy of the pack, far from any project, still loads its defaults and rules."""
    from google.protobuf import empty_pb2

    copy = tmp_path / "published" / "provdc-policy"
    shutil.copytree(PACK, copy, ignore=shutil.ignore_patterns("__pycache__", "venv", "wheels"))
    with start_pack(copy, cwd=tmp_path) as stub:
        info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == pack.PACK_NAME and len(info.policies) == 21


# --- provdc preview uses the same config --------------------------------------------------

def preview(root: Path, *extra: str):
    return runner.invoke(app, ["preview", "--stack", "soctrang", "--root", str(root),
                               "--format", "json", *extra])


def test_preview_applies_the_config_file_pulumi_would_get(tmp_path, write_stack):
    write_stack(tmp_path, "soctrang", {})
    config = tmp_path / "soctrang-policy.json"
    made = runner.invoke(app, ["cloud", "policy-config", "--stack", "soctrang", "--root",
                               str(tmp_path), "--out", str(config)])
    assert made.exit_code == 0, made.output
    same = preview(tmp_path, "--policy-pack-config", str(config))
    assert same.exit_code == 0, same.output
    own = preview(tmp_path)
    assert json.loads(same.stdout)["policy_config"] == json.loads(config.read_text())
    assert json.loads(own.stdout)["policy_config"] == json.loads(config.read_text())


@pytest.mark.parametrize("doc, rules", [
    ({"PDC-REG-01": {"allowedRegions": ["us-east-1"]}}, ["PDC-REG-01"]),
    # the level also sets the backups' minimum (180 days at level 4; the stack locks 120)
    ({"PDC-LOG-01": {"securityLevel": 4}}, ["PDC-LOG-01", "PDC-BAK-01"]),
])
def test_preview_with_a_stricter_config_fails_that_rule(tmp_path, write_stack, doc, rules):
    write_stack(tmp_path, "soctrang", {})
    config = tmp_path / "policy.json"
    config.write_text(json.dumps(doc), encoding="utf-8")
    result = preview(tmp_path, "--policy-pack-config", str(config))
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert [p["id"] for p in out["policies"] if p["status"] == "FAIL"] == rules
    # the settings the file leaves out keep the pack's defaults
    assert out["policy_config"] == {**pack.config_of(pack.strictest(tmp_path)), **doc}


def test_preview_outside_a_pulumi_project_is_one_paragraph(tmp_path):
    result = runner.invoke(app, ["preview", "--stack", "soctrang", "--root", str(tmp_path)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit | None)
    text = " ".join(result.stderr.split())
    assert text.startswith("error: ") and "--root" in text and "not a Pulumi project" in text
    assert "Fix:" in text and "\n" not in result.stderr.strip()


def test_policy_config_prints_the_strictest_without_a_stack(root):
    result = runner.invoke(app, ["cloud", "policy-config", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == pack.config_of(pack.strictest(root))
