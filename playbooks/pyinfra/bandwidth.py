"""Bandwidth policy (HTB + DSCP classes) on both ends of every site gateway's TSLCD uplink
(pyinfra engine; same specs, script and boot unit as playbooks/bandwidth.yml).

    pyinfra playbooks/pyinfra/inventory.py playbooks/pyinfra/bandwidth.py [--dry]
"""

from provdc.pyinfra_engine.deploy import bandwidth

bandwidth()
