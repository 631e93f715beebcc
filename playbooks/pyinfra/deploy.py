"""The whole provdc host configuration with pyinfra: baseline hardening, then the bandwidth
policy on the site gateways, then backups (skipped with a warning without
PROVDC_BACKUP_PASSWORD, as site.yml does).

    pyinfra playbooks/pyinfra/inventory.py playbooks/pyinfra/deploy.py [--dry] [--diff]
"""

from provdc.pyinfra_engine.backup import backup
from provdc.pyinfra_engine.deploy import bandwidth, baseline

baseline()
bandwidth()
backup(required=False)
