"""Fixtures of the collection suite: the collection, the wheel and the execution
environment's context built once from this checkout (playbooks/collections/build.py), and
the collection installed from its tarball into a collections path of its own.

Ansible runs outside the checkout here (a temporary working directory, no ansible.cfg, the
installed collections path only), so what is tested is the built collection, never the
checkout's copy that ansible.cfg points at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "playbooks" / "collections" / "build.py"
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"
BIN = Path(sys.executable).parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "version"]
GALAXY = yaml.safe_load((ROOT / "playbooks" / "collections" / "ansible_collections" / "provdc"
                         / "idc" / "galaxy.yml").read_text(encoding="utf-8"))


def pytest_configure(config):
    # pulumi_aws warns about its own deprecated classes when the cloud preview imports it
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_aws")


@dataclass
class Built:
    out: Path
    collection: Path
    wheel: Path
    ee_context: Path


@dataclass
class Installed:
    """The collection installed under `path` (a collections path), and a working directory
    outside the checkout to run Ansible in."""

    path: Path
    work: Path

    def env(self, **extra: str) -> dict:
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("ANSIBLE_", "PYTEST_")) and k != "PROVDC_SOC_PKI_DIR"}
        return {**keep, "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
                "ANSIBLE_COLLECTIONS_PATH": str(self.path), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true", **extra}

    def run(self, program: str, *args: str, timeout: float = 600,
            **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / program), *args], cwd=self.work, env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    @property
    def tree(self) -> Path:
        return self.path / "ansible_collections" / "provdc" / "idc"


def build(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BUILD), "--out", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    out = tmp_path_factory.mktemp("built")
    proc = build(out, "--ee")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    collection, wheel, context = (Path(line) for line in proc.stdout.split())
    return Built(out, collection, wheel, context)


@pytest.fixture(scope="session")
def installed(built, tmp_path_factory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    box = Installed(base / "collections", base / "work")
    box.work.mkdir()
    proc = box.run("ansible-galaxy", "collection", "install", str(built.collection), "-p",
                   str(box.path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (box.tree / "MANIFEST.json").is_file(), proc.stdout
    return box


def assert_one_paragraph(proc: subprocess.CompletedProcess, *words: str) -> None:
    """provdc's error as Ansible shows it: one `error: ... Fix: ...` paragraph, the words
    named, no traceback."""
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, text[-2000:]
    assert "Traceback" not in text, text[-3000:]
    assert "error: " in text and "Fix: " in text, text[-2000:]
    for word in words:
        assert word in text, text[-2000:]
