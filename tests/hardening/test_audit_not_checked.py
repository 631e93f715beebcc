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
import threading
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
    inventory = _unreachable_inventory(tmp_path / "hosts.yml", ["gone-1"])
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


def _unreachable_inventory(path: Path, names: list[str], port: int | None = None,
                           ssh_args: str = "-o ConnectTimeout=5") -> Path:
    """Hosts on a loopback port (by default one where nothing listens) SSH cannot use."""
    port = port or closed_loopback_port()
    path.write_text(yaml.safe_dump({"all": {"hosts": {name: {
        "ansible_host": "127.0.0.1", "ansible_port": port, "ansible_user": "root",
        "provdc_security_level": 3,
        "ansible_ssh_common_args": f"{ssh_args} -o StrictHostKeyChecking=no "
                                   "-o UserKnownHostsFile=/dev/null -o BatchMode=yes"}
        for name in names}}}))
    return path


def test_the_audit_as_json_is_one_document_a_program_can_read(tmp_path):
    inventory = _unreachable_inventory(tmp_path / "hosts.yml", ["gone-1", "gone-2"])
    run = subprocess.run([str(BIN / "provdc"), "audit", "-i", str(inventory), "--out",
                          str(tmp_path / "audit"), "--scope", "baseline", "--workers", "2",
                          "--format", "json"],
                         capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}"))
    assert run.returncode == 3, run.stdout + run.stderr
    doc = json.loads(run.stdout)  # nothing else on stdout
    assert doc["unreachable"] == ["gone-1", "gone-2"]
    assert doc["scores"]["overall"]["not_checked"] == 2 * len(catalogue().controls)
    assert Path(doc["files"]["json"]).is_file() and "raw" not in doc["files"]
    assert run.stderr == ""  # no progress drawn without a terminal


def test_the_suite_tells_its_progress_host_by_host_under_xdist(tmp_path):
    """What `provdc audit` follows to draw hosts done / total: every collected test, then
    every finished one, written by the xdist controller as results arrive."""
    from provdc.audit.plugin import hosts_done
    from provdc.audit.run import SUITE

    inventory = _unreachable_inventory(tmp_path / "hosts.yml", ["gone-1", "gone-2", "gone-3"])
    ticks = tmp_path / "progress"
    subprocess.run([sys.executable, "-m", "pytest", str(SUITE / "test_baseline.py"), "-q",
                    "-c", str(SUITE / "pytest.ini"), "--rootdir", str(SUITE), "-p",
                    "no:cacheprovider", "-p", "provdc.audit.plugin", "-n", "2",
                    f"--provdc-progress={ticks}", "--hosts=ansible://all",
                    f"--ansible-inventory={inventory}"],
                   capture_output=True, text=True, timeout=600, cwd=tmp_path,
                   env=dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}"))
    lines = ticks.read_text().splitlines()
    tests = [line for line in lines if line.startswith("test ")]
    assert len(tests) == 3 * len(catalogue().controls), lines[:3]
    assert sorted(line[5:] for line in lines if line.startswith("done ")) == sorted(
        line[5:] for line in tests)
    assert hosts_done(lines) == (3, 3)
    assert hosts_done(tests + [line for line in lines if "gone-2" in line and
                               line.startswith("done ")]) == (1, 3)


class _SilentServer:
    """A loopback listener that accepts and never answers (an SSH server that hangs before
    its banner): it counts the connections open at the same time, the most it saw and all
    it accepted."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted, self.most = 0, 0
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed: the test is over
                return
            with self.lock:
                self.open = [c for c in self.open if _still_open(c)] + [conn]
                self.accepted += 1
                self.most = max(self.most, len(self.open))

    def close(self):
        self.sock.close()
        for conn in self.open:
            conn.close()


def _still_open(conn: socket.socket) -> bool:
    """Whether the client still holds the connection: read what it sent (its banner) until
    nothing is left (open) or the end of the stream (it gave up)."""
    conn.setblocking(False)
    try:
        while conn.recv(4096):
            pass
        return False
    except BlockingIOError:  # nothing more to read, not closed
        return True
    except OSError:
        return False


def test_the_audit_reads_every_host_at_once_and_each_once(tmp_path):
    """Without xdist the suite reads all hosts before its first test, several at a time, in
    one round trip each (the container test and the facts ride in the batch): four hosts that
    hang are four connections open together, and never a second one for any of them."""
    server = _SilentServer()
    names = ["hang-1", "hang-2", "hang-3", "hang-4"]
    inventory = _unreachable_inventory(
        tmp_path / "hosts.yml", names, port=server.port,
        ssh_args="-o ConnectTimeout=8 -o ConnectionAttempts=1 -o ControlMaster=no "
                 "-o ControlPath=none")
    try:
        run = subprocess.run([str(BIN / "provdc"), "audit", "-i", str(inventory), "--out",
                              str(tmp_path / "audit"), "--scope", "baseline", "--workers", "1",
                              "--format", "json"],
                             capture_output=True, text=True, timeout=600,
                             env=dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}"))
    finally:
        server.close()
    assert run.returncode == 3, run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert doc["unreachable"] == names
    assert server.most == len(names), (server.most, server.accepted)
    assert server.accepted == len(names)
