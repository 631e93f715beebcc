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
    assert inv["role_bastion"]["hosts"] == ["bastion-1"]
    assert set(inv["level_2"]["hosts"]) == {"e-portal-1", "e-portal-2", "mail-1", "mail-2"}


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
