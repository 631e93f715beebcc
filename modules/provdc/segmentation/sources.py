"""Where segmentation gets its inputs: the topology and an inventory (file or host vars)."""

from __future__ import annotations

from pathlib import Path

from provdc.hosts import inventory as host_inventory
from provdc.segmentation import matrix
from provdc.topology.validate import load

REPO = Path(__file__).resolve().parents[3]
# The sample province: what tests and benchmarks plan against. Never a fallback for an
# inventory that names no topology (that is an error: provdc.hosts.inventory).
DEFAULT_TOPOLOGY = REPO / "inventory" / "soctrang" / "topology.yml"


def from_hostvars(hostvars: dict[str, dict], topology: str | Path | None = None,
                  source: str = "inventory") -> matrix.Segmentation:
    """The matrix for these hosts, after the host contract has accepted every one of them
    (`topology`, a CLI's --topology, overrides the hosts' provdc_topology)."""
    _, loaded = host_inventory.validate(hostvars, source, topology)
    return matrix.build(loaded, matrix.nodes_from_hostvars(hostvars, source))


def from_inventory(inventory: str | Path,
                   topology: str | Path | None = None) -> tuple[matrix.Segmentation, dict]:
    inv = host_inventory.read(inventory, topology)
    return matrix.build(inv.loaded, matrix.nodes_from_hostvars(inv.hostvars, str(inventory))), \
        inv.hostvars


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
