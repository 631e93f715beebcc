"""The compliance suite's engine: one pytest test per control per host, from the catalogue.

`compliance/test_baseline.py` parametrizes `run_control` over every control; testinfra
parametrizes it again over every host of `--hosts`, so test ids read
`test_control[ansible://lgsp-1-VN-SSH-02]`. Each test records its evidence (expected vs
actual, runtime vs persisted) as the `provdc` user property, which the JSON plugin and the
JUnit XML both carry to the report.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import pytest

from provdc.audit.provenance import FACT_COMMANDS, host_facts
from provdc.controls import catalogue
from provdc.controls.checks import (
    CONTAINER,
    HostContext,
    Probe,
    commands_for,
    evaluate,
    host_context,
)
from provdc.controls.model import Control
from provdc.topology.schema import Topology
from provdc.topology.validate import load

PROPERTY = "provdc"
FACTS = "provdc_facts"  # the host's facts (provenance), recorded on every test

# one probe and context per host for the whole run (an audit only reads)
_hosts: dict[str, tuple[Probe, HostContext]] = {}
# hosts read at once before the first test: the floor's parallelism (SSH waits overlap)
PREFETCH_THREADS = 8


def control_params() -> list:
    return [pytest.param(c, id=c.id) for c in catalogue().controls]


def host_name(host) -> str:
    backend = host.backend
    return getattr(backend, "host", None) and getattr(backend.host, "name", None) or \
        backend.get_hostname()


def host_variables(host) -> dict:
    for getter in (getattr(host.backend, "get_variables", None),
                   lambda: host.ansible.get_variables()):
        if getter is None:
            continue
        try:
            return dict(getter())
        except Exception:  # not an Ansible inventory host: no variables
            continue
    return {}


def _probe(host) -> tuple[str, Probe, HostContext]:
    name = host_name(host)
    if name not in _hosts:
        probe = Probe(host)
        # every check's command, the host context's container test and the host's facts
        # for the report's provenance, in one round trip instead of one per check
        probe.prefetch([*commands_for(catalogue().controls), CONTAINER,
                        *FACT_COMMANDS.values()])
        ctx = (HostContext(in_container=False, level=0) if probe.unreachable is not None
               else host_context(probe, host_variables(host)))
        _hosts[name] = (probe, ctx)
    return (name, *_hosts[name])


def item_host(item):
    """The testinfra host a collected test runs against (None for a test without one)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("_testinfra_host") if callspec is not None else None


def at_once(hosts: Iterable, work: Callable) -> dict:
    """WORK(host) for each distinct host, several at a time, so the run waits for the
    slowest hosts once instead of for each host in turn: {host name: what WORK returned}."""
    distinct = {host_name(h): h for h in hosts}
    if not distinct:
        return {}
    with ThreadPoolExecutor(min(PREFETCH_THREADS, len(distinct))) as pool:
        return dict(zip(distinct, pool.map(work, distinct.values()), strict=True))


def prefetch_hosts(hosts: Iterable) -> None:
    """Read every host's batch now: the tests then only evaluate cached output."""
    at_once(hosts, _probe)


def record_facts(host, record_property) -> None:
    """The host's facts (OS, kernel, machine id, SSH host keys) as the FACTS property: none
    for a host that could not be read."""
    _, probe, _ = _probe(host)
    facts = {} if probe.unreachable is not None else host_facts(
        {c: probe.run(c) for c in FACT_COMMANDS.values()})
    record_property(FACTS, json.dumps(facts, ensure_ascii=False))


def run_control(host, control: Control, record_property) -> None:
    name, probe, ctx = _probe(host)
    if probe.unreachable is not None:  # not checked: neither compliant nor failed
        record = {"host": name, "control": control.id, "status": "not_checked", "mode": "",
                  "evidence": [], "reason": f"host not checked: {probe.unreachable}"}
        record_property(PROPERTY, json.dumps(record, ensure_ascii=False))
        pytest.skip(record["reason"])
    result = evaluate(control, probe, ctx)
    record = result.to_dict() | {"host": name, "level": ctx.level,
                                 "in_container": ctx.in_container}
    record_property(PROPERTY, json.dumps(record, ensure_ascii=False))
    if result.status == "not_applicable":
        pytest.skip(result.summary())
    if result.status == "fail":
        pytest.fail(result.summary(), pytrace=False)


@functools.cache
def _topology(path: str) -> Topology:
    return load(path).topology


def host_topology(host) -> Topology:
    """The topology a host names (`provdc_topology`, a relative path read from the directory
    the audit runs in). A host without one is a check error, never a sample province."""
    path = host_variables(host).get("provdc_topology")
    if not path:
        pytest.fail(f"{host_name(host)} has no provdc_topology: the check needs the topology "
                    "of its province. Fix: set provdc_topology on the host in the inventory.",
                    pytrace=False)
    return _topology(str(path))
