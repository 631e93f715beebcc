"""The pyinfra inventory derived from an Ansible inventory (no hosts needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from provdc.errors import ProvdcError
from provdc.pyinfra_engine import inventory as inv
from provdc.pyinfra_engine.deploy import ssh_argv

SAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "soctrang" / "topology.yml"
COMMON = ("-o 'ProxyCommand=nsenter --net=/run/netns/x.core nc %h %p' "
          "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10")


@pytest.fixture
def ansible_yaml(tmp_path):
    doc = {"all": {
        "vars": {"provdc_topology": str(SAMPLE)},
        "hosts": {
            "lgsp-1": {"ansible_host": "10.94.2.2", "ansible_user": "root",
                       "ansible_ssh_private_key_file": "/k", "ansible_ssh_common_args": COMMON,
                       "provdc_role": "dc", "provdc_address": "10.94.2.2",
                       "provdc_zone": "APP", "provdc_service": "lgsp",
                       "provdc_security_level": 3, "baseline_vn_ssh_02": False},
            "gw-a": {"ansible_host": "172.16.93.9", "ansible_port": 2222,
                     "provdc_role": "gateway", "provdc_address": "172.16.93.9",
                     "provdc_security_level": 2, "provdc_site": "phuong-5",
                     "provdc_uplink_if": "eth0", "provdc_core_peer_if": "w12"},
        },
        "children": {"dc_hosts": {"hosts": {"lgsp-1": None}},
                     "gateways": {"hosts": {"gw-a": None}},
                     "zone_app": {"hosts": {"lgsp-1": None}}},
    }}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_same_hosts_groups_and_variables(ansible_yaml):
    groups = inv.groups_from_ansible(ansible_yaml)
    assert {g: [h for h, _ in hs] for g, hs in groups.items()} == {
        "dc_hosts": ["lgsp-1"], "gateways": ["gw-a"], "zone_app": ["lgsp-1"]}
    data = dict(groups["dc_hosts"])["lgsp-1"]
    assert data["ssh_hostname"] == "10.94.2.2" and data["ssh_key"] == "/k"
    assert data["provdc_security_level"] == 3 and data["baseline_vn_ssh_02"] is False
    assert data["ssh_strict_host_key_checking"] == "off"
    assert not any(k.startswith("ansible_") for k in data)
    assert dict(groups["gateways"])["gw-a"]["ssh_port"] == 2222


def test_ssh_config_keeps_the_proxy_alive_for_paramiko(ansible_yaml):
    groups = inv.groups_from_ansible(ansible_yaml)
    config = Path(dict(groups["dc_hosts"])["lgsp-1"]["ssh_config_file"]).read_text()
    assert "Host lgsp-1 10.94.2.2" in config
    assert ("ProxyCommand sh -c 'nsenter --net=/run/netns/x.core nc %h %p; exec sleep 30'"
            in config)
    assert ansible_yaml.parent not in inv.workdir_for(ansible_yaml).parents


def test_missing_inventory_is_one_clear_error(tmp_path):
    with pytest.raises(ProvdcError) as err:
        inv.groups_from_ansible(tmp_path / "nope.yml")
    assert "Fix:" in str(err.value)


def test_firewall_confirmation_is_a_new_openssh_session_on_the_same_route(ansible_yaml,
                                                                          tmp_path):
    """The argv the firewall operation confirms with, as OpenSSH itself resolves it
    (`ssh -G`): same address, user, key and proxy as pyinfra's connection, and no shared
    master connection (only a new session proves the operator still gets in)."""
    data = dict(inv.groups_from_ansible(ansible_yaml)["dc_hosts"])["lgsp-1"]
    key = tmp_path / "key"  # ssh drops an identity file that does not exist
    key.write_text("")
    argv = ssh_argv({**data, "ssh_key": str(key)})
    proc = subprocess.run([argv[0], "-G", *argv[1:]], capture_output=True, text=True,
                          check=True)
    pairs = [line.split(" ", 1) for line in proc.stdout.splitlines()]
    resolved = dict(pairs)
    assert resolved["hostname"] == "10.94.2.2" and resolved["user"] == "root"
    assert str(key) in [v for k, v in pairs if k == "identityfile"]
    assert resolved["proxycommand"].startswith("sh -c 'nsenter --net=/run/netns/x.core nc ")
    assert resolved["controlmaster"] == "false" and "controlpath" not in resolved
    assert resolved["stricthostkeychecking"] == "false"
    assert resolved["batchmode"] == "yes"


def test_the_derived_ssh_config_lives_in_a_private_directory(ansible_yaml, tmp_path,
                                                            monkeypatch):
    """The temporary directory is shared: a directory or symlink another user planted at
    our path is refused, never followed as root."""
    import os
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    groups = inv.groups_from_ansible(ansible_yaml)
    config = Path(dict(groups["dc_hosts"])["lgsp-1"]["ssh_config_file"])
    assert config.stat().st_mode & 0o777 == 0o600
    assert config.parent.stat().st_mode & 0o777 == 0o700
    base = config.parent.parent
    # someone else's directory at our path
    os.chown(base, 65534, 65534)
    with pytest.raises(ProvdcError, match="not a private directory"):
        inv.groups_from_ansible(ansible_yaml)
    # a symlink at our path, pointing where root would write
    os.chown(base, os.getuid(), os.getgid())
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    config.unlink()
    config.parent.rmdir()
    config.parent.symlink_to(victim)
    with pytest.raises(ProvdcError, match="not a private directory"):
        inv.groups_from_ansible(ansible_yaml)
    assert list(victim.iterdir()) == []
