"""Stack outputs + topology -> an Ansible inventory that keeps the host contract.

Input: the topology and a `pulumi stack output --json` file (its `hosts` list). The topology
is the authority on what each service is; the outputs say where each host is. A host whose
service or zone disagrees with the topology means the stack is stale: refuse.

Output: the same groups and `provdc_*` variables the lab writes for a data-centre host
(`provdc.hosts.contract`), so the playbooks, pyinfra, segmentation and the audit read the
cloud's hosts exactly as they read the lab's. The result is validated by the host contract
before it is handed out.
"""

from __future__ import annotations

import json
import os
import sys
from ipaddress import IPv4Address
from pathlib import Path

from provdc.errors import ProvdcError
from provdc.hosts import inventory as host_inventory
from provdc.hosts.contract import ROLE_GROUP_ORDER, HostVars, Role, groups_of
from provdc.topology.validate import Loaded, load

HOST_KEYS = ("name", "zone", "service", "security_level", "private_ip")


def read_outputs(path: str | Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProvdcError("file not found", str(path), None, None,
                          "write it with `pulumi stack output --json > FILE`") from None
    except IsADirectoryError:
        raise ProvdcError("is a directory, not the outputs file", str(path), None, None,
                          "write it with `pulumi stack output --json > FILE`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProvdcError(f"not JSON ({exc})", str(path), None, None,
                          "write it with `pulumi stack output --json > FILE`") from None
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), list):
        raise ProvdcError("no `hosts` list in the stack outputs", str(path), None, "hosts",
                          "deploy stacks/ (it exports hosts) and export the outputs again")
    return data


def topology_of(outputs: dict, override: str | Path | None, project_dir: Path,
                source: str) -> Path:
    """--topology / PROVDC_TOPOLOGY, else the stack's own `topology` output (a path
    relative to the Pulumi project). Never a sample."""
    if override:
        return Path(override)
    named = outputs.get("topology")
    if not isinstance(named, str) or not named:
        raise ProvdcError("the stack outputs name no topology", source, None, "topology",
                          "export the outputs of the current program again (it exports "
                          "`topology`), or give --topology / PROVDC_TOPOLOGY")
    path = Path(named)
    return path if path.is_absolute() else project_dir / path


def host_vars(loaded: Loaded, host: dict) -> dict:
    """The contract's variables of one cloud instance: a data-centre host in its zone's
    subnet of one availability zone (the AWS VPC router is that subnet's first address)."""
    address = IPv4Address(str(host["private_ip"]))
    zone = loaded.plan.zone(host["zone"])
    subnet = next((n for n in zone.az_halves() if str(address) in n), zone.cidr)
    instance = str(host["name"]).rsplit("-", 1)[-1]
    v = {
        "ansible_host": str(address),
        "provdc_role": Role.dc.value,
        "provdc_address": str(address),
        "provdc_prefix_len": subnet.prefixlen,
        "provdc_default_gw": str(subnet[1]),
        "provdc_zone": host["zone"],
        "provdc_service": host["service"],
        "provdc_security_level": int(host["security_level"]),
        "provdc_topology": str(Path(loaded.path).resolve()),
    }
    if instance.isdigit():
        v["provdc_instance"] = int(instance)
    return v


def build_inventory(loaded: Loaded, outputs: dict, source: str = "<outputs>") -> dict:
    """Ansible JSON inventory: the contract's groups (role, zone, service, level) and each
    host's variables; validated by the host contract before it is returned."""
    services = {s.slug: s for s in loaded.topology.services}
    hostvars: dict[str, dict] = {}
    groups: dict[str, list[str]] = {}
    for i, host in enumerate(outputs["hosts"]):
        missing = [k for k in HOST_KEYS if k not in host] if isinstance(host, dict) else HOST_KEYS
        if missing:
            raise ProvdcError(f"host entry lacks {', '.join(missing)}", source, None,
                              f"hosts[{i}]", "export the outputs of the current program again")
        svc = services.get(host["service"])
        if svc is None or svc.zone != host["zone"]:
            raise ProvdcError(
                f"host '{host['name']}' is service '{host['service']}' in zone {host['zone']}, "
                "which the topology does not have", source, None, f"hosts[{i}]",
                "the stack is older than the topology: run `pulumi up`, then export again")
        try:
            v = host_vars(loaded, host)
        except ValueError as exc:
            raise ProvdcError(f"host '{host['name']}': {exc}", source, None,
                              f"hosts[{i}].private_ip", "export the outputs again") from None
        hostvars[str(host["name"])] = v
    contract, _ = host_inventory.validate(hostvars, source, loaded)  # loaded once
    for name, h in contract.items():
        for group in groups_of(h):
            groups.setdefault(group, []).append(name)
    order = [g for g in ROLE_GROUP_ORDER if g in groups] + sorted(
        g for g in groups if g not in ROLE_GROUP_ORDER)
    inventory: dict = {"_meta": {"hostvars": hostvars},
                       "all": {"children": order + ["ungrouped"]}}
    inventory |= {g: {"hosts": groups[g]} for g in order}
    return inventory


def script_main(argv: list[str] | None = None, project_dir: Path | None = None) -> int:
    """Ansible inventory-script protocol: `--list` or `--host NAME`.

    Reads PROVDC_STACK_OUTPUTS (the outputs JSON) and, to override the stack's own
    `topology` output, PROVDC_TOPOLOGY."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--host"]:
        print("{}")  # everything is in _meta
        return 0
    if argv[:1] != ["--list"]:
        print("usage: inventory.py --list | --host NAME", file=sys.stderr)
        return 2
    outputs_path = os.environ.get("PROVDC_STACK_OUTPUTS")
    try:
        if not outputs_path:
            raise ProvdcError("PROVDC_STACK_OUTPUTS is not set", None, None, None,
                              "export PROVDC_STACK_OUTPUTS=<file from pulumi stack output --json>")
        outputs = read_outputs(outputs_path)
        topology = topology_of(outputs, os.environ.get("PROVDC_TOPOLOGY"),
                               project_dir or Path.cwd(), outputs_path)
        inv = build_inventory(load(topology), outputs, outputs_path)
    except ProvdcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(inv, indent=2))
    return 0


__all__ = ["HostVars", "build_inventory", "read_outputs", "script_main", "topology_of"]
