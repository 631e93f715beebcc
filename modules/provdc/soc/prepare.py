"""What `playbooks/soc.yml` works out on the controller before it touches any host.

    echo '{"topology": ..., "hosts": {...}, ...}' | python -m provdc.soc.prepare

reads the request (JSON on stdin), validates every setting, makes sure the lab CA and each
host's certificate exist, and prints the resolved settings as JSON for the roles. A bad
setting is one paragraph on stderr and exit code 2: the play stops before any host changes.

The topology's `operations` block gives the defaults (operations.soc: collector service,
onward link, retention; ntp_servers, ntp_upstream); the request's settings, from playbook
variables, override them.

Request keys: topology (path), pki_dir (path), ca_name, hosts (name -> [IPs], every host that
gets a certificate), services (name -> its provdc_service), collector (inventory name; default:
the first host of operations.soc.collector_service), ntp_fallback (addresses of the hosts of
the `ntp` service, used when the topology names no NTP server), upstream (mapping, {} to
disable, null: the topology's), retention_days (int or null: the topology's), receivers
(extra names that get a certificate, e.g. a lab stand-in for the upstream).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from provdc.errors import EXIT_INVALID, ProvdcError
from provdc.hosts.contract import check_host_name
from provdc.soc import pki, upstream
from provdc.topology import retention
from provdc.topology.validate import load


def _collector(request: dict, service: str) -> dict:
    """The collector: soc_collector if set, else the first host of the topology's
    operations.soc.collector_service (the inventory's provdc_service)."""
    hosts = request.get("hosts") or {}
    name = request.get("collector") or next(
        (h for h, svc in (request.get("services") or {}).items() if svc == service), None)
    if not name:
        raise ProvdcError(
            f"no host of the SOC collector service '{service}' in the inventory",
            file="soc.yml", field="soc_collector",
            fix=f"add a host with provdc_service: {service} (the service named by the "
            "topology's operations.soc.collector_service), or set soc_collector to the "
            "collector's inventory name")
    if name not in hosts or not hosts[name]:
        raise ProvdcError(f"the SOC collector '{name}' has no address in this inventory",
                          file="soc.yml", field="soc_collector",
                          fix="name a host of the inventory that has ansible_host set")
    return {"name": name, "address": hosts[name][0]}


class Request(BaseModel):
    """The request soc.yml sends (module docstring); other keys or types are refused."""

    model_config = ConfigDict(extra="forbid")
    topology: str
    pki_dir: str
    ca_name: str | None = None
    hosts: dict[str, list[str]] = {}
    services: dict[str, str | None] = {}
    collector: str | None = None
    ntp_fallback: list[str] = []
    upstream: object = None  # validated by provdc.soc.upstream
    retention_days: object = None  # validated by provdc.topology.retention
    receivers: dict[str, list[str]] = {}


def parse_request(text: str) -> dict:
    fix = "see `python -m provdc.soc.prepare --help` (module docstring)"
    try:
        return Request.model_validate(json.loads(text or "{}")).model_dump()
    except json.JSONDecodeError as exc:
        raise ProvdcError(f"the request is not JSON ({exc})", file="<stdin>", fix=fix) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(request)"
        raise ProvdcError(f"{first['msg']}", file="<stdin>", field=where, fix=fix) from None


def _ntp(topology, fallback: list[str]) -> list[str]:
    for address in fallback:  # inventory addresses go into chrony.conf: one name each
        try:
            if address:
                check_host_name(address)  # a DNS name or a dotted IPv4 address
        except ValueError:
            raise ProvdcError(f"{address!r} is not an address chrony can use",
                              field="ntp_fallback (the ntp service's ansible_host)",
                              fix="give the NTP host's address or DNS name in the inventory"
                              ) from None
    servers = list(topology.operations.ntp_servers) or [a for a in fallback if a]
    if not servers:
        raise ProvdcError(
            "no provincial NTP source", field="operations.ntp_servers",
            fix="list the provincial NTP servers under operations.ntp_servers in the topology, "
            "or put the ntp service's host in the inventory (group service_ntp)")
    return servers


def _topology(value: object) -> Path:
    """The one topology the inventory's hosts name (soc.yml joins them with ',')."""
    named = [p for p in str(value or "").split(",") if p]
    if len(named) != 1:
        raise ProvdcError(
            "the inventory names " + ("no topology" if not named else
                                      f"several topologies: {', '.join(named)}"),
            file="soc.yml", field="provdc_topology",
            fix="set provdc_topology on every host (the topology of its province), or "
            "soc_topology for the play")
    return Path(named[0])


def resolve(request: dict) -> dict:
    """Validate the request and resolve it; creates the PKI files (idempotently)."""
    loaded = load(_topology(request.get("topology")))
    topo = loaded.topology
    level = topo.max_security_level
    soc = topo.operations.soc
    # playbook variables override the topology's operations.soc (e.g. a lab stand-in)
    if request.get("retention_days") is not None:
        days = retention.retention_days(level, request["retention_days"])
    else:
        days = retention.retention_days(level, soc.retention_days, source=loaded.path)
    if request.get("upstream") is not None:
        link = upstream.parse(request["upstream"])
    else:
        link = upstream.from_topology(soc.upstream)
    collector = _collector(request, soc.collector_service)
    ntp = _ntp(topo, request.get("ntp_fallback") or [])
    hosts = {n: list(ips) for n, ips in (request.get("hosts") or {}).items()}
    for extra, ips in (request.get("receivers") or {}).items():
        hosts[extra] = list(ips)
    ca_name = request.get("ca_name") or f"provdc lab SOC CA ({topo.province.name})"
    changed, paths = pki.ensure(Path(request["pki_dir"]), ca_name, hosts)
    return {
        "changed": changed,
        "port": topo.operations.syslog_port,
        "level": level,
        "retention_days": days,
        "retention_source": retention.TABLE[level].source,
        "ntp_servers": ntp,
        "ntp_upstream": list(topo.operations.ntp_upstream),
        "ntp_allow": topo.province.lan_supernet,
        "collector": collector,
        "upstream": link.facts() if link else None,
        "pki": paths,
    }


def main(argv: list[str] | None = None) -> int:
    try:
        request = parse_request(sys.stdin.read())
        print(json.dumps(resolve(request), indent=1, sort_keys=True))
    except ProvdcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return 0


if __name__ == "__main__":
    if "--help" in sys.argv[1:]:
        print(__doc__)
        sys.exit(0)
    sys.exit(main())
