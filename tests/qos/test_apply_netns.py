"""The apply script against a real kernel, in a throwaway pair of network namespaces.

Covers what the lab tests cannot provoke: a batch that fails half-way on the real device
(after it passed validation) must leave the previous tree in place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provdc.qos import htb

SCRIPT = Path(htb.__file__)
SPEC = json.loads((Path(__file__).parent / "data" / "live-spec.json").read_text())

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating network namespaces needs root")


@pytest.fixture(autouse=True)
def run_dir(tmp_path, monkeypatch):
    """The script's lock and probe cache go to a test directory, not the machine's /run."""
    monkeypatch.setenv("PROVDC_BANDWIDTH_RUN_DIR", str(tmp_path))


@pytest.fixture
def netns():
    """`bwtest-<pid>` holding `v0`, a veth whose peer sits in `bwtest-<pid>-peer`."""
    name = f"bwtest-{os.getpid()}"
    peer = f"{name}-peer"
    for ns in (name, peer):
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "v0", "type", "veth", "peer", "name",
                        "v1", "netns", peer], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "v0", "up"], check=True)
        yield name
    finally:
        for ns in (name, peer):
            subprocess.run(["ip", "netns", "del", ns], check=False)


def script(ns: str, *args: str, stdin: str | None = None) -> tuple[int, object]:
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(SCRIPT), *args],
                          input=stdin, capture_output=True, text=True)
    return proc.returncode, json.loads(proc.stdout)


def spec_with(**changes) -> dict:
    spec = json.loads(json.dumps(SPEC))
    spec["device"] = "v0"
    for classid, values in changes.items():
        next(c for c in spec["classes"] if c["classid"] == classid.replace("_", ":")).update(values)
    return spec


def test_apply_then_reapply_changes_nothing(netns):
    rc, first = script(netns, "apply", "-", stdin=json.dumps(spec_with()))
    assert rc == 0 and first[0]["changed"] is True
    assert first[0]["leaf"] in htb.LEAF_PREFERENCE
    rc, again = script(netns, "apply", "-", stdin=json.dumps(spec_with()))
    assert rc == 0 and again[0]["changed"] is False and again[0]["differences"] == []


def test_a_new_rate_is_applied_and_reported(netns):
    script(netns, "apply", "-", stdin=json.dumps(spec_with()))
    faster = spec_with(**{"1_10": {"rate_kbit": 7000}})
    rc, out = script(netns, "apply", "-", stdin=json.dumps(faster))
    assert rc == 0 and out[0]["changed"] is True
    assert out[0]["differences"] == ["class 1:10 (video-conf) rate is 6 Mbit/s, want 7",
                                     "class 1:10 (video-conf) quantum is 75000, want 87500"]


@pytest.mark.parametrize("foreign", [
    ["tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms"],
    ["htb", "default", "10"],  # someone else's HTB (handle 5:)
])
def test_a_foreign_root_qdisc_is_never_replaced(netns, foreign):
    """An operator's own shaping on the device: apply refuses and leaves it as it was."""
    handle = ["handle", "5:"] if foreign[0] == "htb" else []
    subprocess.run(["ip", "netns", "exec", netns, "tc", "qdisc", "add", "dev", "v0", "root",
                    *handle, *foreign], check=True)
    before = subprocess.run(["ip", "netns", "exec", netns, "tc", "qdisc", "show", "dev", "v0"],
                            capture_output=True, text=True, check=True).stdout
    rc, out = script(netns, "apply", "-", stdin=json.dumps(spec_with()))
    assert rc == 1 and out["failed"] and "did not make" in out["msg"], out
    after = subprocess.run(["ip", "netns", "exec", netns, "tc", "qdisc", "show", "dev", "v0"],
                           capture_output=True, text=True, check=True).stdout
    assert after == before and foreign[0] in after


def test_a_tree_the_kernel_refuses_leaves_the_old_one(netns):
    script(netns, "apply", "-", stdin=json.dumps(spec_with()))
    bad = spec_with(**{"1_20": {"classid": "1:1"}})  # clashes with the root class
    rc, out = script(netns, "apply", "-", stdin=json.dumps(bad))
    assert rc == 1 and out["failed"] and "kernel refused" in out["msg"]
    rc, check = script(netns, "check", "-", stdin=json.dumps(spec_with()))
    assert rc == 0 and check[0]["differences"] == []


def test_a_batch_failing_half_way_restores_the_previous_tree(netns):
    script(netns, "apply", "-", stdin=json.dumps(spec_with()))
    new = spec_with(**{"1_10": {"rate_kbit": 9000}})
    # Inside the namespace: the real device gets only the first half of the new batch
    # (old tree already torn down), then tc "fails".
    driver = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(SCRIPT.parent)!r})
        import htb
        real = htb.run_batch
        failed = []
        def flaky(batch):
            if "dev v0 " not in batch or failed:
                return real(batch)  # the validation on the scratch link, or the restore
            failed.append(batch)
            lines = batch.splitlines(keepends=True)
            real("".join(lines[: len(lines) // 2]))
            raise htb.TcError("simulated failure half-way")
        htb.run_batch = flaky
        try:
            htb.apply(json.loads({json.dumps(json.dumps(new))}))
        except htb.TcError as exc:
            print(exc)
    """)
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", driver],
                          capture_output=True, text=True, check=True)
    assert "previous tree was restored" in proc.stdout
    rc, check = script(netns, "check", "-", stdin=json.dumps(spec_with()))
    assert rc == 0 and check[0]["differences"] == [], check
