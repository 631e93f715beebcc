"""Checks against canned host output: runtime vs persisted evidence, batching, edge cases."""

from __future__ import annotations

from types import SimpleNamespace

from provdc.controls import catalogue, files
from provdc.controls.checks import (
    HostContext,
    Probe,
    _effective_sysctl,
    commands_for,
    evaluate,
    evaluate_all,
)

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
    return {live_cmd: f"{key}={live}\n{key6}=0\n", files.SYSCTL_CAT: persisted}


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
    eff = _effective_sysctl("net.ipv4.conf.*.rp_filter = 2\n-net.ipv4.conf.all.rp_filter = 1\n")
    assert eff.get("net.ipv4.conf.all.rp_filter") == "1"
    assert eff.get("net.ipv4.conf.eth0.rp_filter") == "2"
    assert eff.get("net.ipv4.tcp_syncookies", "not set") == "not set"


def test_global_sysctl_in_a_container_is_configuration_only():
    control = catalogue().by_id["VN-KRN-01"]
    probe = Probe(Canned({files.SYSCTL_CAT: "kernel.randomize_va_space = 2\n"}))
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
    probe = Probe(Canned({files.SSHD_EFFECTIVE: effective,
                          f"cat {files.SSHD_DROPIN} 2>/dev/null": dropin}))
    assert evaluate(control, probe, CTX).status == "pass"
    probe = Probe(Canned({files.SSHD_EFFECTIVE: effective.replace("hostbasedauthentication no",
                                                                  "hostbasedauthentication yes"),
                          f"cat {files.SSHD_DROPIN} 2>/dev/null": dropin}))
    failed = evaluate(control, probe, CTX).failures()
    assert [(e.state, e.item, e.actual) for e in failed] == [
        ("runtime", "HostbasedAuthentication", "yes")]


def test_batched_probe_gives_the_same_answers_in_one_round_trip():
    controls = catalogue().controls
    commands = sorted(set(commands_for(controls)))
    marker_script = {}

    class Shell:
        calls = 0

        def run(self, cmd):
            Shell.calls += 1
            # pretend every command prints its own length; rc 0
            import re
            out = ""
            for i, c in enumerate(commands):
                out += f"\n@@provdc-probe {i} begin\n{len(c)}\n\n@@provdc-probe {i} rc=0\n"
            marker_script["cmd"] = cmd
            return SimpleNamespace(rc=0, stdout=out if re.match(r"sh -c ", cmd) else "")

    probe = Probe(Shell())
    probe.prefetch(commands)
    assert Shell.calls == 1
    assert all(probe.run(c) == (0, f"{len(c)}\n") for c in commands)
    evaluate_all(controls, probe, CTX)
    assert Shell.calls == 1  # nothing left to ask
