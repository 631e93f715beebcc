"""The one inventory reader: any Ansible inventory -> validated hosts, or one paragraph, exit 2.

Any inventory Ansible reads (YAML, INI, a directory, a script, the cloud stack's outputs
through `stacks/inventory.py`) is read through `ansible-inventory --list`, so provdc sees
exactly the hosts and variables the playbooks see. Then every host is checked against the
contract (`provdc.hosts.contract`) and against the topology it names (`provdc.hosts.plan`),
before any caller renders a file from it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from provdc.errors import ProvdcError, ValidationFailed
from provdc.hosts import plan
from provdc.hosts.contract import (
    PREFIX,
    ExtraFlow,
    HostVars,
    check_host_name,
    control_characters,
    split_vars,
)
from provdc.topology.validate import Loaded, load

# Connection variables provdc and Ansible put on a command line or in ssh_config.
CONNECTION_VARS = ("ansible_host", "ansible_user", "ansible_port",
                   "ansible_ssh_private_key_file", "ansible_ssh_common_args")


@dataclass
class Inventory:
    """What an inventory says, validated: raw variables (for Ansible-side use), the typed
    host contract, groups, and the topology every host names."""

    path: str
    hostvars: dict[str, dict]
    groups: dict[str, list[str]]
    hosts: dict[str, HostVars] = field(default_factory=dict)
    loaded: Loaded | None = None

    def group(self, name: str) -> list[str]:
        return self.groups.get(name, [])

    @property
    def topology(self) -> str | None:
        return self.loaded.path if self.loaded else None

    def site_hosts(self, site: str, role: str) -> list[str]:
        return [h for h, v in self.hosts.items() if v.site == site and v.role == role]


def read(path: str | Path, topology: str | Path | None = None) -> Inventory:
    """Read and validate an inventory; `topology` (a CLI's --topology) overrides the hosts'
    `provdc_topology`."""
    hostvars, groups = read_raw(path)
    hosts, loaded = validate(hostvars, str(path), topology)
    return Inventory(str(path), hostvars, groups, hosts, loaded)


def read_raw(path: str | Path) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """(hostvars, groups with their children's hosts) as ansible-inventory lists them."""
    p = Path(path)
    if not p.exists():
        raise ProvdcError(f"inventory {path} does not exist", file=str(path),
                          fix="pass the inventory the lab or ops team wrote, e.g. "
                          "-i inventory/lab/hosts.yml")
    proc = subprocess.run([_ansible_inventory_cmd(), "-i", str(path), "--list"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
                               "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"})
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.split())[-400:]
        raise ProvdcError(f"Ansible cannot read the inventory: {tail}", file=str(path),
                          fix="check the file with `ansible-inventory -i FILE --list`")
    data = json.loads(proc.stdout)
    hostvars = data.get("_meta", {}).get("hostvars", {})
    groups: dict[str, list[str]] = {}

    def walk(name: str) -> list[str]:
        if name not in groups:
            node = data.get(name, {})
            groups[name] = list(node.get("hosts", []))
            for child in node.get("children", []):
                groups[name] += [h for h in walk(child) if h not in groups[name]]
        return groups[name]

    for name in data:
        if name != "_meta":
            walk(name)
    for name in groups.get("all", []):
        hostvars.setdefault(name, {})
    return hostvars, groups


def ssh_argv(hostvars: dict) -> list[str]:
    """ssh to an inventory host with the inventory's own connection settings (as Ansible
    would): its key, its extra SSH arguments, its user and address."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
    if hostvars.get("ansible_ssh_private_key_file"):
        argv += ["-i", hostvars["ansible_ssh_private_key_file"]]
    argv += shlex.split(hostvars.get("ansible_ssh_common_args", ""))
    return argv + [f"{hostvars.get('ansible_user', 'root')}@"
                   f"{hostvars.get('ansible_host', hostvars['provdc_address'])}"]


def _ansible_inventory_cmd() -> str:
    here = Path(sys.executable).parent / "ansible-inventory"
    return str(here) if here.exists() else (shutil.which("ansible-inventory") or str(here))


def validate(hostvars: dict[str, dict], source: str,
             topology: str | Path | Loaded | None = None) -> tuple[dict[str, HostVars], Loaded]:
    """Every host against the contract, then against its topology (a path, or one a caller
    has loaded already). Raises one paragraph per problem (ValidationFailed lists them),
    naming the inventory, host and variable."""
    errors: list[ProvdcError] = []
    hosts: dict[str, HostVars] = {}
    if not isinstance(hostvars, dict):
        raise ProvdcError("the host variables are not a mapping", file=source,
                          fix="give {host name: {variable: value}}")
    for name, variables in hostvars.items():
        host = _validate_host(name, variables, source, errors)
        if host is not None:
            hosts[name] = host
    if errors:
        raise ValidationFailed(errors)
    loaded = topology if isinstance(topology, Loaded) else _topology(hosts, source, topology)
    index, names = plan.Index.of(loaded), set(hosts)
    for name, host in hosts.items():
        for var, message, fix in plan.problems(name, host, index, names):
            errors.append(ProvdcError(message, source, None, f"{name}: {var}", fix))
    if errors:
        raise ValidationFailed(errors)
    return hosts, loaded


REQUEST_FIX = 'pass {"hostvars": {host: {provdc_...}}, "source": NAME}'


def read_request(text: str, mappings: dict[str, type] | None = None,
                 fix: str = REQUEST_FIX) -> dict:
    """What a role's controller step sends on stdin: a JSON object whose "hostvars" maps
    host names to their provdc_* variables (and, per `mappings`, other keys mapping host
    names to values of a type). Any other shape is one paragraph; the hosts themselves are
    left to `validate`."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProvdcError(f"stdin is not JSON: {exc}", field="stdin", fix=fix) from None
    if not isinstance(data, dict):
        raise ProvdcError("stdin is not a request object", field="stdin", fix=fix)
    for key, kind in {"hostvars": dict, **(mappings or {})}.items():
        value = {} if data.get(key) is None else data[key]
        if not isinstance(value, dict) or not all(isinstance(v, kind) for v in value.values()):
            raise ProvdcError(f"'{key}' is not a mapping of host names", field=f"stdin: {key}",
                              fix=fix)
    return data


def extra_flows(hosts: dict[str, HostVars], source: str) -> list[ExtraFlow]:
    """The inventory's own flows: one list, the same on every host that gives one."""
    lists = {n: h.extra_flows for n, h in hosts.items() if h.extra_flows}
    distinct = {tuple(flows) for flows in lists.values()}
    if len(distinct) > 1:
        raise ProvdcError("hosts give different provdc_extra_flows", file=source,
                          field=f"{sorted(lists)[0]}: provdc_extra_flows",
                          fix="set provdc_extra_flows once for the whole inventory (all: vars)")
    return list(distinct.pop()) if distinct else []


def _validate_host(name: object, variables: object, source: str,
                   errors: list[ProvdcError]) -> HostVars | None:
    try:
        check_host_name(name)
    except ValueError as exc:
        errors.append(ProvdcError(
            f"host name {exc}", source, None, f"{_printable(name)}",
            "name hosts with letters, digits, '-' and '.' only (an RFC 1123 name): provdc "
            "builds file names and certificates from it"))
        return None
    if not isinstance(variables, dict):
        errors.append(ProvdcError("its variables are not a mapping", source, None, str(name),
                                  "give the host a mapping of variables"))
        return None
    ours, others = split_vars(variables)
    for var in CONNECTION_VARS:
        value = others.get(var)
        if isinstance(value, str) and control_characters(value):
            errors.append(ProvdcError(f"contains the control character "
                                      f"{control_characters(value)[0]!r}", source, None,
                                      f"{name}: {var}", "write it on one line, plain text"))
    try:
        host = HostVars.model_validate(ours)
    except ValidationError as exc:
        errors += [_explain(name, e, source) for e in exc.errors()]
        return None
    for var, why in host.required_by_role():
        errors.append(ProvdcError(f"a {host.role.value} host needs {var} ({why})", source,
                                  None, f"{name}: {var}", f"set {var} in the inventory"))
    return host


_FIXES = {
    "missing": "set it in the inventory; README.md, 'The host contract', lists every variable",
    "extra_forbidden": "remove it or correct its spelling; README.md, 'The host contract', "
                       "lists every provdc_ variable",
    "enum": "use one of dc, gateway, agency, core",
    "ip_v4_address": "write an IPv4 address such as 10.94.3.10",
    "ip_v4_network": "write an IPv4 network such as 10.94.8.0/22",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "list_type": "write a YAML list, e.g. [10.94.8.0/22]",
    "string_type": "write text",
}


def _explain(host: str, error: dict, source: str) -> ProvdcError:
    loc = [str(p) for p in error["loc"]]
    var = loc[0] if loc else "?"
    if not var.startswith(PREFIX):
        var = PREFIX + var
    field = f"{host}: {var}" + "".join(f"[{p}]" for p in loc[1:])
    got = "" if error["type"] == "missing" else f" (got {_printable(error.get('input'))})"
    message = {"missing": "is missing", "extra_forbidden": "is not a provdc variable"}.get(
        error["type"], error["msg"].removeprefix("Value error, "))
    fix = _FIXES.get(error["type"]) or (
        "remove the control characters (newline, ESC, ...): a value is one line of plain text"
        if "control character" in message else
        "correct the value (README.md, 'The host contract', gives each variable's form)")
    return ProvdcError(message + got, source, None, field, fix)


def _printable(value: object) -> str:
    """A value as one line of plain text: control characters shown escaped, long text cut."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _topology(hosts: dict[str, HostVars], source: str,
              override: str | Path | None) -> Loaded:
    """--topology, else the one topology every host names. Never a silent default."""
    if override is not None:
        path = Path(override)
    else:
        missing = [n for n, h in hosts.items() if h.topology is None]
        if missing or not hosts:
            raise ProvdcError(
                "no topology: " + (f"host {missing[0]} has no provdc_topology" if missing
                                   else "the inventory has no hosts"),
                file=source, field=f"{missing[0]}: provdc_topology" if missing else None,
                fix="set provdc_topology on every host (the topology file of its province; "
                "provdc never falls back to a sample), or give --topology")
        named = {n: str(h.topology) for n, h in hosts.items()}
        plan.check_one_topology(named, source)
        path = Path(next(iter(named.values())))
    if not path.is_file():
        raise ProvdcError(f"the topology {_printable(str(path))} is not a file", file=source,
                          field="provdc_topology",
                          fix="point provdc_topology (or --topology) at the province's "
                          "topology YAML")
    return load(path)
