"""Bandwidth policy on a site gateway: the live HTB tree is what the topology says.

An independent check: the expected tree is derived on the auditor's side from the topology
(not from the spec file shipped to the gateway), and the live tree is read with plain `tc`.
Runs on gateways only (hosts whose inventory role is `gateway`); every other host skips.
Ids, titles and references (VN-BW-01..03): `provdc/audit/checks.yml`.

    pytest --pyargs provdc.audit.compliance.test_bandwidth --hosts=ansible://gateways \
        --ansible-inventory=inventory/lab/hosts.yml
"""

from __future__ import annotations

import json

import pytest

from provdc.audit.suite import host_topology
from provdc.qos import htb, policy


def gateway_vars(host) -> dict:
    get = getattr(host.backend, "get_variables", None)
    variables = get() if get else {}
    if variables.get("provdc_role") != "gateway":
        pytest.skip("not a site gateway (inventory provdc_role != gateway)")
    return variables


@pytest.fixture
def expected(host):
    """(spec from the topology, live tree of the uplink) for this gateway."""
    v = gateway_vars(host)
    topology = host_topology(host)
    spec = policy.site_spec(topology, v["provdc_site"], v["provdc_uplink_if"], "uplink")
    dev = spec["device"]
    live = htb.assemble(
        htb.parse_qdiscs(host.check_output(f"tc -j qdisc show dev {dev}")),
        htb.parse_classes(host.check_output(f"tc -d -s class show dev {dev}")),
        htb.parse_filters(host.run(f"tc -j filter show dev {dev} parent 1:").stdout),
    )
    return spec, live


def leaf_kinds(live: htb.Live) -> set[str]:
    return {q.kind for q in live.tree.leaves} if live.tree else set()


def test_bandwidth_classes_rates_ceilings_filters(expected):
    spec, live = expected
    kinds = leaf_kinds(live)
    assert len(kinds) == 1, f"leaf qdiscs differ between classes: {kinds}"
    want = htb.tree_from_spec(spec, kinds.pop())
    assert htb.diff(want, live, htb.class_names(spec)) == []


def test_bandwidth_leaf_qdisc_is_the_best_the_kernel_has(host, expected):
    """fq_codel on every leaf; a FIFO only if this kernel really lacks fq_codel."""
    _, live = expected
    kinds = leaf_kinds(live)
    assert kinds <= set(htb.LEAF_PREFERENCE) and kinds, f"unexpected leaf qdiscs {kinds}"
    if kinds != {"fq_codel"}:
        probe = host.run(
            "ip link add pbwaudit type veth peer name pbwaudit1 && "
            "tc qdisc add dev pbwaudit root fq_codel; rc=$?; ip link del pbwaudit; exit $rc")
        assert probe.rc != 0, "the kernel has fq_codel but the leaves use " + ", ".join(kinds)


def test_bandwidth_policy_persists_across_reboot(host, expected):
    spec, _ = expected
    assert host.service("provdc-bandwidth").is_enabled
    shipped = host.file(f"/etc/provdc/bandwidth/{spec['device']}.json")
    assert shipped.exists, "the spec the boot unit re-applies is missing"
    assert json.loads(shipped.content_string) == spec
