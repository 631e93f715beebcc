"""Refuse, before anything is applied, a ruleset that would cut the operator's SSH path.

The operator's address as each host sees it comes from the live session (`SSH_CONNECTION`,
collected by the playbook) or, for the CLI, from the lab's operator path. The path is
evaluated on the rendered rulesets, not on text: the host's inbound firewall must admit
SSH from that address, and when the path crosses the data-centre core (the address is not
the core's own and not on the host's segment), the zone firewall must admit it too.
"""

from __future__ import annotations

from netaddr import IPAddress, IPNetwork

from provdc.errors import ProvdcError, ValidationFailed
from provdc.segmentation.matrix import SSH_PORT, Segmentation


def core_addresses(seg: Segmentation) -> set[str]:
    """The core router's own addresses: every zone gateway and the core end of every
    site's TSLCD /31 (traffic it originates never crosses its forward chain)."""
    plan = seg.loaded.plan
    out = {str(z.gateway) for z in plan.zones}
    out |= {str(plan.wan_link(sp.slug)[0]) for sp in plan.sites}
    return out


def crosses_core(seg: Segmentation, client: str, host: str) -> bool:
    node = seg.node(host)
    if client in core_addresses(seg):
        return False
    if node.segment and IPAddress(client) in IPNetwork(node.segment):
        return on_zone_bridge(seg, node.segment)
    return True


def on_zone_bridge(seg: Segmentation, segment: str) -> bool:
    """A data-centre zone is a bridge on the core; with bridge netfilter (the lab) even
    traffic inside the zone crosses the zone firewall, so count it as crossing."""
    return any(str(z.cidr) == segment for z in seg.loaded.plan.zones)


def check_operator_path(seg: Segmentation, clients: dict[str, str],
                        source: str = "inventory") -> None:
    """Raise (every refused host at once) if any host would stop admitting its operator."""
    errors = []
    for host, client in sorted(clients.items()):
        if host not in seg.hosts or not client:
            continue
        node = seg.node(host)
        rs = seg.hosts[host]
        blocked = []
        if not rs.admits(client, node.address, "tcp", SSH_PORT):
            sources = sorted({n for r in rs.rules if r.proto == "tcp" and SSH_PORT in r.ports
                              and r.src for n in r.src.nets})
            blocked.append(f"its host firewall admits SSH only from "
                           f"{', '.join(sources) or 'nowhere'}")
        if crosses_core(seg, client, host) and not seg.zone.admits(
                client, node.address, "tcp", SSH_PORT):
            blocked.append("the zone firewall on the core does not forward SSH from there")
        if blocked:
            errors.append(ProvdcError(
                f"applying would cut the operator's SSH path to {host} ({node.address}): "
                f"you connect from {client}, and {'; '.join(blocked)}. Nothing was applied",
                file=source, field=f"{host}: provdc_admin_sources",
                fix=f"run from the bastion or an administration source, or add {client}/32 "
                f"to provdc_admin_sources of {host} (and a matching flow if it crosses zones)"))
    if errors:
        raise ValidationFailed(errors)
