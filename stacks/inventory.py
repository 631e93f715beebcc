#!/usr/bin/env python3
"""Ansible inventory script for the cloud data centre (the host contract's groups and
variables, from the stack's outputs).

    pulumi stack output --json > outputs.json
    PROVDC_STACK_OUTPUTS=outputs.json ansible-inventory -i stacks/inventory.py --graph

The topology is the stack's own `topology` output, relative to this Pulumi project;
PROVDC_TOPOLOGY overrides it.
"""

import sys
from pathlib import Path

from provdc.cloud.inventory import script_main

sys.exit(script_main(project_dir=Path(__file__).resolve().parents[1]))
