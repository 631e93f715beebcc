"""Hosts checked against the topology they name: zones, services, sites, tiers, addresses. Pure.

A host whose variables agree with the contract's shapes can still contradict the province:
a zone the topology does not have, an address outside its zone, a security level below the
one its service requires. Each such host is refused here, before any renderer reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from provdc.errors import ProvdcError
from provdc.hosts.contract import PREFIX, HostVars, Role
from provdc.topology.validate import Loaded


@dataclass(frozen=True)
class Index:
    """The topology's names, looked up once for a whole inventory (not once per host)."""

    loaded: Loaded
    zones: dict
    services: dict
    sites: dict
    tiers: dict

    @classmethod
    def of(cls, loaded: Loaded) -> Index:
        topo = loaded.topology
        return cls(loaded, {z.name: z for z in loaded.plan.zones},
                   {s.slug: s for s in topo.services}, {s.slug: s for s in topo.sites},
                   {t.name: t for t in topo.tiers})


def problems(name: str, host: HostVars, index: Index,
             names: set[str]) -> list[tuple[str, str, str]]:
    """(variable, message, fix) for each way this host contradicts the topology."""
    loaded, plan = index.loaded, index.loaded.plan
    out: list[tuple[str, str, str]] = []
    zones, services, sites, tiers = index.zones, index.services, index.sites, index.tiers

    def unknown(kind: str, value: str, known) -> None:
        listed = ", ".join(sorted(known)[:12]) + (" ..." if len(known) > 12 else "")
        out.append((PREFIX + kind, f"the topology {loaded.path} has no {kind} '{value}'",
                    f"use one of {listed}, or point provdc_topology at the topology this "
                    "inventory was made from"))

    for kind, value, known in (("zone", host.zone, zones), ("service", host.service, services),
                               ("site", host.site, sites), ("tier", host.tier, tiers)):
        if value is not None and value not in known:
            unknown(kind, value, known)
    if out:
        return out

    if host.service and host.zone and services[host.service].zone != host.zone:
        out.append(("provdc_zone", f"service '{host.service}' lives in zone "
                    f"{services[host.service].zone}, not {host.zone}",
                    f"set provdc_zone: {services[host.service].zone}"))
    if host.site and host.tier and sites[host.site].tier != host.tier:
        out.append(("provdc_tier", f"site '{host.site}' is of tier '{sites[host.site].tier}'",
                    f"set provdc_tier: {sites[host.site].tier}"))

    required = _required_level(host, services, sites, tiers)
    if required and host.security_level < required[0]:
        out.append(("provdc_security_level",
                    f"level {host.security_level} is below the level {required[0]} that "
                    f"{required[1]} requires (a lower level would skip controls)",
                    f"set provdc_security_level: {required[0]} or higher"))

    where = _where(host, zones, plan, loaded)
    if where and IPv4Address(str(host.address)) not in where[0]:
        out.append(("provdc_address", f"{host.address} is outside {where[1]} ({where[0]})",
                    f"give the host its planned address in {where[0]} (`provdc plan` lists "
                    "the address plan)"))

    for var, ref in (("provdc_core_host", host.core_host), ("provdc_gateway_host",
                                                             host.gateway_host)):
        if ref is not None and names and ref not in names:
            out.append((var, f"'{ref}' is not a host of this inventory",
                        "name the inventory host of that router"))
    return out


def _required_level(host, services, sites, tiers) -> tuple[int, str] | None:
    if host.service:
        return services[host.service].security_level, f"service '{host.service}'"
    if host.site:
        tier = tiers[sites[host.site].tier]
        return tier.security_level, f"tier '{tier.name}'"
    return None


def _where(host: HostVars, zones, plan, loaded: Loaded) -> tuple[IPv4Network, str] | None:
    """The network the host's primary address must lie in, by role."""
    if host.role is Role.dc and host.zone:
        return IPv4Network(str(zones[host.zone].cidr)), f"zone {host.zone}"
    if host.role is Role.agency and host.site:
        return IPv4Network(str(plan.site(host.site).cidr)), f"the LAN of site '{host.site}'"
    if host.role is Role.gateway and host.site:
        lan = IPv4Network(str(plan.site(host.site).cidr))
        wan = IPv4Network(str(loaded.topology.province.tslcd_wan))
        # the lab gives a gateway its WAN address; an ops inventory may give its LAN one
        return (wan if IPv4Address(str(host.address)) in wan else lan,
                f"the TSLCD WAN prefix or the LAN of site '{host.site}'")
    return None


def check_one_topology(paths: dict[str, str], source: str) -> None:
    named = sorted(set(paths.values()))
    if len(named) > 1:
        raise ProvdcError(f"the inventory names several topologies: {', '.join(named)}",
                          file=source, field="provdc_topology",
                          fix="give every host the topology of its province (one per "
                          "inventory)")
