"""A pyinfra inventory derived from an Ansible inventory, so both engines reach the same
hosts with the same variables.

Any inventory Ansible reads (the lab's hosts.yml, the cloud engineer's stack-output
inventory, an ops team's INI) is read through `ansible-inventory --list` and validated
against the host contract (`provdc.hosts.inventory.read`). Each host keeps every variable as
pyinfra host data (toggles, `provdc_security_level`, `provdc_*`), and its connection
variables become pyinfra's: `ansible_host` -> ssh_hostname, `ansible_user`, `ansible_port`,
`ansible_ssh_private_key_file`; `-o Option=value` pairs of `ansible_ssh_common_args` go into
an ssh_config file pyinfra (paramiko) reads, kept in the temporary directory. A ProxyCommand
is wrapped so that it outlives the TCP stream: paramiko kills the proxy on close and fails
if it already exited.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import stat
import tempfile
from pathlib import Path

from provdc.errors import ProvdcError
from provdc.hosts import inventory as host_inventory

# Groups Ansible always has, and names pyinfra reserves.
SKIP_GROUPS = {"all", "ungrouped"}
_OPTION = re.compile(r"^(\w+)=(.*)$", re.S)


def ssh_options(common_args: str) -> dict[str, str]:
    """`-o Key=value` pairs of ansible_ssh_common_args (other flags are ignored)."""
    words = shlex.split(common_args or "")
    out = {}
    for flag, value in zip(words, words[1:], strict=False):
        if flag == "-o" and (m := _OPTION.match(value)):
            out[m.group(1)] = m.group(2)
    return out


def paramiko_proxy(command: str) -> str:
    return f"sh -c {shlex.quote(command + '; exec sleep 30')}"


def host_data(name: str, v: dict, ssh_config: Path) -> dict:
    data = {k: val for k, val in v.items() if not k.startswith("ansible_")}
    data["ssh_hostname"] = v.get("ansible_host", name)
    data["ssh_user"] = v.get("ansible_user", "root")
    if "ansible_port" in v:
        data["ssh_port"] = int(v["ansible_port"])
    if "ansible_ssh_private_key_file" in v:
        data["ssh_key"] = v["ansible_ssh_private_key_file"]
    opts = ssh_options(v.get("ansible_ssh_common_args", ""))
    if opts.get("StrictHostKeyChecking", "").lower() == "no":
        data["ssh_strict_host_key_checking"] = "off"
    if opts.get("UserKnownHostsFile"):
        data["ssh_known_hosts_file"] = opts["UserKnownHostsFile"]
    data["ssh_config_file"] = str(ssh_config)
    return data


def render_ssh_config(hostvars: dict[str, dict]) -> str:
    """One block per host: the options pyinfra's paramiko client honours."""
    lines = ["# ssh_config for pyinfra, derived from the Ansible inventory (generated)", ""]
    for name, v in hostvars.items():
        opts = ssh_options(v.get("ansible_ssh_common_args", ""))
        address = v.get("ansible_host", name)
        lines.append(f"Host {name} {address}" if address != name else f"Host {name}")
        lines.append(f"  HostName {address}")
        if "ProxyCommand" in opts:
            lines.append(f"  ProxyCommand {paramiko_proxy(opts['ProxyCommand'])}")
        if "ProxyJump" in opts:
            lines.append(f"  ProxyJump {opts['ProxyJump']}")
        if "ConnectTimeout" in opts:
            lines.append(f"  ConnectTimeout {opts['ConnectTimeout']}")
        lines.append("")
    return "\n".join(lines)


def workdir_for(path: str | Path) -> Path:
    """Where the derived ssh_config of an inventory goes: outside the inventory's directory,
    which belongs to whoever wrote the inventory (the lab removes exactly its own files), in
    a directory private to this user (the temporary directory is shared)."""
    key = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"provdc-pyinfra-{os.getuid()}" / key


def private_dir(path: Path) -> Path:
    """Create `path` (and its parent) 0700, or accept them only when they are real
    directories this user owns that nobody else can write: another user could otherwise
    plant a symlink that root follows."""
    for d in (path.parent, path):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)
        st = d.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise ProvdcError(f"{d} is not a private directory of this user",
                              file=str(d), fix=f"remove {d} (someone else made it) and run "
                              "again")
    return path


def write_private(path: Path, text: str) -> None:
    """Write a file in a private directory without following anything already there."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def groups_from_ansible(path: str | Path) -> dict[str, list[tuple[str, dict]]]:
    """{group: [(host, data), ...]} for a pyinfra inventory module."""
    inv = host_inventory.read(path)
    if not inv.hostvars:
        raise ProvdcError("the inventory has no hosts", file=str(path),
                          fix="check it with `ansible-inventory -i FILE --list`")
    workdir = private_dir(workdir_for(path))
    ssh_config = workdir / "ssh_config"
    write_private(ssh_config, render_ssh_config(inv.hostvars))
    data = {h: host_data(h, v, ssh_config) for h, v in inv.hostvars.items()}
    out: dict[str, list[tuple[str, dict]]] = {}
    for group, members in inv.groups.items():
        if group in SKIP_GROUPS or not members:
            continue
        out[_group_name(group)] = [(h, data[h]) for h in members]
    grouped = {h for members in out.values() for h, _ in members}
    loose = [(h, data[h]) for h in inv.hostvars if h not in grouped]
    if loose:
        out["ungrouped_hosts"] = loose
    return out


def _group_name(group: str) -> str:
    """pyinfra groups are Python identifiers in an inventory module."""
    return re.sub(r"\W", "_", group)
