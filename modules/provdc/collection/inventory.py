"""Inventory sources for the collection's inventory plugin: the host contract's groups and
variables from a topology, from a running lab, or from the cloud stack's outputs.

Each source gives the same thing the repository's writers give (`provdc lab up`'s hosts.yml,
`stacks/inventory.py`), validated by the host contract before it is handed to Ansible:

    {"hostvars": {host: {variable: value}}, "groups": {group: [host, ...]}}

- `topology`: the hosts the address plan gives (a lab profile's hosts, without a lab): every
  variable that follows from the plan, none of the lab's runtime or connection plumbing;
- `lab`: the hosts of a lab that is up on this machine, as its hosts.yml lists them;
- `cloud`: the instances of a `pulumi stack output --json` file, checked against the
  topology they were built from.
"""

from __future__ import annotations

import os
from pathlib import Path

from provdc.cloud import inventory as cloud_inventory
from provdc.errors import ProvdcError
from provdc.hosts import inventory as host_inventory
from provdc.hosts.contract import ROLE_GROUP_ORDER, groups_of
from provdc.lab import inventory as lab_inventory
from provdc.lab import runtime
from provdc.lab.model import check_lab_name, plan_lab
from provdc.topology.validate import load

SOURCES = ("topology", "lab", "cloud")
# What a topology alone cannot say about a real host: how to reach it, and the lab's own
# namespaces, interfaces and overlay (its operator address, its measurement flows).
LAB_ONLY = ("ansible_user", "ansible_ssh_private_key_file", "ansible_ssh_common_args",
            "ansible_python_interpreter", "provdc_lab_name", "provdc_netns",
            "provdc_core_netns", "provdc_if", "provdc_lan_if", "provdc_gateway_peer_if",
            "provdc_admin_sources", "provdc_extra_flows", "provdc_virt")
# Ansible templates inventory values it trusts: a value from a file that would read as a
# template (`{{ lookup('pipe', ...) }}` in a path or a flow's reason) is refused instead.
TEMPLATE_MARKS = ("{{", "{%", "{#")


def from_topology(topology: str | Path, profile: str = "province",
                  sites: list[str] | None = None) -> dict:
    """The planned hosts of a profile (`province`: every site and HA instance)."""
    plan = plan_lab(load(topology), "plan", profile, sites=sites or None)
    hostvars = {}
    for h in plan.hosts:
        v = lab_inventory.host_vars(plan, h, Path("/unused"), Path("/unused"))
        hostvars[h.name] = {k: x for k, x in v.items() if k not in LAB_ONLY}
    return _checked(hostvars, str(topology))


def from_lab(name: str, private_key: bool = True) -> dict:
    """The hosts of lab `name` as its hosts.yml lists them; private_key=False leaves the
    operator key out (it then comes from ssh-agent or a credential given at run time)."""
    check_lab_name(name)
    state = runtime.load_state(name)
    where = str(runtime.LabDir(name).state_file)
    if state is None or state.status != "up":
        status = "no lab" if state is None else f"the lab is {state.status}"
        raise ProvdcError(f"lab '{name}' is not up ({status})", where, None, "lab_name",
                          f"bring it up with `provdc lab up --name {name}`, or name a lab "
                          "`provdc lab status --all` lists")
    ldir = runtime.LabDir(name)
    hosts = [h for h in state.plan.hosts if not h.extra]
    doc = lab_inventory.ansible_inventory(state.plan, ldir.key, ldir.control_dir, hosts)
    hostvars = doc["all"]["hosts"]
    if not private_key:
        for v in hostvars.values():
            v.pop("ansible_ssh_private_key_file", None)
    return _checked(hostvars, where)


def from_cloud(outputs: str | Path, topology: str | Path | None = None,
               project_dir: str | Path | None = None) -> dict:
    """The instances of the stack's outputs; `topology` overrides the stack's own
    `topology` output, which is relative to the Pulumi project (`project_dir`)."""
    data = cloud_inventory.read_outputs(outputs)
    path = cloud_inventory.topology_of(data, topology, Path(project_dir or Path.cwd()),
                                       str(outputs))
    doc = cloud_inventory.build_inventory(load(path), data, str(outputs))  # validated there
    refuse_templates(doc["_meta"]["hostvars"], str(outputs))
    groups = {g: list(doc[g]["hosts"]) for g in doc["all"]["children"] if g in doc}
    return {"hostvars": doc["_meta"]["hostvars"], "groups": groups}


def _checked(hostvars: dict[str, dict], source: str) -> dict:
    """The host contract's verdict on every host, and the groups it puts each one in."""
    refuse_templates(hostvars, source)
    hosts, _ = host_inventory.validate(hostvars, source)
    groups: dict[str, list[str]] = {}
    for name, host in hosts.items():
        for group in groups_of(host):
            groups.setdefault(group, []).append(name)
    order = [g for g in ROLE_GROUP_ORDER if g in groups] + sorted(
        g for g in groups if g not in ROLE_GROUP_ORDER)
    return {"hostvars": hostvars, "groups": {g: groups[g] for g in order}}


def refuse_templates(hostvars: dict[str, dict], source: str) -> None:
    """No value may carry a template: the plugin hands its values to Ansible as trusted
    data (as a YAML inventory's are), so they must be data only."""
    def strings(value, path):
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from strings(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from strings(v, f"{path}[{i}]")

    for host, variables in hostvars.items():
        for var, value in variables.items():
            for where, text in strings(value, var):
                if any(mark in text for mark in TEMPLATE_MARKS):
                    raise ProvdcError("the value would be read as a Jinja template",
                                      source, None, f"{host}: {where}",
                                      "remove '{{', '{%' and '{#' from it: inventory values "
                                      "are data")


def inputs(source: str, options: dict) -> list[Path]:
    """The files an inventory of this source is built from: a cached inventory stays valid
    while none of them has changed."""
    if source == "lab":
        return [runtime.LabDir(options["lab_name"]).state_file]
    named = [options.get("topology"), options.get("outputs") if source == "cloud" else None]
    return [Path(p) for p in named if p]


def fingerprint(paths: list[Path]) -> list[list]:
    """(path, modification time, size) of each input; a missing one counts as changed."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append([str(p), st.st_mtime_ns, st.st_size])
        except OSError:
            out.append([str(p), None, None])
    return out


def build(source: str, options: dict) -> dict:
    """The inventory of one source (options: topology, profile, sites, lab_name,
    private_key, outputs, project_dir)."""
    if source == "topology":
        if not options.get("topology"):
            raise ProvdcError("the topology source needs a topology", field="topology",
                              fix="set topology: to the province's topology YAML")
        return from_topology(options["topology"], options.get("profile") or "province",
                             options.get("sites"))
    if source == "lab":
        return from_lab(options["lab_name"], options.get("private_key", True))
    if source == "cloud":
        if not options.get("outputs"):
            raise ProvdcError("the cloud source needs the stack's outputs", field="outputs",
                              fix="set outputs: to the file `pulumi stack output --json` "
                              "wrote (or PROVDC_STACK_OUTPUTS)")
        return from_cloud(options["outputs"], options.get("topology"),
                          options.get("project_dir"))
    raise ProvdcError(f"unknown source {source!r}", field="source",
                      fix=f"use one of {', '.join(SOURCES)}")
