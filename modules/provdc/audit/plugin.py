"""pytest plugin: every test result of a compliance run as one JSON file.

    pytest --pyargs provdc.audit.compliance -p provdc.audit.plugin --provdc-json=raw.json ...

One record per test: node id, outcome, the `provdc` evidence property when the test is a
catalogue control, and the failure text otherwise (e.g. the bandwidth checks, or a host that
could not be reached); the report names those by the check id of their test (checks.yml).
Works under pytest-xdist (reports arrive at the controller).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from provdc.audit.suite import FACTS, PROPERTY


def pytest_addoption(parser):
    parser.addoption("--provdc-json", default=None, help="write every result here (JSON)")


def pytest_configure(config):
    path = config.getoption("provdc_json")
    if path:
        config.pluginmanager.register(_Collector(Path(path)), "provdc-json-collector")


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
    record = {"nodeid": report.nodeid, "outcome": report.outcome, "when": report.when}
    if PROPERTY in props:
        record["provdc"] = json.loads(props[PROPERTY])
    else:
        record["host"] = host_from_nodeid(report.nodeid)
        record["message"] = _message(report)
    if props.get(FACTS):
        record["facts"] = json.loads(props[FACTS])
    return record


def host_from_nodeid(nodeid: str) -> str | None:
    """`...::test_x[ansible://lgsp-1]` -> lgsp-1 (testinfra puts the host in the id)."""
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
