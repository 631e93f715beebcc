"""The pure parts of the lab: host list per profile, naming, inventory rendering (no root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from netaddr import IPAddress, IPNetwork

from provdc.errors import ProvdcError
from provdc.lab import image, inventory
from provdc.lab.model import (
    check_lab_name,
    core_netns,
    free_address,
    mac_for,
    machine_name,
    netns_name,
    plan_lab,
    small_sites,
)
from provdc.topology.validate import load

REPO = Path(__file__).resolve().parents[2]
TOPOLOGY = REPO / "inventory" / "soctrang" / "topology.yml"
KEY = Path("/var/lib/provdc/labs/x/ssh/id_ed25519")
CM = Path("/var/lib/provdc/labs/x/cm")


@pytest.fixture(scope="module")
def loaded():
    return load(TOPOLOGY)


def test_small_profile_is_dc_services_once_plus_four_sites(loaded):
    plan = plan_lab(loaded, "x", "small")
    topo = loaded.topology
    dc = plan.by_role("dc")
    assert sorted(h.service for h in dc) == sorted(s.slug for s in topo.services)
    assert all(h.instance == 1 for h in dc)
    gws = plan.by_role("gateway")
    tiers = sorted(topo.site(g.site).tier for g in gws)
    assert tiers == ["commune", "commune", "department", "district"]
    communes = [g.site for g in gws if g.tier == "commune"]
    district = next(g.site for g in gws if g.tier == "district")
    assert all(topo.site(c).parent == district for c in communes)
    assert len(plan.by_role("agency")) == 4
    assert 14 <= len(plan.hosts) <= 20


def test_province_profile_starts_every_site_and_honours_ha(loaded):
    plan = plan_lab(loaded, "x", "province")
    topo = loaded.topology
    assert {g.site for g in plan.by_role("gateway")} == {s.slug for s in topo.sites}
    for svc in topo.services:
        assert len([h for h in plan.by_role("dc") if h.service == svc.slug]) == svc.instances
    agency = plan.by_role("agency")
    assert len(agency) == sum(max(1, topo.tier(s.tier).agency_hosts) for s in topo.sites)
    names = [h.name for h in plan.hosts]
    assert len(names) == len(set(names))
    addresses = [h.address for h in plan.hosts]
    assert len(addresses) == len(set(addresses))


def test_addresses_come_from_the_plan(loaded):
    plan = plan_lab(loaded, "x", "small")
    ap = loaded.plan
    for h in plan.hosts:
        if h.role == "dc":
            zp = ap.zone(h.zone)
            assert IPAddress(h.address) in zp.cidr and h.default_gw == str(zp.gateway)
        elif h.role == "gateway":
            core, site = ap.wan_link(h.site)
            assert (h.address, h.wan_core_address) == (str(site), str(core))
            assert h.default_gw == str(core)
            assert h.lan_address == str(ap.site(h.site).gateway)
        else:
            sp = ap.site(h.site)
            assert h.address == str(ap.host_address(sp.cidr, h.instance - 1))
            assert h.default_gw == str(sp.gateway)
    first_dc = plan.by_role("dc")[0]
    assert first_dc.address == str(ap.host_address(ap.zone(first_dc.zone).cidr, 0))


def test_core_routes_every_site_lan_via_its_gateway(loaded):
    plan = plan_lab(loaded, "x", "small")
    routes = dict(plan.routes)
    for g in plan.by_role("gateway"):
        assert routes[g.lan_cidr] == g.address


def test_explicit_site_list_and_unknown_site(loaded):
    plan = plan_lab(loaded, "x", "small", sites=["so-tttt"])
    assert [h.name for h in plan.hosts if h.site] == ["gw-so-tttt", "so-tttt-1"]
    with pytest.raises(ProvdcError, match="unknown site"):
        plan_lab(loaded, "x", "small", sites=["nowhere"])


def test_small_sites_is_deterministic(loaded):
    assert small_sites(loaded) == small_sites(loaded)


@pytest.mark.parametrize("bad", ["", "Provdc", "a.b", "-x", "x-", "a--b", "a" * 25, "1abc"])
def test_lab_names_are_checked(bad):
    with pytest.raises(ProvdcError):
        check_lab_name(bad)


def test_naming_is_prefixed_and_unambiguous():
    assert netns_name("alice", "lgsp-1") == "alice.lgsp-1"
    assert core_netns("alice") == "alice.core"
    # a lab called "a" never matches the namespaces of a lab called "a-b"
    assert not netns_name("a-b", "h").startswith("a.")
    assert len(machine_name("a" * 24, "h" * 63)) <= 64
    mac = mac_for("alice", "lgsp-1", "eth0")
    assert mac == mac_for("alice", "lgsp-1", "eth0") != mac_for("bob", "lgsp-1", "eth0")
    assert int(mac.split(":")[0], 16) & 0b11 == 0b10  # locally administered, unicast


def test_interface_names_fit_the_kernel_limit(loaded):
    plan = plan_lab(loaded, "x", "province")
    assert all(len(h.peer_if) <= 15 for h in plan.hosts)
    assert all(len(s.bridge) <= 15 for s in plan.segments.values())


def test_free_address_skips_used_ones(loaded):
    plan = plan_lab(loaded, "x", "small")
    used = {h.address for h in plan.hosts}
    addr = free_address(plan, "zone:APP")
    assert addr not in used and IPAddress(addr) in IPNetwork(plan.segments["zone:APP"].cidr)


def test_inventory_groups_and_vars(loaded):
    plan = plan_lab(loaded, "x", "small")
    doc = yaml.safe_load(inventory.render_hosts_yml(plan, KEY, CM))
    children = doc["all"]["children"]
    for group in ("dc_hosts", "gateways", "agency_hosts", "zone_dmz", "zone_app",
                  "tier_commune", "tier_district", "tier_department", "service_lgsp",
                  "service_shared_db", "site_phuong_5"):
        assert children[group]["hosts"], group
    hosts = doc["all"]["hosts"]
    assert set(hosts) == {h.name for h in plan.hosts}
    gw = hosts["gw-phuong-5"]
    assert gw["provdc_uplink_if"] == "eth0" and gw["provdc_core_peer_if"].startswith("w")
    assert gw["provdc_core_netns"] == "x.core" and gw["provdc_role"] == "gateway"
    for name, v in hosts.items():
        assert v["ansible_user"] == "root"
        assert v["ansible_ssh_private_key_file"] == str(KEY)
        assert "nsenter --net=/run/netns/x.core nc %h %p" in v["ansible_ssh_common_args"]
        assert f"ControlPath={CM}/%C" in v["ansible_ssh_common_args"]
        assert v["provdc_security_level"] in (2, 3)
        assert v["provdc_lab_name"] == "x"
        assert v["ansible_host"] == plan.host(name).address


def test_ssh_config_and_pyinfra_inventory_render(loaded):
    plan = plan_lab(loaded, "x", "small")
    cfg = inventory.render_ssh_config(plan, KEY, CM)
    assert "Host lgsp-1 10.94.2.2\n  HostName 10.94.2.2" in cfg
    assert "ProxyCommand nsenter --net=/run/netns/x.core nc %h %p" in cfg
    src = inventory.render_pyinfra(plan, KEY, Path("/tmp/inv/ssh_config"))
    scope: dict = {}
    exec(compile(src, "pyinfra_inventory.py", "exec"), scope)
    names = {n for n, _ in scope["gateways"]}
    assert names == {h.name for h in plan.by_role("gateway")}
    _, data = scope["dc_hosts"][0]
    assert data["ssh_user"] == "root" and data["ssh_config_file"] == "/tmp/inv/ssh_config"


def test_image_key_follows_the_package_list(tmp_path):
    a = image.cache_key(["openssh-server", "python3"])
    assert a == image.cache_key(["python3", "openssh-server"])
    assert a != image.cache_key(["openssh-server", "python3", "iperf3"])
    f = tmp_path / "p.txt"
    f.write_text("# comment\nopenssh-server  # inline\n\npython3\npython3\n")
    assert image.packages(f) == ["openssh-server", "python3"]
    assert "openssh-server" in image.packages() and "systemd-sysv" in image.packages()


def test_preflight_names_every_missing_requirement(monkeypatch):
    from provdc.lab import runtime

    monkeypatch.setattr(runtime.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(runtime.shutil, "which", lambda tool: None)
    with pytest.raises(ProvdcError) as exc:
        runtime.preflight(need_mmdebstrap=True)
    text = str(exc.value)
    assert "needs root" in text and "systemd-nspawn" in text and "mmdebstrap" in text
    assert "Fix:" in text


def test_small_profile_of_a_two_tier_province():
    loaded = load(REPO / "inventory" / "cantho-2025" / "topology.yml")
    sites = small_sites(loaded)
    tiers = [loaded.topology.site(s).tier for s in sites]
    below_root = {s.tier for s in loaded.topology.sites if s.parent}
    assert set(tiers) == below_root and len(sites) == len(below_root) + 1


def test_two_test_sessions_in_one_checkout_get_two_labs(monkeypatch):
    """A second pytest session in the same checkout must not use (and tear down) the lab of
    the first: while this process holds the default name, another process gets `-2`."""
    from provdc.lab.pytest_plugin import default_lab_name

    monkeypatch.delenv("PROVDC_LAB_NAME", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    mine = default_lab_name()
    code = "from provdc.lab.pytest_plugin import default_lab_name; print(default_lab_name())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items()
                                if k not in ("PROVDC_LAB_NAME", "PYTEST_XDIST_WORKER")})
    theirs = other.stdout.strip()
    assert default_lab_name() == mine  # stable within a session
    assert theirs.startswith("t-") and theirs != mine, other.stderr
