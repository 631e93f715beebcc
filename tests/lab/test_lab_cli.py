"""`provdc lab` output without a lab: `--format json` on status and up, the hosts-booted
progress wired from the SSH wait to the command, and the wait itself (its line protocol;
as root, against a fake sshd in a namespace of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from provdc.cli import app
from provdc.errors import ProvdcError
from provdc.lab import nsutil, runtime

REPO = Path(__file__).resolve().parents[2]
TOPOLOGY = REPO / "inventory" / "soctrang" / "topology.yml"
runner = CliRunner()


def test_status_json_of_a_lab_that_is_not_there():
    result = runner.invoke(app, ["lab", "status", "--name", "t-cli-absent", "--format", "json"])
    assert result.exit_code == 1  # not up
    doc = json.loads(result.stdout)
    assert doc["name"] == "t-cli-absent" and doc["status"] == "down" and doc["hosts"] == []


def test_status_json_of_every_lab_is_a_list(monkeypatch):
    monkeypatch.setattr(runtime, "list_labs", lambda: ["t-cli-a", "t-cli-b"])
    result = runner.invoke(app, ["lab", "status", "--all", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [d["name"] for d in json.loads(result.stdout)] == ["t-cli-a", "t-cli-b"]


def test_up_reports_each_booted_host_and_prints_json(monkeypatch):
    seen: list[int] = []

    def fake_up(plan, inventory_dir, log, timeout, on_ready):
        for n in range(1, len(plan.hosts) + 1):
            on_ready(n)
            seen.append(n)

    status = {"name": "t-cli", "status": "up", "running": 2, "hosts": [
        {"name": "lgsp-1", "role": "dc", "address": "10.94.2.2", "segment": "APP",
         "running": True}]}
    monkeypatch.setattr(runtime, "up", fake_up)
    monkeypatch.setattr(runtime, "status", lambda name: status)
    result = runner.invoke(app, ["lab", "up", "--name", "t-cli", "--topology", str(TOPOLOGY),
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == status
    assert len(seen) > 10 and seen == sorted(seen)
    assert result.stderr == ""  # not a terminal: no progress bar, nothing to clean up


def test_wait_ssh_lines_are_read_as_they_come(monkeypatch, capsys):
    """nsutil prints `up ADDR` per host, then `missing ...`; the lab reads exactly that."""
    def fake_wait(netns, timeout, addrs, on_up):
        for addr in addrs[:2]:
            on_up(addr)
        return addrs[2:]

    monkeypatch.setattr(nsutil, "wait_ssh", fake_wait)
    assert nsutil.main(["wait-ssh", "t-cli.core", "5", "10.0.0.1", "10.0.0.2", "10.0.0.3"]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["up 10.0.0.1", "up 10.0.0.2", "missing 10.0.0.3"]
    ready: list[int] = []
    assert runtime.follow_wait_ssh(printed, ready.append) == {"10.0.0.3"}
    assert ready == [1, 2]


def test_wait_ssh_when_every_host_answers(monkeypatch, capsys):
    def fake_wait(netns, timeout, addrs, on_up):
        for addr in addrs:
            on_up(addr)
        return []

    monkeypatch.setattr(nsutil, "wait_ssh", fake_wait)
    assert nsutil.main(["wait-ssh", "t-cli.core", "5", "10.0.0.1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["up 10.0.0.1", "missing"]
    assert runtime.follow_wait_ssh(printed, lambda n: None) == set()


BANNER_SERVER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 22))
s.listen()
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"SSH-2.0-fake\\r\\n")
    c.close()
"""


@pytest.fixture
def core_with_one_sshd():
    """A lab core namespace `<name>.core` whose loopback answers like an sshd on port 22."""
    name = f"t-cli-{os.getpid()}"
    netns = f"{name}.core"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    server = None
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        server = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c",
                                   BANNER_SERVER], stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "listening"
        yield name
    finally:
        if server is not None:
            server.kill()  # our own child, by its handle
            server.wait(timeout=30)
        subprocess.run(["ip", "netns", "del", netns], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root")
def test_wait_ssh_counts_hosts_as_they_answer_and_names_the_silent_one(core_with_one_sshd):
    up = SimpleNamespace(name="answers", address="127.0.0.1")
    silent = SimpleNamespace(name="silent", address="127.0.0.2")
    ready: list[int] = []
    runtime.wait_ssh(core_with_one_sshd, [up], timeout=10, on_ready=ready.append)
    assert ready == [1]
    with pytest.raises(ProvdcError) as caught:
        runtime.wait_ssh(core_with_one_sshd, [up, silent], timeout=2, on_ready=ready.append)
    assert "1 host(s) did not answer SSH within 2 s: silent" in str(caught.value)
    assert ready == [1, 1]
