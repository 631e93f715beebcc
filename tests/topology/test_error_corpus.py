"""Every mistake in the corpus gets its own clear, one-paragraph error and exit 2."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from provdc.cli import app

ROOT = Path(__file__).resolve().parents[2]
CORPUS = yaml.safe_load((Path(__file__).parent / "error_corpus.yml").read_text(encoding="utf-8"))
BASE = (ROOT / CORPUS["base"]).read_text(encoding="utf-8")


def broken_file(case: dict, tmp_path: Path) -> tuple[Path, str]:
    text = BASE
    for old, new in case["replace"]:
        assert old in text, f"corpus case {case['name']}: text to replace not found: {old!r}"
        text = text.replace(old, new, 1)
    path = tmp_path / f"{case['name']}.yml"
    encoding = case.get("encoding", "utf-8")
    if encoding != "utf-8":  # legacy Vietnamese code pages store tone marks decomposed
        text = unicodedata.normalize("NFD", text)
    path.write_bytes(text.encode(encoding, errors="replace"))
    return path, text


def expected_line(case: dict, text: str) -> int | None:
    if not case["line_of"]:
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if case["line_of"] in line:
            return number
    raise AssertionError(f"line_of {case['line_of']!r} not in the broken file")


def test_corpus_is_large_and_distinct():
    names = [c["name"] for c in CORPUS["cases"]]
    assert len(names) >= 15
    assert len(set(names)) == len(names)
    assert len({c["message"] for c in CORPUS["cases"]}) == len(names)


@pytest.mark.parametrize("case", CORPUS["cases"], ids=lambda c: c["name"])
def test_each_mistake_has_its_own_message(case, tmp_path):
    path, text = broken_file(case, tmp_path)
    result = CliRunner().invoke(app, ["validate", str(path)])
    output = " ".join(result.output.split())  # rich may wrap long paragraphs
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), "must exit cleanly, not raise"
    assert isinstance(result.exception, SystemExit | None)
    assert str(path) in output
    if case["field"]:
        assert f"{case['field']}:" in output
    assert case["message"] in output
    assert "Fix:" in output
    if case.get("fix"):
        assert case["fix"] in output
    line = expected_line(case, text)
    if line is not None:
        assert f"{path}, line {line}:" in output


def test_plan_refuses_the_same_input(tmp_path):
    """Every command validates first: plan exits 2 on a broken file too."""
    path, _ = broken_file(CORPUS["cases"][0], tmp_path)
    result = CliRunner().invoke(app, ["plan", str(path), "--format", "json"])
    assert result.exit_code == 2
    assert result.stdout.strip() == "" or "error" in result.output


def test_real_process_has_no_traceback(tmp_path):
    """The installed entry point, as a user runs it."""
    path, _ = broken_file(next(c for c in CORPUS["cases"] if c["name"] == "cycle"), tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "provdc", "validate", str(path)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "cycle" in proc.stderr
    assert proc.stdout == ""
