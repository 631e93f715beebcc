# The action plugin of the same name does the work, on the controller; this file documents it.

DOCUMENTATION = r"""
module: soc_prepare
short_description: Resolve the SOC settings and make sure the SOC CA and certificates exist
description:
  - Validates the SOC settings (the topology's C(operations) block, overridden by the
    playbook's variables), makes sure the CA and each host's certificate exist in
    O(pki_dir) (issuing or renewing what is missing, expiring or no longer names the host),
    and returns the resolved settings for the C(soc_agent) and C(soc_collector) roles.
  - With your own CA, put C(ca.crt) and each host's C(hosts/NAME.crt) and C(.key) in
    O(pki_dir), without C(ca.key); provdc then only checks them.
  - Runs on the controller, in the Python that runs Ansible, which must import the provdc
    package.
version_added: 0.1.0
author: provdc
options:
  topology:
    description: The province's topology file (the one the inventory's hosts name).
    type: str
    required: true
  pki_dir:
    description:
      - The directory of the SOC CA and the hosts' certificates, given at run time and
        outside the project (the CA's private key lives there).
    type: str
    required: true
  ca_name:
    description: The CA's name (default C(provdc lab SOC CA (PROVINCE))).
    type: str
  hosts:
    description: "Every host that gets a certificate, C({name: [address, ...]})."
    type: dict
    default: {}
  services:
    description: "Each host's C(provdc_service), C({name: service})."
    type: dict
    default: {}
  collector:
    description:
      - The collector's inventory name (default the first host of the topology's
        C(operations.soc.collector_service)).
    type: str
  ntp_fallback:
    description:
      - Addresses of the C(ntp) service's hosts, used when the topology names no NTP server.
    type: list
    elements: str
    default: []
  upstream:
    description: The onward link (a mapping; C({}) switches it off; unset, the topology's).
    type: raw
  retention_days:
    description:
      - Days the collector keeps events (unset, the topology's; never below the level's
        minimum).
    type: raw
  receivers:
    description: "Extra names that get a certificate, C({name: [address, ...]})."
    type: dict
    default: {}
attributes:
  check_mode:
    support: none
    description:
      - Certificates are issued in check mode too, so that the roles can be checked against
        them.
  diff_mode:
    support: none
    description: Nothing to compare.
  platform:
    platforms: posix
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: SOC settings and certificates
  provdc.idc.soc_prepare:
    topology: /srv/provdc/soctrang/topology.yml
    pki_dir: /run/secrets/soc-pki
    hosts: {soc-collector-1: [10.94.4.5], lgsp-1: [10.94.2.10]}
    services: {soc-collector-1: soc-collector, lgsp-1: lgsp}
  register: soc_prepare
"""

RETURN = r"""
settings:
  description:
    - The resolved settings (C(port), C(level), C(retention_days), C(retention_source),
      C(ntp_servers), C(ntp_upstream), C(ntp_allow), C(collector), C(upstream), C(pki),
      C(changed)).
  returned: success
  type: dict
"""
