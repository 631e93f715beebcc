"""Stack outputs + topology -> Ansible inventory, so playbooks reach the hosts Pulumi made.

Input: the topology and a `pulumi stack output --json` file (its `hosts` list). The
topology is the authority on what each service is; the outputs say where each host is. A
host whose service or zone disagrees with the topology means the stack is stale: refuse.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from provdc.errors import ProvdcError
from provdc.topology.validate import Loaded, load

HOST_KEYS = ("name", "zone", "service", "security_level", "private_ip")


def read_outputs(path: str | Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProvdcError("file not found", str(path), None, None,
                          "write it with `pulumi stack output --json > FILE`") from None
    except json.JSONDecodeError as exc:
        raise ProvdcError(f"not JSON ({exc.msg})", str(path), exc.lineno, None,
                          "write it with `pulumi stack output --json > FILE`") from None
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), list):
        raise ProvdcError("no `hosts` list in the stack outputs", str(path), None, "hosts",
                          "deploy stacks/ (it exports hosts) and export the outputs again")
    return data


def build_inventory(loaded: Loaded, outputs: dict, source: str = "<outputs>") -> dict:
    """Ansible JSON inventory: groups per zone, service, level and role; hostvars per host."""
    services = {s.slug: s for s in loaded.topology.services}
    hostvars: dict[str, dict] = {}
    groups: dict[str, list[str]] = {}
    for i, host in enumerate(outputs["hosts"]):
        missing = [k for k in HOST_KEYS if k not in host]
        if missing:
            raise ProvdcError(f"host entry lacks {', '.join(missing)}", source, None,
                              f"hosts[{i}]", "export the outputs of the current program again")
        svc = services.get(host["service"])
        if svc is None or svc.zone != host["zone"]:
            raise ProvdcError(
                f"host '{host['name']}' is service '{host['service']}' in zone {host['zone']}, "
                "which the topology does not have", source, None, f"hosts[{i}]",
                "the stack is older than the topology: run `pulumi up`, then export again")
        name = host["name"]
        hostvars[name] = {
            "ansible_host": host["private_ip"], "provdc_zone": host["zone"],
            "provdc_service": host["service"], "provdc_security_level": host["security_level"],
            "provdc_role": host.get("role") or "",
        }
        for group in (f"zone_{host['zone'].lower()}", f"service_{_g(host['service'])}",
                      f"level_{host['security_level']}",
                      *( [f"role_{_g(host['role'])}"] if host.get("role") else [])):
            groups.setdefault(group, []).append(name)
    inventory: dict = {"_meta": {"hostvars": hostvars},
                       "all": {"children": sorted(groups) + ["ungrouped"]}}
    inventory |= {g: {"hosts": hosts} for g, hosts in sorted(groups.items())}
    return inventory


def _g(name: str) -> str:
    return name.replace("-", "_")


def script_main(argv: list[str] | None = None) -> int:
    """Ansible inventory-script protocol: `--list` or `--host NAME`.

    Reads PROVDC_STACK_OUTPUTS (the outputs JSON) and PROVDC_TOPOLOGY (default: the Sóc
    Trăng sample)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--host"]:
        print("{}")  # everything is in _meta
        return 0
    if argv[:1] != ["--list"]:
        print("usage: inventory.py --list | --host NAME", file=sys.stderr)
        return 2
    outputs_path = os.environ.get("PROVDC_STACK_OUTPUTS")
    topology = os.environ.get("PROVDC_TOPOLOGY", "inventory/soctrang/topology.yml")
    try:
        if not outputs_path:
            raise ProvdcError("PROVDC_STACK_OUTPUTS is not set", None, None, None,
                              "export PROVDC_STACK_OUTPUTS=<file from pulumi stack output --json>")
        inv = build_inventory(load(topology), read_outputs(outputs_path), outputs_path)
    except ProvdcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(inv, indent=2))
    return 0
