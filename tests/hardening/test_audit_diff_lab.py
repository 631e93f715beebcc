"""`provdc audit diff` on a real lab host: audit, break one control, audit again with the
first report as baseline: exactly that control got worse, and the provenance names the host
as it is (its machine id and SSH host key, read in the audit's own probe).

A fresh (never hardened) host is enough: the control broken is one that passes there, so
no converge is needed for the before/after comparison.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provdc.controls import catalogue
from provdc.controls.breakers import breaker

pytestmark = pytest.mark.lab

HOST = "diff-a"
PROVDC = str(Path(sys.executable).parent / "provdc")
# kinds whose breaker changes one thing a fresh host has right (a mode, a module, a unit)
SIMPLE_KINDS = ("file_mode", "kernel_module_disabled", "package_absent", "service_disabled")


def audit(inventory: Path, out: Path, *extra: str) -> dict:
    proc = subprocess.run([PROVDC, "audit", "-i", str(inventory), "--out", str(out),
                           "--scope", "baseline", "--workers", "1", *extra],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def passing_control(doc: dict):
    passed = {r["control"] for r in doc["results"] if r["status"] == "pass"}
    candidates = [c for c in catalogue().controls if c.id in passed and c.kind in SIMPLE_KINDS]
    assert candidates, f"no control of {SIMPLE_KINDS} passes on a fresh host"
    return candidates[0]


def test_one_broken_control_is_exactly_what_got_worse(lab, fresh_host, tmp_path):
    fresh_host("zone:APP", HOST)
    data = yaml.safe_load(lab.inventory_for([HOST]).read_text())
    data["all"]["hosts"][HOST]["provdc_security_level"] = 3
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(data))

    old = audit(inventory, tmp_path / "old")
    control = passing_control(old)
    b = breaker(control, in_container=True)
    if b.snapshot:
        lab.ssh(HOST, b.snapshot)
    lab.ssh(HOST, b.run)
    try:
        new = audit(inventory, tmp_path / "new", "--baseline", str(tmp_path / "old/report.json"))
    finally:
        lab.ssh(HOST, b.restore)

    proc = subprocess.run([PROVDC, "audit", "diff", str(tmp_path / "old/report.json"),
                           str(tmp_path / "new/report.json"), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    changes = [(c["host"], c["control"], c["change"]) for c in json.loads(proc.stdout)["changes"]]
    assert changes == [(HOST, control.id, "worse")]
    assert [(c["control"], c["change"]) for c in new["baseline"]["changes"]] == [
        (control.id, "worse")]

    facts = new["provenance"]["hosts"][HOST]
    assert facts["machine_id"] == lab.ssh(HOST, "cat /etc/machine-id").stdout.strip()
    ed25519 = lab.ssh(HOST, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
    assert {"type": "ED25519", "fingerprint": ed25519} in facts["ssh_host_keys"]
    check = subprocess.run(["sha256sum", "-c", "manifest.sha256"], cwd=tmp_path / "new",
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
