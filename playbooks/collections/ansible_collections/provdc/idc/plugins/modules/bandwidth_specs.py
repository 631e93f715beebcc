# The action plugin of the same name does the work, on the controller; this file documents it.

DOCUMENTATION = r"""
module: bandwidth_specs
short_description: Render the class tables of every site gateway's TSLCD uplink
description:
  - Checks every host's C(provdc_*) variables against the host contract and the topology
    they name, then renders, for every host whose C(provdc_role) is C(gateway), the HTB
    class table (the spec file C(provdc-bandwidth) applies) of both ends of its uplink.
  - Runs on the controller, in the Python that runs Ansible, which must import the provdc
    package. A problem fails the task with one paragraph naming the inventory, the host, the
    variable and the fix, before any host is touched.
version_added: 0.1.0
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
    description: Only renders; check mode changes nothing.
  diff_mode:
    support: none
    description: Nothing to compare.
  platform:
    platforms: posix
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: Render the class tables of every gateway from the topology
  provdc.idc.bandwidth_specs:
    hostvars:
      gw-phuong-5:
        provdc_role: gateway
        provdc_address: 172.16.93.9
        provdc_site: phuong-5
        provdc_security_level: 2
        provdc_uplink_if: eth0
        provdc_core_peer_if: ge-0-0-15
        provdc_topology: /srv/provdc/soctrang/topology.yml
  run_once: true
  register: bandwidth_specs
"""

RETURN = r"""
gateways:
  description:
    - Per gateway, the spec text (JSON) of its C(uplink) (site to DC, the gateway's
      C(provdc_uplink_if)) and its C(downlink) (DC to site, the core's C(provdc_core_peer_if)).
  returned: success
  type: dict
"""
