"""The Pulumi program of the provincial data centre (`main: stacks/` in Pulumi.yaml).

Everything derives from the topology named in the stack config (`provdc:topology`); the
components live in the provdc package so that `provdc preview` runs the same code offline.
"""

from pathlib import Path

import pulumi

from provdc.cloud.program import build
from provdc.cloud.settings import from_pulumi_config

PROJECT = Path(__file__).resolve().parents[1]  # where Pulumi.yaml is

for _key, _value in build(from_pulumi_config(PROJECT)).items():
    pulumi.export(_key, _value)
