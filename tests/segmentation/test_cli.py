"""`provdc segmentation` on bad input: one paragraph, exit 2, no traceback, nothing printed
that a playbook could apply."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TOPOLOGY = ROOT / "inventory" / "soctrang" / "topology.yml"


def provdc(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provdc", "segmentation", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def assert_user_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.stderr.startswith("error:") and "Fix:" in proc.stderr
    for w in words:
        assert w in proc.stderr.replace("\n", " "), proc.stderr


def test_render_the_zone_firewall_from_the_topology_alone():
    proc = provdc("render", "-t", str(DEFAULT_TOPOLOGY), "zone-firewall")
    assert proc.returncode == 0, proc.stderr
    assert "hook forward priority filter; policy drop;" in proc.stdout
    assert "table inet provdc_zones" in proc.stdout


def test_render_refuses_a_matrix_without_the_bastion_path(tmp_path):
    text = DEFAULT_TOPOLOGY.read_text().replace(
        '  - {from: "service:bastion", to: "zone:DMZ", proto: tcp, ports: [22]}\n', "")
    bad = tmp_path / "topology.yml"
    bad.write_text(text)
    assert_user_error(provdc("render", "-t", str(bad)), str(bad), "flows:",
                      "SSH from the bastion bastion to zone DMZ")


def test_specs_renders_every_host_and_refuses_a_cut_operator_path(small_vars):
    clients = {"qlvb-1": "10.94.2.1 50000 10.94.2.3 22"}
    ok = provdc("specs", stdin=json.dumps({"hostvars": small_vars, "clients": clients}))
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert set(out["hosts"]) == set(small_vars) and "provdc_zones" in out["zone"]
    cut = {"hostvars": small_vars, "clients": {"qlvb-1": "10.94.8.5 50000 10.94.2.3 22"},
           "source": "inventory/x/hosts.yml"}
    assert_user_error(provdc("specs", stdin=json.dumps(cut)), "inventory/x/hosts.yml",
                      "qlvb-1: provdc_admin_sources", "would cut the operator's SSH path")


def test_specs_refuses_bad_admin_sources_and_bad_json(small_vars):
    bad = {**small_vars, "mail-1": {**small_vars["mail-1"], "provdc_admin_sources": "10.0.0.1"}}
    assert_user_error(provdc("specs", stdin=json.dumps({"hostvars": bad})),
                      "mail-1: provdc_admin_sources", "YAML list")
    assert_user_error(provdc("specs", stdin="{not json"), "stdin is not JSON")


def test_verify_needs_a_lab_inventory(tmp_path, small_vars):
    hosts = {h: {k: v for k, v in hv.items() if k != "provdc_core_netns"}
             for h, hv in small_vars.items()}
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    assert_user_error(provdc("verify", "-i", str(inv)), "verify needs the lab")
    assert_user_error(provdc("verify", "-i", str(inv), "--format", "xml"), "--format")


def test_render_json_is_every_firewall_on_stdout(tmp_path, small_vars):
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": small_vars}}))
    proc = provdc("render", "-i", str(inv), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == {"hosts", "zone"} and set(doc["hosts"]) == set(small_vars)
    assert "table inet provdc_zones" in doc["zone"]
    assert all("table inet provdc_segmentation" in text for text in doc["hosts"].values())
