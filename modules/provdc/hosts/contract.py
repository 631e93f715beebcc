"""The host contract: the `provdc_*` variables an inventory gives each host, typed. Pure.

Every inventory provdc reads (the lab's, the cloud stack's, one written by hand) is checked
against this model before anything is rendered or any host is touched. The values end up in
files that run as root (nftables, tc, rsyslog, chrony, certificate paths), so the model
refuses whatever could change the meaning of such a file: names are RFC 1123 host names,
interface and namespace names have the kernel's shape, addresses are parsed, roles are an
enumeration, and no text carries a newline, NUL or any other control character.

Only the shape of each value is checked here; `provdc.hosts.plan` checks the values against
the topology (zones, sites, addresses).
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

PREFIX = "provdc_"

# RFC 1123: labels of letters, digits and inner hyphens, at most 63 characters each, dots
# between them, 253 in all. Matched with fullmatch: a trailing newline is not a name.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# What `ip link` accepts and nothing a shell, tc or nft would read as syntax: 1-15 characters.
INTERFACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}")
# Network namespaces are files under /run/netns: one path component, no dot-names.
NETNS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Topology names: zones (APP, DMZ), services, sites and tiers (slugs).
TOPOLOGY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class Role(StrEnum):
    """What a host is to provdc (not the service it runs: that is `provdc_service`)."""

    dc = "dc"  # a server in a zone of the data centre
    gateway = "gateway"  # a site's TSLCD gateway (uplink shaping, site routing)
    agency = "agency"  # a host in an agency's site LAN
    core = "core"  # the data centre's core router: carries the zone firewall


def control_characters(text: str) -> list[str]:
    """The control and format characters in text (newline, NUL, ESC, bidi marks...)."""
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


def plain_text(text: str) -> str:
    bad = control_characters(text)
    if bad:
        raise ValueError(f"contains the control character {bad[0]!r}")
    return text


def _shaped(pattern: re.Pattern, what: str):
    def check(text: str) -> str:
        plain_text(text)
        if not pattern.fullmatch(text):
            raise ValueError(f"{text!r} is not {what}")
        return text

    return AfterValidator(check)


HostName = Annotated[str, Field(max_length=253),
                     _shaped(HOST_NAME, "an RFC 1123 host name (letters, digits, '-', '.')")]
Interface = Annotated[str, _shaped(INTERFACE, "an interface name (1-15 of A-Z a-z 0-9 _ . @ -)")]
Netns = Annotated[str, _shaped(NETNS, "a network namespace name")]
TopologyName = Annotated[str, _shaped(TOPOLOGY_NAME, "a topology name (letters, digits, - _)")]
PathText = Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(plain_text)]
Port = Annotated[int, Field(ge=1, le=65535)]


# A flow endpoint as the topology writes it, plus `role:dc|gateway|agency` (every host of
# that role in the inventory): what an inventory's own extra flows may name.
FLOW_ENDPOINT = re.compile(r"(zone|service|tier|site|external):[A-Za-z0-9_-]{1,64}"
                           r"|role:(dc|gateway|agency)")


class ExtraFlow(BaseModel):
    """A flow the inventory adds on top of the topology's matrix, e.g. the lab's bandwidth
    measurement (iperf3) between agency and data-centre hosts. Rendered like a matrix flow,
    with `why` in the rule's comment; the same list on every host of the inventory."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: Annotated[str, _shaped(FLOW_ENDPOINT, "an endpoint (zone:APP, role:agency...)")] = \
        Field(alias="from")
    to: Annotated[str, _shaped(FLOW_ENDPOINT, "an endpoint (zone:APP, role:agency...)")]
    proto: Literal["tcp", "udp"]
    ports: tuple[Port, ...] = ()
    port_range: tuple[Port, Port] | None = None
    why: Annotated[str, Field(min_length=1, max_length=80), AfterValidator(plain_text)]

    @model_validator(mode="after")
    def _some_ports(self) -> ExtraFlow:
        if not self.ports and not self.port_range:
            raise ValueError("give ports or port_range")
        if self.port_range and self.port_range[0] > self.port_range[1]:
            raise ValueError("port_range runs backwards")
        return self

    def all_ports(self) -> tuple[int, ...]:
        extra = range(self.port_range[0], self.port_range[1] + 1) if self.port_range else ()
        return tuple(sorted({*self.ports, *extra}))


def check_host_name(name: object) -> str:
    """An inventory host name, before it is used as a file name or a certificate name."""
    text = str(name)
    if control_characters(text) or not HOST_NAME.fullmatch(text) or len(text) > 253:
        raise ValueError(f"{text!r} is not an RFC 1123 host name")
    return text


class HostVars(BaseModel):
    """One host's `provdc_*` variables (field `x` is the variable `provdc_x`).

    Unknown `provdc_*` variables are errors, so a misspelt one never silently falls back to
    a default."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              alias_generator=lambda name: PREFIX + name.removesuffix("_"))

    # what every host says
    role: Role
    address: IPv4Address
    security_level: int = Field(ge=1, le=5)
    topology: PathText | None = None  # required unless the command is given --topology
    prefix_len: int | None = Field(None, ge=0, le=32)
    default_gw: IPv4Address | None = None
    admin_sources: list[IPv4Network] | None = None
    open_tcp: list[Port] = []
    extra_flows: list[ExtraFlow] = []
    # where it sits: a data-centre host in a zone (running a service), or a host of a site
    zone: TopologyName | None = None
    service: TopologyName | None = None
    instance: int | None = Field(None, ge=0)
    site: TopologyName | None = None
    tier: TopologyName | None = None
    # its interfaces and neighbours (tc and nft read these)
    if_: Interface | None = None
    uplink_if: Interface | None = None
    lan_if: Interface | None = None
    core_peer_if: Interface | None = None
    gateway_peer_if: Interface | None = None
    core_host: HostName | None = None
    gateway_host: HostName | None = None
    wan_address: IPv4Address | None = None
    wan_core_address: IPv4Address | None = None
    lan_address: IPv4Address | None = None
    site_lan: IPv4Network | None = None
    is_router: bool | None = None
    # the local lab only (`provdc lab up` writes them)
    lab_name: Netns | None = None
    netns: Netns | None = None
    core_netns: Netns | None = None
    # a lab host's kind: a container on this machine's kernel, or a QEMU virtual machine
    virt: Literal["container", "vm"] | None = None

    @field_validator("admin_sources", "site_lan", mode="before")
    @classmethod
    def _networks_not_text_lists(cls, value: object) -> object:
        if isinstance(value, str) and value.lstrip().startswith("["):
            raise ValueError("is a string, not a YAML list")
        return value

    def required_by_role(self) -> list[tuple[str, str]]:
        """(variable, why) for each variable this host's role needs and lacks."""
        needs = {
            Role.dc: [("zone", "the zone the host sits in")],
            Role.gateway: [("site", "the site it serves"),
                           ("uplink_if", "its side of the TSLCD link (tc shapes it)"),
                           ("core_peer_if", "the core router's interface facing it")],
            Role.agency: [("site", "the site whose LAN it sits in")],
            Role.core: [],
        }[self.role]
        return [(PREFIX + f, why) for f, why in needs if getattr(self, f) is None]


def split_vars(variables: dict) -> tuple[dict, dict]:
    """(the provdc_* variables, every other variable)."""
    ours = {k: v for k, v in variables.items() if str(k).startswith(PREFIX)}
    return ours, {k: v for k, v in variables.items() if k not in ours}


# --- group names: the same in every inventory provdc writes ------------------------------

ROLE_GROUPS = {Role.dc: "dc_hosts", Role.gateway: "gateways", Role.agency: "agency_hosts",
               Role.core: "core_routers"}
ROLE_GROUP_ORDER = tuple(ROLE_GROUPS.values())


def group_name(kind: str, name: str) -> str:
    """`zone_app`, `service_dvc_portal`, `site_so_tttt`: Ansible group names are
    identifiers, so '-' becomes '_'."""
    return f"{kind}_{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}"


def groups_of(host: HostVars) -> list[str]:
    """The groups a host belongs to, from its variables alone."""
    out = [ROLE_GROUPS[host.role]]
    for kind in ("zone", "service", "tier", "site"):
        if getattr(host, kind):
            out.append(group_name(kind, getattr(host, kind)))
    out.append(f"security_level_{host.security_level}")
    return out
