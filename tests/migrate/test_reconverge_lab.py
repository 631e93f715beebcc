"""Apply the change, not the world: hosts converged with a former province's topology are
re-converged with the merged one by site.yml, and only what the migration plan lists changes.

The data are hand-written (tests/migrate/reconverge/): a slice of Sóc Trăng (brought up on
the lab: its data centre, a department and two communes), a slice of Hậu Giang (only in the
plan) and the merged city with its carry_over and migration sections. The lab converges the
Sóc Trăng hosts with site.yml, then runs site.yml again with the merged topology's inventory
of the same hosts. What ansible-runner reports as changed, per host and concern, must be
exactly what `provdc migrate plan` (its JSON, through the CLI) lists for that host; then every
host still takes a new SSH session from the operator and the audit passes.

A host keeps its identity across the two plans by construction of the data (every agency
keeps its LAN and its TSLCD /31, the data centre stays where it is), which the test checks
before it re-converges. A renamed site keeps its running host: the merged inventory names it
by its new name (`gw-phuong-soc-trang`) with the connection and namespace of the host it was
(`gw-phuong-5`, the plan's `formerly`); the lab cannot rename a running host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from provdc.lab.model import plan_lab
from provdc.lab.pytest_plugin import bring_up, default_lab_name, skip_reason, tear_down
from provdc.topology.validate import load

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "reconverge"
FORMER = [DATA / "soc-trang.yml", DATA / "hau-giang.yml"]
MERGED = DATA / "can-tho.yml"
LAB_SITES = ["so-noi-vu", "phuong-5", "thi-tran-chau-thanh"]  # sites of soc-trang.yml

# What a change the plan lists makes site.yml do to a host, by concern (the role that acts).
# A new name is a new SOC certificate and a new title of the host's firewall (both name the
# host); a firewall change is a new ruleset; a bandwidth change a new class table on the
# gateway's uplink; new NTP clients a new chrony `allow` on the time source (the SOC play
# sets up time). The TSLCD link and the routes of carried prefixes are the network's (the
# provider's, the routers'), not site.yml's: they change nothing site.yml manages.
CONCERNS = {
    "renamed": {"soc", "segmentation"},
    "firewall": {"segmentation"},
    "bandwidth": {"bandwidth"},
    "ntp_clients": {"soc"},
    "tslcd": set(),
    "routes": set(),
}
ROLE_CONCERN = {"baseline": "baseline", "segmentation": "segmentation", "soc_agent": "soc",
                "soc_collector": "soc", "bandwidth": "bandwidth"}
ZONE_FIREWALL = "zone firewall"  # the data centre's core router (the lab's core namespace)
# What must match between a host of the merged plan and the running host it was.
IDENTITY = ("address", "prefix_len", "default_gw", "index", "peer_if", "lan_address",
            "lan_cidr", "wan_core_address")

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def former_lab():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    name = f"{default_lab_name()}-m"
    try:
        yield bring_up(name, FORMER[0], sites=LAB_SITES)
    finally:
        left = tear_down(name)
        if left:
            pytest.fail(f"lab {name} leaked after down: {left}", pytrace=False)


def migrate_plan() -> dict:
    proc = subprocess.run([sys.executable, "-m", "provdc", "migrate", "plan", *map(str, FORMER),
                           str(MERGED), "--format", "json"], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def converge(lab, inventory: Path, work: Path, pki: Path) -> dict[str, dict[str, list[str]]]:
    """site.yml through ansible-runner; {host: {concern: [changed task, ...]}} from its
    events (every host of the inventory appears, with no change or some)."""
    import ansible_runner

    work.mkdir()
    run = ansible_runner.run(
        private_data_dir=str(work), project_dir=str(ROOT),
        playbook=str(ROOT / "playbooks" / "site.yml"), inventory=str(inventory),
        extravars={"soc_pki_dir": str(pki)}, quiet=True, timeout=2400,
        envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                 "ANSIBLE_HOST_KEY_CHECKING": "False",
                 "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})
    stdout = (work / "artifacts" / run.config.ident / "stdout").read_text()
    assert run.rc == 0 and run.status == "successful", stdout[-8000:]
    hosts = yaml.safe_load(inventory.read_text())["all"]["hosts"]
    changed: dict[str, dict[str, list[str]]] = {h: {} for h in [*hosts, ZONE_FIREWALL]}
    for event in run.events:
        data = event.get("event_data", {})
        res = data.get("res", {})
        if event["event"] != "runner_on_ok" or data.get("host") not in hosts \
                or not res.get("changed"):
            continue
        role = (data.get("role") or "").rpartition(".")[2]
        concern = ROLE_CONCERN.get(role, data.get("play", "?"))
        host = data["host"]
        # the lab's core router is a namespace of the controller: the zone firewall runs
        # once, delegated to localhost, under the name of the play's first host
        delegated = res.get("_ansible_delegated_vars", {}).get("ansible_host")
        if concern == "segmentation" and delegated == "localhost":
            host = ZONE_FIREWALL
        changed[host].setdefault(concern, []).append(data.get("task", "?"))
    return changed


def merged_inventory(lab, plan: dict, path: Path) -> Path:
    """The merged topology's inventory of the lab's running hosts: each under its new name,
    with the identity checked equal to the host it was and that host's namespace."""
    from provdc.lab import inventory as inv
    from provdc.lab import runtime

    formerly = {h["host"]: h["formerly"] for h in plan["hosts"]}
    now = {h["formerly"]: h for h in plan["hosts"] if h["formerly"]}
    running = {h.name: h for h in lab.hosts}
    # the lab numbers hosts (and their interfaces) in the order of its sites: keep it
    new_sites = list(dict.fromkeys(now[h.name]["site"] for h in lab.hosts if h.site))
    merged = plan_lab(load(MERGED), lab.name, "small", new_sites)
    assert sorted(formerly[h.name] for h in merged.hosts) == sorted(running), (
        "the merged plan's hosts on the lab are not the running hosts")
    for h in merged.hosts:
        was = running[formerly[h.name]]
        assert [getattr(h, a) for a in IDENTITY] == [getattr(was, a) for a in IDENTITY], (
            f"{h.name} (formerly {was.name}) would need another address or link on the lab")
    ldir = runtime.LabDir(lab.name)
    doc = yaml.safe_load(inv.render_hosts_yml(merged, ldir.key, ldir.control_dir))
    for name, hostvars in doc["all"]["hosts"].items():
        hostvars["provdc_netns"] = lab.netns(formerly[name])
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=200))
    return path


def expected_changes(plan: dict, hosts) -> dict[str, set[str]]:
    listed = {h["host"]: h["changes"] for h in plan["hosts"]}
    listed[ZONE_FIREWALL] = ["firewall"] if plan["zone_firewall"]["changed"] else []
    unknown = {c for h in hosts for c in listed[h]} - set(CONCERNS)
    assert not unknown, f"the plan lists changes this test does not know: {unknown}"
    return {h: set().union(*(CONCERNS[c] for c in listed[h])) for h in hosts}


def test_reconverging_with_the_merged_topology_changes_only_what_the_plan_lists(
        former_lab, tmp_path):
    lab, pki = former_lab, tmp_path / "soc-pki"
    pki.mkdir()
    plan = migrate_plan()
    started = time.monotonic()
    first = converge(lab, lab.inventory, tmp_path / "former", pki)
    assert all(first.values()), f"the first convergence left something untouched: {first}"

    inventory = merged_inventory(lab, plan, tmp_path / "merged.yml")
    changed = converge(lab, inventory, tmp_path / "merged", pki)
    expected = expected_changes(plan, changed)
    actual = {h: set(c) for h, c in changed.items()}
    assert actual == expected, "\n".join(
        f"{h}: plan {sorted(expected[h])}, site.yml changed {changed[h]}"
        for h in sorted(changed) if actual[h] != expected[h])
    assert any(expected.values()) and not all(expected.values())  # the data can tell

    # the operator still gets in, over a new session, and every sshd configuration is valid
    doc = yaml.safe_load(inventory.read_text())["all"]["hosts"]
    for name, hostvars in doc.items():
        proc = subprocess.run(
            ["ssh", "-F", str(lab.ssh_config), "-o", "BatchMode=yes", "-o", "ControlPath=none",
             hostvars["ansible_host"], "sshd -t && hostname"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"

    audit = subprocess.run(
        [sys.executable, "-m", "provdc", "audit", "-i", str(inventory), "--out",
         str(tmp_path / "audit")], capture_output=True, text=True, cwd=ROOT, timeout=1800,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
                 ANSIBLE_HOST_KEY_CHECKING="False"))
    report = json.loads((tmp_path / "audit" / "report.json").read_text())
    overall = report["scores"]["overall"]
    assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-3000:]
    assert sorted(report["hosts"]) == sorted(doc) and report["unreachable"] == []
    assert overall["score"] == 100.0 and overall["fail"] == 0 and overall["error"] == 0
    print(f"re-convergence: {time.monotonic() - started:.0f} s")
