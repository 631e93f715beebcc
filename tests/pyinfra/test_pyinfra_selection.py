"""Control selection and file rendering of the pyinfra engine, without hosts.

The selection follows the role's prepare.yml; the aggregate files are rendered from the role's
own templates, and a real ansible-playbook (local connection, destination in tmp_path)
renders the same templates with the same variables: the bytes must be identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provdc.controls import catalogue, kinds
from provdc.errors import ProvdcError
from provdc.pyinfra_engine import selection

ROLE = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "baseline"

ALL = {c.id for c in catalogue().controls}
LAB_DC = {"provdc_security_level": 3, "provdc_lab_name": "x", "provdc_open_tcp": [443]}


def ids(sel: selection.Selection) -> set[str]:
    return {c["id"] for c in sel.selected}


def ansible_playbook(tmp_path: Path, play: list, *args: str,
                     **env: str) -> subprocess.CompletedProcess:
    """A real ansible-playbook run of `play` against localhost (local connection)."""
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False", **env)
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i",
                           "localhost,", *args, str(tmp_path / "play.yml")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)


def test_level_selects_by_min_level():
    low = selection.select({"provdc_security_level": 1}, [], "Debian", True)
    high = selection.select({"provdc_security_level": 5}, [], "Debian", True)
    want_low = {c.id for c in catalogue().controls if c.min_level <= 1}
    assert ids(low) == want_low and ids(high) == ALL
    assert ids(low) < ids(high) or want_low == ALL


def test_toggle_off_and_string_booleans():
    sel = selection.select({"baseline_vn_ssh_02": "false", "baseline_vn_net_09": False,
                            "baseline_vn_ssh_03": "yes"}, [], "Debian", False)
    assert "VN-SSH-02" not in ids(sel) and "VN-NET-09" not in ids(sel)
    assert "VN-SSH-03" in ids(sel)


def test_gateways_are_exempt_where_the_catalogue_says():
    exempt = {c.id for c in catalogue().controls if "gateways" in c.exempt_groups}
    assert exempt, "the catalogue exempts gateways from forwarding controls"
    sel = selection.select({}, ["gateways"], "Debian", True)
    assert not exempt & ids(sel)


def test_only_filter_is_like_tags():
    sel = selection.select({"baseline_only": "VN-SSH-02,krn"}, [], "Debian", True)
    assert ids(sel) == {"VN-SSH-02"} | {c.id for c in catalogue().controls
                                         if c.family == "KRN"}
    # a task file names the kinds it serves, as Ansible's --tags packages does
    packages = selection.select({"baseline_only": ["packages"]}, [], "Debian", True)
    assert {c["kind"] for c in packages.selected} == {"package_present", "package_absent"}


def test_skip_filter_is_like_skip_tags_control_by_control():
    """baseline_skip=VN-FILE-01 drops that control alone: the other file modes are still
    fixed and verified (Ansible's --skip-tags used to drop the kind's whole task file)."""
    everything = selection.select({}, [], "Debian", True)
    sel = selection.select({"baseline_skip": "VN-FILE-01"}, [], "Debian", True)
    assert ids(everything) - ids(sel) == {"VN-FILE-01"}
    assert "VN-FILE-02" in sel.ids["file_mode"]
    both = selection.select({"baseline_only": "file", "baseline_skip": ["VN-FILE-01"]},
                            [], "Debian", True)
    assert ids(both) == {c.id for c in catalogue().controls if c.family == "FILE"} - {
        "VN-FILE-01"}
    assert selection.select({"baseline_skip": "baseline"}, [], "Debian", True).selected == []


def test_a_limited_run_renders_every_applicable_control_into_shared_files():
    """`only` (like --tags) limits what is fixed, not what a shared file holds: the sshd
    drop-in of a run limited to VN-SSH-02 still carries VN-SSH-03's ciphers, and is the
    file a full run writes."""
    limited = selection.select({"baseline_only": "VN-SSH-02"}, [], "Debian", True)
    full = selection.select({}, [], "Debian", True)
    assert ids(limited) == {"VN-SSH-02"}
    template = kinds.BY_KIND["sshd_option"].TEMPLATE
    text = selection.render(template, limited, {})
    assert "# VN-SSH-03" in text and "Ciphers " in text
    assert text == selection.render(template, full, {})
    off = selection.select({"baseline_vn_ssh_03": False, "baseline_only": ["ssh"]}, [],
                           "Debian", True)
    assert "Ciphers " not in selection.render(template, off, {})  # a toggle still removes it


def test_other_os_family_gets_nothing():
    assert selection.select({}, [], "other", True).selected == []


@pytest.mark.parametrize("data,field", [
    ({"provdc_security_level": 7}, "provdc_security_level"),
    ({"provdc_security_level": "high"}, "provdc_security_level"),
    ({"baseline_vn_ssh_02": "maybe"}, "baseline_vn_ssh_02"),
    ({"baseline_only": "VN-SSH-2"}, "baseline_only"),  # misspelt: would select nothing
    ({"baseline_skip": ["VN-FILE-01", "sshd"]}, "baseline_skip"),
    ({"baseline_only": 2}, "baseline_only"),  # an inventory's bare number
])
def test_bad_host_data_is_one_clear_error(data, field):
    with pytest.raises(ProvdcError) as err:
        selection.check_data(data)
    assert field in str(err.value) and "Fix:" in str(err.value)


def test_fix_views_carry_kind_and_enforce():
    sel = selection.select({}, [], "Debian", True)
    items = sel.fix["sysctl"]
    assert items and all({"kind", "enforce", "key", "value"} <= set(i) for i in items)
    assert sel.kinds()[0] == "package_present" and sel.kinds()[-1] == "nftables_input"


def test_templates_render_the_same_bytes_as_ansible(tmp_path):
    sel = selection.select(LAB_DC, ["zone_app"], "Debian", True)
    data = {**LAB_DC, "baseline_sshd_extra_options": {"MaxSessions": 4}}
    variables = {
        "baseline_catalogue_version": catalogue().version,
        "baseline_in_scope": sel.in_scope, "baseline_fix": sel.fix,
        "baseline_sshd_extra_options": data["baseline_sshd_extra_options"],
        "ansible_python_interpreter": sys.executable,
    }
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    # the role's copies of the kinds' templates, rendered by Ansible's template module
    templates = {k: m.TEMPLATE for k, m in kinds.BY_KIND.items() if hasattr(m, "TEMPLATE")}
    assert set(templates) == {"sysctl", "kernel_module_disabled", "sshd_option"}
    tasks = [{"ansible.builtin.template": {"src": str(ROLE / "templates" / template),
                                           "dest": str(tmp_path / kind)}}
             for kind, template in templates.items()]
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": tasks}]
    proc = ansible_playbook(tmp_path, play, "-e", f"@{tmp_path / 'vars.json'}")
    assert proc.returncode == 0, proc.stdout[-2000:]
    for kind, template in templates.items():
        ours = selection.render(template, sel, data)
        assert (tmp_path / kind).read_text() == ours, kind
    assert "MaxSessions 4" in (tmp_path / "sshd_option").read_text()


@pytest.mark.parametrize("tags", [
    ["--skip-tags", "VN-FILE-01"],
    ["--tags", "file,packages", "--skip-tags", "VN-FILE-02"],
    ["--tags", "VN-SSH-02,krn"],
])
def test_the_roles_selection_follows_the_run_tags_as_pyinfra_does(tmp_path, tags):
    """The role's own prepare.yml (real ansible-playbook, local connection, no host touched:
    the probe is off) selects, for a run's --tags and --skip-tags, the controls pyinfra
    selects for the same names in baseline_only / baseline_skip."""
    out = tmp_path / "selected.json"
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_role": {"name": "baseline", "tasks_from": "prepare",
                                          "apply": {"tags": ["always"]}}, "tags": ["always"]},
        {"ansible.builtin.copy": {"dest": str(out), "content": "{{ baseline_selected | "
                                  "map(attribute='id') | list | to_json }}"},
         "tags": ["always"]}]}]
    facts = {"ansible_os_family": "Debian", "ansible_distribution": "Debian",
             "ansible_distribution_major_version": "12", "baseline_check_first": False,
             "provdc_security_level": 3, "ansible_python_interpreter": sys.executable}
    repo = ROLE.parents[2]
    proc = ansible_playbook(tmp_path, play, "-e", json.dumps(facts), *tags,
                            ANSIBLE_ROLES_PATH=str(repo / "playbooks" / "roles"),
                            ANSIBLE_COLLECTIONS_PATH=str(repo / "playbooks" / "collections"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    data = {"provdc_security_level": 3}
    for flag, value in zip(tags[::2], tags[1::2], strict=True):
        data["baseline_only" if flag == "--tags" else "baseline_skip"] = value
    want = [c["id"] for c in selection.select(data, [], "Debian", True).selected]
    assert json.loads(out.read_text()) == want
    assert want and len(want) < len(ALL)


def test_pyinfra_stops_on_a_misspelt_control_name_before_any_operation(tmp_path):
    """The real pyinfra command line, as an operator types it: `baseline_only=VN-SSH-2`
    (a digit short) stops the deploy with one paragraph and exit 2 while operations are
    still being prepared (--dry: nothing would be applied to this machine either way)."""
    proc = subprocess.run([str(Path(sys.executable).parent / "pyinfra"), "@local",
                           str(ROLE.parents[2] / "playbooks" / "pyinfra" / "baseline.py"),
                           "--dry", "-y", "--data", "baseline_only=VN-SSH-2"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "baseline_only: 'VN-SSH-2' names no control" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
