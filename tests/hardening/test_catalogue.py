"""The catalogue as data: valid, complete, rendered into the role, errors that name the line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provdc.controls import CATALOGUE_PATH, catalogue, kinds, load_catalogue
from provdc.controls.ansible import render_role
from provdc.controls.breakers import breaker
from provdc.controls.checks import commands_for
from provdc.controls.model import FAMILIES
from provdc.errors import ProvdcError

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "playbooks" / "roles" / "baseline"


def test_at_least_40_controls_covering_every_draft_family():
    cat = catalogue()
    assert len(cat.controls) >= 40
    assert {c.family for c in cat.controls} >= {"FS", "KRN", "NET", "SVC", "SSH", "AUTH",
                                                "FILE", "LOG"}
    assert set(FAMILIES) >= {c.family for c in cat.controls}


def test_every_control_is_bilingual_and_referenced():
    for c in catalogue().controls:
        assert c.title.vi != c.title.en and c.rationale.vi != c.rationale.en, c.id
        assert any(r.regime in ("cis", "nd85_tt12_tcvn11930", "devsec", "nist")
                   for r in c.references), c.id


def test_every_kind_has_a_check_a_fix_and_a_breaker():
    used = {c.kind for c in catalogue().controls}
    assert used <= set(kinds.BY_KIND) and used <= set(kinds.ORDER)
    for c in catalogue().controls:
        assert breaker(c, in_container=True).run, c.id
        assert commands_for([c]), c.id
        assert (ROLE / "tasks" / f"{kinds.folder_name(c.kind)}.yml").exists(), c.kind


KIND_API = ("KINDS", "PARAMS", "check", "fix_items", "breaker", "touched", "apply")


def test_a_kind_lives_in_one_folder():
    """Everything about a kind is in its folder: the API, the role's task file, the templates
    it renders; nothing outside the kinds package branches on a kind name."""
    for module in kinds.FOLDERS:
        folder = Path(module.__file__).parent
        missing = [name for name in KIND_API if not hasattr(module, name)]
        assert not missing, f"{folder.name} lacks {missing}"
        assert (folder / "tasks.yml").is_file(), folder.name
        for param in module.PARAMS:  # each parameter model serves kinds of this folder
            assert set(param.model_fields["kind"].annotation.__args__) <= set(module.KINDS)
        if hasattr(module, "TEMPLATE"):
            assert (folder / module.TEMPLATE).is_file(), folder.name
    assert sorted(kinds.BY_KIND) == sorted(kinds.ORDER)
    for module in kinds.FOLDERS:  # each says what drift written elsewhere it is proven on
        assert "Foreign drift:" in module.__doc__, module.__name__
    controls = Path(kinds.__file__).parents[1]
    for path in controls.glob("*.py"):
        text = path.read_text("utf-8")
        assert "match control.kind" not in text and "case \"" not in text, path.name


def test_global_sysctls_are_configuration_only_in_containers():
    for c in catalogue().controls:
        if c.kind == "sysctl" and any(k.startswith(("kernel.", "vm.", "fs."))
                                      for k in c.check.settings):
            assert c.configuration_only(in_container=True), c.id
            assert not c.configuration_only(in_container=False), c.id


def test_generated_role_files_are_up_to_date():
    stale = [str(p) for p, text in render_role(catalogue(), ROLE).items()
             if p.read_text(encoding="utf-8") != text]
    assert stale == [], "run `provdc controls render-ansible` and commit the result"


def test_every_control_has_a_toggle_and_ids_in_the_task_tags():
    """Read from the generated files as Ansible reads them: the toggle in defaults, and the
    control's id, family and kind among the tags the include applies to its kind's file."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    files = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["baseline_task_files"]
    for c in catalogue().controls:
        assert defaults[c.toggle] is True, c.id
        [served] = [f for f in files if c.kind in f["kinds"]]
        assert {c.id, c.kind, c.id.split("-")[1].lower()} <= set(served["tags"]), c.id
        assert (ROLE / "tasks" / f"{served['file']}.yml").is_file(), c.id


def _write(tmp_path: Path, old: str, new: str) -> Path:
    text = CATALOGUE_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "catalogue.yml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_an_unknown_key_is_an_error_naming_line_and_control(tmp_path):
    path = _write(tmp_path, "    severity: high\n    enforce_in_container: false\n",
                  "    severity: high\n    severty: low\n    enforce_in_container: false\n")
    with pytest.raises(ProvdcError) as err:
        load_catalogue(path)
    msg = str(err.value)
    assert "line" in msg and "severty" in msg and "controls[VN-KRN-01]" in msg


def test_a_global_sysctl_must_be_configuration_only(tmp_path):
    path = _write(tmp_path, "      settings: {kernel.randomize_va_space: 2}\n",
                  "      settings: {kernel.randomize_va_space: 2}\n")
    text = path.read_text().replace(
        "    enforce_in_container: false\n    references:\n      - {regime: cis, source: CIS "
        "Debian 12, section: \"1.5.1\"", "    references:\n      - {regime: cis, source: CIS "
        "Debian 12, section: \"1.5.1\"", 1)
    path.write_text(text)
    with pytest.raises(ProvdcError, match="global sysctl"):
        load_catalogue(path)


def test_a_bad_parameter_names_the_field(tmp_path):
    path = _write(tmp_path, 'mode: "0400"', 'mode: "0999"')
    with pytest.raises(ProvdcError, match=r"controls\[VN-BOOT-01\]\.check\.mode"):
        load_catalogue(path)


def test_a_systemd_reader_needs_a_systemd_drop_in_it_knows(tmp_path):
    """`effective: systemd` names the component from the drop-in's directory: a path
    outside /etc/systemd/NAME.conf.d/ (or an unknown NAME) would read the wrong program."""
    for path in ("/etc/coredump-60.conf", "/etc/systemd/logind.conf.d/60-provdc.conf"):
        bad = _write(tmp_path, "path: /etc/systemd/coredump.conf.d/60-provdc.conf",
                     f"path: {path}")
        with pytest.raises(ProvdcError, match=r"controls\[VN-KRN-08\]\.check.*effective"):
            load_catalogue(bad)


def test_adding_a_control_of_an_existing_kind_is_one_entry(tmp_path):
    entry = """
  - id: VN-NET-10
    title: {vi: "Bỏ qua mọi ping", en: Ignore all pings}
    rationale: {vi: "Giảm khả năng dò quét máy chủ.", en: Makes host discovery harder.}
    severity: low
    references: [{regime: cis, source: CIS Debian 12, section: "n/a", confidence: unverified}]
    check: {kind: sysctl, settings: {net.ipv4.icmp_echo_ignore_all: 1}}
"""
    path = tmp_path / "catalogue.yml"
    path.write_text(CATALOGUE_PATH.read_text(encoding="utf-8").rstrip() + "\n" + entry)
    cat = load_catalogue(path)
    new = cat.by_id["VN-NET-10"]
    files = render_role(cat, tmp_path / "role")
    role_vars = yaml.safe_load(next(t for p, t in files.items() if p.name == "main.yml"
                                    and p.parent.name == "vars"))
    [sysctl] = [f for f in role_vars["baseline_task_files"] if "sysctl" in f["kinds"]]
    assert "VN-NET-10" in sysctl["tags"]
    assert breaker(new, True).run and commands_for([new])


@pytest.mark.skipif(shutil.which("ansible-lint", path=str(Path(sys.executable).parent)) is None,
                    reason="ansible-lint is not installed (pip install -e '.[dev]')")
def test_role_is_ansible_lint_and_yamllint_clean():
    bin_dir = Path(sys.executable).parent
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(Path.home())}
    lint = subprocess.run([str(bin_dir / "ansible-lint"), "--offline", "--nocolor",
                           "playbooks/baseline.yml"], cwd=REPO, capture_output=True, text=True,
                          env=env)
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-2000:]
    yl = subprocess.run([str(bin_dir / "yamllint"), "-s", "-d",
                         "{extends: default, rules: {line-length: {max: 120}}}",
                         "playbooks/baseline.yml", "playbooks/roles/baseline"],
                        cwd=REPO, capture_output=True, text=True)
    assert yl.returncode == 0, yl.stdout


def test_the_firewall_control_checks_what_the_segmentation_engine_applies():
    from provdc.controls.kinds import nftables_input
    from provdc.segmentation.matrix import HOST_TABLE
    from provdc.segmentation.nftapply import BOOT_DIR

    net09 = catalogue().by_id["VN-NET-09"]
    assert net09.check.table == HOST_TABLE
    assert nftables_input.boot_file(net09.check.table) == str(BOOT_DIR / f"{HOST_TABLE}.nft")
    unit = REPO / "playbooks" / "roles" / "segmentation" / "files" / nftables_input.UNIT
    assert str(BOOT_DIR) in unit.read_text()
    task_file = REPO / "playbooks" / "roles" / "baseline" / "tasks" / "nftables_input.yml"
    assert "name: segmentation" in task_file.read_text()
