"""pytest plugin: every test result of a compliance run as one JSON file.

    pytest --pyargs provdc.audit.compliance -p provdc.audit.plugin --provdc-json=raw.json ...

One record per test: node id, outcome, the `provdc` evidence property when the test is a
catalogue control, and the failure text otherwise (e.g. the bandwidth checks, or a host that
could not be reached); the report names those by the check id of their test (checks.yml).
Works under pytest-xdist (reports arrive at the controller).

`--provdc-progress=FILE` also appends, as the run goes, one line per collected test
("test NODEID") and one per finished test ("done NODEID"): `provdc audit` follows that file
to show hosts done / total while the suite runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from provdc.audit.suite import FACTS, PROPERTY


def pytest_addoption(parser):
    parser.addoption("--provdc-json", default=None, help="write every result here (JSON)")
    parser.addoption("--provdc-progress", default=None,
                     help="append a line per collected and per finished test here")


def pytest_configure(config):
    path = config.getoption("provdc_json")
    if path:
        config.pluginmanager.register(_Collector(Path(path)), "provdc-json-collector")
    progress = config.getoption("provdc_progress")
    if progress and not hasattr(config, "workerinput"):  # the controller only, under xdist
        config.pluginmanager.register(_Progress(Path(progress)), "provdc-progress")


class _Progress:
    """Collected and finished tests, one line each, flushed as they happen."""

    def __init__(self, path: Path):
        self.file = path.open("w", encoding="utf-8")
        self.collected = False

    def _write(self, kind: str, nodeids) -> None:
        self.file.writelines(f"{kind} {n}\n" for n in nodeids)
        self.file.flush()

    def pytest_collection_finish(self, session):  # without xdist
        self._collected([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):  # every worker sends the same
        self._collected(ids)

    def _collected(self, ids) -> None:
        if not self.collected:
            self.collected = True
            self._write("test", ids)

    def pytest_runtest_logreport(self, report):
        if report.when == "teardown":
            self._write("done", [report.nodeid])

    def pytest_sessionfinish(self, session):
        self.file.close()


class _Collector:
    def __init__(self, path: Path):
        self.path = path
        self.records: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report):
        # the call phase decides; setup decides when it failed or skipped (no call then)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.records[report.nodeid] = _record(report)
        elif report.when == "teardown" and report.failed:
            self.records.setdefault(report.nodeid, _record(report))

    def pytest_sessionfinish(self, session):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(
            json.dumps(list(self.records.values()), ensure_ascii=False, indent=1),
            encoding="utf-8",
        )


def _record(report) -> dict:
    props = dict(report.user_properties)
    record = {"nodeid": test_id(report.nodeid), "outcome": report.outcome, "when": report.when}
    if PROPERTY in props:
        record["provdc"] = json.loads(props[PROPERTY])
    else:
        record["host"] = host_from_nodeid(report.nodeid)
        record["message"] = _message(report)
    if props.get(FACTS):
        record["facts"] = json.loads(props[FACTS])
    return record


def hosts_done(lines: list[str]) -> tuple[int, int]:
    """(hosts whose every test has finished, hosts with tests) from a progress file's lines."""
    left: dict[str, set[str]] = {}
    finished: set[str] = set()
    for line in lines:
        kind, _, nodeid = line.rstrip("\n").partition(" ")
        if kind == "test":
            left.setdefault(host_from_nodeid(nodeid) or "", set()).add(nodeid)
        elif kind == "done":
            finished.add(nodeid)
    return sum(1 for ids in left.values() if ids <= finished), len(left)


def test_id(nodeid: str) -> str:
    """The test's id without the `@group` xdist appends under `--dist loadgroup` (the suite
    groups each host's tests on one worker): report ids stay those of a plain run."""
    return re.sub(r"\]@[^\[\]]*$", "]", nodeid)


def host_from_nodeid(nodeid: str) -> str | None:
    """`...::test_x[ansible://lgsp-1]` -> lgsp-1 (testinfra puts the host in the id)."""
    nodeid = test_id(nodeid)
    m = re.search(r"\[(?:[a-z+]+://)([^\]]+)\]$", nodeid) or re.search(
        r"\[(?:[a-z+]+://)([^\]]+?)-VN-[A-Z]+-\d{2}\]$", nodeid
    )
    if not m:
        return None
    host = m.group(1)
    return re.sub(r"-VN-[A-Z]+-\d{2}$", "", host)


def _message(report) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    text = getattr(report, "longreprtext", "") or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-6:])
