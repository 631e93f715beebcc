"""The baseline role's gate: which selected controls fail, from one batch of check outputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from provdc.controls import catalogue
from provdc.controls.checks import CONTAINER
from provdc.controls.gate import gate, in_containers, probe_commands, probe_script, verify
from provdc.controls.kinds import sysctl
from provdc.controls.probe import MARK, command_key
from provdc.errors import ProvdcError


def batch_output(answers: dict[str, tuple[int, str]]) -> str:
    """What probe.sh prints when each command answers (rc, output)."""
    return "".join(f"\n{MARK} {command_key(c)} begin\n{out}\n{MARK} {command_key(c)} rc={rc}\n"
                   for c, (rc, out) in answers.items())


def ask(hosts: dict) -> dict[str, list[str]]:
    return gate(catalogue(), json.dumps({"hosts": hosts}))


def test_a_passing_check_is_not_fixed_and_a_failing_one_is():
    good = batch_output({sysctl.CAT: (0, "kernel.randomize_va_space = 2")})
    bad = batch_output({sysctl.CAT: (0, "kernel.randomize_va_space = 0")})
    answer = ask({
        "good": {"output": good, "controls": ["VN-KRN-01"], "in_container": True},
        "bad": {"output": bad, "controls": ["VN-KRN-01"], "in_container": True},
    })
    assert answer == {"good": [], "bad": ["VN-KRN-01"]}


def test_a_real_host_is_judged_on_its_runtime_state_too():
    """Same persisted file, but outside a container the live value counts as well."""
    persisted = batch_output({sysctl.CAT: (0, "kernel.randomize_va_space = 2")})
    answer = ask({"vm": {"output": persisted, "controls": ["VN-KRN-01"], "in_container": False}})
    assert answer == {"vm": ["VN-KRN-01"]}


def test_the_probe_says_whether_the_host_is_a_container():
    """probe.sh runs systemd-detect-virt too (exit 0 in a container): without an
    in_container of its own, a host is judged as its probe said, so the role needs no round
    trip more; where the probe did not say, the answer is None and the role asks the host."""
    persisted = {sysctl.CAT: (0, "kernel.randomize_va_space = 2")}
    container = batch_output({CONTAINER: (0, ""), **persisted})
    vm = batch_output({CONTAINER: (1, ""), **persisted})
    request = {"c": {"output": container, "controls": ["VN-KRN-01"]},
               "vm": {"output": vm, "controls": ["VN-KRN-01"]},
               "mute": {"output": "", "controls": []},
               "told": {"output": vm, "controls": ["VN-KRN-01"], "in_container": True}}
    assert in_containers(json.dumps({"hosts": request})) == {
        "c": True, "vm": False, "mute": None, "told": True}
    assert ask(request) == {"c": [], "vm": ["VN-KRN-01"], "mute": [], "told": []}
    script = probe_script(catalogue())
    assert script.index(CONTAINER) < script.index(sysctl.CAT)


def test_no_output_means_every_selected_control_is_fixed():
    """A probe that did not run (or a batch from another catalogue) must not skip a fix."""
    ids = [c.id for c in catalogue().controls]
    assert ask({"h": {"output": "", "controls": ids, "in_container": True}}) == {"h": ids}


def test_only_the_selected_controls_are_answered():
    assert ask({"h": {"output": "", "controls": ["VN-SSH-02", "VN-NOPE-99"]}}) == {
        "h": ["VN-SSH-02"]}


def test_the_probe_asks_what_configuration_only_checks_ask_too():
    krn = [catalogue().by_id["VN-KRN-01"]]
    assert sysctl.CAT in probe_commands(krn)


@pytest.mark.parametrize("text", ["not json", "{}", '{"hosts": []}'])
def test_a_malformed_request_is_a_clear_error(text):
    with pytest.raises(ProvdcError) as exc:
        gate(catalogue(), text)
    assert "stdin" in str(exc.value) and "Fix:" in str(exc.value)


def test_the_cli_answers_json_and_refuses_bad_input_without_a_traceback():
    cmd = [sys.executable, "-m", "provdc", "controls", "gate"]
    ok = subprocess.run(cmd, input=json.dumps({"hosts": {"h": {"output": "",
                        "controls": ["VN-SSH-02"]}}}), capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout) == {"h": ["VN-SSH-02"]}
    bad = subprocess.run(cmd, input="[", capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "stdin" in bad.stderr


def test_verify_names_what_still_fails_after_the_fixes():
    """After the fixes the role asks again: a control overridden by a file written elsewhere
    comes back with the effective value and the file that decides."""
    cat = catalogue()
    drift = batch_output({sysctl.CAT: (0, "# /etc/sysctl.d/60-provdc-baseline.conf\n"
                                          "kernel.randomize_va_space = 2\n"
                                          "# /etc/sysctl.d/99-vendor.conf\n"
                                          "kernel.randomize_va_space = 0\n")})
    fixed = batch_output({sysctl.CAT: (0, "kernel.randomize_va_space = 2")})
    answer = verify(cat, json.dumps({"hosts": {
        "drift": {"output": drift, "controls": ["VN-KRN-01"], "in_container": True},
        "fixed": {"output": fixed, "controls": ["VN-KRN-01"], "in_container": True}}}))
    assert answer["fixed"] == {"failing": {}, "overrides": []}
    assert list(answer["drift"]["failing"]) == ["VN-KRN-01"]
    assert "decided by /etc/sysctl.d/99-vendor.conf" in answer["drift"]["failing"]["VN-KRN-01"]
    # the vendor's line may be disabled: the fix wins (a line of a package's /usr file never)
    [override] = answer["drift"]["overrides"]
    assert override["control"] == "VN-KRN-01"
    assert override["path"] == "/etc/sysctl.d/99-vendor.conf"
    assert re.search(override["pattern"], "kernel.randomize_va_space = 0", re.M)
    assert not re.search(override["pattern"], "# kernel.randomize_va_space = 0", re.M)
