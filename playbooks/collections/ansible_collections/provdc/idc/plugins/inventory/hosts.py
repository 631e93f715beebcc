"""provdc.idc.hosts: the host contract's groups and variables from a topology, a running lab
or the cloud stack's outputs. The work is provdc's (provdc.collection.inventory); this file
reads the options, caches and hands the result to Ansible."""

from __future__ import annotations

import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible_collections.provdc.idc.plugins.plugin_utils.provdc import provdc

DOCUMENTATION = r"""
name: hosts
short_description: provdc hosts from a topology, a running lab or the cloud stack's outputs
version_added: 0.1.0
author: provdc
description:
  - Produces the groups (C(dc_hosts), C(gateways), C(agency_hosts), C(core_routers),
    C(zone_*), C(service_*), C(tier_*), C(site_*), C(security_level_*)) and the C(provdc_*)
    variables of the provdc host contract, checked against the contract and the topology
    before Ansible sees them. A problem is one paragraph naming the input, the field and the
    fix.
  - "O(source=topology): the hosts the address plan gives (O(profile=province): every site and
    HA instance), with every variable that follows from the plan and C(ansible_host); the
    connection (user, key) is yours: give it with O(compose), group_vars or a credential."
  - "O(source=lab): the hosts of a lab that is up on this machine (C(provdc lab up)), with its
    connection plumbing (the ProxyCommand into its core namespace)."
  - "O(source=cloud): the instances of a C(pulumi stack output --json) file, refused when the
    stack is older than the topology."
  - The configuration file's name must end in C(.provdc.yml) or C(.provdc.yaml). Relative
    paths in it are relative to its directory; those given by environment variables, to the
    working directory.
requirements:
  - The provdc Python package, importable by the Python that runs Ansible.
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: [provdc.idc.hosts]
    type: str
  source:
    description: What the hosts come from.
    required: true
    choices: [topology, lab, cloud]
    type: str
  topology:
    description:
      - The province's topology file. Required with O(source=topology); with
        O(source=cloud) it replaces the stack's own C(topology) output.
    type: str
    env:
      - name: PROVDC_TOPOLOGY
  profile:
    description: With O(source=topology), which hosts of the plan (the lab profiles).
    choices: [small, province]
    default: province
    type: str
  sites:
    description: With O(source=topology), only these sites (slugs) and the data centre.
    type: list
    elements: str
    default: []
  lab_name:
    description: With O(source=lab), the lab's name (C(provdc lab status --all) lists them).
    type: str
    default: provdc
    env:
      - name: PROVDC_LAB_NAME
  lab_key:
    description:
      - With O(source=lab), set C(ansible_ssh_private_key_file) to the lab's operator key.
        Set to false when the key comes from ssh-agent or a credential given at run time.
    type: bool
    default: true
  outputs:
    description: With O(source=cloud), the file C(pulumi stack output --json) wrote.
    type: str
    env:
      - name: PROVDC_STACK_OUTPUTS
  project_dir:
    description:
      - With O(source=cloud), the Pulumi project the stack's C(topology) output is relative to
        (default the configuration file's directory).
    type: str
  private_key_file:
    description:
      - A private key file to set as every host's C(ansible_ssh_private_key_file), read at run
        time (prefer a credential or ssh-agent; never a key inside the project).
    type: str
"""

EXAMPLES = r"""
# inventory/soctrang.provdc.yml: the planned province, for --check runs and rendering
plugin: provdc.idc.hosts
source: topology
topology: soctrang/topology.yml
compose:
  ansible_user: "'ops'"
---
# inventory/lab.provdc.yml: the lab that `provdc lab up` brought up on this machine, the
# operator key from ssh-agent (ansible-runner's env/ssh_key, an AWX machine credential)
plugin: provdc.idc.hosts
source: lab
lab_name: provdc
lab_key: false
---
# inventory/cloud.provdc.yml: the cloud data centre, cached for an hour
plugin: provdc.idc.hosts
source: cloud
outputs: outputs.json
project_dir: ..
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: /tmp/provdc-inventory-cache
cache_timeout: 3600
"""

PATH_OPTIONS = ("topology", "outputs", "project_dir", "private_key_file")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "provdc.idc.hosts"
    # The values are data the host contract has checked and provdc refuses any that would
    # read as a template, so Ansible may treat them as it treats a YAML inventory's (else
    # `ansible-inventory --list` wraps every string, and testinfra, provdc and AWX, which
    # read that list, would see wrappers instead of addresses).
    trusted_by_default = True

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith((".provdc.yml", ".provdc.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        options = self._options_of(path)
        built = self._cached_or_built(options, self.get_cache_key(path), cache)
        self._populate(built, options.get("private_key_file"))

    def _options_of(self, path):
        here = os.path.dirname(os.path.abspath(path))
        options = {name: self.get_option(name) for name in (
            "source", "profile", "sites", "lab_name")}
        options["private_key"] = self.get_option("lab_key")
        for name in PATH_OPTIONS:
            value, origin = self.get_option_and_origin(name)
            # a path in the configuration file is relative to it; one from the environment
            # is relative to the working directory, as a shell user means it
            base = os.getcwd() if str(origin).startswith("env") else here
            options[name] = os.path.join(base, os.path.expanduser(value)) if value else None
        options["project_dir"] = options["project_dir"] or here
        return options

    def _cached_or_built(self, options, key, cache):
        """The cached inventory while its inputs are unchanged, else a fresh one."""
        sources = provdc("collection.inventory")
        stamp = sources.fingerprint(sources.inputs(options["source"], options))
        wanted = self.get_option("cache")
        cached = self._cache.get(key) if wanted and cache else None
        if cached and cached.get("fingerprint") == stamp:
            return cached["inventory"]
        built = self._build(sources, options)
        if wanted:
            self._cache[key] = {"fingerprint": stamp, "inventory": built}
        return built

    def _build(self, sources, options):
        errors = provdc("errors")
        try:
            return sources.build(options["source"], options)
        except errors.ProvdcError as exc:
            raise AnsibleParserError(f"error: {exc}") from None

    def _populate(self, built, private_key_file):
        strict = self.get_option("strict")
        for group in built["groups"]:
            self.inventory.add_group(group)
        for host, variables in built["hostvars"].items():
            self.inventory.add_host(host)
            if private_key_file:
                variables = {**variables, "ansible_ssh_private_key_file": private_key_file}
            for name, value in variables.items():
                self.inventory.set_variable(host, name, value)
            hostvars = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host,
                                           strict)
        for group, hosts in built["groups"].items():
            for host in hosts:
                self.inventory.add_child(group, host)
