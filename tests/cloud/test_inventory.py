"""Stack outputs -> Ansible inventory, read by the real ansible-inventory through the
inventory script (the outputs JSON is produced from the offline preview's mock outputs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provdc.cloud.inventory import build_inventory
from provdc.errors import ProvdcError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def outputs_file(soctrang_preview, tmp_path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(soctrang_preview.outputs), encoding="utf-8")
    return path


def ansible_inventory(outputs: Path, *args: str) -> subprocess.CompletedProcess:
    venv_bin = str(Path(sys.executable).parent)
    env = dict(os.environ, PROVDC_STACK_OUTPUTS=str(outputs),
               PATH=f"{venv_bin}:{os.environ.get('PATH', '')}", ANSIBLE_INVENTORY_ENABLED="script")
    return subprocess.run([f"{venv_bin}/ansible-inventory", "-i", "stacks/inventory.py", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_ansible_reads_the_hosts_pulumi_made(outputs_file, soctrang):
    run = ansible_inventory(outputs_file, "--list")
    assert run.returncode == 0, run.stderr
    inv = json.loads(run.stdout)
    hostvars = inv["_meta"]["hostvars"]
    assert len(hostvars) == 16
    assert hostvars["dvc-portal-1"]["ansible_host"] == "10.94.1.4"
    assert hostvars["shared-db-2"]["provdc_zone"] == "DB"
    assert sorted(inv["zone_dmz"]["hosts"]) == ["dvc-portal-1", "dvc-portal-2", "e-portal-1",
                                                "e-portal-2"]
    assert inv["service_bastion"]["hosts"] == ["bastion-1"]
    assert set(inv["security_level_2"]["hosts"]) == {"e-portal-1", "e-portal-2", "mail-1",
                                                      "mail-2"}
    assert sorted(inv["dc_hosts"]["hosts"]) == sorted(hostvars)


def test_stale_outputs_are_refused(soctrang, soctrang_preview):
    outputs = json.loads(json.dumps(soctrang_preview.outputs))
    outputs["hosts"][0]["service"] = "retired-portal"
    with pytest.raises(ProvdcError, match="retired-portal"):
        build_inventory(soctrang.loaded, outputs)


def test_script_without_outputs_says_what_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PROVDC_STACK_OUTPUTS"}
    run = subprocess.run([sys.executable, "stacks/inventory.py", "--list"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "PROVDC_STACK_OUTPUTS" in run.stderr


# --- the cloud half feeds the host half (the host contract, end to end, offline) ----------

GOLDEN = Path(__file__).parent / "golden" / "soctrang-inventory.json"
TOPOLOGY_MARK = "<the stack's topology>"


def inventory_env(outputs: Path) -> dict:
    venv_bin = str(Path(sys.executable).parent)
    return dict(os.environ, PROVDC_STACK_OUTPUTS=str(outputs),
                PATH=f"{venv_bin}:{os.environ.get('PATH', '')}",
                ANSIBLE_INVENTORY_ENABLED="script")


def provdc(outputs: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed CLI as an operator runs it, against the inventory script."""
    return subprocess.run([str(Path(sys.executable).parent / "provdc"), *args], cwd=ROOT,
                          env=inventory_env(outputs), capture_output=True, text=True,
                          timeout=300)


def test_golden_cloud_inventory(outputs_file):
    """What the cloud inventory hands the playbooks, pinned: every host's contract variables
    and groups. After an intended change: PROVDC_UPDATE_GOLDEN=1 rewrites the file and fails,
    so the diff is reviewed like code before the test passes again."""
    run = ansible_inventory(outputs_file, "--list")
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.replace(str((ROOT / "inventory" / "soctrang" /
                                             "topology.yml").resolve()), TOPOLOGY_MARK))
    if os.environ.get("PROVDC_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.fail("golden cloud inventory rewritten: review the diff, then run again")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert got["_meta"]["hostvars"] == want["_meta"]["hostvars"]
    assert got == want


def test_cloud_inventory_renders_every_host_firewall_and_the_zone_firewall(outputs_file):
    run = provdc(outputs_file, "segmentation", "render", "-i", "stacks/inventory.py",
                 "--format", "json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    hostvars = json.loads(ansible_inventory(outputs_file, "--list").stdout)["_meta"]["hostvars"]
    assert sorted(doc["hosts"]) == sorted(hostvars)
    for name, text in doc["hosts"].items():
        # each host's own table admits SSH (from the bastion) and drops the rest
        assert "table inet provdc_segmentation" in text and "policy drop" in text, name
        assert "tcp dport 22" in text, name
    assert "table inet provdc_zones" in doc["zone"]
    one = provdc(outputs_file, "segmentation", "render", "-i", "stacks/inventory.py",
                 "lgsp-1")
    assert one.returncode == 0 and one.stdout == doc["hosts"]["lgsp-1"]


def test_cloud_inventory_bandwidth_specs(outputs_file):
    """The cloud has no site gateways (they stand at the agencies' sites): the specs are
    rendered for none, after every host passed the host contract."""
    run = provdc(outputs_file, "bandwidth", "specs", "-i", "stacks/inventory.py")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {}


def test_site_yml_lists_its_tasks_for_every_cloud_host(outputs_file):
    venv_bin = Path(sys.executable).parent
    run = subprocess.run([str(venv_bin / "ansible-playbook"), "-i", "stacks/inventory.py",
                          "playbooks/site.yml", "--list-hosts", "--list-tasks"], cwd=ROOT,
                         env=inventory_env(outputs_file), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    hostvars = json.loads(ansible_inventory(outputs_file, "--list").stdout)["_meta"]["hostvars"]
    listed = set(run.stdout.split())
    assert set(hostvars) <= listed, sorted(set(hostvars) - listed)
    for task in ("VN-SSH-02", "Render every firewall and guard the operator's path"):
        assert task in run.stdout


def test_cloud_outputs_without_a_topology_are_refused(outputs_file, tmp_path):
    """No silent Sóc Trăng: outputs from a program that did not export its topology."""
    data = json.loads(outputs_file.read_text())
    del data["topology"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    run = ansible_inventory(old, "--list")
    assert "the stack outputs name no topology" in run.stderr
    assert "hostvars" not in run.stdout or json.loads(run.stdout)["_meta"]["hostvars"] == {}
