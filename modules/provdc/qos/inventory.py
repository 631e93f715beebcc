"""What the bandwidth engine needs from an Ansible inventory: gateways and their two ends.

Any inventory Ansible reads (YAML, INI, a script) is read through `ansible-inventory --list`,
so the CLI sees exactly the hosts and variables the playbook sees. Variables used:

- gateways group: `provdc_site`, `provdc_uplink_if` (site side of the TSLCD link),
  `provdc_core_peer_if` (the core router's interface facing this gateway), and where that
  interface lives: `provdc_core_netns` (the lab: a namespace on the controller) or
  `provdc_core_host` (production: an inventory host, the core router);
- `provdc_topology` (any host; optional): the topology file, else the Sóc Trăng sample.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from provdc.errors import ProvdcError
from provdc.qos.policy import check_device


@dataclass(frozen=True)
class Gateway:
    host: str
    site: str
    uplink_if: str
    core_if: str
    core_netns: str | None
    core_host: str | None
    vars: dict


@dataclass
class Inventory:
    path: str
    hostvars: dict[str, dict]
    groups: dict[str, list[str]]

    def group(self, name: str) -> list[str]:
        return self.groups.get(name, [])

    @property
    def topology(self) -> str | None:
        return next((v["provdc_topology"] for v in self.hostvars.values()
                     if v.get("provdc_topology")), None)

    def gateways(self) -> list[Gateway]:
        return [gateway(h, self.hostvars.get(h, {})) for h in self.group("gateways")]

    def gateway_of(self, site: str) -> Gateway:
        found = [g for g in self.gateways() if g.site == site]
        if not found:
            known = ", ".join(sorted(g.site for g in self.gateways())) or "none"
            raise ProvdcError(f"no gateway of site '{site}' in the inventory",
                              file=self.path, field="gateways",
                              fix=f"name a site that has a gateway here ({known})")
        return found[0]

    def site_hosts(self, site: str, role: str) -> list[str]:
        return [h for h, v in self.hostvars.items()
                if v.get("provdc_site") == site and v.get("provdc_role") == role]


def gateway(host: str, v: dict) -> Gateway:
    site = v.get("provdc_site")
    if not site:
        raise ProvdcError(f"gateway '{host}' has no provdc_site", field=f"{host}: provdc_site",
                          fix="set provdc_site to the slug of the site the gateway serves")
    return Gateway(host, site, check_device(v.get("provdc_uplink_if"), "provdc_uplink_if", host),
                   check_device(v.get("provdc_core_peer_if"), "provdc_core_peer_if", host),
                   v.get("provdc_core_netns"), v.get("provdc_core_host"), v)


def _ansible_inventory_cmd() -> str:
    here = Path(sys.executable).parent / "ansible-inventory"
    return str(here) if here.exists() else (shutil.which("ansible-inventory") or str(here))


def read(path: str | Path) -> Inventory:
    if not Path(path).exists():
        raise ProvdcError(f"inventory {path} does not exist", file=str(path),
                          fix="pass the inventory the lab or ops team wrote, e.g. "
                          "-i inventory/lab/hosts.yml")
    proc = subprocess.run([_ansible_inventory_cmd(), "-i", str(path), "--list"],
                          capture_output=True, text=True,
                          env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"})
    if proc.returncode != 0:
        raise ProvdcError(f"Ansible cannot read the inventory: {proc.stderr.strip()[-400:]}",
                          file=str(path), fix="check the file with `ansible-inventory --list`")
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
    return Inventory(str(path), hostvars, groups)
