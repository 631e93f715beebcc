"""The custom operations, run by the real pyinfra CLI (@local) on a scratch directory.

Only files under tmp_path are touched (the deploy takes its directory from the
environment); operations that change the kernel or services are tested on lab hosts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEPLOY = Path(__file__).with_name("data") / "local_ops.py"
LOGIN_DEFS = "#\tPASS_MAX_DAYS\tMaximum number of days\nPASS_MAX_DAYS\t99999\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, pyinfra_cli):
    if os.geteuid() != 0:
        pytest.skip("the operations chown to root")
    d = tmp_path_factory.mktemp("ops")
    (d / "login.defs").write_text(LOGIN_DEFS)
    (d / "loose").write_text("x")
    (d / "loose").chmod(0o644)
    (d / "validated.conf").write_text("good\n")
    os.environ["PROVDC_OPS_DIR"] = str(d)
    try:
        first = pyinfra_cli.local(DEPLOY)
        second = pyinfra_cli.local(DEPLOY)
    finally:
        del os.environ["PROVDC_OPS_DIR"]
    return d, first, second


def _ops(doc: dict, key: str) -> set[str]:
    return {o["name"] for o in doc["results"]["operations"] if o[key]}


def test_first_run_changes_what_differs(runs):
    d, (proc, doc), _ = runs
    assert doc is not None, proc.stderr[-2000:]
    assert _ops(doc, "success") == {"managed", "line", "created", "mode"}
    assert _ops(doc, "error") == {"refused"}
    assert (d / "etc" / "managed.conf").read_text() == "a = 1\n"
    assert oct((d / "etc" / "managed.conf").stat().st_mode & 0o777) == "0o640"
    assert (d / "login.defs").read_text() == LOGIN_DEFS.replace("PASS_MAX_DAYS\t99999",
                                                              "PASS_MAX_DAYS 60")
    assert (d / "useradd").read_text() == "INACTIVE=45\n"
    assert oct((d / "loose").stat().st_mode & 0o777) == "0o600"


def test_a_refused_candidate_never_replaces_the_file(runs):
    d = runs[0]
    assert (d / "validated.conf").read_text() == "good\n"
    assert not list(d.glob("*.provdc-new"))


def test_second_run_changes_nothing(runs):
    _, _, (proc, doc) = runs
    assert doc is not None, proc.stderr[-2000:]
    assert _ops(doc, "success") == set() and _ops(doc, "error") == {"refused"}
