"""The whole provdc host configuration with pyinfra: baseline hardening, then the bandwidth
policy on the site gateways.

    pyinfra playbooks/pyinfra/inventory.py playbooks/pyinfra/deploy.py [--dry] [--diff]
"""

from provdc.pyinfra_engine.deploy import bandwidth, baseline

baseline()
bandwidth()
