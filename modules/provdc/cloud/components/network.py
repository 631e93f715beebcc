"""The DC network: VPC, a subnet per zone per AZ, routing, NAT, network ACLs, flow logs,
and the TSLCD attachment (customer gateway + site-to-site VPN per configured WAN link)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from provdc.cloud import layout
from provdc.cloud.settings import StackSettings

NAT_ZONE = "EDGE"  # NAT gateways live at the edge, one per AZ


class DcNetwork(pulumi.ComponentResource):
    def __init__(self, name: str, s: StackSettings, acl_extra: dict[str, list[layout.AclEntry]],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("provdc:cloud:DcNetwork", name, None, opts)
        self._name = name
        self.specs = layout.subnet_layout(s.plan, s.zones)
        keep = pulumi.ResourceOptions(parent=self, protect=True)  # losing these loses the DC
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=s.topology.datacenter.block, enable_dns_support=True,
            enable_dns_hostnames=True, tags={"Name": f"{s.topology.province.slug}-dc"}, opts=keep,
        )
        self._default_security_group(s)
        self.subnets = {
            spec.key: aws.ec2.Subnet(
                f"{name}-{spec.key}", vpc_id=self.vpc.id, cidr_block=spec.cidr,
                availability_zone=spec.az,
                map_public_ip_on_launch=s.config.guardrails.public_ips and spec.internet_facing,
                tags={"Name": spec.key, "Zone": spec.zone}, opts=keep,
            )
            for spec in self.specs
        }
        self.route_tables = self._routing()
        self._acls(s, acl_extra)
        self.register_outputs({"vpc_id": self.vpc.id})

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _default_security_group(self, s: StackSettings) -> None:
        """CIS 5.4: the default group must carry no rules, so nothing lands in it by accident."""
        open_ = not s.config.guardrails.restrict_default_security_group
        rule = [{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True}] if open_ else []
        aws.ec2.DefaultSecurityGroup(f"{self._name}-default-sg", vpc_id=self.vpc.id,
                                     ingress=rule, egress=rule, opts=self._child())

    def _routing(self) -> dict[str, aws.ec2.RouteTable]:
        """Internet-facing zones route to the Internet gateway; the others leave through the
        NAT of their own AZ (so one AZ failing does not cut the other off)."""
        n = self._name
        igw = aws.ec2.InternetGateway(f"{n}-igw", vpc_id=self.vpc.id, opts=self._child())
        public = aws.ec2.RouteTable(
            f"{n}-rt-public", vpc_id=self.vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}], opts=self._child())
        tables = {"public": public}
        for az_index in (0, 1):
            side = "ab"[az_index]
            edge = self.subnets[f"{NAT_ZONE.lower()}-{side}"]
            eip = aws.ec2.Eip(f"{n}-nat-eip-{side}", domain="vpc", opts=self._child())
            nat = aws.ec2.NatGateway(f"{n}-nat-{side}", subnet_id=edge.id,
                                     allocation_id=eip.id, opts=self._child())
            tables[side] = aws.ec2.RouteTable(
                f"{n}-rt-private-{side}", vpc_id=self.vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}], opts=self._child())
        for spec in self.specs:
            table = tables["public"] if spec.internet_facing else tables["ab"[spec.az_index]]
            aws.ec2.RouteTableAssociation(f"{n}-rta-{spec.key}",
                                          subnet_id=self.subnets[spec.key].id,
                                          route_table_id=table.id, opts=self._child())
        return tables

    def _acls(self, s: StackSettings, extra: dict[str, list[layout.AclEntry]]) -> None:
        """One default-deny ACL per zone (an ACL denies whatever its rules do not allow)."""
        for zp in s.plan.zones:
            entries = layout.acl_entries(s.topology, s.plan, zp.name, s.config.externals, NAT_ZONE)
            entries += [e for e in extra.get(zp.name, []) if e not in entries]
            rules = {"ingress": [], "egress": []}
            for e in entries:
                rules[e.direction].append({
                    "rule_no": 100 + 10 * len(rules[e.direction]), "action": "allow",
                    "protocol": e.proto, "from_port": e.from_port, "to_port": e.to_port,
                    "cidr_block": e.cidr,
                })
            aws.ec2.NetworkAcl(
                f"{self._name}-acl-{zp.name.lower()}", vpc_id=self.vpc.id,
                subnet_ids=[self.subnets[f"{zp.name.lower()}-{x}"].id for x in "ab"],
                ingress=rules["ingress"], egress=rules["egress"],
                tags={"Name": f"acl-{zp.name.lower()}", "Zone": zp.name}, opts=self._child(),
            )

    def attach_flow_logs(self, bucket_arn: pulumi.Input[str]) -> aws.ec2.FlowLog:
        """CIS 3.7: every packet decision of the VPC goes to the log archive."""
        return aws.ec2.FlowLog(
            f"{self._name}-flow-log", vpc_id=self.vpc.id, traffic_type="ALL",
            log_destination_type="s3",
            log_destination=pulumi.Output.concat(bucket_arn, "/vpc-flow-logs/"),
            max_aggregation_interval=60, opts=self._child(),
        )


class TslcdAttachment(pulumi.ComponentResource):
    """The dedicated government network (TSLCD): one VPN gateway on the VPC, and per WAN
    link a customer gateway (the TSLCD router of that site) with a static-route VPN."""

    def __init__(self, name: str, s: StackSettings, net: DcNetwork,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("provdc:cloud:TslcdAttachment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vgw = aws.ec2.VpnGateway(f"{name}-vgw", vpc_id=net.vpc.id,
                                      tags={"Name": "tslcd"}, opts=child)
        for key, table in net.route_tables.items():
            aws.ec2.VpnGatewayRoutePropagation(f"{name}-propagate-{key}",
                                               vpn_gateway_id=self.vgw.id,
                                               route_table_id=table.id, opts=child)
        self.connections = []
        for link in s.config.wan_links:
            _, site_side = s.plan.wan_link(link.site)
            cgw = aws.ec2.CustomerGateway(
                f"{name}-cgw-{link.site}", bgp_asn=str(link.bgp_asn),
                ip_address=link.peer_ip or str(site_side), type="ipsec.1",
                tags={"Name": f"tslcd-{link.site}"}, opts=child,
            )
            vpn = aws.ec2.VpnConnection(
                f"{name}-vpn-{link.site}", vpn_gateway_id=self.vgw.id, customer_gateway_id=cgw.id,
                type="ipsec.1", static_routes_only=True, tags={"Name": f"tslcd-{link.site}"},
                opts=child,
            )
            for cidr in layout.vpn_routes(s.topology, s.plan, link.site):
                aws.ec2.VpnConnectionRoute(
                    f"{name}-route-{link.site}-{cidr.replace('/', '-')}",
                    vpn_connection_id=vpn.id, destination_cidr_block=cidr, opts=child,
                )
            self.connections.append(vpn)
        self.register_outputs({"vpn_gateway_id": self.vgw.id})
