"""Fixtures: the Sóc Trăng sample's segmentation for a lab plan, without bringing a lab up."""

from __future__ import annotations

from pathlib import Path

import pytest

from provdc.lab.inventory import planned_hostvars
from provdc.segmentation import matrix, sources

SAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "soctrang" / "topology.yml"


@pytest.fixture(scope="session")
def small_vars() -> dict[str, dict]:
    return planned_hostvars(SAMPLE, profile="small", name="t-seg")


@pytest.fixture(scope="session")
def small(small_vars) -> matrix.Segmentation:
    return sources.from_hostvars(small_vars)
