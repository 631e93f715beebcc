"""Helpers shared by the end-to-end tests and the benchmark on the local lab.

They drive real lab hosts over SSH (the lab's ssh_config): generate security events, stand up
a syslog/TLS receiver in place of the upstream (NCSC), and wait for events at the collector.
Nothing here is used in production.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

STORE = "/var/log/soc"
UPSTREAM_LOG = "/var/log/provdc-upstream.log"
TLS_DIR = "/etc/provdc/soc/tls"

# The upstream stand-in: mutual TLS like the real link; one line per event with its severity
# number first, so a test can tell what passed the collector's filter.
RECEIVER_CONF = """\
global(DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{tls}/ca.crt"
       DefaultNetstreamDriverCertFile="{tls}/host.crt"
       DefaultNetstreamDriverKeyFile="{tls}/host.key")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1"
       StreamDriver.AuthMode="x509/certvalid")
template(name="provdc_upstream" type="string"
         string="%syslogseverity% %HOSTNAME% %msg:::drop-last-lf%\\n")
ruleset(name="provdc_upstream") {{
  action(type="omfile" file="{log}" template="provdc_upstream")
  stop
}}
input(type="imtcp" port="{port}" ruleset="provdc_upstream")
"""


def marker(prefix: str = "soc") -> str:
    """A unique token to find one test's events among everything else."""
    return f"{prefix}{secrets.token_hex(4)}"


@dataclass
class Ssh:
    """Run commands on lab hosts through the lab's ssh_config."""

    config: Path

    def run(self, host: str, cmd: str, input: str | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["ssh", "-F", str(self.config), "-o", "BatchMode=yes", host, cmd],
            input=input, capture_output=True, text=True, timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"ssh {host} {cmd!r} exited {proc.returncode}: "
                                 f"{proc.stderr.strip()[-500:]}")
        return proc

    def put(self, host: str, path: str, text: str, mode: str = "0644") -> None:
        self.run(host, f"install -D -m {mode} /dev/stdin {path}", input=text)


def install_receiver(ssh: Ssh, host: str, pki: dict, port: int) -> None:
    """Turn a pristine lab host into the upstream stand-in (rsyslog, TLS, one log file)."""
    files = pki["hosts"][host]
    ssh.put(host, f"{TLS_DIR}/ca.crt", Path(pki["ca"]).read_text())
    ssh.put(host, f"{TLS_DIR}/host.crt", Path(files["cert"]).read_text())
    ssh.put(host, f"{TLS_DIR}/host.key", Path(files["key"]).read_text(), mode="0600")
    conf = RECEIVER_CONF.format(tls=TLS_DIR, log=UPSTREAM_LOG, port=port)
    ssh.put(host, "/etc/rsyslog.d/10-provdc-upstream.conf", conf)
    ssh.run(host, f"rm -f {UPSTREAM_LOG}; rsyslogd -N1 && systemctl restart rsyslog")


def wait_for(ssh: Ssh, host: str, paths: str, needles: list[str], timeout: float,
             interval: float = 0.25) -> dict[str, float]:
    """Poll `grep -F` on HOST until every needle appears in PATHS (a shell glob); returns the
    seconds each took (from the call). Needles not seen by the deadline are missing."""
    start = time.monotonic()
    found: dict[str, float] = {}
    while True:
        missing = [n for n in needles if n not in found]
        if not missing:
            return found
        pattern = " ".join(f"-e '{n}'" for n in missing)
        out = ssh.run(host, f"grep -h -o -F {pattern} {paths} 2>/dev/null || true").stdout
        now = time.monotonic() - start
        for n in missing:
            if n in out:
                found[n] = now
        if now > timeout:
            return found
        time.sleep(interval)


def lines_with(ssh: Ssh, host: str, paths: str, needle: str) -> list[str]:
    out = ssh.run(host, f"grep -h -F '{needle}' {paths} 2>/dev/null || true").stdout
    return [line for line in out.splitlines() if line]


def until_suspended(ssh: Ssh, host: str, tag: str, timeout: float = 30) -> bool:
    """Send probe events `<tag> <n>` from HOST until its forwarding action is suspended
    (the agent has noticed that the collector is gone); False if it never is."""
    since = ssh.run(host, "date +%s").stdout.strip()
    deadline, n = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        ssh.run(host, f"logger -p user.notice '{tag} {n}'")
        log = ssh.run(host, f"journalctl -u rsyslog --no-pager -q --since @{since}").stdout
        if "'provdc_soc_collector' suspended" in log:
            return True
        n += 1
        time.sleep(0.5)
    return False


def send_burst(ssh: Ssh, host: str, tag: str, count: int, severity: str = "info",
               timeout: float = 600) -> None:
    """COUNT syslog events `<tag> seq=<n>` from HOST as fast as it can (python3 on the host).
    They go straight to rsyslog's socket: journald's per-service rate limit (meant for
    runaway daemons) would otherwise decide what the benchmark measures. A Unix datagram
    send blocks when rsyslog is behind, so nothing is lost before rsyslog."""
    pri = 8 + ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"].index(
        severity)  # facility user
    script = (
        "import socket\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.connect('/run/systemd/journal/syslog')\n"
        f"for n in range({count}):\n"
        f"    s.send(b'<{pri}>provdc-bench: {tag} seq=%d' % n)\n"
    )
    ssh.run(host, "python3 -", input=script, timeout=timeout)
