"""The onward link: the collector forwards events to an upstream (the NCSC's connector or a
managed SOC). No public specification of the NCSC feed exists, so the link is a standard,
configurable forwarder: RFC 5424 syslog over TLS, or CEF carried in syslog over TLS, with a
severity filter. The settings come from the playbook variable `soc_upstream`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from provdc.errors import ProvdcError
from provdc.topology.schema import SocUpstream

# RFC 5424 severities, most severe first: forwarding "warning" sends 0..4.
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
# CEF severity 0-10 for each syslog severity (ArcSight convention: higher is worse).
CEF_SEVERITY = (10, 9, 8, 7, 5, 3, 1, 0)
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class Upstream(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="ncsc", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    host: str = Field(description="address or DNS name of the upstream receiver")
    port: int = Field(default=6514, ge=1, le=65535)
    protocol: Literal["syslog", "cef"] = "syslog"
    min_severity: Literal[SEVERITIES] = Field(
        default="warning", description="forward this severity and everything more severe")
    permitted_peer: str | None = Field(
        default=None, description="name in the upstream's certificate (default: host)")
    ca_file: str | None = Field(
        default=None, description="CA that signed the upstream's certificate (default: ours)")
    queue_max_disk: str = Field(default="1g", pattern=r"^\d+[kmg]$")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not HOSTNAME.match(v):
            raise ValueError(f"'{v}' is not a host name or IPv4 address")
        return v

    @property
    def severity_max(self) -> int:
        """The largest syslog severity number forwarded ($syslogseverity <= this)."""
        return SEVERITIES.index(self.min_severity)

    def facts(self) -> dict:
        """What the collector role needs, already resolved."""
        return {
            **self.model_dump(),
            "permitted_peer": self.permitted_peer or self.host,
            "severity_max": self.severity_max,
            "cef_severity": list(CEF_SEVERITY),
        }


def from_topology(link: SocUpstream | None) -> Upstream | None:
    """The topology's operations.soc.upstream (already validated) as the collector's link."""
    if link is None:
        return None
    fields = link.model_dump()
    fields["protocol"] = "cef" if link.protocol == "cef" else "syslog"
    return Upstream.model_validate(fields)


def parse(data: dict | None, source: str = "soc_upstream") -> Upstream | None:
    """None or {} disables the onward link; anything else must be a valid upstream."""
    if not data:
        return None
    if not isinstance(data, dict):
        raise ProvdcError("the onward link must be a mapping (host, port, protocol, "
                          "min_severity)", file="soc.yml", field=source,
                          fix="e.g. soc_upstream: {host: 10.94.0.20, protocol: cef}")
    try:
        return Upstream.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ProvdcError(
            first["msg"].removeprefix("Value error, "), file="soc.yml",
            field=f"{source}.{where}",
            fix="see the README (security monitoring): name, host, port, protocol "
            "(syslog|cef), min_severity (" + "|".join(SEVERITIES) + "), permitted_peer, "
            "ca_file",
        ) from None
