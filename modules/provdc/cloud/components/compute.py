"""Instances per service (HA count from the topology) and the TLS load balancer of the
public portals. No instance gets a public address: the Internet reaches only the LB."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from provdc.cloud import layout
from provdc.cloud.settings import StackSettings

DEBIAN_OWNER = "136693071363"  # the Debian cloud team's AWS account
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.2 minimum, 1.3 preferred


class ServiceFleet(pulumi.ComponentResource):
    def __init__(self, name: str, s: StackSettings, subnets: dict[str, aws.ec2.Subnet],
                 groups: dict[str, aws.ec2.SecurityGroup], key_arn: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("provdc:cloud:ServiceFleet", name, None, opts)
        g = s.config.guardrails
        child = pulumi.ResourceOptions(parent=self)
        image = s.config.image_id or aws.ec2.get_ami_output(
            most_recent=True, owners=[DEBIAN_OWNER],
            filters=[{"name": "name", "values": ["debian-12-amd64-*"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).id
        self.hosts = layout.host_layout(s.topology, s.plan, s.zones)
        self.instances: dict[str, aws.ec2.Instance] = {}
        for h in self.hosts:
            self.instances[h.name] = aws.ec2.Instance(
                f"{name}-{h.name}", ami=image, instance_type=s.config.instance_type,
                subnet_id=subnets[h.subnet].id, private_ip=h.private_ip,
                vpc_security_group_ids=[groups[f"svc:{h.service}"].id, groups[f"zone:{h.zone}"].id],
                associate_public_ip_address=g.public_ips,
                metadata_options={"http_endpoint": "enabled", "http_tokens": g.imds_tokens,
                                  "http_put_response_hop_limit": 1},
                root_block_device={"encrypted": g.encrypt_volumes, "volume_type": "gp3",
                                   "volume_size": 30,
                                   **({"kms_key_id": key_arn} if g.encrypt_volumes else {})},
                tags={"Name": h.name, "Service": h.service, "Zone": h.zone,
                      "SecurityLevel": str(h.security_level), "Role": h.role or "service"},
                opts=child,
            )
        self.register_outputs({})


class PortalLoadBalancer(pulumi.ComponentResource):
    """Internet-facing ALB in the DMZ, one HTTPS listener, one target group per portal,
    chosen by host name."""

    def __init__(self, name: str, s: StackSettings, fleet: ServiceFleet,
                 subnets: dict[str, aws.ec2.Subnet], group: aws.ec2.SecurityGroup,
                 vpc_id: pulumi.Input[str], services: list[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("provdc:cloud:PortalLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zone = s.topology.services[[x.slug for x in s.topology.services].index(services[0])].zone
        self.lb = aws.lb.LoadBalancer(
            name, load_balancer_type="application", internal=False,
            security_groups=[group.id], drop_invalid_header_fields=True,
            subnets=[subnets[f"{zone.lower()}-{x}"].id for x in "ab"], opts=child,
        )
        names = [s.config.public_names[svc] for svc in services]
        tls = s.config.guardrails.listener_protocol == "HTTPS"
        listener_args = {"port": 80, "protocol": "HTTP"}
        if tls:
            cert = s.config.certificate_arn or aws.acm.Certificate(
                f"{name}-cert", domain_name=names[0], subject_alternative_names=names[1:],
                validation_method="DNS", opts=child).arn
            listener_args = {"port": 443, "protocol": "HTTPS", "ssl_policy": TLS_POLICY,
                             "certificate_arn": cert}
        self.listener = aws.lb.Listener(
            f"{name}-listener", load_balancer_arn=self.lb.arn, opts=child,
            default_actions=[{"type": "fixed-response", "fixed_response": {
                "content_type": "text/plain", "status_code": "404", "message_body": "not found"}}],
            **listener_args,
        )
        for priority, (svc, host) in enumerate(zip(services, names, strict=True), start=10):
            tg = aws.lb.TargetGroup(
                f"{name}-{svc}-tg", port=443, protocol="HTTPS", vpc_id=vpc_id,
                target_type="instance", opts=child,
                health_check={"protocol": "HTTPS", "path": "/", "matcher": "200-399"})
            for h in fleet.hosts:
                if h.service == svc:
                    aws.lb.TargetGroupAttachment(f"{name}-{h.name}", target_group_arn=tg.arn,
                                                 target_id=fleet.instances[h.name].id, port=443,
                                                 opts=child)
            aws.lb.ListenerRule(
                f"{name}-{svc}-rule", listener_arn=self.listener.arn, priority=priority,
                actions=[{"type": "forward", "target_group_arn": tg.arn}],
                conditions=[{"host_header": {"values": [host]}}], opts=child)
        self.register_outputs({"dns_name": self.lb.dns_name})
