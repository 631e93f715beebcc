"""The bandwidth policy on the lab: Ansible shapes both ends of every gateway's uplink,
idempotently; check mode shows drift; the boot unit restores the tree; testinfra checks pass
(and fail on drift); a broken policy is refused with the old tree kept; iperf3 traffic on
the commune gateway (30 Mbit/s link) stays within the contracted bounds."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from provdc.qos import htb, measure, policy

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"
PLAYBOOK = "playbooks/bandwidth.yml"

pytestmark = pytest.mark.lab


def recap(output: str) -> dict[str, dict[str, int]]:
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out


@pytest.fixture(scope="module")
def shaped(lab):
    """The lab with bandwidth.yml applied once (first run: something changes)."""
    run = lab.ansible_playbook(PLAYBOOK)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return lab


def gateways(lab) -> list:
    return lab.group("gateways")


def commune_gateway(lab):
    return next(h for h in gateways(lab) if h.tier == "commune")


def spec_of(lab, gw, direction: str) -> dict:
    v = lab.vars(gw.name)
    dev = v["provdc_uplink_if"] if direction == "uplink" else v["provdc_core_peer_if"]
    return policy.site_spec(lab.loaded.topology, gw.site, dev, direction)


def live_diff(lab, gw, direction: str) -> list[str]:
    """Read the live tree with plain tc (on the gateway, or in the core namespace)."""
    spec = spec_of(lab, gw, direction)
    dev = spec["device"]
    cmds = (f"tc -j qdisc show dev {dev}", f"tc -d class show dev {dev}",
            f"tc -j filter show dev {dev} parent 1:")
    if direction == "uplink":
        outs = [lab.ssh(gw.name, c).stdout for c in cmds]
    else:
        outs = [lab.core_exec(c).stdout for c in cmds]
    live = htb.assemble(htb.parse_qdiscs(outs[0]), htb.parse_classes(outs[1]),
                        htb.parse_filters(outs[2]))
    kinds = {q.kind for q in live.tree.leaves} if live.tree else {"pfifo"}
    return htb.diff(htb.tree_from_spec(spec, kinds.pop()), live, htb.class_names(spec))


def test_every_gateway_is_shaped_both_ways(shaped):
    for gw in gateways(shaped):
        assert live_diff(shaped, gw, "uplink") == [], gw.name
        assert live_diff(shaped, gw, "downlink") == [], gw.name


def test_second_run_changes_nothing(shaped):
    run = shaped.ansible_playbook(PLAYBOOK)
    assert run.returncode == 0, run.stdout[-3000:]
    counts = recap(run.stdout)
    assert set(counts) >= {gw.name for gw in gateways(shaped)}
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), counts


def test_check_mode_shows_drift_and_changes_nothing(shaped):
    gw = commune_gateway(shaped)
    shaped.ssh(gw.name, "tc class change dev eth0 parent 1:1 classid 1:10 htb rate 1mbit "
                        "ceil 28500kbit burst 15360 cburst 18432 prio 0 quantum 75000")
    try:
        run = shaped.ansible_playbook(PLAYBOOK, "--check", "--diff", "--limit", gw.name)
        assert run.returncode == 0, run.stdout[-3000:]
        assert recap(run.stdout)[gw.name]["changed"] >= 1
        assert "class 1:10 (video-conf) rate is 1 Mbit/s, want 6" in run.stdout
        assert live_diff(shaped, gw, "uplink") != []  # check mode left the drift alone
    finally:
        fixed = shaped.ansible_playbook(PLAYBOOK, "--limit", gw.name)
    assert fixed.returncode == 0 and recap(fixed.stdout)[gw.name]["changed"] == 1
    assert live_diff(shaped, gw, "uplink") == []


def test_boot_unit_restores_the_tree(shaped):
    gw = commune_gateway(shaped)
    shaped.ssh(gw.name, "systemctl is-enabled provdc-bandwidth && tc qdisc del dev eth0 root")
    assert live_diff(shaped, gw, "uplink") == ["no HTB tree (root qdisc: noqueue)"]
    shaped.ssh(gw.name, "systemctl restart provdc-bandwidth")
    assert live_diff(shaped, gw, "uplink") == []


def _compliance(lab) -> subprocess.CompletedProcess:
    return lab.compliance("test_bandwidth.py", "gateways", timeout=600)


def test_testinfra_checks_pass_and_catch_drift(shaped):
    ok = _compliance(shaped)
    assert ok.returncode == 0, ok.stdout[-3000:]
    assert f"{3 * len(gateways(shaped))} passed" in ok.stdout
    gw = commune_gateway(shaped)
    shaped.ssh(gw.name, "tc filter del dev eth0 parent 1: prio 1")  # IPv4 DSCP filters gone
    try:
        drift = _compliance(shaped)
        assert drift.returncode == 1 and "missing filter ip DSCP 46" in drift.stdout
    finally:
        shaped.ansible_playbook(PLAYBOOK, "--limit", gw.name)
    assert live_diff(shaped, gw, "uplink") == []


def test_broken_policy_is_refused_before_any_host_is_touched(shaped, tmp_path):
    text = SAMPLE.read_text(encoding="utf-8").replace(
        "rate_mbit: 8, ceil_mbit: 30", "rate_mbit: 25, ceil_mbit: 30", 1)
    broken = tmp_path / "topology.yml"
    broken.write_text(text, encoding="utf-8")
    run = shaped.ansible_playbook(PLAYBOOK, "-e", f"provdc_topology={broken}")
    assert run.returncode != 0
    assert "above its shaped uplink of 28.5" in run.stdout
    assert "Traceback" not in run.stdout
    for gw in gateways(shaped):  # the previous trees are intact on both ends
        assert live_diff(shaped, gw, "uplink") == []
        assert live_diff(shaped, gw, "downlink") == []


def test_a_tree_the_kernel_refuses_keeps_the_old_one(shaped):
    gw = commune_gateway(shaped)
    bad = spec_of(shaped, gw, "uplink")
    bad["classes"][1]["classid"] = "1:1"  # clashes with the root class: tc refuses
    run = shaped.ssh(gw.name, f"echo '{json.dumps(bad)}' | provdc-bandwidth apply -", check=False)
    assert run.returncode == 1 and "kernel refused" in run.stdout
    assert live_diff(shaped, gw, "uplink") == []


@pytest.mark.slow
def test_measured_rates_on_the_commune_uplink(shaped):
    """Real iperf3 traffic, each class alone and all together, both directions."""
    gw = commune_gateway(shaped)
    from provdc.qos import inventory as inv

    setup = measure.Setup.from_inventory(inv.read(shaped.inventory), shaped.loaded.topology,
                                         gw.site)
    report = measure.run(setup, seconds=3)
    for direction, result in report["directions"].items():
        assert result["ok"], (direction, result["problems"])
        rows = result["classes"]
        default = next(r for r in rows if r["default"])
        assert default["solo_mbit"] <= default["ceil_mbit"] * measure.GOODPUT * 1.01
        for r in rows:  # the bounds of the issue, restated on the raw numbers
            assert abs(r["solo_mbit"] / (r["ceil_mbit"] * measure.GOODPUT) - 1) <= 0.05, r
            assert r["together_mbit"] >= 0.95 * r["rate_mbit"] * measure.GOODPUT, r
            assert r["counted_in"] == r["classid"], r
        assert result["together_mbit"] <= report["shaped_mbit"] * measure.GOODPUT * 1.01
