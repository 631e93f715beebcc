"""Security monitoring end to end on the lab (issue: SOC collector, agents, onward link).

soc.yml runs on the collector, the NTP host and the agency hosts; an extra lab host in the
EDGE zone stands in for the upstream (NCSC). Proven here: a failed SSH login, a sudo command
and a new account on an agency host reach the collector within 10 s, filed under the right
host; nothing is lost while the collector is down; the upstream gets what is at or above
the configured severity and nothing below, as RFC 5424 syslog and as CEF; the retention
purge deletes what is older than the level's retention and keeps the rest; a second run
changes nothing; a bad setting stops the play before any host changes.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import pytest

from provdc.soc import labproof as lp

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = "playbooks/soc.yml"
LIMIT = "localhost,service_soc_collector,service_ntp,agency_hosts"
UPSTREAM = "soc-upstream"
DEADLINE_S = 10


def recap(output: str) -> dict[str, dict[str, int]]:
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out


class Soc:
    """The lab with soc.yml applied, and what the tests need to drive it."""

    def __init__(self, lab, tmp_path_factory):
        self.lab = lab
        self.ssh = lp.Ssh(lab.ssh_config)
        self.pki_dir = tmp_path_factory.mktemp("soc-pki")
        self.collector = lab.group("service_soc_collector")[0]
        self.agency = lab.group("agency_hosts")[0]
        self.upstream = None

    def extra_vars(self, **upstream) -> str:
        settings = {"soc_pki_dir": str(self.pki_dir),
                    "soc_extra_certificates": {UPSTREAM: [self.upstream.address]}}
        if upstream:
            settings["soc_upstream"] = {"host": self.upstream.address,
                                        "permitted_peer": UPSTREAM, **upstream}
        return json.dumps(settings)

    def apply(self, *args: str, **upstream):
        return self.lab.ansible_playbook(PLAYBOOK, "--limit", LIMIT,
                                         "-e", self.extra_vars(**upstream), *args)

    def at_collector(self, host: str, needles: list[str], timeout: float = DEADLINE_S):
        return lp.wait_for(self.ssh, self.collector.name, f"{lp.STORE}/{host}/*.log",
                           needles, timeout)

    def pki(self) -> dict:
        ca = self.pki_dir / "ca.crt"
        hosts = {n: {"cert": str(self.pki_dir / "hosts" / f"{n}.crt"),
                     "key": str(self.pki_dir / "hosts" / f"{n}.key")} for n in [UPSTREAM]}
        return {"ca": str(ca), "hosts": hosts}


@pytest.fixture(scope="module")
def soc(lab, tmp_path_factory):
    s = Soc(lab, tmp_path_factory)
    s.upstream = lab.add_host(UPSTREAM, "zone:EDGE")
    try:
        run = s.apply(min_severity="warning", protocol="syslog")
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        s.first_run = run
        lp.install_receiver(s.ssh, UPSTREAM, s.pki(), port=6514)
        yield s
    finally:
        lab.remove_host(UPSTREAM)


def test_first_run_changed_the_hosts(soc):
    counts = recap(soc.first_run.stdout)
    assert counts[soc.collector.name]["changed"] > 0
    assert counts[soc.agency.name]["changed"] > 0


def test_security_events_reach_the_collector_within_10_s(soc):
    host, m = soc.agency, lp.marker()
    soc.lab.core_exec(
        f"ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        f"-o ConnectTimeout=5 intruder{m}@{host.address} true", check=False)
    soc.ssh.run(host.name, f"sudo -u nobody /bin/echo sudo{m}")
    soc.ssh.run(host.name, f"useradd -M -s /usr/sbin/nologin u{m}")
    try:
        needles = [f"intruder{m}", f"sudo{m}", f"name=u{m}"]
        seen = soc.at_collector(host.name, needles)
        assert set(seen) == set(needles), f"missing at the collector after 10 s: " \
            f"{set(needles) - set(seen)}"
        assert max(seen.values()) <= DEADLINE_S
        # filed under the agency host, with the address it came from
        for needle in needles:
            lines = lp.lines_with(soc.ssh, soc.collector.name,
                                  f"{lp.STORE}/{host.name}/*.log", needle)
            assert lines and all(f" {host.name} [{host.address}] " in x for x in lines), lines
        invalid = lp.lines_with(soc.ssh, soc.collector.name, f"{lp.STORE}/{host.name}/*.log",
                                f"intruder{m}")
        assert any("auth" in x and "Invalid user" in x for x in invalid), invalid
    finally:
        soc.ssh.run(host.name, f"userdel u{m}", check=False)


def all_arrive(soc, host: str, tag: str, count: int, timeout: float = 90) -> set[int]:
    """Wait until the collector has every `<tag> seq=<n>`; return the numbers missing."""
    want = set(range(count))
    deadline = time.monotonic() + timeout
    while True:
        lines = lp.lines_with(soc.ssh, soc.collector.name, f"{lp.STORE}/{host}/*.log", tag)
        got = {int(re.search(r"seq=(\d+)", x).group(1)) for x in lines}
        if got >= want or time.monotonic() > deadline:
            return want - got
        time.sleep(1)


def test_nothing_is_lost_while_the_collector_is_down(soc):
    host, m, count = soc.agency.name, lp.marker("down"), 200
    collector = soc.collector.name
    soc.ssh.run(collector, "systemctl stop syslog.socket rsyslog.service")
    try:
        lp.send_burst(soc.ssh, host, m, count, severity="notice")
        time.sleep(3)
        assert not lp.lines_with(soc.ssh, collector, f"{lp.STORE}/{host}/*.log", m)
    finally:
        soc.ssh.run(collector, "systemctl start rsyslog.service")
    missing = all_arrive(soc, host, m, count)
    assert not missing, f"{len(missing)} of {count} events lost: seq {sorted(missing)[:10]}"


def test_queued_events_survive_a_restart_of_the_agent(soc):
    """Events queued while the collector is down survive a restart of the agent's rsyslog.

    Once the agent knows the collector is gone (its action is suspended), events wait in the
    disk-assisted queue; a restart saves the queue on disk, the new rsyslog reads it again,
    and every event reaches the collector once it is back. Exempt: the probes that reveal
    the outage. The first goes into the session the collector has just closed and waits in
    RELP's window for an acknowledgement; RELP resends it on reconnect, but a restart before
    then forgets it (rsyslog/rsyslog#3820, see the README, delivery guarantee)."""
    host, m, count = soc.agency.name, lp.marker("restart"), 100
    collector = soc.collector.name
    soc.ssh.run(collector, "systemctl stop syslog.socket rsyslog.service")
    try:
        assert lp.until_suspended(soc.ssh, host, f"probe{m}"), \
            "the agent did not notice that the collector is down"
        lp.send_burst(soc.ssh, host, m, count, severity="notice")
        soc.ssh.run(host, "systemctl restart rsyslog")
        saved = soc.ssh.run(host, "ls /var/spool/rsyslog").stdout
        assert "provdc_soc_collector" in saved, f"nothing saved on disk: {saved!r}"
        assert not lp.lines_with(soc.ssh, collector, f"{lp.STORE}/{host}/*.log", m)
    finally:
        soc.ssh.run(collector, "systemctl start rsyslog.service")
    missing = all_arrive(soc, host, m, count)
    assert not missing, f"{len(missing)} of {count} queued events lost: {sorted(missing)[:10]}"


def test_upstream_gets_the_severe_events_and_nothing_below(soc):
    host, m = soc.agency, lp.marker("up")
    above = ["warning", "err", "crit"]
    below = ["info", "notice"]
    for sev in below + above:  # the severe ones last: when they are there, all were handled
        soc.ssh.run(host.name, f"logger -p user.{sev} {m}-{sev}")
    seen = lp.wait_for(soc.ssh, UPSTREAM, lp.UPSTREAM_LOG, [f"{m}-{s}" for s in above], 30)
    assert set(seen) == {f"{m}-{s}" for s in above}
    # the collector itself stored all of them
    stored = soc.at_collector(host.name, [f"{m}-{s}" for s in below + above])
    assert len(stored) == 5
    time.sleep(2)
    lines = lp.lines_with(soc.ssh, UPSTREAM, lp.UPSTREAM_LOG, m)
    assert not [x for x in lines if any(f"{m}-{s}" in x for s in below)], lines
    for line in lines:  # "<severity number> <host> <message>"
        assert int(line.split()[0]) <= 4 and line.split()[1] == host.name, line


def test_retention_purge_keeps_exactly_the_level_s_days(soc):
    collector = soc.collector.name
    old, recent = f"{lp.STORE}/retention-probe/old.log", f"{lp.STORE}/retention-probe/new.log"
    soc.ssh.run(collector, f"mkdir -p {lp.STORE}/retention-probe && "
                f"touch -d '-92 days' {old} && touch -d '-88 days' {recent}")
    soc.ssh.run(collector, "systemctl start provdc-soc-retention.service")
    left = soc.ssh.run(collector, f"ls {lp.STORE}/retention-probe").stdout.split()
    soc.ssh.run(collector, f"rm -rf {lp.STORE}/retention-probe")
    assert left == ["new.log"], left  # level 3: 90 days
    unit = soc.ssh.run(collector, "systemctl cat provdc-soc-retention.service").stdout
    assert "-mtime +90" in unit


def test_second_run_changes_nothing(soc):
    run = soc.apply(min_severity="warning", protocol="syslog")
    assert run.returncode == 0, run.stdout[-3000:]
    changed = {h: c["changed"] for h, c in recap(run.stdout).items() if c["changed"]}
    assert changed == {}, run.stdout[-5000:]


def test_check_diff_never_prints_a_private_key(soc):
    """`--check --diff` when a host's key must be written again: the certificates' diffs
    show, the key's does not (it would land in CI logs and AWX job output)."""
    key = "/etc/provdc/soc/tls/host.key"
    soc.ssh.run(soc.agency.name, f"mv {key} {key}.saved")
    try:
        run = soc.apply("--check", "--diff")
        assert run.returncode == 0, run.stdout[-3000:]
        assert "this host's private key" in run.stdout
        assert "PRIVATE KEY" not in run.stdout + run.stderr
    finally:
        soc.ssh.run(soc.agency.name, f"mv {key}.saved {key}")


def test_bad_upstream_setting_stops_before_any_host(soc):
    conf = "/etc/rsyslog.d/60-provdc-soc-collector.conf"
    before = soc.ssh.run(soc.collector.name, f"sha256sum {conf}").stdout
    run = soc.apply(min_severity="loud", protocol="syslog")
    assert run.returncode != 0
    assert "soc_upstream.min_severity" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert set(recap(run.stdout)) == {"localhost"}
    assert soc.ssh.run(soc.collector.name, f"sha256sum {conf}").stdout == before


def test_cef_onward_link(soc):
    """Switch the link to CEF (collector only), check an event, then switch back."""
    run = soc.lab.ansible_playbook(
        PLAYBOOK, "--limit", f"localhost,{soc.collector.name}",
        "-e", soc.extra_vars(min_severity="err", protocol="cef"))
    assert run.returncode == 0, run.stdout[-3000:]
    try:
        host, m = soc.agency, lp.marker("cef")
        soc.ssh.run(host.name, f"logger -t app{m} -p user.warning below{m}; "
                    f"logger -t app{m} -p user.crit 'a=b|c {m}'")
        seen = lp.wait_for(soc.ssh, UPSTREAM, lp.UPSTREAM_LOG, [f"c {m}"], 30)
        assert seen, "the CEF event did not reach the upstream"
        line = lp.lines_with(soc.ssh, UPSTREAM, lp.UPSTREAM_LOG, f"c {m}")[0]
        assert f"CEF:0|provdc|soc-collector|1|user.crit|app{m}|8|" in line, line
        assert f"dvchost={host.name} src={host.address} " in line, line
        assert f"msg=a\\=b|c {m}" in line, line
        assert not lp.lines_with(soc.ssh, UPSTREAM, lp.UPSTREAM_LOG, f"below{m}")
    finally:
        back = soc.apply(min_severity="warning", protocol="syslog")
        assert back.returncode == 0, back.stdout[-3000:]


def run_compliance(soc, *args: str):
    return soc.lab.compliance("test_soc.py", f"{soc.collector.name},{soc.agency.name}", *args)


def test_compliance_checks_pass_and_catch_drift(soc):
    # The collector has just restarted (as after any change to its settings): every agent's
    # session is dead until its next events reveal it; the checks must allow for that.
    soc.ssh.run(soc.collector.name, "systemctl restart rsyslog.service")
    run = run_compliance(soc)
    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
    forward = "/etc/rsyslog.d/60-provdc-soc-forward.conf"
    soc.ssh.run(soc.agency.name, f"sed -i 's/queue.saveOnShutdown=\"on\"/queue.saveOnShutdown="
                f"\"off\"/' {forward}")
    try:
        drift = run_compliance(soc, "-k", "disk_queue")
        assert drift.returncode == 1 and "1 failed" in drift.stdout, drift.stdout[-2000:]
    finally:
        soc.ssh.run(soc.agency.name, f"sed -i 's/queue.saveOnShutdown=\"off\"/"
                    f"queue.saveOnShutdown=\"on\"/' {forward}")


def test_the_connection_check_fails_an_agent_that_cannot_reach_the_collector(soc):
    """The connection check sends its first probes for every agent at once and waits only
    once; it still fails an agent with no session once the reconnect time is over."""
    soc.ssh.run(soc.collector.name, "systemctl stop syslog.socket rsyslog.service")
    try:
        down = run_compliance(soc, "-k", "agent_connected")
    finally:
        soc.ssh.run(soc.collector.name, "systemctl start rsyslog.service")
    assert down.returncode == 1 and "1 failed" in down.stdout, down.stdout[-2000:]
    assert "no session to" in down.stdout, down.stdout[-2000:]
    up = run_compliance(soc, "-k", "agent_connected")
    assert up.returncode == 0 and "1 passed" in up.stdout, up.stdout[-2000:]


@pytest.mark.parametrize("check, path, line, named", [
    # a vendor agent's rsyslog snippet sorted before ours that drops auth events
    ("disk_queue", "/etc/rsyslog.d/10-vendor.conf", "auth,authpriv.* stop",
     "/etc/rsyslog.d/10-vendor.conf:1"),
    # a package's chrony snippet adding a public pool
    ("provincial_source", "/etc/chrony/conf.d/50-vendor.conf", "pool 2.debian.pool.ntp.org",
     "/etc/chrony/conf.d/50-vendor.conf:1"),
])
def test_drift_in_files_we_do_not_write_is_caught(soc, check, path, line, named):
    """Effective state, whoever wrote it: a file the SOC role never touches changes what
    rsyslog or chronyd does; the check fails and names that file and line."""
    soc.ssh.run(soc.agency.name, f"printf '%s\\n' {shlex.quote(line)} > {path}")
    try:
        drift = run_compliance(soc, "-k", check)
    finally:
        soc.ssh.run(soc.agency.name, f"rm -f {path}")
    assert drift.returncode == 1 and "1 failed" in drift.stdout, drift.stdout[-2000:]
    assert named in drift.stdout, drift.stdout[-2000:]
    assert run_compliance(soc, "-k", check).returncode == 0  # and passes once it is gone
