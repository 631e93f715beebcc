"""What a lab is made of, derived from the topology: pure data, no root, no side effects.

A *host* is one Linux machine of the lab: its own root file system (an overlay on the shared
image), its own network namespace, systemd as PID 1 and sshd. Three roles:

- `dc`: one per service instance in the data centre, on the bridge of the service's zone
  (a bridge per zone in the lab's core namespace, whose address is the zone gateway);
- `gateway`: one per agency site; `eth0` is its uplink, a /31 from the TSLCD WAN plan to the
  core, and `lan0` is a bridge holding the site gateway address;
- `agency`: the site's agency hosts (`agency_hosts` of the tier, at least one) on `lan0`.

The core namespace routes between every zone and every site LAN, so site<->DC traffic
crosses the site gateway's uplink (`eth0` on the gateway, `provdc_core_peer_if` in the core).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import Enum

from netaddr import IPAddress, IPNetwork

from provdc.errors import ProvdcError
from provdc.hosts.contract import group_name
from provdc.topology.validate import Loaded

NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,23}")  # fullmatch: no trailing newline
DEFAULT_LAB_NAME = "provdc"
UPLINK_IF = "eth0"
LAN_IF = "lan0"
HOST_IF = "eth0"


class Profile(str, Enum):  # noqa: UP042 (typer needs a str Enum)
    small = "small"
    province = "province"


def check_lab_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or "--" in name or name.endswith("-"):
        raise ProvdcError(
            f"'{name}' is not a valid lab name",
            field="--name / PROVDC_LAB_NAME",
            fix="use 1-24 characters: lowercase letters, digits and single dashes, starting "
            "with a letter (e.g. provdc, alice, ci-hardening)",
        )
    return name


def netns_name(lab: str, host: str) -> str:
    """Every namespace of a lab is `<lab>.<host>`; the dot cannot occur in a lab name."""
    return f"{lab}.{host}"


def core_netns(lab: str) -> str:
    return netns_name(lab, "core")


def machine_name(lab: str, host: str) -> str:
    """The nspawn machine name (unique on the machine); the hostname stays `host`."""
    name = f"{lab}.{host}"
    if len(name) > 64:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[:55]}.{digest}"
    return name


def mac_for(lab: str, host: str, ifname: str) -> str:
    """Deterministic, locally administered unicast MAC (a re-created host keeps its MAC,
    so neighbours' ARP caches stay valid)."""
    digest = hashlib.sha256(f"{lab}/{host}/{ifname}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def _hostname(base: str) -> str:
    if len(base) <= 63:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    return f"{base[:56]}-{digest}"


def zone_bridge(zone: str) -> str:
    return ("z-" + zone.lower())[:15]


@dataclass
class Host:
    """One lab host. Addresses are strings so the record serialises as is."""

    name: str
    role: str  # dc | gateway | agency
    address: str  # primary address (DC zone or site LAN; the WAN /31 side for gateways)
    prefix_len: int
    default_gw: str
    security_level: int
    index: int  # stable number inside the lab (interface names)
    zone: str | None = None
    service: str | None = None
    instance: int | None = None
    site: str | None = None
    tier: str | None = None
    # network plumbing
    segment: str = ""  # "zone:DMZ" or "site:<slug>"
    peer_if: str = ""  # the other end of this host's eth0 (in the core or in its gateway)
    lan_address: str | None = None  # gateways: the site gateway address on lan0
    lan_cidr: str | None = None  # gateways and agency hosts: the site LAN
    wan_core_address: str | None = None  # gateways: core side of the /31
    gateway_host: str | None = None  # agency hosts: their site gateway
    extra: bool = False  # created on demand (add_host); not in the main inventory
    virt: str = "container"  # container (systemd-nspawn) | vm (QEMU, a real kernel)
    open_tcp: tuple[int, ...] = ()  # ports the flow matrix opens towards this host

    @property
    def groups(self) -> list[str]:
        out = {"dc": ["dc_hosts"], "gateway": ["gateways"], "agency": ["agency_hosts"]}[self.role]
        out = list(out)
        if self.zone:
            out.append(group_name("zone", self.zone))
        if self.service:
            out.append(group_name("service", self.service))
        if self.tier:
            out.append(group_name("tier", self.tier))
        if self.site:
            out.append(group_name("site", self.site))
        out.append(f"security_level_{self.security_level}")
        if self.extra:
            out.append("lab_extra")
        return out

    @property
    def iface_addresses(self) -> list[str]:
        return [f"{self.address}/{self.prefix_len}"]

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> Host:
        return cls(**data)


@dataclass
class Segment:
    """A layer-2 segment: a zone bridge in the core or a site LAN bridge in a gateway."""

    key: str  # zone:DMZ | site:<slug>
    cidr: str
    gateway: str
    bridge: str
    netns_owner: str  # "core" or the gateway host name


@dataclass
class LabPlan:
    name: str
    profile: str
    topology_path: str
    hosts: list[Host] = field(default_factory=list)
    segments: dict[str, Segment] = field(default_factory=dict)
    routes: list[tuple[str, str]] = field(default_factory=list)  # core: (cidr, via)

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def by_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts if h.role == role]


def small_sites(loaded: Loaded) -> list[str]:
    """The `small` profile's sites: one site of each tier below the root and a second one of
    the lowest tier, children of an already chosen site where possible (Sóc Trăng: one
    department, one district and two communes of that district)."""
    topo = loaded.topology
    plan_order = [sp.site for sp in loaded.plan.sites]  # file order of placed sites
    depth = {sp.slug: sp.depth for sp in loaded.plan.sites}
    below = [s for s in plan_order if s.parent is not None]
    if not below:
        return [topo.root.slug]
    tiers: list[str] = []
    for s in sorted(below, key=lambda s: depth[s.slug]):
        if s.tier not in tiers:
            tiers.append(s.tier)
    chosen: list[str] = []
    for n, tier in enumerate(tiers):
        want = 2 if n == len(tiers) - 1 else 1
        candidates = [s for s in below if s.tier == tier]
        has_kids = {s.slug for s in candidates if topo.children(s.slug)}
        # children of a chosen site first, then sites that have children, then file order
        candidates.sort(key=lambda s: (s.parent not in chosen, s.slug not in has_kids))
        chosen += [s.slug for s in candidates[:want]]
    return chosen


def plan_lab(
    loaded: Loaded,
    name: str = DEFAULT_LAB_NAME,
    profile: Profile | str = Profile.small,
    sites: list[str] | None = None,
    services: list[str] | None = None,
) -> LabPlan:
    """Every host, segment and core route of a lab, in a stable order.

    `sites` / `services` replace the profile's choice of sites / DC services (slugs)."""
    profile = Profile(profile)
    check_lab_name(name)
    topo, plan = loaded.topology, loaded.plan
    lab = LabPlan(name, profile.value, loaded.path)
    index = 0

    for zp in plan.zones:
        key = f"zone:{zp.name}"
        lab.segments[key] = Segment(key, str(zp.cidr), str(zp.gateway), zone_bridge(zp.name),
                                    "core")
    used_in_zone: dict[str, int] = {}
    known_services = {s.slug for s in topo.services}
    if services is not None and set(services) - known_services:
        raise ProvdcError(
            f"unknown service(s) {', '.join(sorted(set(services) - known_services))}",
            file=loaded.path, fix="name services by their slugs in the topology",
        )
    for svc in topo.services:
        if services is not None and svc.slug not in services:
            continue
        zp = plan.zone(svc.zone)
        count = svc.instances if profile is Profile.province else 1
        for n in range(1, count + 1):
            slot = used_in_zone.get(svc.zone, 0)
            used_in_zone[svc.zone] = slot + 1
            index += 1
            lab.hosts.append(
                Host(
                    name=_hostname(f"{svc.slug}-{n}"),
                    role="dc",
                    address=str(plan.host_address(zp.cidr, slot)),
                    prefix_len=zp.cidr.prefixlen,
                    default_gw=str(zp.gateway),
                    security_level=svc.security_level,
                    index=index,
                    zone=svc.zone,
                    service=svc.slug,
                    instance=n,
                    segment=f"zone:{svc.zone}",
                    peer_if=f"d{index}",
                )
            )

    if sites is None:
        sites = (
            [s.slug for s in plan.sites] if profile is Profile.province else small_sites(loaded)
        )
    known = {s.slug for s in plan.sites}
    unknown = [s for s in sites if s not in known]
    if unknown:
        raise ProvdcError(
            f"unknown site(s) {', '.join(unknown)} in the lab's site list",
            file=loaded.path,
            fix="name sites by the slugs of the topology (`provdc plan` lists them)",
        )
    for slug in sites:
        sp = plan.site(slug)
        tier = topo.tier(sp.site.tier)
        core_side, site_side = plan.wan_link(slug)
        index += 1
        gw_name = _hostname(f"gw-{slug}")
        lab.segments[f"site:{slug}"] = Segment(
            f"site:{slug}", str(sp.cidr), str(sp.gateway), LAN_IF, gw_name
        )
        lab.hosts.append(
            Host(
                name=gw_name,
                role="gateway",
                address=str(site_side),
                prefix_len=31,
                default_gw=str(core_side),
                security_level=tier.security_level,
                index=index,
                site=slug,
                tier=tier.name,
                segment="wan",
                peer_if=f"w{index}",
                lan_address=str(sp.gateway),
                lan_cidr=str(sp.cidr),
                wan_core_address=str(core_side),
            )
        )
        lab.routes.append((str(sp.cidr), str(site_side)))
        for n in range(1, max(1, tier.agency_hosts) + 1):
            index += 1
            lab.hosts.append(
                Host(
                    name=_hostname(f"{slug}-{n}"),
                    role="agency",
                    address=str(plan.host_address(sp.cidr, n - 1)),
                    prefix_len=sp.cidr.prefixlen,
                    default_gw=str(sp.gateway),
                    security_level=tier.security_level,
                    index=index,
                    site=slug,
                    tier=tier.name,
                    instance=n,
                    segment=f"site:{slug}",
                    peer_if=f"p{index}",
                    lan_cidr=str(sp.cidr),
                    gateway_host=gw_name,
                )
            )
    _check_unique(lab, loaded)
    for h in lab.hosts:  # what each host's firewall must let in, from the matrix
        h.open_tcp = tuple(topo.inbound_ports(
            service=h.service, zone=h.zone, tier=h.tier, site=h.site))
    return lab


def _check_unique(lab: LabPlan, loaded: Loaded) -> None:
    seen: dict[str, Host] = {}
    for h in lab.hosts:
        if h.name in seen or h.name in ("core",):
            raise ProvdcError(
                f"two lab hosts would be called '{h.name}' (a {h.role} host and "
                f"a {seen[h.name].role if h.name in seen else 'reserved'} name)",
                file=loaded.path,
                fix="rename the service or the site slug so that '<service>-<n>', "
                "'<site>-<n>' and 'gw-<site>' differ",
            )
        seen[h.name] = h


def make_vms(lab: LabPlan, names: list[str]) -> LabPlan:
    """Make the named hosts of a plan virtual machines (`lab up --vm`): DC and agency hosts
    only (a site gateway is a router with two interfaces; it stays a container)."""
    known = {h.name: h for h in lab.hosts}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ProvdcError(
            f"--vm names host(s) the lab does not have: {', '.join(unknown)}",
            field="--vm",
            fix="name hosts of this lab's plan (`provdc lab up` prints them), e.g. lgsp-1",
        )
    gateways = [n for n in names if known[n].role == "gateway"]
    if gateways:
        raise ProvdcError(
            f"site gateways cannot be VM hosts: {', '.join(gateways)}",
            field="--vm",
            fix="name DC hosts (<service>-<n>) or agency hosts (<site>-<n>)",
        )
    for n in names:
        known[n].virt = "vm"
    return lab


def free_address(lab: LabPlan, segment: str) -> str:
    """The lowest free host address of a segment (for hosts added on demand)."""
    seg = lab.segments[segment]
    net = IPNetwork(seg.cidr)
    used = {seg.gateway} | {h.address for h in lab.hosts} | {
        h.lan_address for h in lab.hosts if h.lan_address
    }
    for value in range(net.first + 2, net.last):
        if str(IPAddress(value)) not in used:
            return str(IPAddress(value))
    raise ProvdcError(f"segment {segment} ({seg.cidr}) has no free address left")
