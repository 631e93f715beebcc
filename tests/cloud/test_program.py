"""Mock unit tests of the Pulumi components (the verified pattern: module-level mocks, the
program imported after set_mocks, every test decorated with @pulumi.runtime.test and
asserting values inside apply)."""

from __future__ import annotations

from pathlib import Path

import pulumi
from netaddr import IPAddress, IPNetwork

ROOT = Path(__file__).resolve().parents[2]


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return [f"{args.name}-id", {**args.inputs, "arn": f"arn:mock:{args.name}"}]

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": "000000000000"}
        if args.token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-debian12"}
        return {}


pulumi.runtime.set_mocks(Mocks(), project="provdc", stack="soctrang", preview=False)

from provdc.cloud import layout  # noqa: E402  (after set_mocks, as the SDK requires)
from provdc.cloud.components.compute import ServiceFleet  # noqa: E402
from provdc.cloud.components.network import DcNetwork  # noqa: E402
from provdc.cloud.components.security import FlowSecurityGroups  # noqa: E402
from provdc.cloud.components.storage import SecureBucket  # noqa: E402
from provdc.cloud.program import build  # noqa: E402
from provdc.cloud.settings import load_stack_file  # noqa: E402

S = load_stack_file("soctrang", ROOT)
RULES = layout.sg_rules(S.topology, S.plan, S.config.externals)
NET = DcNetwork("unit", S, {})
SGS = FlowSecurityGroups("unit-sg", S, NET.vpc.id, RULES)
FLEET = ServiceFleet("unit-fleet", S, NET.subnets, SGS.groups, "arn:mock:key")
LOGS = SecureBucket("unit-logs", S, "unit-logs", "arn:mock:key", "000000000000", "log-archive",
                    lock_days=90)
OUTPUTS = build(S)


@pulumi.runtime.test
def test_subnets_are_the_two_halves_of_each_planned_zone():
    expected = {}
    for zp in S.plan.zones:
        for i, half in enumerate(zp.az_halves()):
            expected[f"{zp.name.lower()}-{'ab'[i]}"] = (str(half), S.zones[i], False)
    keys = sorted(NET.subnets)

    def check(values):
        got = {k: tuple(values[3 * i:3 * i + 3]) for i, k in enumerate(keys)}
        assert got == expected
        assert "dmz-a" in got and got["dmz-a"][0] == "10.94.1.0/25"

    return pulumi.Output.all(*[x for k in keys for x in (
        NET.subnets[k].cidr_block, NET.subnets[k].availability_zone,
        NET.subnets[k].map_public_ip_on_launch)]).apply(check)


@pulumi.runtime.test
def test_instances_require_imdsv2_encrypt_volumes_and_stay_private():
    names = sorted(FLEET.instances)
    want_ip = {h.name: h.private_ip for h in FLEET.hosts}

    def check(values):
        for i, name in enumerate(names):
            meta, root, public, ip = values[4 * i:4 * i + 4]
            assert meta["http_tokens"] == "required", name
            assert root["encrypted"] is True and root["kms_key_id"] == "arn:mock:key", name
            assert public is False, name
            assert ip == want_ip[name]

    return pulumi.Output.all(*[x for n in names for x in (
        FLEET.instances[n].metadata_options, FLEET.instances[n].root_block_device,
        FLEET.instances[n].associate_public_ip_address, FLEET.instances[n].private_ip)]
    ).apply(check)


@pulumi.runtime.test
def test_database_accepts_only_its_flows():
    db_ingress = [(rule, res) for rule, res in SGS.rules.values()
                  if rule.group == "svc:shared-db" and rule.direction == "ingress"]
    assert db_ingress, "the shared DB must have ingress rules from the flows"

    def check(values):
        ports = {(proto, port) for proto, port in zip(values[::2], values[1::2], strict=True)}
        assert ports == {("tcp", 5432)}

    return pulumi.Output.all(*[x for _, res in db_ingress
                               for x in (res.ip_protocol, res.from_port)]).apply(check)


@pulumi.runtime.test
def test_log_archive_is_locked_for_the_level():
    def check(values):
        enabled, rule = values
        assert enabled is True
        assert rule["default_retention"] == {"mode": "GOVERNANCE", "days": 90}

    return pulumi.Output.all(LOGS.bucket.object_lock_enabled, LOGS.lock.rule).apply(check)


@pulumi.runtime.test
def test_outputs_list_every_host_in_its_zone():
    def check(hosts):
        assert len(hosts) == sum(s.instances for s in S.topology.services) == 16
        services = {s.slug: s for s in S.topology.services}
        for h in hosts:
            svc = services[h["service"]]
            assert h["zone"] == svc.zone and h["security_level"] == svc.security_level
            assert IPAddress(h["private_ip"]) in IPNetwork(str(S.plan.zone(svc.zone).cidr))
        assert {h["name"] for h in hosts} >= {"dvc-portal-1", "dvc-portal-2", "bastion-1"}

    return pulumi.Output.from_input(OUTPUTS["hosts"]).apply(check)
