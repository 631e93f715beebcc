"""An unreachable host is "not checked": counted apart, never scored as compliant or failed.

The inventory is written here by hand: one host on a loopback port where nothing listens, so
SSH is refused at once (no traffic leaves this machine). The audit runs from the inventory's
directory with relative paths, as an auditor types them: the host must be reached (and
refused) as itself, not lost because the inventory was looked for elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from provdc.controls import catalogue

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def closed_loopback_port() -> int:
    """A port nothing listens on: bind one, note it, release it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_host_is_not_checked_and_not_scored(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"gone-1": {
        "ansible_host": "127.0.0.1", "ansible_port": closed_loopback_port(),
        "ansible_user": "root", "provdc_security_level": 3,
        "ansible_ssh_common_args": "-o ConnectTimeout=5 -o StrictHostKeyChecking=no "
                                   "-o UserKnownHostsFile=/dev/null -o BatchMode=yes"}}}}))
    out = tmp_path / "audit"
    run = subprocess.run([str(BIN / "provdc"), "audit", "-i", "hosts.yml", "--out", "audit",
                          "--scope", "baseline", "--workers", "1", "--auditor", "kiem.tra"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path,
                         env=dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}"))
    assert run.returncode == 3, run.stdout + run.stderr
    doc = json.loads((out / "report.json").read_text())
    statuses = {r["status"] for r in doc["results"]}
    assert statuses == {"not_checked"}, statuses
    assert len(doc["results"]) == len(catalogue().controls)
    overall = doc["scores"]["overall"]
    assert overall["score"] is None and overall["fail"] == 0
    assert overall["not_checked"] == len(catalogue().controls)
    assert doc["unreachable"] == ["gone-1"]
    assert "not checked" in run.stdout and "gone-1" in run.stdout
    assert all("host not checked" in r["reason"] for r in doc["results"])
    assert all("Connection refused" in r["reason"] for r in doc["results"]), doc["results"][0]
    suites = ET.parse(out / "junit.xml").getroot()
    counts = {k: sum(int(s.get(k, 0)) for s in suites.iter("testsuite"))
              for k in ("failures", "errors", "skipped")}
    assert counts["failures"] == counts["errors"] == 0 and counts["skipped"] > 0
    assert "Chưa kiểm tra được / Not checked" in (out / "report.html").read_text()
    # provenance: who, on which inventory; no facts of a host that was never read
    prov = doc["provenance"]
    assert prov["auditor"] == "kiem.tra" and prov["hosts"] == {}
    assert prov["inventory"]["sha256"] == hashlib.sha256(inventory.read_bytes()).hexdigest()
    check = subprocess.run(["sha256sum", "-c", "manifest.sha256"], cwd=out, capture_output=True,
                           text=True)
    assert check.returncode == 0 and "report.json: OK" in check.stdout, check.stdout
    for name in ("oscal-assessment-results.json", "oscal-catalog.json", "junit.xml"):
        assert f"{name}: OK" in check.stdout, name
