"""pyinfra inventory derived from an Ansible inventory (the same hosts, groups and variables).

    PROVDC_INVENTORY=inventory/lab/hosts.yml pyinfra playbooks/pyinfra/inventory.py \\
        playbooks/pyinfra/deploy.py

PROVDC_INVENTORY defaults to inventory/lab/hosts.yml; any inventory ansible-inventory reads
works (the lab's, the cloud stack's).
"""

import os
import sys
from pathlib import Path

from provdc.errors import ProvdcError
from provdc.pyinfra_engine.inventory import groups_from_ansible

_source = Path(os.environ.get("PROVDC_INVENTORY", "inventory/lab/hosts.yml"))
try:
    globals().update(groups_from_ansible(_source))
except ProvdcError as _exc:
    print(f"error: {_exc}", file=sys.stderr)
    raise SystemExit(2) from None
