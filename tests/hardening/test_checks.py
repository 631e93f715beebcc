"""Checks against canned host output: runtime vs persisted evidence, batching, edge cases."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

from provdc.controls import catalogue
from provdc.controls.checks import HostContext, commands_for, evaluate, evaluate_all
from provdc.controls.kinds import sshd_option, sysctl
from provdc.controls.probe import MARK, Probe, batch_script, command_key, parse_batch

CTX = HostContext(in_container=False, level=3, groups=[])


class Canned:
    """A host that answers commands from a table (unknown commands: rc 1, no output)."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.calls = 0

    def run(self, cmd):
        self.calls += 1
        if cmd in self.answers:
            return SimpleNamespace(rc=0, stdout=self.answers[cmd])
        return SimpleNamespace(rc=1, stdout="")


def _sysctl_answers(live: str, persisted: str) -> dict[str, str]:
    key = "net.ipv4.ip_forward"
    key6 = "net.ipv6.conf.all.forwarding"
    live_cmd = "; ".join(f"printf '%s=' {k}; sysctl -n {k} 2>/dev/null || echo missing"
                         for k in (key, key6))
    return {live_cmd: f"{key}={live}\n{key6}=0\n", sysctl.CAT: persisted}


def test_sysctl_reports_runtime_and_persisted_separately():
    control = catalogue().by_id["VN-NET-01"]
    persisted = "# /usr/lib/sysctl.d/50.conf\nnet.ipv4.ip_forward = 1\n" \
                "# /etc/sysctl.d/60.conf\nnet.ipv4.ip_forward = 0\nnet.ipv6.conf.all.forwarding=0\n"
    ok = evaluate(control, Probe(Canned(_sysctl_answers("0", persisted))), CTX)
    assert ok.status == "pass"
    drift = evaluate(control, Probe(Canned(_sysctl_answers("1", persisted))), CTX)
    assert drift.status == "fail"
    assert [(e.state, e.item) for e in drift.failures()] == [("runtime", "net.ipv4.ip_forward")]
    reboot = evaluate(control, Probe(Canned(_sysctl_answers("0", persisted.replace(
        "net.ipv4.ip_forward = 0", "net.ipv4.ip_forward = 1")))), CTX)
    assert [(e.state, e.item) for e in reboot.failures()] == [("persisted", "net.ipv4.ip_forward")]


def test_sysctl_globs_and_ignore_prefix_follow_systemd_sysctl():
    eff = sysctl.effective("net.ipv4.conf.*.rp_filter = 2\n-net.ipv4.conf.all.rp_filter = 1\n")
    assert eff.get("net.ipv4.conf.all.rp_filter") == "1"
    assert eff.get("net.ipv4.conf.eth0.rp_filter") == "2"
    assert eff.get("net.ipv4.tcp_syncookies", "not set") == "not set"


def test_global_sysctl_in_a_container_is_configuration_only():
    control = catalogue().by_id["VN-KRN-01"]
    probe = Probe(Canned({sysctl.CAT: "kernel.randomize_va_space = 2\n"}))
    result = evaluate(control, probe, HostContext(in_container=True, level=3))
    assert result.status == "pass" and result.mode == "configuration-only"
    assert {e.state for e in result.evidence} == {"persisted"}


def test_levels_and_exemptions_make_controls_not_applicable():
    cat = catalogue().by_id
    low = evaluate(cat["VN-LOG-07"], Probe(Canned({})), HostContext(False, level=2))
    assert low.status == "not_applicable" and "level 3" in low.reason
    gw = evaluate(cat["VN-NET-01"], Probe(Canned({})),
                  HostContext(False, level=3, groups=["gateways"]))
    assert gw.status == "not_applicable" and "gateways" in gw.reason


def test_sshd_effective_and_dropin_are_both_checked():
    control = catalogue().by_id["VN-SSH-02"]
    effective = ("permitrootlogin without-password\npasswordauthentication no\n"
                 "permitemptypasswords no\nhostbasedauthentication no\n"
                 "kbdinteractiveauthentication no\n")
    dropin = "\n".join(f"{k} {v}" for k, v in control.check.options.items())
    probe = Probe(Canned({sshd_option.EFFECTIVE: effective,
                          f"cat {sshd_option.DROPIN} 2>/dev/null": dropin}))
    assert evaluate(control, probe, CTX).status == "pass"
    probe = Probe(Canned({sshd_option.EFFECTIVE: effective.replace("hostbasedauthentication no",
                                                                  "hostbasedauthentication yes"),
                          f"cat {sshd_option.DROPIN} 2>/dev/null": dropin}))
    failed = evaluate(control, probe, CTX).failures()
    assert [(e.state, e.item, e.actual) for e in failed] == [
        ("runtime", "HostbasedAuthentication", "yes")]


class LocalShell:
    """Runs commands with this machine's /bin/sh (read-only commands only), counting calls."""

    def __init__(self):
        self.calls = 0

    def run(self, cmd):
        self.calls += 1
        proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60)
        return SimpleNamespace(rc=proc.returncode, stdout=proc.stdout)


BATCH = ["echo one", "printf 'no newline'", "false", "printf 'x\\n\\n'; exit 3",
         "echo '@@provdc-probe 0 begin'", "cat /nonexistent 2>/dev/null"]


def test_batched_probe_gives_the_same_answers_in_one_round_trip():
    shell = LocalShell()
    one_by_one = {c: (r.rc, r.stdout) for c in BATCH for r in [shell.run(c)]}
    shell.calls = 0
    probe = Probe(shell)
    probe.prefetch(BATCH)
    assert shell.calls == 1
    assert {c: probe.run(c) for c in BATCH} == one_by_one
    assert shell.calls == 1  # nothing left to ask


def test_a_batch_output_parses_without_its_final_newline():
    """Ansible's command module strips the output's last newline."""
    text = subprocess.run(["sh", "-c", batch_script(BATCH)], capture_output=True,
                          text=True).stdout
    assert parse_batch(text.rstrip("\n"), BATCH) == parse_batch(text, BATCH)
    assert len(parse_batch(text, BATCH)) == len(BATCH)


def test_the_whole_catalogue_is_checked_from_one_round_trip():
    """evaluate_all asks nothing beyond the batch: the audit and the role's gate rely on it."""
    controls = catalogue().controls

    class Batch:
        calls = 0

        def run(self, cmd):
            Batch.calls += 1
            text = "".join(f"\n{MARK} {command_key(c)} begin\nx\n{MARK} {command_key(c)} rc=1\n"
                           for c in commands_for(controls))
            return SimpleNamespace(rc=0, stdout=text)

    results = evaluate_all(controls, Probe(Batch()), CTX)
    assert Batch.calls == 1
    assert len(results) == len(controls)
