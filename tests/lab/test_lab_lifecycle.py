"""Lab lifecycle on a tiny lab of its own: idempotent up, clean down, recovery after a
`kill -9` of `up` (root + systemd-nspawn; skipped elsewhere)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provdc.lab import runtime
from provdc.lab.model import plan_lab
from provdc.lab.pytest_plugin import default_lab_name, default_topology, skip_reason
from provdc.topology.validate import load

pytestmark = [pytest.mark.lab]
if skip_reason():
    pytestmark.append(pytest.mark.skip(reason=skip_reason()))

SITES = ["so-tttt"]
SERVICES = ["lgsp"]


@pytest.fixture
def tiny(tmp_path):
    name = default_lab_name() + "-lc"
    plan = plan_lab(load(default_topology()), name, "small", sites=SITES, services=SERVICES)
    yield name, plan, tmp_path / "inv"
    runtime.down(name, log=lambda m: None)
    assert runtime.leftovers(name) == {}


def _inotify() -> int:
    return int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())


def test_up_twice_is_safe_and_down_leaves_nothing(tiny):
    name, plan, inv = tiny
    state = runtime.up(plan, inv, log=lambda m: None)
    assert [h.name for h in state.plan.hosts] == ["lgsp-1", "gw-so-tttt", "so-tttt-1"]
    pids = {h.name: runtime.host_pid(name, h.name) for h in plan.hosts}
    assert all(pids.values())
    runtime.up(plan, inv, log=lambda m: None)  # a second up keeps the running hosts
    assert pids == {h.name: runtime.host_pid(name, h.name) for h in plan.hosts}
    assert (inv / "hosts.yml").is_file() and (inv / "pyinfra_inventory.py").is_file()
    assert runtime.status(name)["status"] == "up"
    runtime.down(name, log=lambda m: None)
    assert runtime.leftovers(name) == {}
    assert not inv.exists()
    assert runtime.status(name)["status"] == "down"
    runtime.down(name, log=lambda m: None)  # down twice is fine too


def test_down_after_kill_9_of_up_leaves_nothing(tiny):
    name, plan, inv = tiny
    code = (
        "import sys; from provdc.lab import runtime; from provdc.lab.model import plan_lab;"
        "from provdc.topology.validate import load;"
        f"p = plan_lab(load({str(default_topology())!r}), {name!r}, 'small', sites={SITES!r},"
        f" services={SERVICES!r});"
        f"runtime.up(p, __import__('pathlib').Path({str(inv)!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    hosts_dir = runtime.LabDir(name).hosts
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill it once some host is booting
        if hosts_dir.is_dir() and any((d / "nspawn.pid").exists() for d in hosts_dir.iterdir()):
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert runtime.leftovers(name), "the killed up should have left something to clean"
    runtime.down(name, log=lambda m: None)
    assert runtime.leftovers(name) == {}


def test_up_after_a_crash_cleans_and_starts(tiny):
    name, plan, inv = tiny
    runtime.up(plan, inv, log=lambda m: None)
    pid = runtime.host_pid(name, "lgsp-1")
    os.kill(pid, signal.SIGKILL)  # a host died: the lab is degraded
    time.sleep(0.5)
    assert runtime.status(name)["status"] == "degraded"
    state = runtime.up(plan, inv, log=lambda m: None)
    assert state.status == "up" and runtime.status(name)["running"] == 3


def test_inotify_is_restored_when_the_last_lab_goes_down(tiny):
    name, plan, inv = tiny
    others = [n for n in runtime.list_labs() if n != name]
    state_file = runtime.labs_root().parent / runtime.INOTIFY_STATE
    before = _inotify()
    runtime.up(plan, inv, log=lambda m: None)
    assert _inotify() >= runtime.INOTIFY_BASE + runtime.INOTIFY_PER_HOST * 3
    runtime.down(name, log=lambda m: None)
    if others:  # another lab still runs: the raised limit stays for it
        assert _inotify() >= before
    else:
        assert _inotify() == before or not state_file.exists()
        assert not state_file.exists()
