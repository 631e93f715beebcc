"""Where segmentation gets its inputs: the topology and an inventory (file or host vars)."""

from __future__ import annotations

from pathlib import Path

from provdc.hosts import inventory as host_inventory
from provdc.segmentation import guard, matrix
from provdc.segmentation import render as rnd


def from_hostvars(hostvars: dict[str, dict], topology: str | Path | None = None,
                  source: str = "inventory") -> matrix.Segmentation:
    """The matrix for these hosts, after the host contract has accepted every one of them
    (`topology`, a CLI's --topology, overrides the hosts' provdc_topology)."""
    hosts, loaded = host_inventory.validate(hostvars, source, topology)
    return _build(hostvars, hosts, loaded, source)


def from_inventory(inventory: str | Path,
                   topology: str | Path | None = None) -> tuple[matrix.Segmentation, dict]:
    inv = host_inventory.read(inventory, topology)
    return _build(inv.hostvars, inv.hosts, inv.loaded, str(inventory)), inv.hostvars


def _build(hostvars: dict[str, dict], hosts: dict, loaded, source: str) -> matrix.Segmentation:
    return matrix.build(loaded, matrix.nodes_from_hostvars(hostvars, source),
                        extra=host_inventory.extra_flows(hosts, source))


def operator_clients(hostvars: dict[str, dict]) -> dict[str, str]:
    """Where the operator's SSH comes from, per host, when the inventory says so exactly: a
    single-address administration source (the lab writes the core's address facing the
    host). The guard then proves each rendering keeps that path open."""
    out = {}
    for name, v in hostvars.items():
        nets = [str(n) for n in v.get("provdc_admin_sources") or []]
        single = [n.removesuffix("/32") for n in nets if n.endswith("/32")]
        if v.get("provdc_address") and single:
            out[name] = single[0]
    return out


def specs(hostvars: dict[str, dict], clients: dict[str, str | None],
          topology: str | Path | None = None, source: str = "inventory") -> dict:
    """What the segmentation role's controller step hands its hosts: every host's firewall
    and the zone firewall as nftables text, {"hosts": {host: text}, "zone": text}, after the
    host contract, the matrix and the operator's SSH path (`clients`: each host's
    SSH_CONNECTION, "client port server port") have been checked for every host."""
    seg = from_hostvars(hostvars, topology, source)
    addresses = {h: (c or "").split()[0] for h, c in clients.items() if (c or "").split()}
    guard.check_operator_path(seg, addresses, source)
    return {"hosts": {h: rnd.render(rs) for h, rs in seg.hosts.items()},
            "zone": rnd.render(seg.zone)}
