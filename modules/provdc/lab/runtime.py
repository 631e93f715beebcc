"""Bring a lab up and down on this machine (root, Linux): namespaces, overlays, nspawn.

Everything a lab creates is named after it and recorded on disk before it is created, so
`down` finds it again after a crash or a `kill -9` of `up`:

    /var/lib/provdc/labs/<lab>/state.json        plan, status, inventory dir (PROVDC_LAB_ROOT)
    /var/lib/provdc/labs/<lab>/hosts/<host>/     upper/ work/ root/ (overlay), console.log
    /var/lib/provdc/labs/<lab>/ssh/id_ed25519    the operator key (root on every host)
    /var/lib/provdc/labs/<lab>/cm/               SSH ControlMaster sockets
    /run/netns/<lab>.core, /run/netns/<lab>.<host>   network namespaces
    /sys/fs/cgroup/{systemd,unified}/provdc/<lab>/<host>   per-host cgroups (no systemd PID 1)
    systemd-nspawn machines `<lab>.<host>`

The only machine-wide change is `fs.inotify.max_user_instances`, raised when the labs of
this machine need more than it allows and restored when the last of them goes down
(`/var/lib/provdc/inotify.json` keeps the original value and the labs using it).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from provdc.errors import ProvdcError
from provdc.lab import image as image_mod
from provdc.lab import inventory as inv
from provdc.lab import vm as vm_mod
from provdc.lab.image import file_lock
from provdc.lab.model import (
    HOST_IF,
    LAN_IF,
    Host,
    LabPlan,
    Segment,
    check_lab_name,
    core_netns,
    free_address,
    mac_for,
    machine_name,
    netns_name,
)

Log = Callable[[str], None]
CGROUP_PARENT = "provdc"
INOTIFY_KEY = "fs.inotify.max_user_instances"
INOTIFY_BASE = 256  # left for the machine's own use
INOTIFY_PER_HOST = 8  # systemd, journald, logind, dbus... measured ~5-6 per booted host
INVENTORY_FILES = ("hosts.yml", "ssh_config", "pyinfra_ssh_config", "pyinfra_inventory.py")
# more seconds to wait for SSH when VMs boot (TCG: 35 s on an idle machine, minutes loaded)
VM_BOOT_ALLOWANCE = 600
REQUIRED_TOOLS = ("systemd-nspawn", "ip", "nsenter", "nc", "ssh", "ssh-keygen", "mount", "umount")


class LabError(ProvdcError):
    pass


def _quiet(_msg: str) -> None:
    pass


# --- paths and state ----------------------------------------------------------------------


def labs_root() -> Path:
    return Path(os.environ.get("PROVDC_LAB_ROOT", "/var/lib/provdc/labs"))


@dataclass(frozen=True)
class LabDir:
    name: str

    @property
    def root(self) -> Path:
        return labs_root() / self.name

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def hosts(self) -> Path:
        return self.root / "hosts"

    def host(self, host: str) -> Path:
        return self.hosts / host

    @property
    def key(self) -> Path:
        return self.root / "ssh" / "id_ed25519"

    @property
    def control_dir(self) -> Path:
        return self.root / "cm"

    @property
    def ssh_config(self) -> Path:
        return self.root / "ssh_config"

    @property
    def lock(self) -> Path:
        return labs_root() / f".{self.name}.lock"


def default_inventory_dir(name: str) -> Path:
    from provdc.lab.model import DEFAULT_LAB_NAME

    return Path("inventory") / ("lab" if name == DEFAULT_LAB_NAME else f"lab-{name}")


@dataclass
class State:
    name: str
    status: str  # starting | up | stopping
    plan: LabPlan
    image_key: str = ""
    image_rootfs: str = ""
    inventory_dir: str | None = None
    cgroup_roots: list[str] = field(default_factory=list)
    keep_unit: bool = True
    started_at: float = 0.0
    up_seconds: float | None = None
    vm_image: str = ""  # the VM image's directory, when the lab has VM hosts
    vm_accel: str = ""  # kvm | tcg

    def to_json(self) -> str:
        plan = self.plan
        return json.dumps(
            {
                "name": self.name,
                "status": self.status,
                "profile": plan.profile,
                "topology": plan.topology_path,
                "image_key": self.image_key,
                "image_rootfs": self.image_rootfs,
                "inventory_dir": self.inventory_dir,
                "cgroup_roots": self.cgroup_roots,
                "keep_unit": self.keep_unit,
                "started_at": self.started_at,
                "up_seconds": self.up_seconds,
                "vm_image": self.vm_image,
                "vm_accel": self.vm_accel,
                "hosts": [h.to_dict() for h in plan.hosts],
                "segments": {k: s.__dict__ for k, s in plan.segments.items()},
                "routes": plan.routes,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> State:
        d = json.loads(text)
        plan = LabPlan(d["name"], d["profile"], d["topology"])
        plan.hosts = [Host.from_dict(h) for h in d["hosts"]]
        plan.segments = {k: Segment(**s) for k, s in d["segments"].items()}
        plan.routes = [tuple(r) for r in d["routes"]]
        return cls(
            d["name"], d["status"], plan, d["image_key"], d["image_rootfs"], d["inventory_dir"],
            d["cgroup_roots"], d["keep_unit"], d["started_at"], d.get("up_seconds"),
            d.get("vm_image", ""), d.get("vm_accel", ""),
        )


def load_state(name: str) -> State | None:
    path = LabDir(name).state_file
    if not path.is_file():
        return None
    try:
        return State.from_json(path.read_text())
    except (ValueError, KeyError, TypeError):
        return None


def save_state(state: State) -> None:
    path = LabDir(state.name).state_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    tmp.replace(path)


def list_labs() -> list[str]:
    root = labs_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


# --- small process helpers ----------------------------------------------------------------


def run(cmd: list[str], input: str | None = None, check: bool = True,
        timeout: float | None = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, input=input, text=True, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(
            f"`{' '.join(cmd[:6])}{' ...' if len(cmd) > 6 else ''}` failed "
            f"(exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[:800]}"
        )
    return proc


def ip_batch(lines: list[str], netns: str | None = None) -> None:
    if not lines:
        return
    cmd = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    run(cmd, input="\n".join(lines) + "\n")


def nsutil(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "provdc.lab.nsutil", *args], check=check, timeout=timeout)


def systemd_is_pid1() -> bool:
    try:
        return Path("/proc/1/comm").read_text().strip() == "systemd"
    except OSError:
        return False


def cgroup_hierarchies() -> list[Path]:
    """Where per-host cgroups go when PID 1 is not systemd (v1 hybrid or pure v2)."""
    base = Path("/sys/fs/cgroup")
    if (base / "systemd").is_dir():
        return [p for p in (base / "systemd", base / "unified") if (p / "cgroup.procs").exists()]
    if (base / "cgroup.controllers").exists():
        return [base]
    return []


def preflight(need_mmdebstrap: bool) -> None:
    """Every missing requirement is a clear error before anything is created."""
    problems = []
    if not sys.platform.startswith("linux"):
        problems.append("the lab needs Linux")
    if os.geteuid() != 0:
        problems.append("the lab needs root (namespaces, mounts, systemd-nspawn)")
    tools = list(REQUIRED_TOOLS) + (["mmdebstrap"] if need_mmdebstrap else [])
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        problems.append(f"missing commands: {', '.join(missing)}")
    try:
        if "overlay" not in Path("/proc/filesystems").read_text():
            problems.append("the kernel has no overlay file system")
    except OSError:
        problems.append("/proc is not mounted")
    if not Path("/proc/self/ns/net").exists():
        problems.append("the kernel has no network namespaces")
    if not systemd_is_pid1() and not cgroup_hierarchies():
        problems.append("no usable cgroup hierarchy under /sys/fs/cgroup")
    if problems:
        raise LabError(
            "; ".join(problems),
            fix="run as root on Debian 12 after `bash quickstart.sh test` (it installs "
            "systemd-container, mmdebstrap, iproute2, netcat-openbsd and openssh-client)",
        )


# --- inotify (the one global setting) -----------------------------------------------------

INOTIFY_STATE = "inotify.json"


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def _hosts_of_other_labs(name: str) -> int:
    total = 0
    for other in list_labs():
        if other != name and (state := load_state(other)):
            total += len(state.plan.hosts)
    return total


def inotify_acquire(name: str, hosts: int, log: Log) -> None:
    """Raise the limit if the labs on this machine (read from their state on disk, not from
    bookkeeping) need more; remember the original value once."""
    root = labs_root().parent
    with file_lock(root / ".inotify.lock"):
        path = root / INOTIFY_STATE
        data = json.loads(path.read_text()) if path.is_file() else {}
        data.pop("labs", None)  # older bookkeeping; the labs on disk are the truth now
        need = INOTIFY_BASE + INOTIFY_PER_HOST * (hosts + _hosts_of_other_labs(name))
        current = int(_sysctl_path(INOTIFY_KEY).read_text())
        if current < need:
            data.setdefault("original", current)
            _sysctl_path(INOTIFY_KEY).write_text(str(need))
            data["set_to"] = need
            log(f"raised {INOTIFY_KEY} from {current} to {need} (restored by the last "
                "`lab down`)")
        if data:
            path.write_text(json.dumps(data, indent=1))


def inotify_release(name: str, log: Log) -> None:
    """Restore the original limit when no other lab is left on the machine (a lab exists
    as long as its directory under the labs root does)."""
    root = labs_root().parent
    path = root / INOTIFY_STATE
    if not path.is_file():
        return
    with file_lock(root / ".inotify.lock"):
        if any(other != name for other in list_labs()):
            return
        data = json.loads(path.read_text())
        if "original" in data:
            current = int(_sysctl_path(INOTIFY_KEY).read_text())
            if current == data.get("set_to"):
                _sysctl_path(INOTIFY_KEY).write_text(str(data["original"]))
                log(f"restored {INOTIFY_KEY} to {data['original']}")
        path.unlink()


# --- host preparation ---------------------------------------------------------------------


def _mkdir_like(path: Path, lower: Path, default_mode: int = 0o755) -> None:
    """Create a directory in an upper layer with the mode of the image's directory (the
    upper directory's attributes win in the merged view)."""
    if path.is_dir():
        return
    if not path.parent.is_dir():
        _mkdir_like(path.parent, lower.parent, default_mode)
    path.mkdir()
    try:
        st = lower.stat()
        os.chmod(path, st.st_mode & 0o7777)
        os.chown(path, st.st_uid, st.st_gid)
    except FileNotFoundError:
        os.chmod(path, default_mode)


def _write(upper: Path, lowerroot: Path, rel: str, text: str, mode: int = 0o644) -> None:
    target = upper / rel
    _mkdir_like(target.parent, lowerroot / Path(rel).parent)
    target.write_text(text)
    os.chmod(target, mode)


def prepare_host(state: State, h: Host, pubkey: str) -> None:
    """Overlay root plus identity (hostname, machine-id, host keys, operator key)."""
    d = LabDir(state.name).host(h.name)
    lower = Path(state.image_rootfs)
    upper, work, root = d / "upper", d / "work", d / "root"
    for p in (upper, work, root):
        p.mkdir(parents=True, exist_ok=True)
    upper.chmod(0o755)
    hosts_lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{h.name}", f"{h.address}\t{h.name}",
                   "::1\tlocalhost ip6-localhost ip6-loopback"]
    _write(upper, lower, "etc/hostname", h.name + "\n")
    _write(upper, lower, "etc/hosts", "\n".join(hosts_lines) + "\n")
    _write(upper, lower, "etc/machine-id", os.urandom(16).hex() + "\n", 0o444)
    _write(upper, lower, "root/.ssh/authorized_keys", pubkey, 0o600)
    (upper / "root").chmod(0o700)
    (upper / "root/.ssh").chmod(0o700)
    if h.role == "gateway":
        _write(upper, lower, "etc/sysctl.d/60-provdc-router.conf",
               "# provdc lab: this host is the site's TSLCD gateway (a router)\n"
               "net.ipv4.ip_forward = 1\n")
    keydir = upper / "etc/ssh"
    _mkdir_like(keydir, lower / "etc/ssh")
    for kind in ("ed25519", "ecdsa"):
        private, public = host_key(kind, f"root@{h.name}")
        _write(upper, lower, f"etc/ssh/ssh_host_{kind}_key", private, 0o600)
        _write(upper, lower, f"etc/ssh/ssh_host_{kind}_key.pub", public, 0o644)
    # Name the keys the host has, so sshd does not log a missing RSA key at every start.
    _write(upper, lower, "etc/ssh/sshd_config.d/00-provdc-lab-hostkeys.conf",
           "# provdc lab: this host's own keys, generated by `provdc lab up`\n"
           "HostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\n")
    if not os.path.ismount(root):
        mount_overlay(f"provdc-{state.name}", lower, upper, work, root)


def prepare_vm_host(state: State, h: Host, pubkey: str) -> None:
    """A VM host's disk (a qcow2 overlay on the VM image) and its identity disk."""
    d = LabDir(state.name).host(h.name)
    d.mkdir(parents=True, exist_ok=True)
    hosts_lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{h.name}", f"{h.address}\t{h.name}",
                   "::1\tlocalhost ip6-localhost ip6-loopback"]
    files = {
        "etc/hostname": (h.name + "\n", 0o644),
        "etc/hosts": ("\n".join(hosts_lines) + "\n", 0o644),
        "root/.ssh/authorized_keys": (pubkey, 0o600),
        vm_mod.NETWORK_FILE: (vm_mod.network_unit(mac_for(state.name, h.name, "vm"),
                                                  h.address, h.prefix_len, h.default_gw),
                              0o644),
        "etc/ssh/sshd_config.d/00-provdc-lab-hostkeys.conf": (
            "# provdc lab: this host's own keys, generated by `provdc lab up`\n"
            "HostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\n",
            0o644),
    }
    for kind in ("ed25519", "ecdsa"):
        private, public = host_key(kind, f"root@{h.name}")
        files[f"etc/ssh/ssh_host_{kind}_key"] = (private, 0o600)
        files[f"etc/ssh/ssh_host_{kind}_key.pub"] = (public, 0o644)
    img = vm_mod.VmImage("", Path(state.vm_image))
    vm_mod.write_identity(files, d / "identity", d / "identity.img")
    vm_mod.create_overlay(img, d / "disk.qcow2")
    (d / "machine-id").write_text(os.urandom(16).hex() + "\n")


def vm_command(state: State, h: Host) -> list[str]:
    """QEMU in the host's network namespace (where its tap is)."""
    d = LabDir(state.name).host(h.name)
    img = vm_mod.VmImage("", Path(state.vm_image))
    return ["nsenter", f"--net=/run/netns/{netns_name(state.name, h.name)}",
            *vm_mod.qemu_command(img, state.vm_accel, d, state.name, h.name,
                                 (d / "machine-id").read_text().strip(),
                                 mac_for(state.name, h.name, "vm"))]


def _vm_image(plan: LabPlan, log: Log) -> vm_mod.VmImage | None:
    if not any(h.virt == "vm" for h in plan.hosts):
        return None
    vm_mod.preflight()
    img = vm_mod.ensure_image(log)
    if img.built_now:  # the VM images of an older package list, unless a lab uses them
        states = [s for s in map(load_state, list_labs()) if s]
        image_mod.prune({img.key} | {Path(s.vm_image).name for s in states if s.vm_image}
                        | {s.image_key for s in states}, log)
    return img


_libc = ctypes.CDLL(None, use_errno=True)


def mount_overlay(source: str, lower: Path, upper: Path, work: Path, target: Path) -> None:
    """mount -t overlay, as a system call (no process per host)."""
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    if _libc.mount(source.encode(), str(target).encode(), b"overlay", 0, opts) != 0:
        err = ctypes.get_errno()
        raise LabError(f"mounting the overlay on {target} failed: {os.strerror(err)}")


def host_key(kind: str, comment: str) -> tuple[str, str]:
    """An SSH host key pair in OpenSSH format (in-process, like ssh-keygen -t KIND)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else \
        ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, f"{public} {comment}\n"


def nspawn_command(state: State, h: Host) -> list[str]:
    d = LabDir(state.name).host(h.name)
    cmd = [
        "systemd-nspawn", "--quiet", f"--directory={d / 'root'}",
        f"--machine={machine_name(state.name, h.name)}", f"--hostname={h.name}",
        "--register=no", "--link-journal=no", "--capability=CAP_NET_ADMIN",
        f"--network-namespace-path=/run/netns/{netns_name(state.name, h.name)}",
        "--resolv-conf=off", "--timezone=off", "--console=read-only", "--boot",
    ]
    if state.keep_unit:
        cmd.insert(4, "--keep-unit")
    return cmd


def launch_host(state: State, h: Host) -> None:
    """Start the host's systemd-nspawn (a VM host: its QEMU, in its namespace) detached from
    us (double fork via setsid -f), inside its own cgroup; the pid goes to
    hosts/<host>/nspawn.pid (qemu.pid)."""
    d = LabDir(state.name).host(h.name)
    pidfile = d / ("qemu.pid" if h.virt == "vm" else "nspawn.pid")
    pidfile.unlink(missing_ok=True)
    script = 'echo $$ > "$PROVDC_PIDFILE"; '
    for root in state.cgroup_roots:
        cg = Path(root) / CGROUP_PARENT / state.name / h.name
        cg.mkdir(parents=True, exist_ok=True)
        script += f"echo $$ > {cg}/cgroup.procs; "
    script += 'exec "$@"'
    env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="network",
               PROVDC_PIDFILE=str(pidfile))
    command = vm_command(state, h) if h.virt == "vm" else nspawn_command(state, h)
    # a VM's console goes to console.log through QEMU's serial port; this is QEMU's own
    with open(d / ("qemu.log" if h.virt == "vm" else "console.log"), "wb") as out:
        subprocess.run(
            ["setsid", "-f", "sh", "-c", script, "sh", *command],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, check=True,
        )


PID_FILES = ("nspawn.pid", "qemu.pid")  # a container's systemd-nspawn, a VM's QEMU


def host_pid(name: str, host: str) -> int | None:
    for pid_file in PID_FILES:
        try:
            pid = int((LabDir(name).host(host) / pid_file).read_text())
        except (OSError, ValueError):
            continue
        if _alive(pid):
            return pid
    return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# --- network ------------------------------------------------------------------------------


def _netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def build_network(state: State, hosts: list[Host], with_core: bool = True) -> None:
    """Namespaces, veths, bridges, addresses and routes for `hosts` (and the core)."""
    lab, plan = state.name, state.plan
    core = core_netns(lab)
    ns_lines = [f"netns add {netns_name(lab, h.name)}" for h in hosts]
    if with_core:
        ns_lines.insert(0, f"netns add {core}")
    ip_batch(ns_lines)

    core_lines: list[str] = []
    if with_core:
        core_lines += ["link set lo up"]
        for seg in plan.segments.values():
            if seg.netns_owner == "core":
                prefix = seg.cidr.split("/")[1]
                core_lines += [f"link add {seg.bridge} type bridge",
                               f"addr add {seg.gateway}/{prefix} dev {seg.bridge}",
                               f"link set {seg.bridge} up"]
    per_ns: dict[str, list[str]] = {}
    for h in hosts:
        ns = netns_name(lab, h.name)
        mine = per_ns.setdefault(ns, ["link set lo up"])
        peer_mac = mac_for(lab, h.name, "peer")
        host_mac = mac_for(lab, h.name, HOST_IF)
        veth = (f"link add {h.peer_if} address {peer_mac} type veth peer name {HOST_IF} "
                f"address {host_mac} netns {ns}")
        if h.role == "dc":
            core_lines += [veth, f"link set {h.peer_if} master "
                           f"{plan.segments[h.segment].bridge} up"]
        elif h.role == "gateway":
            core_lines += [veth, f"addr add {h.wan_core_address}/31 dev {h.peer_if}",
                           f"link set {h.peer_if} up"]
            lan_prefix = h.lan_cidr.split("/")[1]
            mine += [f"link add {LAN_IF} type bridge",
                     f"addr add {h.lan_address}/{lan_prefix} dev {LAN_IF}",
                     f"link set {LAN_IF} up"]
        else:  # agency: its port is on the gateway's lan0 bridge
            gw_ns = netns_name(lab, h.gateway_host)
            per_ns.setdefault(gw_ns, ["link set lo up"])
        if h.virt == "vm":  # the VM holds the address; its namespace only bridges
            mine += vm_mod.netns_lines(HOST_IF)
        else:
            mine += [f"addr add {h.address}/{h.prefix_len} dev {HOST_IF}",
                     f"link set {HOST_IF} up", f"route add default via {h.default_gw}"]
    ip_batch(core_lines, core)
    # Gateways first (their lan0 must exist before agency ports join it), then the agency
    # ports on each gateway's lan0, then every other host; one `ip -batch` per namespace,
    # several at a time.
    ports: dict[str, list[str]] = {}
    for h in hosts:
        if h.role == "agency":
            ns = netns_name(lab, h.name)
            ports.setdefault(netns_name(lab, h.gateway_host), []).extend([
                f"link add {h.peer_if} address {mac_for(lab, h.name, 'peer')} type veth "
                f"peer name {HOST_IF} address {mac_for(lab, h.name, HOST_IF)} netns {ns}",
                f"link set {h.peer_if} master {LAN_IF} up"])
    gateways = [netns_name(lab, h.name) for h in hosts if h.role == "gateway"]
    others = [netns_name(lab, h.name) for h in hosts if h.role != "gateway"]
    with ThreadPoolExecutor(_workers() * 2) as pool:
        list(pool.map(lambda ns: ip_batch(per_ns[ns], ns), gateways))
        list(pool.map(lambda ns: ip_batch(ports[ns], ns), list(ports)))
        list(pool.map(lambda ns: ip_batch(per_ns[ns], ns), others))
    routes = [f"route add {cidr} via {via}" for cidr, via in plan.routes
              if any(h.role == "gateway" and h.address == via for h in hosts)]
    ip_batch(routes, core)
    sysctls: list[str] = []
    if with_core:
        sysctls += [core, "net.ipv4.ip_forward=1"]
    for h in hosts:
        if h.role == "gateway":
            sysctls += [netns_name(lab, h.name), "net.ipv4.ip_forward=1"]
    if sysctls:
        nsutil("sysctl", *sysctls)


# --- up -----------------------------------------------------------------------------------


def _workers() -> int:
    return max(2, min(8, (os.cpu_count() or 2) * 2))


def wait_ssh(name: str, hosts: list[Host], timeout: float,
             on_ready: Callable[[int], None] | None = None) -> None:
    """Wait until every host's sshd answers; `on_ready(n)` as the n-th one does."""
    cmd = [sys.executable, "-m", "provdc.lab.nsutil", "wait-ssh", core_netns(name),
           str(timeout), *[h.address for h in hosts]]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        # nsutil stops at its own deadline; this only guards against a hung child
        guard = threading.Timer(timeout + 30, proc.kill)
        guard.start()
        try:
            missing = follow_wait_ssh(proc.stdout, on_ready or (lambda n: None))
            problem = proc.stderr.read().strip()
            proc.wait()
        finally:
            guard.cancel()
    if proc.returncode != 0 and not missing:  # the helper itself failed
        raise LabError(f"waiting for SSH failed (exit {proc.returncode}): {problem[-800:]}",
                       fix=f"`provdc lab down --name {name}` cleans up; then try `up` again")
    if proc.returncode != 0:
        names = [h.name for h in hosts if h.address in missing]
        raise LabError(
            f"{len(names)} host(s) did not answer SSH within {timeout:.0f} s: "
            f"{', '.join(names[:10])}{' ...' if len(names) > 10 else ''}",
            fix=f"see {LabDir(name).hosts}/<host>/console.log; `provdc lab down --name {name}` "
            "cleans up",
        )


def follow_wait_ssh(lines: Iterable[str], on_ready: Callable[[int], None]) -> set[str]:
    """Read `nsutil wait-ssh`: `up ADDR` as each host answers, then `missing ADDR ...`;
    return the missing addresses."""
    ready, missing = 0, set()
    for line in lines:
        word, _, rest = line.strip().partition(" ")
        if word == "up":
            ready += 1
            on_ready(ready)
        elif word == "missing":
            missing = set(rest.split())
    return missing


def _alive_hosts(state: State) -> list[str]:
    return [h.name for h in state.plan.hosts if host_pid(state.name, h.name)]


def up(plan: LabPlan, inventory_dir: Path | None = None, log: Log = print,
       timeout: float = 180, on_ready: Callable[[int], None] | None = None) -> State:
    """Bring the lab up (idempotent: an identical running lab is left as it is);
    `on_ready(n)` as the n-th host answers SSH."""
    name = check_lab_name(plan.name)
    preflight(need_mmdebstrap=image_mod.cached() is None)
    ldir = LabDir(name)
    inventory_dir = (inventory_dir or default_inventory_dir(name)).absolute()
    with file_lock(ldir.lock):
        old = load_state(name)
        if (old and old.status == "up" and _same_hosts(old.plan, plan)
                and len(_alive_hosts(old)) == len(old.plan.hosts)):
            log(f"lab '{name}' is already up ({len(old.plan.hosts)} hosts)")
            old.inventory_dir = str(inventory_dir)
            write_inventories(old)
            save_state(old)
            return old
        if old or leftovers(name):
            log(f"lab '{name}': cleaning up a previous or partial lab first")
            _down_locked(name, log)
        start = time.monotonic()
        vm_img = _vm_image(plan, log)
        img = image_mod.ensure_image(log)
        if img.built_now:
            states = [s for s in map(load_state, list_labs()) if s]
            used = {s.image_key for s in states} | {Path(s.vm_image).name for s in states
                                                    if s.vm_image} | {vm_mod.cache_key()}
            image_mod.prune(used, log)
        state = State(name, "starting", plan, img.key, str(img.rootfs), str(inventory_dir),
                      [] if systemd_is_pid1() else [str(p) for p in cgroup_hierarchies()],
                      keep_unit=not systemd_is_pid1(), started_at=time.time(),
                      vm_image=str(vm_img.root) if vm_img else "",
                      vm_accel=vm_mod.accel(vm_img, log) if vm_img else "")
        ldir.hosts.mkdir(parents=True, exist_ok=True)
        save_state(state)  # from here on, `down` can find everything
        inotify_acquire(name, len(plan.hosts), log)
        _operator_key(ldir)
        ldir.control_dir.mkdir(mode=0o700, exist_ok=True)
        log(f"lab '{name}': {len(plan.hosts)} hosts ({plan.profile} profile), image {img.key}")
        _start_hosts(state, plan.hosts, with_core=True, timeout=timeout, on_ready=on_ready)
        state.status = "up"
        state.up_seconds = round(time.monotonic() - start, 2)
        save_state(state)
        write_inventories(state)
        log(f"lab '{name}' up in {state.up_seconds:.1f} s; inventory {inventory_dir}/hosts.yml")
        return state


def _start_hosts(state: State, hosts: list[Host], with_core: bool, timeout: float,
                 on_ready: Callable[[int], None] | None = None) -> None:
    pubkey = (LabDir(state.name).key.with_suffix(".pub")).read_text()
    if any(h.virt == "vm" for h in hosts):
        timeout += VM_BOOT_ALLOWANCE
    with ThreadPoolExecutor(_workers()) as pool:
        prep = [pool.submit(prepare_vm_host if h.virt == "vm" else prepare_host, state, h,
                            pubkey) for h in hosts]
        build_network(state, hosts, with_core=with_core)
        for f in prep:
            f.result()
        list(pool.map(lambda h: launch_host(state, h), hosts))
    wait_ssh(state.name, hosts, timeout, on_ready)


def _same_hosts(a: LabPlan, b: LabPlan) -> bool:
    def key(p: LabPlan) -> list:
        return [(h.name, h.address, h.role, h.virt) for h in p.hosts if not h.extra]

    return key(a) == key(b) and a.profile == b.profile


def _operator_key(ldir: LabDir) -> None:
    if ldir.key.exists():
        return
    ldir.key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"provdc-lab-{ldir.name}",
         "-f", str(ldir.key)])


def write_inventories(state: State) -> None:
    ldir = LabDir(state.name)
    plan = state.plan
    main = [h for h in plan.hosts if not h.extra]
    ssh_cfg = inv.render_ssh_config(plan, ldir.key, ldir.control_dir, plan.hosts)
    ldir.ssh_config.write_text(ssh_cfg)
    if not state.inventory_dir:
        return
    out = Path(state.inventory_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hosts.yml").write_text(inv.render_hosts_yml(plan, ldir.key, ldir.control_dir, main))
    (out / "ssh_config").write_text(ssh_cfg)
    (out / "pyinfra_ssh_config").write_text(
        inv.render_ssh_config(plan, ldir.key, ldir.control_dir, main, paramiko=True))
    (out / "pyinfra_inventory.py").write_text(
        inv.render_pyinfra(plan, ldir.key, out / "pyinfra_ssh_config", main))


# --- add / remove a host on demand ------------------------------------------------------


def add_host(name: str, host: str, segment: str, log: Log = _quiet,
             timeout: float = 120) -> Host:
    """Add a fresh host to a running lab on `zone:<ZONE>` or `site:<slug>` (its LAN)."""
    with file_lock(LabDir(name).lock):
        state = _running_state(name)
        plan = state.plan
        if any(h.name == host for h in plan.hosts) or host == "core":
            raise LabError(f"lab '{name}' already has a host '{host}'")
        if segment not in plan.segments:
            raise LabError(f"lab '{name}' has no segment '{segment}'",
                           fix="use zone:<ZONE> or site:<slug> of a site in this lab: "
                           + ", ".join(sorted(plan.segments)))
        seg = plan.segments[segment]
        index = max(h.index for h in plan.hosts) + 1
        address = free_address(plan, segment)
        prefix = int(seg.cidr.split("/")[1])
        if segment.startswith("zone:"):
            zone = segment[5:]
            level = max((x.security_level for x in plan.hosts if x.zone == zone), default=3)
            h = Host(host, "dc", address, prefix, seg.gateway, level, index, zone=zone,
                     segment=segment, peer_if=f"d{index}", extra=True)
        else:
            gw = plan.host(seg.netns_owner)
            h = Host(host, "agency", address, prefix, seg.gateway, gw.security_level, index,
                     site=gw.site, tier=gw.tier, segment=segment, peer_if=f"p{index}",
                     lan_cidr=seg.cidr, gateway_host=gw.name, extra=True)
        plan.hosts.append(h)
        save_state(state)
        inotify_acquire(name, len(plan.hosts), log)
        _start_hosts(state, [h], with_core=False, timeout=timeout)
        write_inventories(state)
        return h


def remove_host(name: str, host: str, log: Log = _quiet) -> None:
    with file_lock(LabDir(name).lock):
        state = _running_state(name)
        h = state.plan.host(host)
        _stop_hosts(state.name, [h.name], log, graceful=True)
        _kill_netns_procs([netns_name(name, host)])
        ip_batch([f"netns del {netns_name(name, host)}"])
        _umount_under(LabDir(name).host(host))
        _remove_cgroups(state, [host])
        shutil.rmtree(LabDir(name).host(host), ignore_errors=True)
        state.plan.hosts.remove(h)
        save_state(state)
        write_inventories(state)


def _running_state(name: str) -> State:
    state = load_state(name)
    if state is None or state.status != "up":
        raise LabError(f"lab '{name}' is not up", fix=f"run `provdc lab up --name {name}`")
    return state


# --- down ---------------------------------------------------------------------------------


def down(name: str, log: Log = print) -> None:
    """Remove everything the lab created; safe to run on a crashed or absent lab."""
    check_lab_name(name)
    if os.geteuid() != 0:
        raise LabError("`lab down` needs root")
    with file_lock(LabDir(name).lock):
        _down_locked(name, log)
    with contextlib.suppress(OSError):
        LabDir(name).lock.unlink()


def _lab_netns(name: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(name + "."))
    except FileNotFoundError:
        return []


def _nspawn_pids(name: str) -> list[int]:
    """nspawn and QEMU processes of this lab: by pid file and by command line
    (`--machine=<lab>.`, `-name <lab>.`)."""
    pids = set()
    hosts_dir = LabDir(name).hosts
    if hosts_dir.is_dir():
        for d in hosts_dir.iterdir():
            pid = host_pid(name, d.name)
            if pid:
                pids.add(pid)
    markers = {b"systemd-nspawn": f"--machine={name}.".encode(),
               b"qemu-system-x86_64": vm_mod.qemu_name(name, "").encode()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        marker = markers.get(os.path.basename(argv[0])) if argv else None
        if marker and any(a.startswith(marker) for a in argv):
            pids.add(int(entry))
    return sorted(p for p in pids if _alive(p))


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _stop_hosts(name: str, hosts: list[str] | None, log: Log, graceful: bool = False,
                grace: float = 20) -> None:
    """Stop hosts. Default: SIGKILL each container's init, which ends its whole PID
    namespace at once (lab hosts are disposable: volatile journal, upper dirs deleted next).
    graceful=True: SIGTERM to nspawn, i.e. a clean `systemctl halt` (~1.5 s CPU per host)."""
    if hosts is None:
        pids = _nspawn_pids(name)
    else:
        pids = [p for p in (host_pid(name, h) for h in hosts) if p]
    for pid in pids:
        targets = [pid] if graceful else (_children(pid) or [pid])
        for target in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGTERM if graceful else signal.SIGKILL)
    deadline = time.monotonic() + (grace if graceful else 10)
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        time.sleep(0.05)
    if pids:
        log(f"{len(pids)} nspawn process(es) did not exit in time; killing them")
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _netns_inodes(names: list[str]) -> set[int]:
    out = set()
    for n in names:
        with contextlib.suppress(OSError):
            out.add(os.stat(f"/run/netns/{n}").st_ino)
    return out


def _procs_in_netns(names: list[str]) -> list[int]:
    inodes = _netns_inodes(names)
    if not inodes:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes and _alive(int(entry)):
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _kill_netns_procs(names: list[str]) -> None:
    for _ in range(50):
        pids = _procs_in_netns(names)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _cgroup_dirs(name: str, roots: list[str] | None = None) -> list[Path]:
    roots = roots if roots is not None else [str(p) for p in cgroup_hierarchies()]
    dirs = [Path(r) / CGROUP_PARENT / name for r in roots]
    return [d for d in dirs if d.is_dir()]


def _cgroup_procs(dirs: list[Path]) -> list[int]:
    pids = []
    for d in dirs:
        for procs in d.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids += [int(x) for x in procs.read_text().split()]
    return sorted(set(pids))


def _rmdir_tree(d: Path) -> list[str]:
    """rmdir a cgroup directory bottom-up; return the ones still busy."""
    busy = []
    for root, _dirs, _files in os.walk(d, topdown=False):
        try:
            os.rmdir(root)
        except FileNotFoundError:
            pass
        except OSError:
            busy.append(root)
    return busy


def _remove_cgroups(state: State | None, hosts: list[str] | None = None) -> None:
    name = state.name if state else None
    dirs = _cgroup_dirs(name, state.cgroup_roots if state and state.cgroup_roots else None)
    if hosts is not None:
        dirs = [d / h for d in dirs for h in hosts if (d / h).is_dir()]
    for _ in range(100):
        busy = [b for d in dirs for b in _rmdir_tree(d)]
        if not busy:
            break
        for pid in _cgroup_procs([Path(b) for b in busy]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    if hosts is None:
        for d in dirs:
            with contextlib.suppress(OSError):
                d.parent.rmdir()  # .../provdc, if no other lab uses it


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp.startswith(prefix) or mp == prefix.rstrip("/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def _umount_under(path: Path) -> None:
    mps = _mounts_under(path)
    if mps and run(["umount", *mps], check=False).returncode != 0:
        for mp in _mounts_under(path):
            run(["umount", "-l", mp], check=False)


def _rm_tree(root: Path) -> None:
    """rm -rf --one-file-system, one process per host directory in parallel: deleting is
    bound by disk latency, not CPU (300 hosts: ~6x faster than one rm)."""
    if not root.exists():
        return
    subdirs = sorted(LabDir(root.name).hosts.glob("*")) if root == LabDir(root.name).root else []
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda d: run(["rm", "-rf", "--one-file-system", str(d)], check=False),
                      subdirs))
    run(["rm", "-rf", "--one-file-system", str(root)])


def _nspawn_run_leftovers(name: str) -> list[Path]:
    base = Path("/run/systemd/nspawn")
    out = []
    for sub in ("propagate", "unix-export", "incoming"):
        d = base / sub
        if d.is_dir():
            out += [p for p in d.iterdir() if p.name.startswith(name + ".")]
    return out


def _down_locked(name: str, log: Log) -> None:
    state = load_state(name)
    ldir = LabDir(name)
    if state:
        state.status = "stopping"
        with contextlib.suppress(OSError):
            save_state(state)
    _stop_hosts(name, None, log)
    namespaces = _lab_netns(name)
    _kill_netns_procs(namespaces)
    if namespaces:
        ip_batch([f"netns del {n}" for n in namespaces])
    _remove_cgroups(state if state else State(name, "", LabPlan(name, "", "")), None)
    _umount_under(ldir.root)
    for p in _nspawn_run_leftovers(name):
        shutil.rmtree(p, ignore_errors=True)
    if state and state.inventory_dir:
        out = Path(state.inventory_dir)
        for f in INVENTORY_FILES:
            with contextlib.suppress(FileNotFoundError):
                (out / f).unlink()
        shutil.rmtree(out / "__pycache__", ignore_errors=True)
        with contextlib.suppress(OSError):
            out.rmdir()
    if ldir.root.exists():
        if _mounts_under(ldir.root):
            raise LabError(f"{ldir.root} still has mounts; not deleting it",
                           fix="see `grep " + str(ldir.root) + " /proc/self/mountinfo`")
        _rm_tree(ldir.root)
    inotify_release(name, log)
    log(f"lab '{name}' is down")


def leftovers(name: str) -> dict[str, list]:
    """Anything of this lab still on the machine (empty dict: nothing)."""
    found = {
        "netns": _lab_netns(name),
        "nspawn": _nspawn_pids(name),
        "mounts": _mounts_under(LabDir(name).root),
        "cgroups": [str(d) for d in _cgroup_dirs(name)],
        "dirs": [str(LabDir(name).root)] if LabDir(name).root.exists() else [],
        "nspawn_run": [str(p) for p in _nspawn_run_leftovers(name)],
    }
    return {k: v for k, v in found.items() if v}


# --- status -------------------------------------------------------------------------------


def status(name: str) -> dict:
    state = load_state(name)
    if state is None:
        return {"name": name, "status": "down", "hosts": [], "leftovers": leftovers(name)}
    hosts = []
    for h in state.plan.hosts:
        hosts.append({"name": h.name, "role": h.role, "address": h.address,
                      "segment": h.segment, "running": host_pid(name, h.name) is not None,
                      "extra": h.extra, "virt": h.virt})
    running = sum(1 for h in hosts if h["running"])
    st = state.status
    if st == "up" and running < len(hosts):
        st = "degraded"
    return {"name": name, "status": st, "profile": state.plan.profile,
            "topology": state.plan.topology_path, "inventory": state.inventory_dir,
            "image": state.image_key, "up_seconds": state.up_seconds,
            "vm_accel": state.vm_accel or None,
            "running": running, "hosts": hosts}
