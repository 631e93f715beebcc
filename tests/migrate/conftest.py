"""A CLI runner for the merger tests."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner


@pytest.fixture
def invoke():
    from provdc.cli import app

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args])
    return run
