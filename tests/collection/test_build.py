"""The built collection: what the tarball holds, its lint, and the execution environment's
build context from `ansible-builder create`."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

import yaml
from conftest import BIN, GALAXY, ROOT, VERSION, build

ROLES = ("baseline", "segmentation", "soc_agent", "soc_collector", "bandwidth", "backup")
PLAYBOOKS = ("site", "baseline", "segmentation", "soc", "bandwidth", "backup")
PLUGINS = ("inventory/hosts.py", "action/segmentation_specs.py", "action/bandwidth_specs.py",
           "action/controls_gate.py", "action/soc_prepare.py", "filter/select_controls.py",
           "filter/named_controls.py",
           "action/backup_specs.py", "filter/backup_host_password.py",
           "modules/segmentation_specs.py", "modules/controls_gate.py",
           "modules/backup_specs.py", "modules/baseline_fix.py", "module_utils/baseline_fix.py")


def members(tarball: Path) -> set[str]:
    with tarfile.open(tarball) as tar:
        return {m.name for m in tar.getmembers()}


def test_the_tarball_holds_the_roles_playbooks_and_plugins(built):
    names = members(built.collection)
    assert {"MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md",
            "CHANGELOG.md"} <= names
    for role in ROLES:
        assert {f"roles/{role}/tasks/main.yml", f"roles/{role}/meta/main.yml",
                f"roles/{role}/meta/argument_specs.yml"} <= names, role
    assert {f"playbooks/{p}.yml" for p in PLAYBOOKS} <= names
    assert {f"plugins/{p}" for p in PLUGINS} <= names
    # the roles' scripts are files in the tarball, not links back into a checkout
    with tarfile.open(built.collection) as tar:
        for path in ("roles/segmentation/files/provdc-segmentation",
                     "roles/backup/files/provdc-backup", "roles/backup/files/provdc-offsite"):
            script = tar.getmember(path)
            assert script.isfile() and script.size > 0, path
    # nothing a collection role cannot use, nothing from a Python run
    assert not [n for n in names if "filter_plugins" in n or "__pycache__" in n]


def test_versions_agree(built):
    """The execution environment names the files by version: the collection, the wheel and
    the project's version are one."""
    with tarfile.open(built.collection) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    assert (manifest["namespace"], manifest["name"]) == ("provdc", "idc")
    assert manifest["version"] == GALAXY["version"] == VERSION
    assert built.collection.name == f"provdc-idc-{VERSION}.tar.gz"
    assert built.wheel.name == f"provdc-{VERSION}-py3-none-any.whl"


def test_the_baseline_argument_specs_type_every_toggle(built):
    from provdc.controls import load_catalogue

    with tarfile.open(built.collection) as tar:
        doc = yaml.safe_load(tar.extractfile("roles/baseline/meta/argument_specs.yml"))
    options = doc["argument_specs"]["main"]["options"]
    toggles = {c.toggle for c in load_catalogue().controls}
    assert toggles <= set(options)
    assert {options[t]["type"] for t in toggles} == {"bool"}
    assert options["baseline_security_level"] == {**options["baseline_security_level"],
                                                  "type": "int", "choices": [1, 2, 3, 4, 5]}


def test_ansible_lint_production_passes_on_the_collection(tmp_path):
    """The collection as built (roles copied in), linted with the production profile. The one
    finding allowed is the missing `repository` key, which only a checkout with a published
    remote (or --repository) can fill in truthfully: the collection's .ansible-lint demotes
    it to a warning."""
    proc = build(tmp_path, "--assemble")
    assert proc.returncode == 0, proc.stderr
    tree = Path(proc.stdout.strip())
    lint = subprocess.run([str(BIN / "ansible-lint"), "--profile", "production", "--offline",
                           "--nocolor"], cwd=tree, capture_output=True, text=True, timeout=900,
                          env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home()),
                               "ANSIBLE_COLLECTIONS_PATH": str(tmp_path)})
    report = lint.stdout + lint.stderr
    assert lint.returncode == 0, report[-4000:]
    assert "0 failure(s)" in report, report[-4000:]
    findings = set(re.findall(r"^([a-z-]+\[[a-z-]+\]|[a-z-]+): ", report, re.MULTILINE))
    assert findings <= {"galaxy[no-repository]"}, report[-4000:]


def test_a_repository_given_at_build_time_lands_in_galaxy_yml(tmp_path):
    proc = build(tmp_path, "--assemble", "--repository", "https://git.example.vn/provdc.git")
    assert proc.returncode == 0, proc.stderr
    meta = yaml.safe_load((Path(proc.stdout.strip()) / "galaxy.yml").read_text())
    assert meta["repository"] == "https://git.example.vn/provdc.git"


def test_ansible_builder_create_writes_the_build_context(built):
    context = built.ee_context
    containerfile = (context / "Containerfile").read_text()
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    assert "ansible-galaxy collection install" in containerfile
    dist = context / "_build" / "dist"
    assert sorted(p.name for p in dist.iterdir()) == sorted([built.collection.name,
                                                             built.wheel.name])
    assert (dist / built.wheel.name).read_bytes() == built.wheel.read_bytes()
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [{"name": f"dist/{built.collection.name}",
                                            "type": "file"}]
    python = (context / "_build" / "requirements.txt").read_text()
    assert f"file:///build/dist/{built.wheel.name}" in python
    definition = yaml.safe_load((ROOT / "playbooks" / "collections" /
                                 "execution-environment.yml").read_text())
    assert definition["version"] == 3
    assert definition["dependencies"]["ansible_core"]["package_pip"] == _pin("ansible-core")
    assert definition["dependencies"]["ansible_runner"]["package_pip"] == _pin(
        "ansible-runner")


def _pin(package: str) -> str:
    """The version pyproject.toml pins (runtime or dev), as `name==version`."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = project["dependencies"] + project["optional-dependencies"]["dev"]
    return next(p for p in pins if p.startswith(f"{package}=="))


def test_an_output_that_is_not_a_directory_is_one_paragraph(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("")
    proc = build(taken)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"error: {taken}: --out: is a file")
    assert "Fix: " in proc.stderr and "Traceback" not in proc.stderr


def test_the_collection_source_is_yamllint_clean():
    """The checkout's own YAML rules (.yamllint) on what the collection adds to it."""
    sources = [ROOT / "playbooks" / "collections",
               *sorted((ROOT / "playbooks").glob("*.yml")),
               *sorted((ROOT / "playbooks" / "roles").glob("*/meta/argument_specs.yml"))]
    proc = subprocess.run([str(BIN / "yamllint"), "-s", *map(str, sources)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
