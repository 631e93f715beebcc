"""Conventions every `provdc` command keeps: `--format table|json` (JSON on stdout, nothing
else there), a bad choice is one paragraph and exit 2, shell completion, and progress that
is drawn only on a terminal."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from provdc import console
from provdc.cli import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"
BIN = Path(sys.executable).parent
runner = CliRunner()

# Every command that prints a result, with arguments that get it past option parsing.
WITH_FORMAT = {
    "validate": ["validate", str(SAMPLE)],
    "plan": ["plan", str(SAMPLE)],
    "preview": ["preview", "--stack", "soctrang", "--root", str(ROOT)],
    "lab up": ["lab", "up", "--name", "conventions"],
    "lab status": ["lab", "status", "--name", "conventions"],
    "bandwidth render": ["bandwidth", "render", "--topology", str(SAMPLE), "phuong-5"],
    "bandwidth measure": ["bandwidth", "measure", "-i", "x.yml", "phuong-5"],
    "state bootstrap": ["state", "bootstrap", "--bucket", "conventions"],
    "cloud audit": ["cloud", "audit", "--endpoint", "http://127.0.0.1:9"],
    "segmentation render": ["segmentation", "render", "-t", str(SAMPLE)],
    "segmentation verify": ["segmentation", "verify", "-i", "x.yml"],
    "topology units": ["topology", "units", "92"],
    "migrate plan": ["migrate", "plan", str(SAMPLE), str(SAMPLE)],
    "audit": ["audit", "-i", "x.yml"],
    "audit diff": ["audit", "diff", "old.json", "new.json"],
    "controls list": ["controls", "list"],
    "dossier": ["dossier", "lgsp", "--topology", str(SAMPLE)],
    "backup specs": ["backup", "specs", "-i", "x.yml"],
    "backup drill": ["backup", "drill", "backup-1", "-i", "x.yml"],
}


@pytest.mark.parametrize("name", sorted(WITH_FORMAT))
def test_a_bad_format_is_one_paragraph_and_exit_2(name):
    result = runner.invoke(app, [*WITH_FORMAT[name], "--format", "xml"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit | None)
    text = result.stderr.strip()
    assert "\n" not in text and text.startswith("error: "), text
    assert "--format" in text and "'xml' is not one of 'table', 'json'" in text
    assert "Fix: see `" in text and "Value error" not in text
    assert result.stdout == ""


# Commands without --format, and why.
WITHOUT_FORMAT = {
    "controls render-ansible": "writes the role's generated files and names them",
    "controls oscal": "writes the OSCAL catalog file and names it",
    "schema": "prints a JSON Schema, for editors",
    "cloud inventory": "prints an Ansible inventory, JSON by definition",
    "cloud policy-config": "prints a Pulumi policy pack config, JSON by definition",
    "lab down": "prints nothing when it succeeds",
    "lab ssh": "becomes an ssh session",
    "lab exec": "becomes the command",
    "topology from-units": "prints a topology file, YAML by definition",
}
OWN_GROUPS = {"validate", "plan", "schema", "preview", "lab", "bandwidth", "state", "cloud",
              "segmentation", "topology", "migrate", "audit", "controls", "dossier",
              "backup"}


def _visible_commands(group, path=()):
    for name, command in group.commands.items():
        if command.hidden:
            continue  # the playbooks' plumbing: JSON requests and answers
        if hasattr(command, "commands"):
            yield from _visible_commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def test_every_command_that_prints_a_result_takes_format():
    from provdc.cli import command_tree

    tree = command_tree()  # every group loaded, not only the ones used so far
    assert set(tree.commands) >= OWN_GROUPS, OWN_GROUPS - set(tree.commands)
    checked = []
    for name, command in _visible_commands(tree):
        if name.split()[0] not in OWN_GROUPS:
            continue
        has = any("--format" in getattr(p, "opts", ()) for p in command.params)
        assert has == (name not in WITHOUT_FORMAT), name
        assert not has or name in WITH_FORMAT, f"{name}: add it to WITH_FORMAT"
        checked.append(name)
    audit = tree.commands["audit"]  # a group whose callback runs the audit itself
    assert any("--format" in getattr(p, "opts", ()) for p in audit.params)
    assert set(WITH_FORMAT) - {"audit"} <= set(checked), set(WITH_FORMAT) - set(checked)


def test_validate_json():
    result = runner.invoke(app, ["validate", str(SAMPLE), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["valid"] is True and doc["province"] == "Sóc Trăng"
    assert {"file", "sites", "zones", "services", "flows"} <= set(doc)
    assert doc["sites"] > 100 and doc["zones"] >= 7


def test_plan_json_through_the_real_command():
    """A subprocess, not CliRunner: stdout must hold the JSON document and nothing else."""
    run = subprocess.run([str(BIN / "provdc"), "plan", str(SAMPLE), "-f", "json"],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, COLUMNS="40"))
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert {"zones", "sites"} <= set(doc)
    assert "\x1b" not in run.stdout and "[/" not in run.stdout


def test_the_table_stays_the_default():
    result = runner.invoke(app, ["validate", str(SAMPLE)])
    assert result.exit_code == 0 and result.stdout.startswith("valid: ")


def test_shell_completion_is_offered():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout
    # Typer detects the shell from the process's ancestors (shellingham), which depend on
    # who runs the tests (an xdist worker may have none it knows); its own test switch makes
    # the shell the option's value instead.
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    script = subprocess.run([str(BIN / "provdc"), "--show-completion", "bash"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert script.returncode == 0 and "_provdc_completion" in script.stdout


@pytest.mark.parametrize("words, expected", [
    ("provdc la", {"lab"}),
    ("provdc cloud p", {"policy-config"}),
    ("provdc plan x --format ", {"table", "json"}),
    ("provdc lab u", {"up"}),  # a group loaded on use completes like any other
    ("provdc audit diff a b --format ", {"table", "json"}),
])
def test_completion_answers(words, expected):
    env = dict(os.environ, _PROVDC_COMPLETE="complete_bash", COMP_WORDS=words,
               COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)))
    run = subprocess.run([str(BIN / "provdc")], capture_output=True, text=True, timeout=60,
                         env=env)
    assert run.returncode == 0 and set(run.stdout.split()) == expected, run


def test_the_main_help_lists_every_group_without_loading_them():
    """`provdc --help` shows every group's line but imports none of their code: start-up
    stays the interpreter, typer and rich (benchmarks/cli_bench.py measures it)."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "provdc", "--help"],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, COLUMNS="200"))
    assert run.returncode == 0, run.stderr[-2000:]
    from provdc.cli import GROUPS

    assert all(f" {name} " in run.stdout for name in GROUPS), run.stdout
    loaded = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    # a group's package is looked up (is it installed?), none of its modules is imported
    groups = tuple(f"{module.rsplit('.', 1)[0]}." for module, _ in GROUPS.values())
    assert not {m for m in loaded if m.startswith(groups)}, sorted(loaded)


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=80), buffer


def test_progress_is_drawn_on_a_terminal_and_removed(monkeypatch):
    term, buffer = _console(terminal=True)
    monkeypatch.setattr(console, "err", term)
    with console.progress("hosts booted", 3) as done:
        for n in (1, 2, 3):
            done(n)
    drawn = buffer.getvalue()
    assert "hosts booted" in drawn and "3/3" in drawn
    assert drawn.endswith("\x1b[1A\x1b[2K")  # transient: the line is erased at the end


def test_progress_is_silent_when_not_a_terminal(monkeypatch):
    pipe, buffer = _console(terminal=False)
    monkeypatch.setattr(console, "err", pipe)
    with console.progress("hosts booted", 3) as done:
        done(3)
    assert buffer.getvalue() == ""
