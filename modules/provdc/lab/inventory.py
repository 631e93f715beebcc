"""Render the lab's inventories (Ansible YAML, pyinfra, ssh_config) from its plan: pure.

Operators run ansible-playbook, pyinfra and pytest-testinfra from their normal shell. Nothing
is routed from the machine's own namespace into the lab: every SSH connection goes through a
ProxyCommand that opens the TCP stream from inside the lab's core namespace
(`nsenter --net=/run/netns/<lab>.core nc %h %p`). Each lab has its own ControlPath
directory, so two labs with the same addresses never share an SSH master connection.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from provdc.lab.model import (
    HOST_IF,
    LAN_IF,
    UPLINK_IF,
    Host,
    LabPlan,
    core_netns,
    netns_name,
    plan_lab,
)
from provdc.topology.validate import load

GROUP_ORDER = ("dc_hosts", "gateways", "agency_hosts")
# `provdc bandwidth measure` (provdc.qos.measure) runs one iperf3 server per class from port
# 5201 up; the lab's inventory admits these ports between agency and DC hosts (its extra
# flows), so measurement works on a segmented lab. No production inventory carries them.
MEASUREMENT_PORTS = (5201, 5299)
# A VM under software emulation can take far longer than a container to answer a new SSH
# connection when the machine is loaded (key exchange runs 10-30x slower there).
VM_CONNECT_TIMEOUT = 60


def measurement_flows() -> list[dict]:
    """iperf3 both ways: the uplink test runs the client on the agency host, the downlink
    test on the DC host (iperf3 3.12 cannot mark the server's packets in reverse mode)."""
    why = f"lab bandwidth measurement (iperf3, tcp/{MEASUREMENT_PORTS[0]}-{MEASUREMENT_PORTS[1]})"
    return [{"from": "role:agency", "to": "role:dc", "proto": "tcp",
             "port_range": list(MEASUREMENT_PORTS), "why": f"{why} site -> DC"},
            {"from": "role:dc", "to": "role:agency", "proto": "tcp",
             "port_range": list(MEASUREMENT_PORTS), "why": f"{why} DC -> site"}]


def operator_address(lab: LabPlan, h: Host) -> str | None:
    """The operator's SSH comes from the core namespace (ProxyCommand), so a host sees it
    from the core's address on its path: the zone gateway for a DC host, the core end of the
    /31 for a gateway and for the agency hosts behind it."""
    if h.role == "agency":
        gw = next((g for g in lab.hosts if g.name == h.gateway_host), None)
        return (gw.wan_core_address or gw.default_gw) if gw else None
    return h.wan_core_address or h.default_gw


def proxy_command(lab: str) -> str:
    return f"nsenter --net=/run/netns/{core_netns(lab)} nc %h %p"


def paramiko_proxy_command(lab: str) -> str:
    """For pyinfra (paramiko): the proxy must outlive the TCP stream, because paramiko
    kills it on close and fails if it already exited and was reaped."""
    return f"nsenter --net=/run/netns/{core_netns(lab)} sh -c 'nc %h %p; exec sleep 30'"


def ssh_options(lab: str, key: Path, control_dir: Path) -> list[tuple[str, str]]:
    return [
        ("ProxyCommand", proxy_command(lab)),
        ("StrictHostKeyChecking", "no"),
        ("UserKnownHostsFile", "/dev/null"),
        ("LogLevel", "ERROR"),
        ("ControlMaster", "auto"),
        ("ControlPersist", "60s"),
        ("ControlPath", f"{control_dir}/%C"),
        ("ServerAliveInterval", "10"),
        ("ConnectTimeout", "10"),
    ]


def ssh_common_args(lab: str, key: Path, control_dir: Path) -> str:
    parts = []
    for opt, value in ssh_options(lab, key, control_dir):
        parts.append(f"-o '{opt}={value}'" if " " in value else f"-o {opt}={value}")
    return " ".join(parts)


def host_vars(lab: LabPlan, h: Host, key: Path, control_dir: Path) -> dict:
    common = ssh_common_args(lab.name, key, control_dir)
    if h.virt == "vm":
        common = common.replace("ConnectTimeout=10", f"ConnectTimeout={VM_CONNECT_TIMEOUT}")
    v: dict = {
        "ansible_host": h.address,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": common,
        "ansible_python_interpreter": "/usr/bin/python3",
        "provdc_lab_name": lab.name,
        "provdc_role": h.role,
        "provdc_security_level": h.security_level,
        "provdc_address": h.address,
        "provdc_prefix_len": h.prefix_len,
        "provdc_default_gw": h.default_gw,
        "provdc_netns": netns_name(lab.name, h.name),
        "provdc_core_netns": core_netns(lab.name),
        "provdc_topology": str(Path(lab.topology_path).resolve()),
        "provdc_open_tcp": list(h.open_tcp),
        # vm: a QEMU guest with its own kernel; container: shares this machine's kernel
        "provdc_virt": h.virt,
        # the lab's overlay on the production contract: who administers, what it measures
        "provdc_admin_sources": [f"{operator_address(lab, h)}/32"],
        "provdc_extra_flows": measurement_flows(),
    }
    if h.zone:
        v["provdc_zone"] = h.zone
    if h.service:
        v["provdc_service"] = h.service
        v["provdc_instance"] = h.instance
    if h.site:
        v["provdc_site"] = h.site
        v["provdc_tier"] = h.tier
    if h.virt == "vm":
        v["ansible_timeout"] = VM_CONNECT_TIMEOUT
    if h.role == "dc":
        v["provdc_if"] = HOST_IF
        v["provdc_core_peer_if"] = h.peer_if
    elif h.role == "gateway":
        v.update(
            provdc_uplink_if=UPLINK_IF,
            provdc_lan_if=LAN_IF,
            provdc_core_peer_if=h.peer_if,
            provdc_wan_address=h.address,
            provdc_wan_core_address=h.wan_core_address,
            provdc_lan_address=h.lan_address,
            provdc_site_lan=h.lan_cidr,
            provdc_is_router=True,
        )
    elif h.role == "agency":
        v.update(
            provdc_if=HOST_IF,
            provdc_gateway_host=h.gateway_host,
            provdc_gateway_peer_if=h.peer_if,
            provdc_site_lan=h.lan_cidr,
        )
    return v


def ansible_inventory(
    lab: LabPlan, key: Path, control_dir: Path, hosts: list[Host] | None = None
) -> dict:
    """Ansible YAML inventory: every var on each host (testinfra reads host vars only)."""
    hosts = lab.hosts if hosts is None else hosts
    groups: dict[str, list[str]] = {}
    for h in hosts:
        for g in h.groups:
            groups.setdefault(g, []).append(h.name)
    ordered = [g for g in GROUP_ORDER if g in groups] + sorted(
        g for g in groups if g not in GROUP_ORDER
    )
    return {
        "all": {
            "hosts": {h.name: host_vars(lab, h, key, control_dir) for h in hosts},
            "children": {g: {"hosts": {n: None for n in groups[g]}} for g in ordered},
        }
    }


def render_hosts_yml(lab: LabPlan, key: Path, control_dir: Path,
                     hosts: list[Host] | None = None) -> str:
    head = (
        f"# Generated by `provdc lab up` for lab '{lab.name}' ({lab.profile} profile, "
        f"{lab.topology_path}).\n# Do not edit: `provdc lab up` rewrites it, "
        "`provdc lab down` removes it.\n"
    )
    doc = ansible_inventory(lab, key, control_dir, hosts)
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=200)


def render_ssh_config(lab: LabPlan, key: Path, control_dir: Path,
                      hosts: list[Host] | None = None, paramiko: bool = False) -> str:
    """OpenSSH config (`ssh -F FILE HOST`); paramiko=True: the variant pyinfra reads."""
    hosts = lab.hosts if hosts is None else hosts
    lines = [f"# ssh_config of lab '{lab.name}' (generated): ssh -F THIS_FILE HOST", ""]
    for h in hosts:
        lines += [f"Host {h.name} {h.address}", f"  HostName {h.address}"]
        if h.virt == "vm":  # first match wins: before `Host *`'s ConnectTimeout
            lines.append(f"  ConnectTimeout {VM_CONNECT_TIMEOUT}")
        lines.append("")
    lines += ["Host *", "  User root", f"  IdentityFile {key}", "  IdentitiesOnly yes"]
    for opt, value in ssh_options(lab.name, key, control_dir):
        if paramiko and opt == "ProxyCommand":
            value = paramiko_proxy_command(lab.name)
        elif paramiko and opt.startswith("Control"):
            continue
        lines.append(f"  {opt} {value}")
    return "\n".join(lines) + "\n"


def render_pyinfra(lab: LabPlan, key: Path, ssh_config: Path,
                   hosts: list[Host] | None = None) -> str:
    """A pyinfra v3 inventory: one list per group, each host with its data."""
    hosts = lab.hosts if hosts is None else hosts
    groups: dict[str, list[Host]] = {}
    for h in hosts:
        for g in h.groups:
            groups.setdefault(g, []).append(h)
    out = [
        f'"""pyinfra inventory of lab {lab.name!r} (generated by `provdc lab up`).',
        "",
        f"    pyinfra {ssh_config.parent}/pyinfra_inventory.py exec -- uname -n",
        '"""',
        "",
        f"_COMMON = {{'ssh_user': 'root', 'ssh_key': {str(key)!r}, "
        f"'ssh_config_file': {str(ssh_config)!r}, 'ssh_strict_host_key_checking': 'off', "
        "'ssh_known_hosts_file': '/dev/null'}",
        "",
        "",
        "def _h(name, **data):",
        "    return (name, {**_COMMON, **data})",
        "",
    ]
    for g in [g for g in GROUP_ORDER if g in groups] + sorted(set(groups) - set(GROUP_ORDER)):
        out.append(f"{g} = [")
        for h in groups[g]:
            v = host_vars(lab, h, key, ssh_config.parent)
            data = {k: v[k] for k in v if k.startswith("provdc_")}
            out.append(f"    _h({h.name!r}, ssh_hostname={h.address!r}, **{data!r}),")
        out.append("]")
    return "\n".join(out) + "\n"


def planned_hostvars(topology: str | Path, profile: str = "small",
                     name: str = "plan") -> dict[str, dict]:
    """The host vars `provdc lab up` would write for a profile, from the plan alone (no lab):
    what tests and benchmarks render against."""
    plan = plan_lab(load(topology), name, profile)
    return {h.name: host_vars(plan, h, Path("/key"), Path("/cm")) for h in plan.hosts}
