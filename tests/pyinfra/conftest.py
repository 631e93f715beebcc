"""Helpers of the pyinfra engine tests: run the pyinfra CLI as ops teams do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class PyinfraCli:
    """`pyinfra playbooks/pyinfra/inventory.py playbooks/pyinfra/DEPLOY --json ARGS` over the
    inventory derived from an Ansible inventory."""

    def __call__(self, inventory: Path, deploy: str, *args: str, timeout: float = 1800):
        env = dict(os.environ, PROVDC_INVENTORY=str(inventory),
                   PATH=f"{BIN}:{os.environ.get('PATH', '')}")
        proc = subprocess.run([str(BIN / "pyinfra"), "playbooks/pyinfra/inventory.py",
                               f"playbooks/pyinfra/{deploy}", "--json", *args],
                              capture_output=True, text=True, cwd=REPO, env=env,
                              timeout=timeout)
        try:
            doc = json.loads(proc.stdout)
        except json.JSONDecodeError:
            doc = None
        return proc, doc

    def local(self, deploy: Path, *args: str, timeout: float = 600):
        """The deploy on this machine (@local): for operations on scratch files only."""
        proc = subprocess.run([str(BIN / "pyinfra"), "@local", str(deploy), "-y", "--json",
                               *args], capture_output=True, text=True, cwd=REPO,
                              env=dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}"),
                              timeout=timeout)
        try:
            return proc, json.loads(proc.stdout)
        except json.JSONDecodeError:
            return proc, None

    @staticmethod
    def changed(doc: dict, host: str) -> list[str]:
        """Names of the operations that changed `host` in a --json result."""
        return [o["name"] for o in doc["results"]["operations"] if host in o["success"]]


@pytest.fixture(scope="session")
def pyinfra_cli() -> PyinfraCli:
    return PyinfraCli()
