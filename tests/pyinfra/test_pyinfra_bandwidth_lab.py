"""The bandwidth policy applied by pyinfra on a real lab gateway, checked by the other tools.

pyinfra (playbooks/pyinfra/bandwidth.py) shapes both ends of the first gateway's uplink;
then a second pyinfra run changes nothing, the shipped script itself finds both live trees
equal to the policy, the Ansible role in check mode finds nothing to change (same spec
file, script, unit and trees), and the compliance suite's bandwidth checks pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gateway(lab):
    return lab.group("gateways")[0]


def test_pyinfra_shapes_both_ends(lab, gateway, pyinfra_cli):
    proc, doc = pyinfra_cli(lab.inventory, "bandwidth.py", "--limit", gateway.name, "-y")
    assert proc.returncode == 0 and doc is not None, proc.stderr[-3000:]
    assert doc["results"]["totals"]["error"] == 0


def test_second_run_changes_nothing(lab, gateway, pyinfra_cli):
    proc, doc = pyinfra_cli(lab.inventory, "bandwidth.py", "--limit", gateway.name, "-y")
    assert proc.returncode == 0 and doc is not None, proc.stderr[-3000:]
    assert pyinfra_cli.changed(doc, gateway.name) == []


def test_live_trees_match_the_policy(lab, gateway):
    v = lab.vars(gateway.name)
    spec = f"/etc/provdc/bandwidth/{v['provdc_uplink_if']}.json"
    here = json.loads(lab.ssh(gateway.name, f"/usr/local/sbin/provdc-bandwidth check {spec}")
                      .stdout)
    assert [r["changed"] for r in here] == [False]
    core = lab.core_exec(["tc", "class", "show", "dev", v["provdc_core_peer_if"]])
    assert "htb" in core.stdout and "1:10" in core.stdout


def test_ansible_check_mode_finds_nothing_to_change(lab, gateway):
    proc = lab.ansible_playbook("playbooks/bandwidth.yml", "--check", "--limit", gateway.name)
    recap = re.search(rf"^{re.escape(gateway.name)}\s*: ok=\d+\s+changed=(\d+).*failed=(\d+)",
                      proc.stdout, re.M)
    assert recap and recap.groups() == ("0", "0"), proc.stdout[-3000:]


def test_compliance_bandwidth_checks_pass(lab, gateway):
    proc = lab.compliance("test_bandwidth.py", gateway.name)
    assert proc.returncode == 0 and " passed" in proc.stdout, proc.stdout[-3000:]
