"""The installed collection's roles and playbooks without hosts: typed entry points refuse
missing and mistyped variables before any task, and the SOC playbook takes its certificate
directory at run time only."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from conftest import BIN, ROOT, SAMPLE, assert_one_paragraph


def play(installed, role: str, variables: dict) -> subprocess.CompletedProcess:
    path = installed.work / f"{role.rsplit('.', 1)[-1]}-play.yml"
    path.write_text(yaml.safe_dump([{"name": f"{role} alone", "hosts": "localhost",
                                     "connection": "local", "gather_facts": False,
                                     "vars": variables, "roles": [{"role": role}]}]))
    return installed.run("ansible-playbook", "-i", "localhost,", str(path))


@pytest.mark.parametrize("role, variables, words", [
    ("provdc.idc.bandwidth", {"provdc_role": "gateway", "provdc_site": "phuong-5"},
     ["missing required arguments: provdc_core_peer_if, provdc_uplink_if"]),
    ("provdc.idc.soc_agent", {}, ["missing required arguments: soc"]),
    ("provdc.idc.soc_collector", {"soc_collector_store_dir": "/var/log/soc"},
     ["missing required arguments: soc"]),
    ("provdc.idc.segmentation", {"provdc_role": "dc", "provdc_address": "10.94.2.2"},
     ["missing required arguments: provdc_security_level"]),
])
def test_a_missing_required_variable_stops_the_role_before_its_tasks(installed, role,
                                                                      variables, words):
    proc = play(installed, role, variables)
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 2, proc.stdout[-2000:]
    assert "Validation of arguments failed" in out, out[-2000:]
    for word in words:
        assert word in out, out[-2000:]
    assert out.count("TASK [") == 1, out[-2000:]  # the validation, nothing of the role


@pytest.mark.parametrize("role, variables, words", [
    ("provdc.idc.segmentation", {"provdc_role": "router", "provdc_address": "10.94.2.2",
                                 "provdc_security_level": 3},
     ["provdc_role must be one of: dc, gateway, agency, core"]),
    ("provdc.idc.segmentation", {"provdc_role": "dc", "provdc_address": "10.94.2.2",
                                 "provdc_security_level": "high"},
     ["provdc_security_level", "int"]),
    ("provdc.idc.baseline", {"baseline_vn_ssh_02": "sometimes"},
     ["baseline_vn_ssh_02", "bool"]),
])
def test_a_mistyped_variable_stops_the_role(installed, role, variables, words):
    proc = play(installed, role, variables)
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 2 and "Validation of arguments failed" in out, out[-2000:]
    for word in words:
        assert word in out, out[-2000:]


@pytest.fixture
def planned(installed):
    path = installed.work / "planned.provdc.yml"
    path.write_text(yaml.safe_dump({"plugin": "provdc.idc.hosts", "source": "topology",
                                    "topology": str(SAMPLE), "profile": "small"}))
    return path


def test_the_soc_playbook_takes_its_certificate_directory_at_run_time_only(installed, planned):
    """No default inside the collection or the project: without soc_pki_dir (or
    PROVDC_SOC_PKI_DIR) the controller step stops, before any host is contacted."""
    proc = installed.run("ansible-playbook", "-i", str(planned), "provdc.idc.soc")
    assert_one_paragraph(proc, "soc_pki_dir", "PROVDC_SOC_PKI_DIR", "outside the project")
    assert "UNREACHABLE" not in proc.stdout
    assert not list(installed.tree.rglob("ca.key"))


def test_the_soc_certificates_go_where_the_run_says(installed, tmp_path):
    """PROVDC_SOC_PKI_DIR names the directory (an AWX credential can set it): the CA and
    every host's certificate are made there. The hosts refuse the connection (port 1 on
    loopback), so nothing past the controller step runs."""
    inventory = installed.work / "refusing.provdc.yml"
    inventory.write_text(yaml.safe_dump({
        "plugin": "provdc.idc.hosts", "source": "topology", "topology": str(SAMPLE),
        "profile": "small", "compose": {"ansible_host": "'127.0.0.1'", "ansible_port": 1}}))
    pki = tmp_path / "soc-pki"
    proc = installed.run("ansible-playbook", "-i", str(inventory), "provdc.idc.soc",
                         PROVDC_SOC_PKI_DIR=str(pki))
    assert "changed: [localhost]" in proc.stdout, proc.stdout[-3000:]
    assert (pki / "ca.crt").is_file() and (pki / "ca.key").stat().st_mode & 0o077 == 0
    assert {p.name for p in (pki / "hosts").iterdir()} >= {"lgsp-1.crt", "lgsp-1.key"}
    assert not list(installed.tree.rglob("ca.key"))


def test_a_controller_step_refusing_its_input_is_one_paragraph(installed, tmp_path):
    """The action plugins fail with provdc's paragraph, as the CLI did."""
    path = installed.work / "bad-step.yml"
    path.write_text(yaml.safe_dump([{
        "name": "A host outside its zone", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Render", "provdc.idc.segmentation_specs": {
            "source": "my-inventory",
            "hostvars": {"lgsp-1": {"provdc_role": "dc", "provdc_address": "10.94.9.9",
                                    "provdc_security_level": 3, "provdc_zone": "APP",
                                    "provdc_topology": str(SAMPLE)}}}}]}]))
    proc = installed.run("ansible-playbook", "-i", "localhost,", str(path))
    assert_one_paragraph(proc, "my-inventory: lgsp-1: provdc_address: 10.94.9.9 is outside "
                         "zone APP")


def test_the_checkout_entry_points_run_the_collection_playbooks(planned):
    """playbooks/*.yml in the checkout are thin: the plays and roles are the collection's
    (from the checkout's copy, through ansible.cfg)."""
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(planned),
                           "playbooks/site.yml", "--list-tasks"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for role in ("baseline", "segmentation", "soc_agent", "soc_collector", "bandwidth"):
        assert f"provdc.idc.{role} : " in proc.stdout, role
    assert "Checkout defaults" in proc.stdout


def test_the_checkout_entry_point_honours_a_directory_given_at_run_time(installed, tmp_path):
    """From a checkout the certificates default to .provdc/soc-pki; PROVDC_SOC_PKI_DIR (or
    soc_pki_dir) still wins."""
    inventory = tmp_path / "refusing.provdc.yml"
    inventory.write_text(yaml.safe_dump({
        "plugin": "provdc.idc.hosts", "source": "topology", "topology": str(SAMPLE),
        "profile": "small", "compose": {"ansible_host": "'127.0.0.1'", "ansible_port": 1}}))
    pki = tmp_path / "given-pki"
    env = {k: v for k, v in installed.env().items() if k != "ANSIBLE_COLLECTIONS_PATH"}
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory),
                           "playbooks/soc.yml"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**env, "PROVDC_SOC_PKI_DIR": str(pki)})
    assert "changed: [localhost]" in proc.stdout, proc.stdout[-3000:]
    assert (pki / "ca.crt").is_file() and (pki / "hosts" / "lgsp-1.crt").is_file()
