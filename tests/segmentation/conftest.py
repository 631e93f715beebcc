"""Fixtures: the Sóc Trăng sample's segmentation for a lab plan, without bringing a lab up."""

from __future__ import annotations

import pytest

from provdc.segmentation import matrix
from provdc.segmentation.sources import DEFAULT_TOPOLOGY, planned_lab_hostvars
from provdc.topology.validate import load


@pytest.fixture(scope="session")
def small_vars() -> dict[str, dict]:
    return planned_lab_hostvars(profile="small", name="t-seg")


@pytest.fixture(scope="session")
def small(small_vars) -> matrix.Segmentation:
    return matrix.build(load(DEFAULT_TOPOLOGY), matrix.nodes_from_hostvars(small_vars))
