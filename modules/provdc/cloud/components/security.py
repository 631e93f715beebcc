"""Security groups rendered from the allowed-flow matrix, and nothing else.

Every instance carries its service group and its zone group; the load balancer has its
own. Rules are separate resources (one per port and peer) so a review, the policy pack and
the golden inventory can each see them one by one.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from provdc.cloud import layout
from provdc.cloud.settings import StackSettings


class FlowSecurityGroups(pulumi.ComponentResource):
    def __init__(self, name: str, s: StackSettings, vpc_id: pulumi.Input[str],
                 rules: list[layout.SgRule], opts: pulumi.ResourceOptions | None = None):
        super().__init__("provdc:cloud:FlowSecurityGroups", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        keys = layout.security_groups(s.topology)
        self.groups = {
            key: aws.ec2.SecurityGroup(
                f"{name}-{_slug(key)}", vpc_id=vpc_id, description=_describe(key),
                tags={"Name": _slug(key)}, opts=child,
            )
            for key in keys
        }
        self.prefix_lists = {
            key: aws.ec2.ManagedPrefixList(
                f"{name}-pl-{_slug(key)}", address_family="IPv4", max_entries=len(cidrs),
                name=f"{s.topology.province.slug}-{_slug(key)}",
                entries=[{"cidr": c, "description": key} for c in cidrs], opts=child,
            )
            for key, cidrs in layout.prefix_lists(s.topology, s.plan).items()
        }
        self.rules = {rule.key: (rule, self._rule(rule, s, child)) for rule in rules}
        self.register_outputs({})

    def _rule(self, rule: layout.SgRule, s: StackSettings, child: pulumi.ResourceOptions):
        peer = {}
        if rule.peer.kind == "sg":
            peer["referenced_security_group_id"] = self.groups[rule.peer.ref].id
        elif rule.peer.kind == "prefix_list":
            peer["prefix_list_id"] = self.prefix_lists[rule.peer.ref].id
        else:
            peer["cidr_ipv4"] = rule.peer.ref
        port = -1 if rule.port is None else rule.port
        flow = s.topology.flows[rule.flow] if rule.flow >= 0 else None
        desc = f"flow {rule.flow}: {flow.source} -> {flow.to}" if flow else "adminSources"
        cls = (aws.vpc.SecurityGroupIngressRule if rule.direction == "ingress"
               else aws.vpc.SecurityGroupEgressRule)
        return cls(f"{self._name}-{rule.key}", security_group_id=self.groups[rule.group].id,
                   ip_protocol=rule.proto, from_port=port, to_port=port,
                   description=desc[:255], opts=child, **peer)


def _slug(key: str) -> str:
    return key.replace(":", "-").lower()


def _describe(key: str) -> str:
    kind, _, name = key.partition(":")
    if kind == "svc":
        return f"service {name}: ingress/egress from the allowed-flow matrix"
    if kind == "zone":
        return f"every instance of zone {name}"
    return "the TLS load balancer of the public portals"
