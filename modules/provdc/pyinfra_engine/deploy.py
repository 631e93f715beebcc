"""The pyinfra deploys: the baseline controls and the bandwidth policy.

`baseline()` walks the selected controls kind by kind in the role's order
(provdc.controls.kinds.ORDER), each kind applied by its own folder's `apply`, mirroring that
kind's task file, with the role's handlers run right
after the kind that notifies them. `bandwidth()` ships the same spec files, script and boot
unit as the bandwidth role and applies them with `htb_apply`. Host data are the Ansible
inventory's variables (see `provdc.pyinfra_engine.inventory`), so toggles such as
`baseline_vn_ssh_02: false` and `provdc_security_level` work the same in both engines.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from gevent import subprocess as gsubprocess
from pyinfra import host, inventory
from pyinfra.api import OperationError, deploy
from pyinfra.operations import apt, files

from provdc.controls import catalogue, gate, kinds
from provdc.controls.kinds.nftables_input import SCRIPT as FIREWALL_SCRIPT
from provdc.controls.kinds.nftables_input import UNIT as FIREWALL_UNIT
from provdc.controls.probe import batch_script
from provdc.errors import ProvdcError
from provdc.pyinfra_engine import facts, selection
from provdc.pyinfra_engine import operations as ops
from provdc.qos import htb, policy
from provdc.segmentation import guard, nftapply, render, sources
from provdc.segmentation.matrix import HOST_TABLE

# What the roles ship to hosts, from the package (the roles' files are links to these).
BANDWIDTH_FILES = {"script": Path(htb.__file__),
                   "unit": Path(htb.__file__).with_name("provdc-bandwidth.service")}
SEGMENTATION_FILES = {"script": Path(nftapply.__file__),
                      "unit": Path(nftapply.__file__).with_name(FIREWALL_UNIT)}
BANDWIDTH_SCRIPT = "/usr/local/sbin/provdc-bandwidth"
BANDWIDTH_SPEC_DIR = "/etc/provdc/bandwidth"
BANDWIDTH_UNIT = "/etc/systemd/system/provdc-bandwidth.service"
SEGMENTATION_STAGED = "/var/lib/provdc-segmentation/rendered.nft"  # as the role stages it
CONFIRM_WITHIN = 90  # s a new table stays unless confirmed over a new SSH session


def stop(exc: ProvdcError) -> None:
    """One paragraph, exit 2, before any host is touched (deploys run before execution)."""
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2)


def _data() -> dict:
    return host.data.dict()


# --- baseline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """What a kind's `apply` (provdc.controls.kinds) gets from this engine: the package of
    controls never imports pyinfra, so the operations come in as an argument."""

    host: Any  # pyinfra's current host: loop(), get_fact(), name
    ops: ModuleType  # provdc.pyinfra_engine.operations
    apt: ModuleType  # pyinfra.operations.apt
    render: Callable[[str], str]  # a kind's template, rendered for this host's selection
    host_firewall: Callable[[dict], None]  # the segmentation engine's firewall for this host


@deploy("Baseline")
def baseline() -> None:
    data = _data()
    try:
        selection.check_data(data)
    except ProvdcError as exc:
        stop(exc)
    platform = host.get_fact(facts.HostPlatform)
    try:
        sel = selection.select(data, list(host.groups), platform.family, platform.in_container)
        osv = selection.os_vars(platform.distribution, platform.major, platform.family)
    except ProvdcError as exc:
        stop(exc)
    engine = Engine(host=host, ops=ops, apt=apt,
                    render=lambda template: selection.render(template, sel, data),
                    host_firewall=lambda item: _host_firewall(item, data))
    for kind in sel.kinds():
        kinds.apply(engine, kind, sel, osv)
    _verify(sel, platform.in_container)


def _verify(sel, in_container: bool) -> None:
    """After every kind: the selected controls pass, or the host stops naming what overrides
    them (provdc.controls.gate, the role's verify step)."""
    cat = catalogue()
    ids = [c["id"] for c in sel.selected]
    commands = gate.probe_commands([cat.by_id[i] for i in ids])
    request = {"controls": ids, "in_container": in_container}
    ops.verify_controls(name=f"verify: the {len(ids)} selected controls pass",
                        script=batch_script(commands),
                        judge=lambda out: gate.explained(cat, {**request, "output": out},
                                                         commands))


def _host_firewall(item: dict, data: dict) -> None:
    """VN-NET-09 has one source: the host firewall the segmentation engine renders from the
    flow matrix (what the Ansible role gets by including the segmentation role). The
    operator's own SSH path is checked on the rendering before anything is written."""
    try:
        seg = host_firewalls()
        if host.name not in seg.hosts:
            raise ProvdcError(f"{host.name} is not in the flow matrix", field="provdc_address",
                              fix="give the host its provdc_zone/provdc_address in the inventory")
        _rc, session = host.get_fact(facts.Probe, command="printenv SSH_CONNECTION")
        client = session.split()[:1]
        guard.check_operator_path(seg, {host.name: client[0]} if client else {},
                                  "pyinfra inventory")
    except ProvdcError as exc:
        stop(exc)
    ops.managed_file(name="firewall: apply script", path=FIREWALL_SCRIPT, mode="0755",
                     content=SEGMENTATION_FILES["script"].read_bytes())
    unit_file = ops.managed_file(
        name="firewall: boot unit", path=f"/etc/systemd/system/{FIREWALL_UNIT}",
        mode="0644", content=SEGMENTATION_FILES["unit"].read_bytes())
    ops.unit(name="firewall: enable and start the boot unit", unit_name=FIREWALL_UNIT,
             enabled=True, running=True, daemon_reload=ops.changed([unit_file]))
    text = render.render(seg.hosts[host.name])
    # as the role's "State directory" task: private to root (the role's converged-host probe
    # reads 700:root:root, so a pyinfra host re-run with Ansible reports nothing to change)
    files.directory(name="firewall: state directory", path=str(Path(SEGMENTATION_STAGED).parent),
                    user="root", group="root", mode="700")
    ops.managed_file(name="firewall: stage the rendering", path=SEGMENTATION_STAGED,
                     content=text, mode="0600", validate="nft -c -f %s")
    ops.host_firewall(name=f"firewall: apply, confirm over a new session | {item['id']}",
                      script=FIREWALL_SCRIPT, text=text, staged=SEGMENTATION_STAGED,
                      confirm_within=CONFIRM_WITHIN, confirm=_confirm_over_new_session(data))


def provdc_hostvars() -> dict[str, dict]:
    """The provdc_* variables of every inventory host (what the host contract reads)."""
    return {h.name: {k: v for k, v in h.data.dict().items() if k.startswith("provdc_")}
            for h in inventory}


@cache
def host_firewalls():
    """Every host's firewall, rendered (and the matrix checked) once for the whole run from
    the provdc_* variables of every inventory host, as the segmentation role does."""
    return sources.from_hostvars(provdc_hostvars(), None, "pyinfra inventory")


def _confirm_over_new_session(data: dict):
    argv = [*ssh_argv(data), f"{FIREWALL_SCRIPT} confirm {HOST_TABLE}"]

    def confirm() -> None:
        proc = gsubprocess.run(argv, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise OperationError(f"no new SSH session after the firewall change "
                                 f"({proc.stderr.strip()[:300]}); the host restores its "
                                 f"previous table within {CONFIRM_WITHIN} s")
    return confirm


def ssh_argv(data: dict) -> list[str]:
    """OpenSSH, from the host's pyinfra connection data, never reusing a connection."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none",
            "-o", "ConnectTimeout=20"]
    if data.get("ssh_config_file"):
        argv += ["-F", str(data["ssh_config_file"])]
    if data.get("ssh_port"):
        argv += ["-p", str(data["ssh_port"])]
    if data.get("ssh_key"):
        argv += ["-i", str(data["ssh_key"])]
    if data.get("ssh_strict_host_key_checking") == "off":
        argv += ["-o", "StrictHostKeyChecking=no"]
    if data.get("ssh_known_hosts_file"):
        argv += ["-o", f"UserKnownHostsFile={data['ssh_known_hosts_file']}"]
    return [*argv, "-l", str(data.get("ssh_user") or "root"), str(data["ssh_hostname"])]


# --- bandwidth -----------------------------------------------------------------------------


@cache
def gateway_specs() -> dict[str, dict[str, str]]:
    """Every gateway's two spec texts, computed (and every host validated against the host
    contract) once for the whole run, so a bad gateway stops the deploy before any host is
    touched."""
    from provdc.hosts import inventory as host_inventory
    from provdc.qos import inventory as qinv

    _, loaded = host_inventory.validate(provdc_hostvars(), "pyinfra inventory")
    topo = loaded.topology
    out = {}
    for h in inventory.get_group("gateways", default=[]):
        gw = qinv.gateway(h.name, h.data.dict())
        out[h.name] = {d: policy.spec_text(policy.site_spec(topo, gw.site, dev, d))
                       for d, dev in (("uplink", gw.uplink_if), ("downlink", gw.core_if))}
    return out


@deploy("Bandwidth")
def bandwidth() -> None:
    if "gateways" not in host.groups:
        return
    try:
        specs = gateway_specs()
    except ProvdcError as exc:
        stop(exc)
    spec = specs[host.name]
    uplink, core_if = host.data.provdc_uplink_if, host.data.provdc_core_peer_if
    _shape_here(uplink, spec["uplink"])
    core_host = host.data.get("provdc_core_host")
    if core_host:  # production: the core router is an inventory host of its own deploy
        host.log(f"DC->site side on {core_host}: run this deploy on that host "
                 f"(interface {core_if})")
    elif host.data.get("provdc_core_netns"):
        ops.htb_apply_core_netns(name=f"bandwidth: DC->site, {core_if} in the core namespace",
                                 python=sys.executable, script=htb.__file__,
                                 netns=host.data.provdc_core_netns, spec=spec["downlink"])


def _shape_here(device: str, spec_text: str) -> None:
    ops.managed_file(name="bandwidth: apply script", path=BANDWIDTH_SCRIPT, mode="0755",
                     content=BANDWIDTH_FILES["script"].read_bytes())
    files.directory(name="bandwidth: spec directory", path=BANDWIDTH_SPEC_DIR, user="root",
                    group="root", mode="755")
    spec_path = f"{BANDWIDTH_SPEC_DIR}/{device}.json"
    ops.managed_file(name=f"bandwidth: class table of {device}", path=spec_path,
                     content=spec_text, mode="0644")
    unit_file = ops.managed_file(
        name="bandwidth: boot unit", path=BANDWIDTH_UNIT, mode="0644",
        content=BANDWIDTH_FILES["unit"].read_text())
    ops.unit(name="bandwidth: enable the boot unit", unit_name="provdc-bandwidth.service",
             enabled=True, daemon_reload=ops.changed([unit_file]))
    ops.htb_apply(name=f"bandwidth: site->DC, egress of {device}", script=BANDWIDTH_SCRIPT,
                  spec_path=spec_path)


__all__ = ["baseline", "bandwidth"]
