"""`provdc bandwidth`: rendering; bad input refused in one paragraph, exit 2, no host touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provdc.cli import app
from provdc.qos import policy
from provdc.topology.validate import load

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"
COMMUNE_EF = ("{name: video-conf, dscp: EF, rate_mbit: 6, ceil_mbit: 30, "
              "description: \"video conferencing\"}")
runner = CliRunner()


def broken(tmp_path: Path, old: str, new: str) -> Path:
    text = SAMPLE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "topology.yml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def invoke(*args: str):
    return runner.invoke(app, ["bandwidth", *args])


def assert_user_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit | None)
    text = " ".join(result.output.split())
    for word in words:
        assert word in text, text


def test_render_prints_class_table_and_batch():
    result = invoke("render", "--topology", str(SAMPLE), "phuong-5")
    assert result.exit_code == 0, result.output
    assert "link 30 Mbit/s, shaped at 28.5 Mbit/s" in result.output
    assert "qdisc replace dev eth0 root handle 1: htb default 40" in result.output
    assert "rate 6000kbit ceil 28500kbit" in result.output  # video-conf, ceiling capped


@pytest.mark.parametrize("old, new, words", [
    # guarantees above the uplink (8 -> 20: 6+20+4+6+2 = 38 > 28.5)
    ("rate_mbit: 8, ceil_mbit: 30", "rate_mbit: 20, ceil_mbit: 30",
     ["tiers[3].bandwidth.classes", "above its shaped uplink of 28.5"]),
    # a ceiling above the link
    (COMMUNE_EF, COMMUNE_EF.replace("ceil_mbit: 30", "ceil_mbit: 40"),
     ["ceil_mbit", "above the 30 Mbit/s link"]),
    # an unknown DSCP
    (COMMUNE_EF, COMMUNE_EF.replace("dscp: EF", "dscp: XF"), ["unknown DSCP 'XF'"]),
    # a class missing at one tier
    ("        - " + COMMUNE_EF + "\n", "", ["class 'video-conf' is missing at tier 'commune'"]),
])
def test_bad_policy_is_refused(tmp_path, old, new, words):
    path = broken(tmp_path, old, new)
    result = invoke("render", "--topology", str(path), "phuong-5")
    assert_user_error(result, str(path), *words)


def _gateway(site: str, address: str, uplink: str | None, core_if: str) -> dict:
    """A gateway as an ops team writes it by hand (the host contract's variables)."""
    v = {"provdc_role": "gateway", "provdc_address": address, "provdc_security_level": 2,
         "provdc_site": site, "provdc_uplink_if": uplink, "provdc_core_peer_if": core_if,
         "provdc_core_netns": "lab.core"}
    return {k: val for k, val in v.items() if val is not None}


def specs_request(gateways: dict) -> str:
    return json.dumps({"source": "hand-written", "hostvars": gateways})


def test_gateway_without_interface_is_refused():
    gateways = {"gw-a": _gateway("phuong-5", "172.16.93.9", "eth0", "w3"),
                "gw-b": _gateway("phuong-7", "10.94.67.1", None, "w4")}
    result = runner.invoke(app, ["bandwidth", "specs", "--topology", str(SAMPLE)],
                           input=specs_request(gateways))
    assert_user_error(result, "hand-written", "gw-b", "provdc_uplink_if")
    assert "{" not in result.output  # nothing printed for gw-a either: all or nothing


def test_unknown_site_and_bad_format():
    assert_user_error(invoke("render", "--topology", str(SAMPLE), "atlantis"),
                      "unknown site 'atlantis'")
    assert_user_error(invoke("measure", "-i", str(SAMPLE), "--format", "xml", "phuong-5"),
                      "--format", "'xml' is not one of 'table', 'json'")


def test_specs_for_the_playbook_are_valid_json_per_direction():
    gateways = {"gw-a": _gateway("phuong-5", "172.16.93.9", "eth0", "w3")}
    result = runner.invoke(app, ["bandwidth", "specs", "--topology", str(SAMPLE)],
                           input=specs_request(gateways))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    up, down = (json.loads(data["gw-a"][d]) for d in ("uplink", "downlink"))
    assert (up["device"], down["device"]) == ("eth0", "w3")
    assert up["classes"] == down["classes"] and len(up["classes"]) == 5
    # one class per line: a check-mode diff of the file reads as a class-table diff
    assert data["gw-a"]["uplink"].count("\n") == len(up["classes"]) + 2


def test_spec_caps_ceilings_at_the_shaped_rate():
    topo = load(SAMPLE).topology
    spec = policy.site_spec(topo, "phuong-5", "eth0", "uplink")
    assert spec["shaped_kbit"] == 28500
    assert {c["name"]: c["ceil_kbit"] for c in spec["classes"]} == {
        "video-conf": 28500, "business-apps": 28500, "mail-docs": 28500,
        "best-effort": 28500, "bulk": 15000}


def _inventory(tmp_path: Path, uplink: str | None) -> Path:
    gw = {**_gateway("phuong-5", "172.16.93.9", uplink, "w12"),
          "provdc_topology": str(SAMPLE)}
    path = tmp_path / "hosts.yml"
    group = {"gateways": {"hosts": {"gw-phuong-5": None}}}
    path.write_text(json.dumps({"all": {"hosts": {"gw-phuong-5": gw}, "children": group}}))
    return path


def test_render_reads_devices_from_the_inventory(tmp_path):
    result = invoke("render", "-i", str(_inventory(tmp_path, "wan0")), "phuong-5")
    assert result.exit_code == 0, result.output
    assert "# uplink: egress of wan0 on gw-phuong-5" in result.output
    assert "# downlink: egress of w12 on core" in result.output
    assert "qdisc replace dev w12 root handle 1: htb default 40" in result.output


def test_inventory_gateway_without_uplink_is_refused(tmp_path):
    assert_user_error(invoke("specs", "-i", str(_inventory(tmp_path, None))),
                      "gw-phuong-5", "provdc_uplink_if")


def test_render_json_has_the_class_table_and_the_batch():
    result = invoke("render", "--topology", str(SAMPLE), "phuong-5", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["site"] == "phuong-5" and [e["direction"] for e in doc["ends"]] == ["uplink"]
    end = doc["ends"][0]
    assert {"device", "where", "tier", "link_kbit", "shaped_kbit", "classes", "batch"} <= set(end)
    assert {c["dscp"] for c in end["classes"]} >= {"EF", "AF41", "AF21", "CS1"}
    assert "qdisc replace dev eth0 root handle 1: htb" in end["batch"]
