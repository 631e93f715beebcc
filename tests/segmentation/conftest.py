"""Fixtures: the Sóc Trăng sample's segmentation for a lab plan, without bringing a lab up."""

from __future__ import annotations

from pathlib import Path

import pytest

from provdc.lab import inventory as lab_inventory
from provdc.lab.model import plan_lab
from provdc.segmentation import matrix
from provdc.topology.validate import load

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"


def lab_hostvars(profile: str = "small", name: str = "t-seg") -> dict[str, dict]:
    """The host vars `provdc lab up` would write, computed from the plan alone."""
    plan = plan_lab(load(SAMPLE), name, profile)
    return {h.name: lab_inventory.host_vars(plan, h, Path("/k"), Path("/cm"))
            for h in plan.hosts}


@pytest.fixture(scope="session")
def small_vars() -> dict[str, dict]:
    return lab_hostvars()


@pytest.fixture(scope="session")
def small(small_vars) -> matrix.Segmentation:
    return matrix.build(load(SAMPLE), matrix.nodes_from_hostvars(small_vars))
