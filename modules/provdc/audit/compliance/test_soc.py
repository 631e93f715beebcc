"""Security monitoring (SOC) on every host: the checks an inspector can run.

    pytest --pyargs provdc.audit.compliance.test_soc --hosts=ansible://all \
        --ansible-inventory=INVENTORY

Agents (every host but the collector): events forwarded over RELP in mutual TLS to the
provincial collector with a disk-assisted queue saved on shutdown, a session up, a
certificate signed by the SOC CA, time from the provincial NTP source only. Collector:
RELP/TLS receiver on the topology's syslog port, store per host and day readable by
root/adm only, retention at least what the highest security level requires, onward link to
the national centre from level 3.
auditd rules and persistent journald are catalogue controls (VN-LOG-02..09, test_baseline).

Ids, titles and references with their confidence (VN-SOC-01..09):
`provdc/audit/checks.yml`.
"""

from __future__ import annotations

import re
import time

import pytest

from provdc.audit.suite import at_once, host_name, host_topology, item_host
from provdc.topology import retention

TLS = "/etc/provdc/soc/tls"
FORWARD = "/etc/rsyslog.d/60-provdc-soc-forward.conf"
COLLECTOR_CONF = "/etc/rsyslog.d/60-provdc-soc-collector.conf"
STORE = "/var/log/soc"
# The agent's resume interval is 2 s and grows by 2 s every 10 failed attempts; 30 s covers
# the detection of a dead session and a reconnect, with room for a loaded machine.
AGENT_RECONNECT_S = 30
PROBE_EVERY_S = 2


def variables(host) -> dict:
    get = getattr(host.backend, "get_variables", None)
    return get() if get else {}


def is_collector(host) -> bool:
    return variables(host).get("provdc_service") == "soc-collector"


@pytest.fixture
def topology(host):
    return host_topology(host)


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


# rsyslog's own dump of the configuration it will run: rsyslog.conf with every include
# expanded in place, each included file framed by "##### BEGIN CONFIG: FILE" lines.
RSYSLOG_FULL = ("f=$(mktemp) && rsyslogd -N1 -o \"$f\" >/dev/null 2>&1; cat \"$f\"; "
                "rm -f \"$f\"")
# Every time source chronyd will use, as FILE:LINE:TEXT: chrony.conf, then the files its
# confdir (*.conf), sourcedir (*.sources) and include directives name.
CHRONY_SOURCES = r"""c=/etc/chrony/chrony.conf
for f in "$c" $(awk '$1 == "confdir" { for (i = 2; i <= NF; i++) print $i "/*.conf" }
  $1 == "sourcedir" { for (i = 2; i <= NF; i++) print $i "/*.sources" }
  $1 == "include" { print $2 }' "$c"); do
  [ -f "$f" ] && grep -HnE '^[[:space:]]*(server|pool|peer)[[:space:]]' "$f"
done; true"""


def discards_before(full: str, forward: str) -> list[str]:
    """Rules that stop auth or authpriv events before the forward file's first rule (rsyslog
    runs its rules in the order it parsed them: a discard earlier wins), as "FILE:LINE: RULE".
    The dump frames each file it parses; the files of one include glob are framed nested
    (each pushed on the parser's stack), so a line belongs to the innermost open file."""
    stack: list[list] = []  # [file, lines of it seen so far]
    found = []
    for text in full.splitlines():
        begin = re.match(r"##### BEGIN CONFIG: (\S+)", text)
        if begin:
            stack.append([begin.group(1), 0])
            continue
        if text.startswith("##### END   CONFIG:"):
            if stack:
                stack.pop()
            continue
        if not stack:
            continue
        stack[-1][1] += 1
        if stack[-1][0] == forward and text.strip() and not text.lstrip().startswith("#"):
            break  # the forward's own rules: what came before decided
        rule = re.match(r"\s*([\w*.,;!=]+)\s+(stop|~)\s*$", text)
        if rule and _selects_auth(rule.group(1)):
            found.append(f"{stack[-1][0]}:{stack[-1][1]}: {text.strip()}")
    return found


def _selects_auth(selector: str) -> bool:
    """Whether a selector (`*.*;auth,authpriv.none`) takes auth or authpriv events: its
    parts apply in order, a later `.none` taking a facility back out."""
    taken = {"auth": False, "authpriv": False}
    for part in selector.split(";"):
        facilities, _, priority = part.partition(".")
        names = set(facilities.split(","))
        for facility in taken:
            if facility in names or "*" in names:
                taken[facility] = priority != "none"
    return any(taken.values())


def directive(text: str, name: str) -> str | None:
    found = re.search(rf'\b{name}="([^"]*)"', text, re.IGNORECASE)
    return found.group(1) if found else None


# --- every host -------------------------------------------------------------------------


def test_soc_certificate_signed_by_the_provincial_ca(host):
    verify = host.run(f"openssl verify -CAfile {TLS}/ca.crt {TLS}/host.crt")
    assert verify.rc == 0, verify.stdout + verify.stderr
    key = host.file(f"{TLS}/host.key")
    assert key.user == "root" and key.mode & 0o077 == 0, oct(key.mode)


def test_soc_rsyslog_running_and_configuration_valid(host):
    assert host.service("rsyslog").is_running and host.service("rsyslog").is_enabled
    check = host.run("rsyslogd -N1")
    assert check.rc == 0, check.stderr


def test_soc_time_from_the_provincial_source_only(host, topology):
    """Every source chronyd will read, whoever wrote it (chrony.conf, its confdir, sourcedir
    and include files): the provincial servers, and nothing else."""
    if variables(host).get("provdc_service") == "ntp":
        allow = host.file("/etc/chrony/conf.d/provdc-server.conf").content_string
        assert f"allow {topology.province.lan_supernet}" in allow
        return
    lines = host.run(CHRONY_SOURCES).stdout.splitlines()
    sources = [(where, text.split()) for where, text in map(_split_grep, lines)]
    servers = {words[1] for _, words in sources if words[0] == "server"}
    assert servers, "no NTP server configured"
    wanted = set(topology.operations.ntp_servers) or servers
    foreign = [f"{where}: {' '.join(words)}" for where, words in sources
               if words[0] != "server" or words[1] not in wanted]
    assert not foreign, f"time sources other than the province's: {'; '.join(foreign)}"
    assert servers == wanted, f"provincial servers missing: {sorted(wanted - servers)}"
    assert host.service("chrony").is_enabled


def _split_grep(line: str) -> tuple[str, str]:
    """`FILE:LINE:TEXT` -> ("FILE:LINE", TEXT)."""
    path, _, rest = line.partition(":")
    number, _, text = rest.partition(":")
    return f"{path}:{number}", text


# --- agents -------------------------------------------------------------------------------


def test_soc_forwarding_over_relp_tls_with_a_disk_queue(agent, topology):
    conf = agent.file(FORWARD).content_string
    action = conf.partition('action(type="omrelp"')[2]
    assert action, "events are not forwarded with acknowledgements (RELP, omrelp)"
    assert directive(action, "port") == str(topology.operations.syslog_port)
    assert directive(action, "tls") == "on", "TLS is not mandatory"
    assert directive(action, "tls.authMode") == "name", "the collector is not verified"
    assert re.search(r'tls\.permittedPeer=\["[^"]+"', action, re.IGNORECASE), \
        "no collector name to verify"
    for key in ("tls.caCert", "tls.myCert", "tls.myPrivKey"):
        assert directive(action, key), f"{key} missing: no mutual TLS"
    assert directive(action, "queue.filename"), "no disk-assisted queue"
    assert directive(action, "queue.saveOnShutdown") == "on"
    assert directive(action, "action.resumeRetryCount") == "-1", \
        "gives up while the collector is down"
    assert re.search(r"auth,authpriv\.\*", conf), "auth events are not all forwarded"
    dropped = discards_before(agent.run(RSYSLOG_FULL).stdout, FORWARD)
    assert not dropped, f"auth events discarded before the forward: {'; '.join(dropped)}"


PROBE_EVENT = "logger -p authpriv.info provdc-soc-compliance: connection probe"


@pytest.fixture(scope="session")
def first_probes(request) -> dict[str, float]:
    """Every agent this session checks gets its first probe event at once, when the first
    connection check runs: each check then waits only what is left of PROBE_EVERY_S since
    its own host's probe, instead of every host sleeping in turn (18 hosts: 36 s, 300
    hosts: 10 min). Host name -> when its probe was sent."""
    agents = [host for item in request.session.items
              if item.originalname == "test_soc_agent_connected_to_the_collector"
              and (host := item_host(item)) is not None and not is_collector(host)]

    def send(host) -> float:
        host.run(PROBE_EVENT)
        return time.monotonic()

    return at_once(agents, send)


def test_soc_agent_connected_to_the_collector(agent, topology, first_probes):
    """The agent reaches the collector as soon as it has something to send.

    rsyslog connects when an event is due, not before, and learns that its session died
    (the collector restarted) only from a write that fails: the first event after the
    restart goes into the half-closed session (RELP keeps it until acknowledged and resends
    it on reconnect), the next one fails, the action is suspended and reconnects after its
    resume interval. So an idle agent may have no session at check time; the check looks
    PROBE_EVERY_S after a probe event (the first one sent with every other agent's), sends
    another while it finds none, and gives the agent AGENT_RECONNECT_S to be connected."""
    port = topology.operations.syslog_port
    target = directive(agent.file(FORWARD).content_string, "target")
    deadline = time.monotonic() + AGENT_RECONNECT_S
    sent = first_probes.pop(host_name(agent), None)
    while True:
        if sent is None:
            agent.run(PROBE_EVENT)
            sent = time.monotonic()
        time.sleep(max(0.0, sent + PROBE_EVERY_S - time.monotonic()))
        established = agent.run(f"ss -Htn state established '( dport = :{port} )'").stdout
        if f"{target}:{port}" in established or time.monotonic() > deadline:
            break
        sent = None
    assert f"{target}:{port}" in established, \
        f"no session to {target}:{port} within {AGENT_RECONNECT_S} s of probe events"


# --- collector ----------------------------------------------------------------------------


def test_soc_collector_listens_with_relp_tls(collector, topology):
    port = topology.operations.syslog_port
    assert collector.socket(f"tcp://0.0.0.0:{port}").is_listening
    hello = collector.run(
        f"openssl s_client -connect 127.0.0.1:{port} -CAfile {TLS}/ca.crt "
        f"-cert {TLS}/host.crt -key {TLS}/host.key -verify_return_error -brief </dev/null")
    assert hello.rc == 0 and "Verification: OK" in hello.stderr, hello.stderr[-600:]
    conf = collector.file(COLLECTOR_CONF).content_string
    receiver = conf.partition('input(type="imrelp"')[2]
    assert receiver, "no RELP receiver"
    assert directive(receiver, "port") == str(port)
    assert directive(receiver, "tls") == "on", "the receiver accepts plain RELP"
    assert directive(receiver, "tls.authMode") in ("certvalid", "name"), \
        "senders are not required to present a certificate of the SOC CA"
    assert directive(receiver, "tls.caCert"), "no CA to check the senders' certificates"


def test_soc_store_per_host_and_day_not_readable_by_others(collector):
    store = collector.file(STORE)
    assert store.is_directory and store.mode & 0o027 == 0 and store.group == "adm"
    loose = collector.run(f"find {STORE} -type f -perm /0027").stdout.strip()
    assert loose == "", loose
    files = collector.run(f"find {STORE} -mindepth 2 -type f -name '*.log'").stdout.split()
    assert files, "nothing stored yet"
    assert all(re.search(r"/[^/]+/\d{4}-\d{2}-\d{2}\.log$", f) for f in files), files


def test_soc_retention_meets_the_highest_level(collector, topology):
    level = topology.max_security_level
    need = retention.retention_days(level)
    unit = collector.run("systemctl cat provdc-soc-retention.service").stdout
    days = re.search(r"-mtime \+(\d+)", unit)
    assert days and int(days.group(1)) >= need, \
        f"keeps {days and days.group(1)} < {need} days (level {level})"
    timer = collector.service("provdc-soc-retention.timer")
    assert timer.is_enabled and timer.is_running


def test_soc_onward_link_to_the_national_centre(collector, topology):
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
