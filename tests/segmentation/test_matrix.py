"""The matrix resolved to rulesets: what each firewall admits, and the errors before apply."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from provdc.errors import ProvdcError
from provdc.lab import inventory as lab_inventory
from provdc.segmentation import guard, matrix, render, sources
from provdc.topology.validate import load

SAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "soctrang" / "topology.yml"


def host(seg, service: str) -> tuple[str, str]:
    node = next(n for n in seg.nodes if n.service == service)
    return node.name, node.address


def addr(seg, service: str) -> str:
    return host(seg, service)[1]


def test_database_admits_only_the_application_zone_and_backup(small):
    name, db = host(small, "shared-db")
    rs = small.hosts[name]
    assert rs.admits(addr(small, "lgsp"), db, "tcp", 5432)
    assert rs.admits(addr(small, "backup"), db, "tcp", 5432)
    assert not rs.admits(addr(small, "dvc-portal"), db, "tcp", 5432)  # DMZ -> DB
    assert not rs.admits("10.94.66.2", db, "tcp", 5432)  # a commune
    assert not small.zone.admits(addr(small, "dvc-portal"), db, "tcp", 5432)
    assert small.zone.admits(addr(small, "qlvb"), db, "tcp", 5432)


def test_ssh_only_from_the_bastion_and_the_operator(small):
    name, qlvb = host(small, "qlvb")
    rs = small.hosts[name]
    assert rs.admits(addr(small, "bastion"), qlvb, "tcp", 22)
    assert rs.admits("10.94.2.1", qlvb, "tcp", 22)  # the lab core's address on APP
    assert not rs.admits(addr(small, "soc-collector"), qlvb, "tcp", 22)
    assert not rs.admits("10.94.66.2", qlvb, "tcp", 22)
    assert not small.zone.admits("10.94.67.2", addr(small, "bastion"), "tcp", 22)


def test_egress_from_db_and_mgmt_is_denied_unless_listed(small):
    outside = "203.0.113.7"
    assert not small.zone.admits(addr(small, "shared-db"), outside, "tcp", 443)
    assert not small.zone.admits(addr(small, "ntp"), outside, "tcp", 443)
    assert small.zone.admits(addr(small, "soc-collector"), outside, "tcp", 6514)  # -> NCSC
    assert small.zone.admits(addr(small, "lgsp"), outside, "tcp", 443)  # -> NGSP
    text = render.render(small.zone)
    assert "egress control" in text and "policy drop" in text


def test_same_zone_operations_need_no_line_in_the_matrix(small):
    """Syslog and time inside MGMT are added by the renderer, on the host firewall and on the
    zone firewall (which sees traffic inside a zone where zones are bridged, as in the lab)."""
    name, soc = host(small, "soc-collector")
    assert small.hosts[name].admits(addr(small, "ntp"), soc, "tcp", 6514)
    assert small.zone.admits(addr(small, "ntp"), soc, "tcp", 6514)
    ntp_name, ntp = host(small, "ntp")
    assert small.hosts[ntp_name].admits(addr(small, "bastion"), ntp, "udp", 123)
    assert not small.hosts[ntp_name].admits(addr(small, "lgsp"), ntp, "tcp", 123)


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
def test_every_rendering_passes_nft_check(small):
    for rs in [small.zone, *small.hosts.values()]:
        proc = subprocess.run(["nft", "-c", "-f", "-"], input=render.render(rs),
                              capture_output=True, text=True)
        assert proc.returncode == 0, (rs.name, proc.stderr)


def test_rendering_is_deterministic_and_carries_its_digest(small, small_vars):
    again = sources.from_hostvars(small_vars)
    for name, rs in small.hosts.items():
        text = render.render(rs)
        assert text == render.render(again.hosts[name])
        assert re.search(rf'comment "provdc segmentation {render.digest(rs)}"', text)


def edit(tmp_path, old: str, new: str):
    text = SAMPLE.read_text().replace(old, new)
    assert text != SAMPLE.read_text(), old
    path = tmp_path / "topology.yml"
    path.write_text(text)
    return path


def test_a_flow_on_a_port_the_service_does_not_serve_is_an_error(tmp_path):
    path = edit(tmp_path, 'to: "service:lgsp", proto: tcp, ports: [8443]}',
                'to: "service:lgsp", proto: tcp, ports: [8080]}')
    with pytest.raises(ProvdcError) as exc:
        sources.from_hostvars({}, path)
    msg = str(exc.value)
    assert "flows[3].ports" in msg and "8080" in msg and "line " in msg and "Fix:" in msg


def test_a_missing_operations_flow_is_an_error_naming_the_line_to_add(tmp_path):
    path = edit(tmp_path, '  - {from: "service:bastion", to: "zone:DB", proto: tcp, ports: [22]}\n',
                "")
    with pytest.raises(ProvdcError) as exc:
        sources.from_hostvars({}, path)
    msg = str(exc.value)
    assert "SSH from the bastion bastion to zone DB" in msg
    assert 'add `- {from: "service:bastion", to: "zone:DB", proto: tcp, ports: [22]}`' in msg
    assert re.search(r"line \d+: flows:", msg)


def test_no_syslog_path_to_the_soc_is_an_error(tmp_path):
    path = edit(tmp_path, '  - {from: "zone:DB", to: "service:soc-collector", proto: tcp, '
                'ports: [6514]}\n', "")
    with pytest.raises(ProvdcError, match="log forwarding .* from zone DB to the SOC collector"):
        sources.from_hostvars({}, path)


def test_an_unknown_zone_in_a_flow_is_an_error(tmp_path):
    path = edit(tmp_path, 'to: "zone:BACKUP", proto: tcp, ports: [22]}',
                'to: "zone:BAKUP", proto: tcp, ports: [22]}')
    with pytest.raises(ProvdcError, match="unknown zone 'BAKUP'"):
        sources.from_hostvars({}, path)


def test_an_inventory_host_in_an_unknown_zone_is_an_error(small_vars):
    bad = {**small_vars, "qlvb-1": {**small_vars["qlvb-1"], "provdc_zone": "APPS"}}
    with pytest.raises(ProvdcError, match="qlvb-1: provdc_zone: .* has no zone 'APPS'"):
        sources.from_hostvars(bad)


def test_guard_admits_the_lab_operator_and_refuses_a_stranger(small, small_vars):
    guard.check_operator_path(small, sources.operator_clients(small_vars))
    with pytest.raises(ProvdcError) as exc:
        guard.check_operator_path(small, {"qlvb-1": "10.94.8.5"})
    msg = str(exc.value)
    assert "would cut the operator's SSH path to qlvb-1" in msg
    assert "qlvb-1: provdc_admin_sources" in msg and "Nothing was applied" in msg


def test_guard_follows_the_production_path_through_the_core(small_vars):
    """Without the lab, the operator comes from the bastion: its path crosses the zone
    firewall, which must forward it, and the host firewall, which must admit it."""
    prod = {h: {k: v for k, v in hv.items() if k != "provdc_core_netns"}
            for h, hv in small_vars.items()}
    seg = matrix.build(load(SAMPLE), matrix.nodes_from_hostvars(prod))
    bastion = addr(seg, "bastion")
    dc = [n.name for n in seg.nodes if n.role == "dc" and n.service != "bastion"]
    guard.check_operator_path(seg, {h: bastion for h in dc})
    # agency hosts are not administered from the bastion unless the matrix says so
    with pytest.raises(ProvdcError, match="zone firewall on the core does not forward"):
        guard.check_operator_path(seg, {"phuong-5-1": bastion})


def measurement_rules(rs: matrix.Ruleset) -> list[str]:
    return [render.rule_line(r) for r in rs.rules if "bandwidth measurement" in r.why]


def test_the_lab_admits_bandwidth_measurement_both_ways(small):
    """`provdc bandwidth measure`: iperf3 from an agency host to a DC host (uplink) and back
    (downlink), ports BASE_PORT + class index."""
    from provdc.qos.measure import BASE_PORT

    agency = next(n for n in small.nodes if n.role == "agency")
    db_name, db = host(small, "shared-db")
    port = BASE_PORT
    most = max(len(t.bandwidth.classes) for t in small.loaded.topology.tiers)
    first, last = lab_inventory.MEASUREMENT_PORTS
    assert first <= port and port + most - 1 <= last  # one port per class
    assert small.hosts[db_name].admits(agency.address, db, "tcp", port)
    assert small.zone.admits(agency.address, db, "tcp", port)
    assert small.hosts[agency.name].admits(db, agency.address, "tcp", port)
    assert small.zone.admits(db, agency.address, "tcp", port)
    assert not small.hosts[db_name].admits(agency.address, db, "tcp", 5300)
    # one range rule on each host firewall (DC hosts and agency hosts), none on gateways
    for name, rs in small.hosts.items():
        want = 0 if small.node(name).role == "gateway" else 1
        assert len(measurement_rules(rs)) == want, name
        assert all("tcp dport 5201-5299 accept" in line for line in measurement_rules(rs))
    assert len(measurement_rules(small.zone)) == 2


def test_no_measurement_flow_outside_the_lab(small_vars):
    """The measurement ports are the lab inventory's own extra flows: an inventory without
    provdc_extra_flows (any inventory `provdc lab up` did not write) renders none."""
    prod = {h: {k: v for k, v in hv.items() if k != "provdc_extra_flows"}
            for h, hv in small_vars.items()}
    seg = sources.from_hostvars(prod)
    agency = next(n for n in seg.nodes if n.role == "agency")
    db_name, db = host(seg, "shared-db")
    assert not seg.hosts[db_name].admits(agency.address, db, "tcp", 5201)
    assert not seg.zone.admits(agency.address, db, "tcp", 5201)
    for rs in [seg.zone, *seg.hosts.values()]:
        assert measurement_rules(rs) == [] and "5201" not in render.render(rs), rs.name


def test_extra_flows_are_one_list_for_the_whole_inventory(small_vars):
    odd = {**small_vars, "qlvb-1": {**small_vars["qlvb-1"],
                                    "provdc_extra_flows": [{"from": "role:dc", "to": "zone:DB",
                                                            "proto": "tcp", "ports": [9],
                                                            "why": "x"}]}}
    with pytest.raises(ProvdcError, match="different provdc_extra_flows"):
        sources.from_hostvars(odd)


def test_port_runs_render_as_ranges_and_short_lists_stay_as_listed():
    rule = matrix.Rule(None, None, "tcp", (443, 80), "test")
    assert "tcp dport { 443, 80 } accept" in render.rule_line(rule)
    rule = matrix.Rule(None, None, "tcp", (22, 5201, 5202, 5203, 8080), "test")
    assert "tcp dport { 22, 5201-5203, 8080 } accept" in render.rule_line(rule)


def test_verify_probes_the_measurement_ports_on_the_allowed_side(small):
    from provdc.segmentation import verify

    plan, _ = verify.plan_probes(small, verify.actors(small, {}))
    measured = {(p["src"], p["dst"], p["port"]): p["expect"] for p in plan
                if "bandwidth measurement" in p["why"]}
    roles = {n.name: n.role for n in small.nodes}
    assert {(roles[s], roles[d], port) for s, d, port in measured} == {
        ("agency", "dc", 5201), ("agency", "dc", 5299), ("dc", "agency", 5201),
        ("dc", "agency", 5299)}
    assert set(measured.values()) == {"open"}


def test_a_failed_probe_shows_in_bold_red_in_the_grid_not_as_markup(small):
    from rich.console import Console

    from provdc.segmentation import verify

    plan, untested = verify.plan_probes(small, verify.actors(small, {}))
    db = next(p for p in plan if p["expect"] == "closed" and p["port"] == 5432)
    results = {str(i): "open" if p is db else ("open" if p["expect"] == "open" else "timeout")
               for i, p in enumerate(plan)}
    for i, p in enumerate(plan):
        p["id"] = str(i)
    local: dict = {}  # every listener reached itself on every port
    for p in plan:
        local.setdefault(p["dst"], {"local": {}})["local"][f"{p['proto']}/{p['port']}"] = "open"
    report = verify.report(plan, results, {}, local, untested, "t-seg", 1.0)
    assert report["failed"] == 1
    console = Console(record=True, width=400, color_system="truecolor")
    for table in verify.tables(report):
        console.print(table)
    text, styled = console.export_text(clear=False), console.export_text(styles=True)
    assert "!5432✓" in text and "[bold red]" not in text and "[/]" not in text
    assert "\x1b[1;31m!5432✓" in styled  # bold red, as the operator's terminal shows it
