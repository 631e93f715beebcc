# The action plugin of the same name does the work, on the controller; this file documents it.

DOCUMENTATION = r"""
module: backup_specs
short_description: Work out every backed-up host's backup from the topology's policies
description:
  - Checks every host's C(provdc_*) variables against the host contract and the topology
    they name, then returns, for every host whose service has a C(backup) policy, what it
    backs up (paths, PostgreSQL databases), when (a systemd calendar), for how long, and
    its repository on the first host of the repository service (SFTP, an account of its own
    chrooted into its own directory).
  - Runs on the controller, in the Python that runs Ansible, which must import the provdc
    package. A problem fails the task with one paragraph naming the inventory, the host, the
    variable and the fix, before any host is touched.
version_added: 0.2.0
author: provdc
options:
  hostvars:
    description: "Every inventory host's C(provdc_*) variables, C({host: {provdc_...}})."
    type: dict
    required: true
  topology:
    description: The province's topology file, when the hosts do not name it (C(provdc_topology)).
    type: str
    default: ""
  source:
    description: The inventory's name, used in error messages.
    type: str
    default: inventory
attributes:
  check_mode:
    support: full
    description: Only computes; check mode changes nothing.
  diff_mode:
    support: none
    description: Nothing to compare.
  platform:
    platforms: posix
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: Every host's backup from the topology
  provdc.idc.backup_specs:
    hostvars: "{{ dict(groups['all'] | zip(groups['all'] | map('extract', hostvars))) }}"
  register: backup_specs
"""

RETURN = r"""
repository:
  description: "The repository host (inventory name, address, SFTP port, root, the clients'
    group, the directory of their keys, sshd's drop-in), or null."
  returned: success
  type: dict
hosts:
  description: "Per backed-up host: service, paths, databases, schedule, on_calendar,
    max_age_hours, retention_days, drill_days, destinations, account, chroot, repository_path
    (on the repository host), sftp_path (inside the chroot), repository (restic URL)."
  returned: success
  type: dict
"""
