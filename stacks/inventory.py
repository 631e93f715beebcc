#!/usr/bin/env python3
"""Ansible inventory script for the cloud data centre.

    pulumi stack output --json > outputs.json
    PROVDC_STACK_OUTPUTS=outputs.json ansible-inventory -i stacks/inventory.py --graph
"""

import sys

from provdc.cloud.inventory import script_main

sys.exit(script_main())
