"""Where segmentation gets its inputs: the topology and an inventory (file or host vars)."""

from __future__ import annotations

from pathlib import Path

from provdc.errors import ProvdcError
from provdc.segmentation import matrix
from provdc.topology.validate import load

REPO = Path(__file__).resolve().parents[3]
DEFAULT_TOPOLOGY = REPO / "inventory" / "soctrang" / "topology.yml"


def topology_of(hostvars: dict[str, dict], topology: str | Path | None) -> Path:
    """--topology, else the inventory's `provdc_topology`, else the Sóc Trăng sample."""
    if topology:
        return Path(topology)
    named = {v["provdc_topology"] for v in hostvars.values() if v.get("provdc_topology")}
    if len(named) > 1:
        raise ProvdcError(f"the inventory names several topologies: {', '.join(sorted(named))}",
                          field="provdc_topology", fix="give every host the same topology")
    return Path(named.pop()) if named else DEFAULT_TOPOLOGY


def from_hostvars(hostvars: dict[str, dict], topology: str | Path | None = None,
                  source: str = "inventory") -> matrix.Segmentation:
    path = topology_of(hostvars, topology)
    loaded = load(path)
    nodes = matrix.nodes_from_hostvars(hostvars, source)
    check_nodes(loaded, nodes, source)
    return matrix.build(loaded, nodes)


def from_inventory(inventory: str | Path,
                   topology: str | Path | None = None) -> tuple[matrix.Segmentation, dict]:
    from provdc.qos.inventory import read

    inv = read(inventory)
    return from_hostvars(inv.hostvars, topology, str(inventory)), inv.hostvars


def check_nodes(loaded, nodes: list[matrix.Node], source: str) -> None:
    """Inventory hosts must name zones, services, sites and tiers the topology knows."""
    topo = loaded.topology
    known = {"zone": {z.name for z in topo.datacenter.zones},
             "service": {s.slug for s in topo.services},
             "site": {s.slug for s in topo.sites}, "tier": {t.name for t in topo.tiers}}
    for n in nodes:
        for kind, names in known.items():
            value = getattr(n, kind)
            if value is not None and value not in names:
                raise ProvdcError(
                    f"host {n.name} names the unknown {kind} '{value}'", file=source,
                    field=f"{n.name}: provdc_{kind}",
                    fix=f"use a {kind} of {loaded.path} or point provdc_topology at the "
                    "topology this inventory was made from")


def lab_clients(hostvars: dict[str, dict]) -> dict[str, str]:
    """Where the lab operator's SSH comes from, per host (the core's address on the path)."""
    out = {}
    for name, v in hostvars.items():
        addr = matrix.lab_operator_address(v, hostvars)
        if addr and v.get("provdc_address"):
            out[name] = addr
    return out


def planned_lab_hostvars(topology: str | Path = DEFAULT_TOPOLOGY, profile: str = "small",
                         name: str = "plan") -> dict[str, dict]:
    """The host vars `provdc lab up` would write for a profile, from the plan alone (no lab):
    what tests and benchmarks render against."""
    from provdc.lab import inventory as lab_inventory
    from provdc.lab.model import plan_lab

    plan = plan_lab(load(topology), name, profile)
    return {h.name: lab_inventory.host_vars(plan, h, Path("/key"), Path("/cm"))
            for h in plan.hosts}
