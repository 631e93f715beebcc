"""The province topology: one YAML file describes the whole province.

Everything provdc does derives from these models: the address plan, the lab, the
inventories, the bandwidth classes, the Pulumi resources and the controls that apply
to each host (through its security level). Unknown keys are errors, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from netaddr import IPNetwork
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
SlugStr = Annotated[str, Field(pattern=SLUG, min_length=1, max_length=63)]
ZoneName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=16)]
Mbit = Annotated[float, Field(gt=0, le=1_000_000)]
SecurityLevel = Annotated[int, Field(ge=1, le=5)]
PrefixLen = Annotated[int, Field(ge=8, le=30)]


def _single_port(value: object) -> object:
    """A port range ("8000-8010", or 8000-8010 unquoted, which YAML reads as text) gets
    its own message: flows and services list single ports."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", value):
        raise PydanticCustomError("port_range", "'{value}' is a port range",
                                  {"value": value.strip()})
    return value


Port = Annotated[int, Field(ge=1, le=65535), BeforeValidator(_single_port)]

# DSCP names (RFC 2474/2597/3246/5865/8622) and their code points.
DSCP_CODEPOINTS: dict[str, int] = {
    "CS0": 0, "BE": 0, "LE": 1, "CS1": 8, "AF11": 10, "AF12": 12, "AF13": 14,
    "CS2": 16, "AF21": 18, "AF22": 20, "AF23": 22, "CS3": 24, "AF31": 26, "AF32": 28,
    "AF33": 30, "CS4": 32, "AF41": 34, "AF42": 36, "AF43": 38, "CS5": 40, "VA": 44,
    "EF": 46, "CS6": 48, "CS7": 56,
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _network(value: str) -> str:
    """Accept only a network address in CIDR form (10.94.0.0/16, not 10.94.0.1/16)."""
    try:
        net = IPNetwork(value, expand_partial=False)
    except Exception as exc:  # netaddr raises several types for bad input
        raise ValueError(f"'{value}' is not a CIDR network such as 10.94.0.0/16") from exc
    if "/" not in str(value):
        raise ValueError(f"'{value}' has no prefix length; write it as a CIDR such as 10.94.0.0/16")
    if net.ip != net.network:
        raise ValueError(f"'{value}' has host bits set; the network is {net.cidr}")
    return str(net.cidr)


Cidr = Annotated[str, Field(description="an IPv4 network in CIDR form, e.g. 10.94.0.0/16")]


class Province(Strict):
    name: str = Field(min_length=1, description="official name with diacritics, e.g. Sóc Trăng")
    slug: SlugStr
    gso_code: Annotated[str, Field(pattern=r"^\d{2}$", description="GSO province code, e.g. 94")]
    lan_supernet: Cidr = Field(description="the province's private LAN supernet")
    tslcd_wan: Cidr = Field(
        description="TSLCD WAN prefix allocated by the Central Post Department (CBĐTW); an input, "
        "not something provdc allocates"
    )
    reserved: list[Cidr] = Field(default_factory=list, description="ranges no site may use")
    regime: Literal["nd85_tt12_tcvn11930", "nd331_tcvn14423"] = Field(
        default="nd85_tt12_tcvn11930", description="which regulatory regime the controls follow"
    )
    units: Literal["former", "2025"] | None = Field(
        default=None, description="the official unit list the sites' GSO codes come from "
        "(former: before the 1 July 2025 reform, three tiers; 2025: after it); when set, every "
        "code is checked against it")

    _cidrs = field_validator("lan_supernet", "tslcd_wan")(classmethod(lambda cls, v: _network(v)))

    @field_validator("reserved")
    @classmethod
    def _reserved(cls, v: list[str]) -> list[str]:
        return [_network(x) for x in v]


class Zone(Strict):
    name: ZoneName
    prefix_len: PrefixLen
    slot: int | None = Field(default=None, ge=0, description="pinned index of the zone subnet")
    internet_facing: bool = False
    description: str = ""


class Datacenter(Strict):
    name: str
    block: Cidr = Field(description="the data-centre block inside the LAN supernet")
    zones: list[Zone] = Field(min_length=1)

    _block = field_validator("block")(classmethod(lambda cls, v: _network(v)))


class TrafficClass(Strict):
    name: SlugStr
    dscp: str = Field(description="DSCP name (EF, AF41, CS1...) or a number 0-63")
    rate_mbit: Mbit = Field(description="guaranteed rate")
    ceil_mbit: Mbit = Field(description="ceiling the class may borrow up to")
    default: bool = Field(default=False, description="unclassified traffic lands here")
    description: str = ""

    @field_validator("dscp", mode="before")
    @classmethod
    def _dscp(cls, v: object) -> str:
        if isinstance(v, bool):
            raise ValueError("DSCP must be a name such as EF or AF41, or a number 0-63")
        if isinstance(v, int):
            if 0 <= v <= 63:
                return str(v)
            raise ValueError(f"DSCP {v} is outside 0-63")
        text = str(v).strip().upper()
        if text in DSCP_CODEPOINTS or (text.isdigit() and 0 <= int(text) <= 63):
            return text
        raise ValueError(
            f"unknown DSCP '{v}'; use one of {', '.join(sorted(DSCP_CODEPOINTS))} or a number 0-63"
        )

    @property
    def codepoint(self) -> int:
        return int(self.dscp) if self.dscp.isdigit() else DSCP_CODEPOINTS[self.dscp]


class Bandwidth(Strict):
    link_mbit: Mbit = Field(description="contracted TSLCD uplink of a site of this tier")
    shaped_pct: float = Field(
        default=95, gt=50, le=100, description="root HTB rate as a percentage of the link"
    )
    classes: list[TrafficClass] = Field(min_length=1)

    @property
    def shaped_mbit(self) -> float:
        return round(self.link_mbit * self.shaped_pct / 100, 3)


class Tier(Strict):
    name: SlugStr
    description: str = ""
    block_prefix_len: PrefixLen = Field(description="address block of each site of this tier")
    lan_prefix_len: PrefixLen = Field(description="the site's own LAN inside its block")
    lan_slot: int = Field(default=0, ge=0, description="index of the LAN inside the block")
    pool: Cidr | None = Field(
        default=None, description="where blocks of this tier are carved (default: parent's block)"
    )
    security_level: SecurityLevel = 2
    agency_hosts: int = Field(default=1, ge=0, le=50, description="agency hosts per site (lab)")
    bandwidth: Bandwidth

    @field_validator("pool")
    @classmethod
    def _pool(cls, v: str | None) -> str | None:
        return None if v is None else _network(v)

    @model_validator(mode="after")
    def _lan_fits(self) -> Tier:
        if self.lan_prefix_len < self.block_prefix_len:
            raise ValueError(
                f"lan_prefix_len /{self.lan_prefix_len} is larger than the block "
                f"/{self.block_prefix_len}; the LAN must fit inside the block"
            )
        return self


FormerRef = Annotated[str, Field(
    pattern=r"^[a-z0-9]+(-[a-z0-9]+)*/[a-z0-9]+(-[a-z0-9]+)*$",
    description="a site of a former province: <province slug>/<site slug>; "
    "<province slug>/datacenter names its data-centre block")]


def _prefix_only(value: object) -> object:
    """`carry_over: [10.94.66.0/24]` is short for `[{prefix: 10.94.66.0/24}]`."""
    return {"prefix": value} if isinstance(value, str) else value


class CarryOver(Strict):
    """A prefix a site inherits from a former unit it absorbed: the agency keeps its addresses."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True,
                              populate_by_name=True)
    former: FormerRef | None = Field(default=None, alias="from",
                                     description="the former site that used the prefix")
    prefix: Cidr

    _prefix = field_validator("prefix")(classmethod(lambda cls, v: _network(v)))


class Site(Strict):
    name: str = Field(min_length=1, description="name with diacritics")
    slug: SlugStr
    gso_code: Annotated[str, Field(pattern=r"^\d{2,5}$")] | None = None
    tier: SlugStr
    parent: SlugStr | None = None
    slot: int | None = Field(default=None, ge=0, description="pinned index inside the pool")
    kind: str = Field(default="", description="GSO type slug (huyen, xa, phuong...) or 'so'")
    carry_over: list[Annotated[CarryOver, BeforeValidator(_prefix_only)]] = Field(
        default_factory=list, description="prefixes inherited from former units; the first is "
        "the site's LAN, the others are routed to it as well")

    @field_validator("gso_code", mode="before")
    @classmethod
    def _code_is_text(cls, v: object) -> object:
        if isinstance(v, bool) or (v is not None and not isinstance(v, str | int)):
            raise ValueError("gso_code must be a code such as '941' (quote it in YAML)")
        return None if v is None else str(v)


Protocol = Literal["tcp", "udp", "icmp"]
ENDPOINT = re.compile(r"^(zone|service|tier|site|external):[A-Za-z0-9_-]+$")


AbsolutePath = Annotated[str, Field(
    pattern=r"^/([A-Za-z0-9._@+-]+/?)*$", max_length=255,
    description="an absolute path of plain characters (no spaces, quotes or globs)")]
DatabaseName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                                    description="a PostgreSQL database name")]


class DatabaseDump(Strict):
    """A database dumped into the backup: a consistent snapshot while the service writes."""

    engine: Literal["postgresql"] = "postgresql"
    databases: list[DatabaseName] = Field(min_length=1)


class BackupPolicy(Strict):
    """What of a service's hosts is backed up, how often, how long and where."""

    paths: list[AbsolutePath] = Field(default_factory=list, description="files and directories")
    database: DatabaseDump | None = None
    schedule: Literal["hourly", "daily", "weekly"] = "daily"
    retention_days: int | None = Field(
        default=None, ge=1, le=3650,
        description="keep snapshots this long; never below the security level's minimum "
        "(default: that minimum)")
    destinations: list[Literal["backup-zone", "offsite"]] | None = Field(
        default=None, description="backup-zone: the repository on the BACKUP zone's host; "
        "offsite: the write-once cloud copy (default: both from the level that requires it)")

    @field_validator("paths")
    @classmethod
    def _no_parent_steps(cls, v: list[str]) -> list[str]:
        for path in v:
            if ".." in path.split("/"):
                raise ValueError(f"'{path}' steps up with '..'; write the path it means")
        return v

    @model_validator(mode="after")
    def _something(self) -> BackupPolicy:
        if not self.paths and self.database is None:
            raise ValueError("a backup policy needs paths, a database, or both")
        return self


SystemClass = Literal["internal", "public-service", "infrastructure", "industrial-control",
                      "other"]
InformationClass = Literal["public", "private", "personal", "state-secret"]


class Classification(Strict):
    """The operator's answers to the level criteria of Decree 85/2016 (Arts. 5-11): the
    security-level dossier quotes them to justify the proposed level."""

    owner: str = Field(default="", description="the owning agency (chủ quản, Art. 5)")
    users: str = Field(default="", description="who uses it, in words (citizens and "
                       "businesses, every agency of the province...)")
    system_class: SystemClass | None = Field(
        default=None, description="Art. 6: internal operations, serving citizens and "
        "businesses (public-service), information infrastructure, industrial control, other")
    information: list[InformationClass] = Field(
        default_factory=list, description="the classes of information it processes (Art. 6)")
    scope: Literal["agency", "province", "sector", "national"] | None = Field(
        default=None, description="whose work it serves: one agency, the agencies of the "
        "whole province, one sector, the whole country")
    online_service: Literal["none", "partial", "full"] = Field(
        default="none", description="the online public services it provides (Decree 42/2022: "
        "partial, formerly level 3; full, formerly level 4)")
    continuous: bool = Field(default=False,
                             description="must run 24/7 with no unplanned downtime")
    national_critical: bool = Field(
        default=False, description="listed as a national-critical information system")


class Service(Strict):
    name: str
    slug: SlugStr
    zone: ZoneName
    instances: int = Field(default=1, ge=1, le=16, description="HA count")
    security_level: SecurityLevel
    ports: list[Port] = Field(default_factory=list)
    role: str = Field(default="", description="operational role: bastion, soc, ntp, backup...")
    description: str = ""
    system: SlugStr | None = Field(
        default=None, description="the information system it belongs to: the services sharing "
        "one are the system a security-level dossier describes (default: the service alone)")
    classification: Classification | None = Field(
        default=None, description="answers to the level criteria (Decree 85/2016) for the "
        "security-level dossier")
    backup: BackupPolicy | None = Field(default=None, description="what is backed up")


class Flow(Strict):
    source: str = Field(alias="from", description="zone:X, service:x, tier:x, site:x, external:x")
    to: str
    proto: Protocol = "tcp"
    ports: list[Port] = Field(default_factory=list)
    description: str = ""
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("source", "to")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not ENDPOINT.match(v):
            raise ValueError(
                f"'{v}' is not an endpoint; write zone:APP, service:lgsp, tier:commune, "
                "site:so-tttt or external:internet"
            )
        return v

    @model_validator(mode="after")
    def _ports_match_proto(self) -> Flow:
        if self.proto == "icmp" and self.ports:
            raise ValueError("icmp flows take no ports")
        if self.proto != "icmp" and not self.ports:
            raise ValueError(f"a {self.proto} flow needs at least one port")
        return self


# RFC 5424 severities, most severe first (the SOC's onward-link filter).
SyslogSeverity = Literal["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
HostName = Annotated[str, Field(
    pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
            r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
    max_length=253, description="a DNS name or an IPv4 address")]


class SocUpstream(Strict):
    """The onward link from the SOC collector (NCSC connector or a managed SOC)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = "ncsc"
    host: HostName
    port: int = Field(default=6514, ge=1, le=65535)
    protocol: Literal["syslog-tls", "cef"] = Field(
        default="syslog-tls", description="RFC 5424 syslog over TLS, or CEF inside it")
    min_severity: SyslogSeverity = Field(
        default="warning", description="forward this severity and everything more severe")
    permitted_peer: HostName | None = Field(
        default=None, description="name in the upstream's certificate (default: host)")


class Soc(Strict):
    """Security monitoring: which service collects, where it forwards, how long it keeps."""

    collector_service: SlugStr = Field(
        default="soc-collector", description="slug of the service that collects the events")
    upstream: SocUpstream | None = Field(default=None, description="the onward link")
    retention_days: int | None = Field(
        default=None, ge=1, le=3650,
        description="keep events this long; never below the highest security level's minimum")


class BackupSettings(Strict):
    """Where the services' backups go."""

    repository_service: SlugStr = Field(
        default="backup", description="slug of the BACKUP zone service holding the repositories")
    port: int = Field(default=22, ge=1, le=65535,
                      description="the repository's SFTP port (hosts to the backup service)")


class Operations(Strict):
    ntp_servers: list[HostName] = Field(default_factory=list,
                                        description="provincial NTP sources (names or IPv4)")
    syslog_port: int = Field(default=6514, ge=1, le=65535,
                             description="agents to the SOC collector (RELP over TLS)")
    admin_users: list[SlugStr] = Field(default_factory=lambda: ["provdc"])
    soc: Soc = Field(default_factory=Soc)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    ntp_upstream: list[HostName] = Field(
        default_factory=list,
        description="national time sources of the provincial NTP service (empty: the "
        "distribution's pool)")


class Retired(Strict):
    former: FormerRef
    reason: str = Field(min_length=1)


class Renumbered(Strict):
    former: FormerRef
    to: SlugStr = Field(description="the site that takes the agency over, in new space")
    reason: str = Field(min_length=1)


class Migration(Strict):
    """How the sites of former provinces (or of this province's previous plan) end up here.

    A former site is either carried over (a site's `carry_over` names it), retired (its
    prefixes are released) or renumbered (it moves to new space): each exactly once.
    """

    sources: list[SlugStr] = Field(min_length=1,
                                   description="the former provinces, by their province slug")
    retired: list[Retired] = Field(default_factory=list)
    renumbered: list[Renumbered] = Field(default_factory=list)


class Topology(Strict):
    version: Literal[1] = 1
    province: Province
    datacenter: Datacenter
    tiers: list[Tier] = Field(min_length=1)
    sites: list[Site] = Field(min_length=1)
    services: list[Service] = Field(default_factory=list)
    flows: list[Flow] = Field(default_factory=list)
    operations: Operations = Field(default_factory=Operations)
    migration: Migration | None = Field(default=None, description="where former sites went")
    _children_cache: dict[str | None, list[Site]] | None = PrivateAttr(default=None)

    # Lookups used everywhere downstream.
    def tier(self, name: str) -> Tier:
        return next(t for t in self.tiers if t.name == name)

    def site(self, slug: str) -> Site:
        return next(s for s in self.sites if s.slug == slug)

    def tier_of(self, site: Site) -> Tier:
        return self.tier(site.tier)

    def zone(self, name: str) -> Zone:
        return next(z for z in self.datacenter.zones if z.name == name)

    def children(self, slug: str | None) -> list[Site]:
        return self._children_map().get(slug, [])

    def _children_map(self) -> dict[str | None, list[Site]]:
        # computed once: the model is frozen, and 10,000-site provinces ask for it per site
        if self._children_cache is None:
            self._children_cache = {}
            for site in self.sites:
                self._children_cache.setdefault(site.parent, []).append(site)
        return self._children_cache

    def inbound_ports(self, proto: str = "tcp", *, service: str | None = None,
                      zone: str | None = None, tier: str | None = None,
                      site: str | None = None) -> list[int]:
        """Ports the allowed-flow matrix opens towards a host with these attributes.

        Host firewalls (the baseline's port list) and the segmentation rules both come from
        this one matrix, so a service port is never open in one and closed in the other.
        """
        wanted = {f"service:{service}", f"zone:{zone}", f"tier:{tier}", f"site:{site}"}
        return sorted({p for f in self.flows if f.proto == proto and f.to in wanted
                       for p in f.ports})

    @property
    def root(self) -> Site:
        return next(s for s in self.sites if s.parent is None)

    @property
    def max_security_level(self) -> int:
        levels = [s.security_level for s in self.services] + [t.security_level for t in self.tiers]
        return max(levels)
