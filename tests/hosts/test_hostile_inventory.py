"""The host contract at the boundary: hand-written inventories, hostile and mistaken.

Every case is a YAML inventory written here by hand (not by the lab or the cloud code that
provdc also reads) with one bad value; the real `provdc` CLI reads it through Ansible's own
`ansible-inventory`. Each must exit 2 with one paragraph naming the inventory, the host and
the variable, print no traceback, and write nothing.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"
CANTHO = ROOT / "inventory" / "cantho-2025" / "topology.yml"
BIN = Path(sys.executable).parent

# Three hosts of the Sóc Trăng sample as an ops team writes them for real machines: an LGSP
# server in the APP zone, the commune Phường 5's TSLCD gateway and a PC in its LAN, and the
# core router that carries the zone firewall.
GOOD = {
    "lgsp-1": {"provdc_role": "dc", "provdc_address": "10.94.2.10", "provdc_prefix_len": 24,
               "provdc_default_gw": "10.94.2.1", "provdc_zone": "APP",
               "provdc_service": "lgsp", "provdc_security_level": 3},
    "gw-phuong-5": {"provdc_role": "gateway", "provdc_address": "172.16.93.9",
                    "provdc_site": "phuong-5", "provdc_tier": "commune",
                    "provdc_security_level": 2, "provdc_uplink_if": "eth0",
                    "provdc_core_peer_if": "w15", "provdc_core_host": "core-1"},
    "pc-phuong-5": {"provdc_role": "agency", "provdc_address": "10.94.66.10",
                    "provdc_site": "phuong-5", "provdc_security_level": 2,
                    "provdc_gateway_host": "gw-phuong-5"},
    "core-1": {"provdc_role": "core", "provdc_address": "10.94.4.2",
               "provdc_security_level": 3},
}
# The role groups, as README.md's host contract names them.
ROLE_GROUPS = {"dc": "dc_hosts", "gateway": "gateways", "agency": "agency_hosts",
               "core": "core_routers"}
NEWLINE_FLUSH = "\nflush ruleset\n"


def inventory_doc(hosts: dict) -> dict:
    all_hosts = {name: {**v, "ansible_host": v.get("provdc_address", "10.94.2.10"),
                        "provdc_admin_sources": ["10.94.4.0/24"]} for name, v in hosts.items()}
    for v in all_hosts.values():
        v.setdefault("provdc_topology", str(SAMPLE))
    return {"all": {"hosts": all_hosts}}


def with_groups(doc: dict) -> dict:
    children: dict = {}
    for name, v in doc["all"]["hosts"].items():
        group = ROLE_GROUPS.get(str(v.get("provdc_role")), "ungrouped")
        children.setdefault(group, {"hosts": {}})["hosts"][name] = None
    return {"all": {**doc["all"], "children": children}}


def set_var(host: str, var: str, value):
    def change(hosts: dict) -> None:
        hosts[host][var] = value
    return change


def drop_var(host: str, var: str):
    def change(hosts: dict) -> None:
        hosts[host].pop(var)
    return change


def set_everywhere(var: str, value):
    def change(hosts: dict) -> None:
        for v in hosts.values():
            v[var] = value
    return change


def rename(old: str, new: str):
    def change(hosts: dict) -> None:
        hosts[new] = hosts.pop(old)
    return change


# (case id, change, words the paragraph must contain)
CASES = [
    ("traversal-ca", rename("lgsp-1", "../ca"), ["'../ca'", "RFC 1123"]),
    ("traversal-up", rename("lgsp-1", "../../x"), ["'../../x'", "RFC 1123"]),
    ("name-slash", rename("pc-phuong-5", "pc/5"), ["'pc/5'", "RFC 1123"]),
    ("name-newline", rename("lgsp-1", "lgsp-1" + NEWLINE_FLUSH), ["RFC 1123"]),
    ("name-space-semicolon", rename("lgsp-1", "lgsp 1;reboot"), ["RFC 1123"]),
    ("role-newline-flush", set_var("lgsp-1", "provdc_role", "dc" + NEWLINE_FLUSH),
     ["lgsp-1: provdc_role"]),
    ("role-unknown", set_var("lgsp-1", "provdc_role", "firewall"),
     ["lgsp-1: provdc_role", "dc, gateway, agency, core"]),
    ("zone-newline", set_var("lgsp-1", "provdc_zone", "APP" + NEWLINE_FLUSH),
     ["lgsp-1: provdc_zone", "control character"]),
    ("zone-brace", set_var("lgsp-1", "provdc_zone", "APP }"), ["lgsp-1: provdc_zone"]),
    ("zone-unknown", set_var("lgsp-1", "provdc_zone", "APPS"),
     ["lgsp-1: provdc_zone", "no zone 'APPS'"]),
    ("service-quote", set_var("lgsp-1", "provdc_service", 'lgsp" accept #'),
     ["lgsp-1: provdc_service"]),
    ("site-escape", set_var("pc-phuong-5", "provdc_site", "phuong-5\x1b[2J"),
     ["pc-phuong-5: provdc_site", "control character"]),
    ("tier-semicolon", set_var("gw-phuong-5", "provdc_tier", "commune;"),
     ["gw-phuong-5: provdc_tier"]),
    ("uplink-newline", set_var("gw-phuong-5", "provdc_uplink_if", "eth0\n"),
     ["gw-phuong-5: provdc_uplink_if"]),
    ("uplink-too-long", set_var("gw-phuong-5", "provdc_uplink_if", "eth0123456789abc"),
     ["gw-phuong-5: provdc_uplink_if"]),
    ("core-if-shell", set_var("gw-phuong-5", "provdc_core_peer_if", "w15;rm -rf /"),
     ["gw-phuong-5: provdc_core_peer_if"]),
    ("core-netns-traversal", set_var("gw-phuong-5", "provdc_core_netns", "../../etc"),
     ["gw-phuong-5: provdc_core_netns"]),
    ("address-unparsable", set_var("lgsp-1", "provdc_address", "10.94.2.999"),
     ["lgsp-1: provdc_address", "IPv4"]),
    ("address-newline", set_var("lgsp-1", "provdc_address", "10.94.2.10\nflush ruleset"),
     ["lgsp-1: provdc_address"]),
    ("address-outside-zone", set_var("lgsp-1", "provdc_address", "10.94.3.10"),
     ["lgsp-1: provdc_address", "outside zone APP"]),
    ("address-outside-site", set_var("pc-phuong-5", "provdc_address", "10.94.67.10"),
     ["pc-phuong-5: provdc_address", "LAN of site 'phuong-5'"]),
    ("prefix-len-33", set_var("lgsp-1", "provdc_prefix_len", 33), ["lgsp-1: provdc_prefix_len"]),
    ("admin-sources-text", set_var("lgsp-1", "provdc_admin_sources", "10.0.0.0/8; accept"),
     ["lgsp-1: provdc_admin_sources"]),
    ("admin-sources-bad-net", set_var("lgsp-1", "provdc_admin_sources", ["10.0.0.0/33"]),
     ["lgsp-1: provdc_admin_sources"]),
    ("level-below-service", set_var("lgsp-1", "provdc_security_level", 1),
     ["lgsp-1: provdc_security_level", "below the level 3"]),
    ("level-six", set_var("lgsp-1", "provdc_security_level", 6),
     ["lgsp-1: provdc_security_level"]),
    ("misspelt-variable", set_var("lgsp-1", "provdc_secuirty_level", 3),
     ["lgsp-1: provdc_secuirty_level", "not a provdc variable"]),
    ("gateway-without-uplink", drop_var("gw-phuong-5", "provdc_uplink_if"),
     ["gw-phuong-5: provdc_uplink_if", "a gateway host needs"]),
    ("core-host-unknown", set_var("gw-phuong-5", "provdc_core_host", "core-9"),
     ["gw-phuong-5: provdc_core_host", "not a host of this inventory"]),
    ("topology-missing", drop_var("lgsp-1", "provdc_topology"),
     ["lgsp-1: provdc_topology", "never falls back"]),
    ("topology-foreign", set_var("pc-phuong-5", "provdc_topology", str(CANTHO)),
     ["several topologies"]),
    ("topology-not-a-file", set_everywhere("provdc_topology", str(ROOT / "inventory")),
     ["provdc_topology", "is not a file"]),
    ("ansible-host-newline", set_var("lgsp-1", "ansible_host", "10.94.2.10\nProxyCommand x"),
     ["lgsp-1: ansible_host", "control character"]),
]


def write_inventory(tmp_path: Path, change=None) -> Path:
    doc = inventory_doc(copy.deepcopy(GOOD))
    if change is not None:
        change(doc["all"]["hosts"])
    path = tmp_path / "inventory" / "hosts.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(with_groups(doc), allow_unicode=True), encoding="utf-8")
    return path


def provdc(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}", COLUMNS="200")
    return subprocess.run([str(BIN / "provdc"), *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def assert_refused(run: subprocess.CompletedProcess, words: list[str]) -> None:
    text = " ".join(run.stderr.split())
    assert run.returncode == 2, (run.returncode, run.stdout[-500:], run.stderr[-1500:])
    assert "Traceback" not in run.stderr + run.stdout
    assert run.stdout == "", "nothing is printed on stdout when an input is refused"
    assert text.startswith("error: "), text
    assert "Fix:" in text, text
    for word in words:
        assert word in text, (word, text)


def test_the_hand_written_inventory_is_accepted(tmp_path):
    """The base every case breaks once: without this, a case could pass for another reason."""
    inv = write_inventory(tmp_path)
    run = provdc("segmentation", "render", "-i", str(inv), "--format", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert sorted(doc["hosts"]) == ["gw-phuong-5", "lgsp-1", "pc-phuong-5"]
    specs = provdc("bandwidth", "specs", "-i", str(inv), cwd=tmp_path)
    assert specs.returncode == 0, specs.stderr
    assert list(json.loads(specs.stdout)) == ["gw-phuong-5"]


@pytest.mark.parametrize("change, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_inventory_is_refused_before_anything_is_rendered(tmp_path, change, words):
    inv = write_inventory(tmp_path, change)
    before = files_under(tmp_path)
    run = provdc("segmentation", "render", "-i", str(inv), "--format", "json", cwd=tmp_path)
    assert_refused(run, [str(inv), *words])
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("case", ["uplink-newline", "core-if-shell", "role-newline-flush",
                                  "traversal-ca"])
def test_the_bandwidth_engine_refuses_the_same_inventories(tmp_path, case):
    change, words = next(c[1:] for c in CASES if c[0] == case)
    inv = write_inventory(tmp_path, change)
    before = files_under(tmp_path)
    assert_refused(provdc("bandwidth", "specs", "-i", str(inv), cwd=tmp_path), words)
    assert files_under(tmp_path) == before


def test_the_playbooks_controller_step_refuses_hostile_host_variables(tmp_path):
    """What the segmentation and bandwidth roles send on stdin (every host's provdc_*
    variables) goes through the same contract."""
    hostvars = copy.deepcopy(GOOD)
    for v in hostvars.values():
        v["provdc_topology"] = str(SAMPLE)
    hostvars["lgsp-1"]["provdc_role"] = "dc" + NEWLINE_FLUSH
    request = json.dumps({"source": "site.yml", "hostvars": hostvars})
    for cmd in (["segmentation", "specs"], ["bandwidth", "specs"]):
        assert_refused(provdc(*cmd, cwd=tmp_path, stdin=request),
                       ["site.yml", "lgsp-1: provdc_role"])


def test_soc_preparation_never_builds_a_path_from_a_hostile_name(tmp_path):
    """A host named ../ca would have overwritten the CA key with a host key."""
    pki = tmp_path / "pki"
    request = {"topology": str(SAMPLE), "pki_dir": str(pki),
               "hosts": {"soc-collector-1": ["10.94.4.7"], "../ca": ["10.94.2.10"]},
               "services": {"soc-collector-1": "soc-collector"}, "ntp_fallback": ["10.94.4.8"]}
    run = subprocess.run([sys.executable, "-m", "provdc.soc.prepare"], cwd=tmp_path,
                         input=json.dumps(request), capture_output=True, text=True, timeout=60)
    assert_refused(run, ["'../ca'", "RFC 1123"])
    assert not pki.exists()
