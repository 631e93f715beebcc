"""Parity of the two engines on real lab hosts (systemd-nspawn, sshd, ansible-playbook, pyinfra).

Two pristine twins on the APP zone (same zone, so the same security level and controls):
`PA` is converged by Ansible (playbooks/baseline.yml), `PB` by pyinfra
(playbooks/pyinfra/baseline.py over the inventory derived from the same Ansible YAML). Then:
both pass every baseline control of the compliance suite and every other compliance test
has the same outcome on both; every file and state each control touches (derived from the
catalogue) is identical, except the host firewall's boot copy, whose header names its host:
each twin holds exactly its own rendering of the flow matrix; a second pyinfra run changes
nothing. The tests build on each other in file order.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provdc.controls import catalogue
from provdc.controls.kinds.nftables_input import boot_file as firewall_boot_file
from provdc.pyinfra_engine.touched import fingerprint_script, parse_fingerprints
from provdc.segmentation import render, sources
from provdc.segmentation.matrix import HOST_TABLE

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PA, PB = "par-ansible", "par-pyinfra"
CONTROLS = catalogue().controls
# Differences between the twins that are not the engines' doing: (control, item) -> reason.
# Each such file must instead be byte for byte the twin's own expected rendering.
JUSTIFIED: dict[tuple[str, str], str] = {
    ("VN-NET-09", firewall_boot_file(HOST_TABLE)):
        "the host firewall's header names its host (the table itself is the same)",
}


class Twins:
    def __init__(self, lab, inventory: Path):
        self.lab, self.inventory = lab, inventory

    def fingerprints(self, host: str) -> dict:
        script = fingerprint_script(CONTROLS)
        proc = self.lab.ssh(host, f"sh -c {_shq(script)}", timeout=180)
        return parse_fingerprints(proc.stdout)


def _shq(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@pytest.fixture(scope="module")
def twins(lab, tmp_path_factory):
    made = []
    try:
        for name in (PA, PB):
            lab.add_host(name, "zone:APP")
            made.append(name)
        workdir = tmp_path_factory.mktemp("parity")
        inventory = workdir / "hosts.yml"
        inventory.write_text(lab.inventory_for(made).read_text())
        yield Twins(lab, inventory)
    finally:
        for name in made:
            lab.remove_host(name)


def test_twins_have_the_same_level_and_start_identical(twins):
    data = yaml.safe_load(twins.inventory.read_text())["all"]["hosts"]
    assert data[PA]["provdc_security_level"] == data[PB]["provdc_security_level"]
    assert twins.fingerprints(PA) == twins.fingerprints(PB)


def test_dry_run_lists_changes_and_touches_nothing(twins, pyinfra_cli):
    before = twins.fingerprints(PB)
    proc, doc = pyinfra_cli(twins.inventory, "baseline.py", "--limit", PB, "--dry")
    assert doc is not None and proc.returncode == 0, proc.stderr[-3000:]
    would = [o["name"] for o in doc["plan"] if PB in o["hosts_with_change"]]
    assert len(would) > 20 and any("05-provdc-baseline.conf" in n for n in would), would
    assert doc["results"] is None
    assert twins.fingerprints(PB) == before


def test_converge_one_twin_with_each_engine(twins, pyinfra_cli):
    ansible = subprocess.Popen(
        [str(BIN / "ansible-playbook"), "-i", str(twins.inventory), "playbooks/baseline.yml",
         "--limit", PA], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**twins.lab._ansible_env()})
    proc, doc = pyinfra_cli(twins.inventory, "baseline.py", "--limit", PB, "-y")
    out, _ = ansible.communicate(timeout=1800)
    assert ansible.returncode == 0, out[-3000:]
    assert proc.returncode == 0 and doc is not None, proc.stderr[-3000:]
    assert doc["results"]["failed_hosts"] == [] and doc["results"]["totals"]["error"] == 0
    assert len(pyinfra_cli.changed(doc, PB)) > 20


def test_second_pyinfra_run_changes_nothing(twins, pyinfra_cli):
    proc, doc = pyinfra_cli(twins.inventory, "baseline.py", "--limit", PB, "-y")
    assert proc.returncode == 0 and doc is not None, proc.stderr[-3000:]
    assert pyinfra_cli.changed(doc, PB) == []


def test_ansible_check_finds_nothing_to_change_on_the_pyinfra_twin(twins):
    """The engines agree on the whole host, not only on the files the controls name:
    Ansible in check mode, run on the host pyinfra converged, reports changed=0 (the role's
    own probes, its gate and every task in check mode)."""
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(twins.inventory), "playbooks/baseline.yml",
         "--limit", PB, "--check"], cwd=REPO, capture_output=True, text=True, timeout=1800,
        env={**twins.lab._ansible_env()})
    assert proc.returncode == 0, proc.stdout[-3000:]
    recap = next(line for line in proc.stdout.splitlines()
                 if line.startswith(PB) and "changed=" in line)
    task, changed = "", []
    for line in proc.stdout.splitlines():
        task = line if line.startswith("TASK [") else task
        if line.startswith(f"changed: [{PB}]"):
            changed.append(task)
    assert " changed=0 " in recap, "\n".join(changed) or recap


def test_a_disabled_but_running_rsyslog_is_fixed_into_one_daemon(twins, pyinfra_cli):
    """As in the role: systemd 252 can forget that rsyslog runs once enabling it brings its
    syslog.service alias back, so the operation stops it before enabling, then starts it."""
    twins.lab.ssh(PB, "systemctl disable -q rsyslog.service")
    proc, doc = pyinfra_cli(twins.inventory, "baseline.py", "--limit", PB, "-y",
                            "--data", "baseline_only=VN-LOG-10")
    assert proc.returncode == 0 and doc is not None, proc.stderr[-3000:]
    assert pyinfra_cli.changed(doc, PB) != []
    state = twins.lab.ssh(PB, "systemctl is-enabled rsyslog; systemctl is-active rsyslog; "
                              "pgrep -cx rsyslogd").stdout.split()
    assert state == ["enabled", "active", "1"], proc.stderr[-3000:]


def test_files_each_control_touches_are_identical(twins):
    a, b = twins.fingerprints(PA), twins.fingerprints(PB)
    assert a.keys() == b.keys() and len(a) > len(CONTROLS)
    differ = {k: (a[k], b[k]) for k in a if a[k] != b[k] and k not in JUSTIFIED}
    assert differ == {}


def test_each_host_firewall_is_the_twins_own_rendering(twins):
    """The justified differences: same mode and owner, and each twin's file is exactly the
    rendering of the flow matrix for that twin (not merely 'some' rendering)."""
    seg, _ = sources.from_inventory(twins.inventory)
    texts = {h: render.render(seg.hosts[h]) for h in (PA, PB)}
    assert _without_title(texts[PA]) == _without_title(texts[PB])
    got = {h: twins.fingerprints(h) for h in (PA, PB)}
    for key in JUSTIFIED:
        assert got[PA][key].rsplit(" ", 1)[0] == got[PB][key].rsplit(" ", 1)[0]
        for h, text in texts.items():
            assert got[h][key].rsplit(" ", 1)[1] == _sha16(text), (h, key)


def _without_title(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("# provdc segmentation:")]


def _sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_both_twins_pass_the_compliance_suite(twins, tmp_path):
    proc = subprocess.run([str(BIN / "provdc"), "audit", "-i", str(twins.inventory),
                           "--out", str(tmp_path), "--workers", "1"],
                          capture_output=True, text=True, cwd=REPO)
    assert (tmp_path / "report.json").exists(), proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "report.json").read_text())
    by_host: dict[str, dict[str, str]] = {PA: {}, PB: {}}
    for r in doc["results"]:
        by_host[r["host"]][r["control"]] = r["status"]
    for host in (PA, PB):
        baseline = {c.id: by_host[host].get(c.id) for c in CONTROLS}
        assert set(baseline.values()) == {"pass"}, (host, baseline)
    # the rest of the suite (SOC, segmentation, bandwidth) concerns other playbooks: whatever
    # it says, it says the same of both twins
    assert by_host[PA] == by_host[PB]
