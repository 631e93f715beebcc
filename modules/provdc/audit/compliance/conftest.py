"""Compliance checks run against real hosts only, never against the machine running pytest.

    pytest --pyargs provdc.audit.compliance --hosts=ansible://all --ansible-inventory=INVENTORY

Without `--hosts` every test here is skipped, so a plain `pytest` run stays host-free.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provdc.audit.plugin import host_from_nodeid
from provdc.audit.suite import item_host, prefetch_hosts, record_facts

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    if config.getoption("hosts", None):
        # one xdist worker per host (`--dist loadgroup`): each host is read in one batched
        # round trip by one worker, not once by every worker that draws one of its tests
        for item in items:
            host = host_from_nodeid(item.nodeid)
            if host:
                item.add_marker(pytest.mark.xdist_group(host))
        return
    skip = pytest.mark.skip(
        reason="compliance checks need hosts: pytest --pyargs provdc.audit.compliance "
        "--hosts=ansible://all --ansible-inventory=INVENTORY (or `provdc audit`)"
    )
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


def pytest_collection_finish(session):
    """Without xdist, read every selected host at once before the first test. A worker of
    xdist does not know which hosts it will be sent, so there each host is read when its
    first test runs."""
    if session.config.getoption("hosts", None) and not hasattr(session.config, "workerinput"):
        prefetch_hosts(h for h in map(item_host, session.items) if h is not None)


@pytest.fixture(autouse=True)
def _host_facts(request, record_property):
    """Every test records its host's facts (read in the host's one probe round trip), so the
    report's provenance has them whatever --scope ran."""
    if "host" in request.fixturenames:
        record_facts(request.getfixturevalue("host"), record_property)
