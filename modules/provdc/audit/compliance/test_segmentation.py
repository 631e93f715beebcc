"""Network zoning: each host's live firewall is its rendering from the flow matrix, and the
data-centre core's zone firewall denies by default.

Regulation: Circular 12/2022/TT-BTTTT and TCVN 11930:2017 (regulations.md §1.4, §7):
separate zones from level 2 (the DMZ firewall policy denies DMZ -> internal), database and
management zones from level 3, databases reachable only from the application zone, the
management zone (jump host) as the sole SSH source, egress default-deny. Ids, titles and
references with their confidence (VN-SEG-01..03): `provdc/audit/checks.yml`.

An independent check: the auditor renders each firewall from the topology and the inventory
itself, loads the rendering in a throwaway network namespace on the auditor's machine to
see how the kernel holds it, and compares that with the host's live table read by `nft`.

    pytest --pyargs provdc.audit.compliance.test_segmentation --hosts=ansible://all \
        --ansible-inventory=INVENTORY
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

from provdc.segmentation import nftapply, render, sources
from provdc.segmentation.matrix import HOST_TABLE, ZONE_TABLE


@functools.cache
def segmentation(inventory: str):
    return sources.from_inventory(inventory)


@pytest.fixture
def seg(request, host):
    inventory = request.config.getoption("ansible_inventory", None)
    if not inventory:
        pytest.skip("needs --ansible-inventory (the rendering depends on every host)")
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nft") is None:
        pytest.skip("the auditor's side needs root, unshare and nft for the scratch namespace")
    return segmentation(inventory)


def host_vars(host) -> dict:
    get = getattr(host.backend, "get_variables", None)
    return get() if get else {}


def firewall_of(host, seg) -> tuple[str, str]:
    """(table, rendering) this host must hold: the zone firewall on a production core
    router (`provdc_role: core`), its own inbound firewall on any other host."""
    segmentation_, _ = seg
    v = host_vars(host)
    name = v.get("inventory_hostname") or host.backend.get_hostname()
    if v.get("provdc_role") == "core":
        return ZONE_TABLE, render.render(segmentation_.zone)
    if name not in segmentation_.hosts:
        pytest.skip(f"{name} has no provdc_address: not part of the segmentation")
    return HOST_TABLE, render.render(segmentation_.hosts[name])


def assert_is_rendering(live_listing: str, text: str, table: str) -> str:
    got = nftapply.normalise(live_listing)
    want = nftapply.canonical(text, "inet", table)
    assert got == want, "\n".join(nftapply.differences(want, got))
    assert "policy drop" in got
    return got


def test_segmentation_host_firewall_is_the_rendering(host, seg):
    table, text = firewall_of(host, seg)
    live = host.run(f"nft -p list table inet {table}")
    assert live.rc == 0, f"the table inet {table} is not loaded"
    assert_is_rendering(live.stdout, text, table)


def test_segmentation_host_firewall_persists_across_reboot(host, seg):
    table, text = firewall_of(host, seg)
    boot = host.file(f"/etc/provdc/segmentation/{table}.nft")
    assert boot.exists and boot.content_string == text
    assert host.service("provdc-segmentation").is_enabled


def test_segmentation_zone_firewall_denies_by_default(host, seg):
    """The lab's core router is a namespace on the auditor's machine; a production core
    router is an inventory host (`provdc_role: core`), checked by the two tests above."""
    segmentation_, hostvars = seg
    if any(v.get("provdc_role") == "core" for v in hostvars.values()):
        pytest.skip("the zone firewall is checked on the core router host of this inventory")
    core = host_vars(host).get("provdc_core_netns")
    if not core:
        pytest.skip("no core router in this inventory (a host with provdc_role: core): the "
                    "zone firewall cannot be audited from here")
    live = subprocess.run(["ip", "netns", "exec", core, "nft", "-p", "list", "table", "inet",
                           ZONE_TABLE], capture_output=True, text=True)
    assert live.returncode == 0, f"the zone firewall (table inet {ZONE_TABLE}) is not loaded"
    got = assert_is_rendering(live.stdout, render.render(segmentation_.zone), ZONE_TABLE)
    assert "hook forward priority filter; policy drop;" in got
