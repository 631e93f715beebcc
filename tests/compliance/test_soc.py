"""Security monitoring (SOC) on every host: the checks an inspector can run.

    pytest tests/compliance/test_soc.py --hosts=ansible://all --ansible-inventory=INVENTORY

Agents (every host but the collector): events forwarded over mutual TLS to the provincial
collector with a disk-assisted queue, the connection up, a certificate signed by the SOC CA,
time from the provincial NTP source only. Collector: TLS receiver on the topology's syslog
port, store per host and day readable by root/adm only, retention at least what the highest
security level requires, onward link to the national centre from level 3.
auditd rules and persistent journald are catalogue controls (VN-LOG-02..09, test_baseline).

References (confidence as in the control catalogue):
- TCVN 11930:2017 §7 (level 3): central log storage kept ≥ 03 months; NTP synchronisation;
  logs of logons, errors and configuration changes [partial]
- Dispatch 1552/BTTTT-CATTT (2020), layers 2 and 4: professional monitoring (SOC) and
  connection to the national monitoring centre (NCSC) [verified: layer headings]
- Circular 31/2017/TT-BTTTT: continuous monitoring, interoperable with the MIC's system
  [partial]
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from provdc.soc import retention
from provdc.topology.validate import load

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TOPOLOGY = ROOT / "inventory" / "soctrang" / "topology.yml"
TLS = "/etc/provdc/soc/tls"
FORWARD = "/etc/rsyslog.d/60-provdc-soc-forward.conf"
COLLECTOR_CONF = "/etc/rsyslog.d/60-provdc-soc-collector.conf"
STORE = "/var/log/soc"
REFS = {
    "storage": "TCVN 11930:2017 §7 (level 3): central log storage ≥ 03 months",
    "ntp": "TCVN 11930:2017 §7 (level 3): NTP synchronisation",
    "ncsc": "Dispatch 1552/BTTTT-CATTT layer 4: connection to the national centre (NCSC)",
}


def variables(host) -> dict:
    get = getattr(host.backend, "get_variables", None)
    return get() if get else {}


def is_collector(host) -> bool:
    return variables(host).get("provdc_service") == "soc-collector"


@pytest.fixture
def topology(host):
    return load(variables(host).get("provdc_topology") or DEFAULT_TOPOLOGY).topology


@pytest.fixture
def agent(host):
    if is_collector(host):
        pytest.skip("the collector stores its own events (checked as the collector)")
    return host


@pytest.fixture
def collector(host):
    if not is_collector(host):
        pytest.skip("not the SOC collector (inventory provdc_service != soc-collector)")
    return host


def directive(text: str, name: str) -> str | None:
    found = re.search(rf'\b{name}="([^"]*)"', text, re.IGNORECASE)
    return found.group(1) if found else None


# --- every host -------------------------------------------------------------------------


def test_soc_certificate_signed_by_the_provincial_ca(host, record_property):
    record_property("reference", "mutual TLS to the SOC collector")
    verify = host.run(f"openssl verify -CAfile {TLS}/ca.crt {TLS}/host.crt")
    assert verify.rc == 0, verify.stdout + verify.stderr
    key = host.file(f"{TLS}/host.key")
    assert key.user == "root" and key.mode & 0o077 == 0, oct(key.mode)


def test_soc_rsyslog_running_and_configuration_valid(host):
    assert host.service("rsyslog").is_running and host.service("rsyslog").is_enabled
    check = host.run("rsyslogd -N1")
    assert check.rc == 0, check.stderr


def test_soc_time_from_the_provincial_source_only(host, topology, record_property):
    record_property("reference", REFS["ntp"])
    sources = host.file("/etc/chrony/sources.d/provdc.sources").content_string
    servers = re.findall(r"^server\s+(\S+)", sources, re.MULTILINE)
    if variables(host).get("provdc_service") == "ntp":
        allow = host.file("/etc/chrony/conf.d/provdc-server.conf").content_string
        assert f"allow {topology.province.lan_supernet}" in allow
        return
    assert servers, "no NTP server configured"
    if topology.operations.ntp_servers:
        assert set(servers) == set(topology.operations.ntp_servers)
    chrony = host.file("/etc/chrony/chrony.conf").content_string
    assert not re.search(r"^\s*(pool|server)\s", chrony, re.MULTILINE), \
        "chrony.conf still has its own time sources"
    assert host.service("chrony").is_enabled


# --- agents -------------------------------------------------------------------------------


def test_soc_forwarding_over_mutual_tls_with_a_disk_queue(agent, topology, record_property):
    record_property("reference", REFS["storage"])
    conf = agent.file(FORWARD).content_string
    assert 'type="omfwd"' in conf
    assert directive(conf, "port") == str(topology.operations.syslog_port)
    assert directive(conf, "StreamDriver") == "gtls"
    assert directive(conf, "StreamDriverMode") == "1", "TLS is not mandatory"
    assert directive(conf, "StreamDriverAuthMode") == "x509/name", "the collector is not verified"
    assert directive(conf, "queue.filename"), "no disk-assisted queue"
    assert directive(conf, "queue.saveOnShutdown") == "on"
    assert directive(conf, "ResendLastMSGOnReconnect") == "on", "loses the event in flight"
    assert directive(conf, "action.resumeRetryCount") == "-1", \
        "gives up while the collector is down"
    assert re.search(r"auth,authpriv\.\*", conf), "auth events are not all forwarded"


def test_soc_agent_connected_to_the_collector(agent, topology):
    port = topology.operations.syslog_port
    conf = agent.file(FORWARD).content_string
    target = directive(conf, "target")
    established = agent.run(f"ss -Htn state established '( dport = :{port} )'").stdout
    assert f"{target}:{port}" in established, f"no TLS session to {target}:{port}"


# --- collector ----------------------------------------------------------------------------


def test_soc_collector_listens_with_tls(collector, topology):
    port = topology.operations.syslog_port
    assert collector.socket(f"tcp://0.0.0.0:{port}").is_listening
    hello = collector.run(
        f"openssl s_client -connect 127.0.0.1:{port} -CAfile {TLS}/ca.crt "
        f"-cert {TLS}/host.crt -key {TLS}/host.key -verify_return_error -brief </dev/null")
    assert hello.rc == 0 and "Verification: OK" in hello.stderr, hello.stderr[-600:]
    conf = collector.file(COLLECTOR_CONF).content_string
    assert directive(conf, "StreamDriver.Mode") == "1"
    assert directive(conf, "StreamDriver.AuthMode") == "x509/certvalid", \
        "senders are not required to present a certificate of the SOC CA"


def test_soc_store_per_host_and_day_not_readable_by_others(collector):
    store = collector.file(STORE)
    assert store.is_directory and store.mode & 0o027 == 0 and store.group == "adm"
    loose = collector.run(f"find {STORE} -type f -perm /0027").stdout.strip()
    assert loose == "", loose
    files = collector.run(f"find {STORE} -mindepth 2 -type f -name '*.log'").stdout.split()
    assert files, "nothing stored yet"
    assert all(re.search(r"/[^/]+/\d{4}-\d{2}-\d{2}\.log$", f) for f in files), files


def test_soc_retention_meets_the_highest_level(collector, topology, record_property):
    level = topology.max_security_level
    need = retention.retention_days(level)
    record_property("reference", f"{REFS['storage']}; level {level}: {need} days")
    unit = collector.run("systemctl cat provdc-soc-retention.service").stdout
    days = re.search(r"-mtime \+(\d+)", unit)
    assert days and int(days.group(1)) >= need, f"keeps {days and days.group(1)} < {need} days"
    timer = collector.service("provdc-soc-retention.timer")
    assert timer.is_enabled and timer.is_running


def test_soc_onward_link_to_the_national_centre(collector, topology, record_property):
    record_property("reference", REFS["ncsc"])
    conf = collector.file(COLLECTOR_CONF).content_string
    if "provdc_soc_upstream" not in conf:
        assert topology.max_security_level < 3, "level 3 and above must share with the NCSC"
        pytest.skip("no onward link below level 3")
    assert re.search(r"if \$syslogseverity <= [0-7] then", conf), "no severity filter"
    upstream = conf.partition('action(type="omfwd" name="provdc_soc_upstream"')[2]
    assert upstream, "the onward link is not an omfwd action"
    assert directive(upstream, "StreamDriverMode") == "1"
    assert directive(upstream, "StreamDriverAuthMode") == "x509/name"
    assert directive(upstream, "queue.filename"), "no disk-assisted queue on the onward link"
