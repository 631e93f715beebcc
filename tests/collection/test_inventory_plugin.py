"""The installed collection's inventory plugin (provdc.idc.hosts), through ansible-inventory:
each source gives the groups and variables the host contract validates, the same as the
repository's writers (the lab's hosts.yml, the cloud inventory's golden file)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SAMPLE, assert_one_paragraph

from provdc.collection.inventory import LAB_ONLY
from provdc.hosts import inventory as host_inventory
from provdc.hosts.contract import groups_of
from provdc.lab import inventory as lab_inventory
from provdc.lab import runtime
from provdc.lab.model import plan_lab
from provdc.topology.validate import load

CLOUD_GOLDEN = ROOT / "tests" / "cloud" / "golden" / "soctrang-inventory.json"
TOPOLOGY_MARK = "<the stack's topology>"  # how the golden file writes the stack's topology


def write_config(installed, name: str, config: dict) -> Path:
    path = installed.work / name
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def listed(installed, config: dict, name: str = "hosts.provdc.yml", **env: str) -> dict:
    path = write_config(installed, name, config)
    proc = installed.run("ansible-inventory", "-i", str(path), "--list", **env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)


def membership(data: dict) -> dict[str, set[str]]:
    """host -> the groups that list it (besides all and ungrouped)."""
    out: dict[str, set[str]] = {h: set() for h in data["_meta"]["hostvars"]}
    for group, node in data.items():
        if group not in ("_meta", "all", "ungrouped"):
            for host in node.get("hosts", []):
                out[host].add(group)
    return out


def assert_contract(data: dict) -> dict:
    """Every host passes the host contract, in exactly the groups the contract gives it."""
    hostvars = data["_meta"]["hostvars"]
    hosts, _ = host_inventory.validate(hostvars, "ansible-inventory --list")
    groups = membership(data)
    for name, host in hosts.items():
        assert groups[name] == set(groups_of(host)), name
    return hostvars


def test_ansible_doc_reads_the_installed_plugins(installed):
    proc = installed.run("ansible-doc", "-t", "inventory", "provdc.idc.hosts")
    assert proc.returncode == 0, proc.stderr
    assert str(installed.tree / "plugins" / "inventory" / "hosts.py") in proc.stdout
    for option in ("source", "topology", "lab_name", "outputs", "cache_plugin", "keyed_groups"):
        assert option in proc.stdout, option
    for kind, name in (("module", "provdc.idc.segmentation_specs"),
                       ("module", "provdc.idc.controls_gate"),
                       ("module", "provdc.idc.soc_prepare"),
                       ("filter", "provdc.idc.select_controls"),
                       ("filter", "provdc.idc.named_controls"),
                       ("role", "provdc.idc.bandwidth")):
        proc = installed.run("ansible-doc", "-t", kind, name)
        assert proc.returncode == 0 and str(installed.tree) in proc.stdout, (name, proc.stderr)


def test_the_topology_gives_the_planned_hosts_without_lab_plumbing(installed):
    (installed.work / "soctrang").mkdir(exist_ok=True)
    (installed.work / "soctrang" / "topology.yml").write_bytes(SAMPLE.read_bytes())
    data = listed(installed, {"plugin": "provdc.idc.hosts", "source": "topology",
                              "topology": "soctrang/topology.yml", "profile": "small"})
    hostvars = assert_contract(data)
    planned = lab_inventory.planned_hostvars(SAMPLE)
    assert set(hostvars) == set(planned)
    copy = str((installed.work / "soctrang" / "topology.yml").resolve())
    for name, v in hostvars.items():  # relative to the configuration file
        want = {k: x for k, x in planned[name].items() if k not in LAB_ONLY}
        assert v == {**want, "provdc_topology": copy}, name
    assert not {k for v in hostvars.values() for k in v} & set(LAB_ONLY)


def test_the_province_profile_gives_every_site_and_instance(installed):
    data = listed(installed, {"plugin": "provdc.idc.hosts", "source": "topology",
                              "topology": str(SAMPLE)})
    hostvars = assert_contract(data)
    plan = plan_lab(load(SAMPLE), "plan", "province")
    assert sorted(hostvars) == sorted(h.name for h in plan.hosts)


def test_the_cloud_outputs_give_the_golden_cloud_inventory(installed, tmp_path):
    from provdc.cloud.preview import preview
    from provdc.cloud.settings import load_stack_file

    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(preview(load_stack_file("soctrang", ROOT)).outputs))
    data = listed(installed, {"plugin": "provdc.idc.hosts", "source": "cloud",
                              "outputs": str(outputs), "project_dir": str(ROOT)},
                  name="cloud.provdc.yml")
    hostvars = assert_contract(data)
    golden = json.loads(CLOUD_GOLDEN.read_text(encoding="utf-8"))
    topology = str(SAMPLE.resolve())
    got = {h: {k: (TOPOLOGY_MARK if x == topology else x) for k, x in v.items()}
           for h, v in hostvars.items()}
    assert got == golden["_meta"]["hostvars"]
    groups = {g: set(n["hosts"]) for g, n in golden.items() if "hosts" in n}
    assert {g: set(data[g]["hosts"]) for g in groups} == groups


@pytest.fixture
def lab_state(tmp_path, monkeypatch):
    """A lab recorded as up under a private PROVDC_LAB_ROOT (its state file only: the plugin
    reads the state, not the hosts)."""
    root = tmp_path / "labs"
    monkeypatch.setenv("PROVDC_LAB_ROOT", str(root))
    plan = plan_lab(load(SAMPLE), "ci-plugin", "small")
    runtime.save_state(runtime.State("ci-plugin", "up", plan))
    ldir = runtime.LabDir("ci-plugin")
    want = lab_inventory.ansible_inventory(plan, ldir.key, ldir.control_dir)
    return root, want


def test_a_running_lab_gives_its_hosts_yml(installed, lab_state):
    root, want = lab_state
    config = {"plugin": "provdc.idc.hosts", "source": "lab", "lab_name": "ci-plugin"}
    data = listed(installed, config, name="lab.provdc.yml", PROVDC_LAB_ROOT=str(root))
    hostvars = assert_contract(data)
    assert hostvars == want["all"]["hosts"]
    assert membership(data) == {h: {g for g, n in want["all"]["children"].items()
                                     if h in n["hosts"]} for h in hostvars}
    # the key from ssh-agent or a credential instead: the inventory names none
    keyless = listed(installed, {**config, "lab_key": False}, name="lab.provdc.yml",
                     PROVDC_LAB_ROOT=str(root))
    for name, v in keyless["_meta"]["hostvars"].items():
        rest = {k: x for k, x in want["all"]["hosts"][name].items()
                if k != "ansible_ssh_private_key_file"}
        assert v == rest, name


def test_compose_keyed_groups_and_a_private_key_path(installed, lab_state):
    root, _ = lab_state
    data = listed(installed, {"plugin": "provdc.idc.hosts", "source": "lab",
                              "lab_name": "ci-plugin", "private_key_file": "/run/keys/operator",
                              "compose": {"ansible_user": "'ops'"},
                              "keyed_groups": [{"key": "provdc_role", "prefix": "as"}]},
                  name="lab.provdc.yml", PROVDC_LAB_ROOT=str(root))
    hostvars = data["_meta"]["hostvars"]
    assert {v["ansible_user"] for v in hostvars.values()} == {"ops"}
    assert {v["ansible_ssh_private_key_file"] for v in hostvars.values()} == {
        "/run/keys/operator"}
    assert set(data["as_gateway"]["hosts"]) == {h for h, v in hostvars.items()
                                                if v["provdc_role"] == "gateway"}


def test_the_cache_is_used_until_an_input_changes(installed, tmp_path):
    topology = tmp_path / "topology.yml"
    topology.write_bytes(SAMPLE.read_bytes())
    cache = tmp_path / "cache"
    config = {"plugin": "provdc.idc.hosts", "source": "topology", "topology": str(topology),
              "profile": "small", "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
              "cache_connection": str(cache), "cache_timeout": 3600}
    first = listed(installed, config, name="cached.provdc.yml")
    [entry] = list(cache.iterdir())
    # mark the cached copy: a second run that shows the mark read the cache, not the topology
    # (ansible's jsonfile cache keeps the plugin's entry as a JSON text in __payload__)
    outer = json.loads(entry.read_text())
    doc = json.loads(outer["__payload__"])
    doc["inventory"]["hostvars"]["lgsp-1"]["provdc_open_tcp"] = [4242]
    entry.write_text(json.dumps({**outer, "__payload__": json.dumps(doc)}))
    second = listed(installed, config, name="cached.provdc.yml")
    assert second["_meta"]["hostvars"]["lgsp-1"]["provdc_open_tcp"] == [4242]
    # the topology changed: the cached inventory no longer stands for it
    os.utime(topology, ns=(0, topology.stat().st_mtime_ns + 10**9))
    third = listed(installed, config, name="cached.provdc.yml")
    assert third == first


@pytest.mark.parametrize("config, words", [
    ({"source": "topology", "topology": "nowhere/topology.yml"},
     ["nowhere/topology.yml", "file not found"]),
    ({"source": "topology"}, ["topology", "the topology source needs a topology"]),
    ({"source": "cloud"}, ["outputs", "pulumi stack output --json"]),
    ({"source": "cloud", "outputs": "missing.json"}, ["missing.json", "file not found"]),
    ({"source": "lab", "lab_name": "Not_A_Lab"}, ["'Not_A_Lab' is not a valid lab name"]),
    ({"source": "lab", "lab_name": "nothing-here"}, ["lab 'nothing-here' is not up (no lab)",
                                                     "provdc lab up --name nothing-here"]),
])
def test_bad_sources_are_one_paragraph(installed, tmp_path, config, words):
    path = write_config(installed, "bad.provdc.yml", {"plugin": "provdc.idc.hosts", **config})
    proc = installed.run("ansible-inventory", "-i", str(path), "--list",
                         PROVDC_LAB_ROOT=str(tmp_path / "labs"))
    assert_one_paragraph(proc, *words)


def test_a_host_the_contract_refuses_stops_the_inventory(installed, tmp_path):
    """A stale stack (a service the topology no longer has) never reaches a playbook."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"topology": str(SAMPLE), "hosts": [
        {"name": "ghost-1", "zone": "APP", "service": "ghost", "security_level": 3,
         "private_ip": "10.94.2.10"}]}))
    path = write_config(installed, "stale.provdc.yml", {
        "plugin": "provdc.idc.hosts", "source": "cloud", "outputs": str(outputs)})
    proc = installed.run("ansible-inventory", "-i", str(path), "--list")
    assert_one_paragraph(proc, "hosts[0]", "service 'ghost'", "pulumi up")


def test_a_configuration_file_not_named_for_the_plugin_is_not_read(installed):
    path = write_config(installed, "hosts.yml", {"plugin": "provdc.idc.hosts",
                                                 "source": "topology", "topology": str(SAMPLE)})
    proc = installed.run("ansible-inventory", "-i", str(path), "--list")
    assert proc.returncode != 0
    assert "could not be verified by inventory plugin 'provdc.idc.hosts'" in " ".join(
        proc.stderr.split())


def test_a_value_that_would_read_as_a_template_is_refused(installed, tmp_path):
    """The plugin's values are trusted data to Ansible, so none may carry Jinja: a topology
    kept under a directory named like a template does not end up templated."""
    odd = tmp_path / "{{ lookup('pipe', 'id') }}"
    odd.mkdir()
    (odd / "topology.yml").write_bytes(SAMPLE.read_bytes())
    path = write_config(installed, "odd.provdc.yml", {
        "plugin": "provdc.idc.hosts", "source": "topology", "topology": str(odd / "topology.yml"),
        "profile": "small"})
    proc = installed.run("ansible-inventory", "-i", str(path), "--list")
    assert_one_paragraph(proc, "provdc_topology", "would be read as a Jinja template")
    assert "uid=" not in proc.stdout + proc.stderr
