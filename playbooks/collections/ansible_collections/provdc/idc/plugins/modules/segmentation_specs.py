# The action plugin of the same name does the work, on the controller; this file documents it.

DOCUMENTATION = r"""
module: segmentation_specs
short_description: Render every host firewall and the zone firewall from the flow matrix
description:
  - Checks every host's C(provdc_*) variables against the host contract and the topology
    they name, builds the allowed-flow matrix, refuses a ruleset that would cut the
    operator's SSH path to any host, and returns every firewall as nftables text.
  - Runs on the controller, in the Python that runs Ansible, which must import the provdc
    package. Nothing is written; a problem fails the task with one paragraph naming the
    inventory, the host, the variable and the fix.
version_added: 0.1.0
author: provdc
options:
  hostvars:
    description: "Every inventory host's C(provdc_*) variables, C({host: {provdc_...}})."
    type: dict
    required: true
  clients:
    description:
      - Each host's C(SSH_CONNECTION) as seen on the host (C(client port server port)); the
        rendering of that host must keep SSH open from the client address.
    type: dict
    default: {}
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
    description: Only renders; check mode changes nothing.
  diff_mode:
    support: none
    description: Nothing to compare.
  platform:
    platforms: posix
    description: Runs on the controller.
notes:
  - Run it once per play (C(run_once)); every host's rendering is in the result.
"""

EXAMPLES = r"""
- name: Render every firewall and guard the operator's path
  provdc.idc.segmentation_specs:
    hostvars: "{{ {'lgsp-1': hostvars['lgsp-1'] | dict2items
                   | selectattr('key', 'match', '^provdc_') | items2dict} }}"
    source: "{{ inventory_file }}"
  run_once: true
  register: segmentation_specs
"""

RETURN = r"""
hosts:
  description: Each host's inbound firewall, nftables text (table inet provdc_segmentation).
  returned: success
  type: dict
zone:
  description: The data-centre core's zone firewall, nftables text.
  returned: success
  type: str
"""
