"""Lab hosts with a real kernel: QEMU virtual machines beside the systemd-nspawn containers.

A container shares this machine's kernel, so what the baseline asks of the kernel (audit
rules loaded and locked, `kernel.*` sysctls, chronyd setting the clock, process accounting)
can only be checked as configuration there. A VM host boots Debian's cloud kernel and runs
all of it for real, at a price: about 35 s to boot under software emulation, about 0.6 GB
of memory, and processes that start 10-30x slower than in a container.

**The image** is built once per package list, like the container image (the same
`packages.txt`, plus a kernel and what a booting machine needs), and cached next to it:

    <cache>/vm-<key>/disk.raw               ext4 root file system (sparse, read-only backing)
    <cache>/vm-<key>/vmlinuz, initrd.img    booted directly (`-kernel`): no boot loader
    <cache>/vm-<key>/recipe.json            what was built; accel.json: the KVM probe

`mkfs.ext4 -d` writes the tree into a plain file: building mounts nothing.

**A VM host** gets a qcow2 overlay on that disk, and a second small ext4 disk with its
identity (hostname, hosts, SSH host keys, the operator's key, its static address for
systemd-networkd), which a unit of the image copies into place before the network and sshd
start. Its network is a container's: the host's namespace `<lab>.<host>` with its veth into
the zone bridge (or the site LAN); inside that namespace a bridge joins the veth's `eth0`
and a tap, and QEMU, started in that namespace, drives the tap. The VM thus sits on its
zone's segment with its planned address, and its traffic never leaves the lab's
namespaces. QEMU runs in the host's cgroup; its pid is `hosts/<host>/qemu.pid`, which is
what `down` kills.

**Acceleration:** KVM only if a probe boot of the image's kernel under KVM writes its first
console line; the nested KVM that stock kernels cannot use fails the probe (QEMU aborts on
an MSR, or the kernel never writes a line), and the VMs use TCG.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from provdc.errors import ProvdcError
from provdc.lab import image as image_mod
from provdc.lab.image import file_lock

# What a booting machine needs beyond the container image's list.
VM_PACKAGES = ("linux-image-cloud-amd64", "initramfs-tools", "udev", "e2fsprogs")
DISK_SIZE = "4G"  # sparse: about 0.7 GB is written
IDENTITY_SIZE = "4M"
MEMORY_MB = 1024
TB_SIZE_MB = 256  # TCG translation cache: the default (1 GiB) would double QEMU's memory
IDENTITY_SERIAL = "provdc-identity"
IDENTITY_UNIT = "provdc-lab-identity.service"
BRIDGE = "vmbr0"  # in the host's namespace: its veth eth0 + the tap
TAP = "vmtap0"
NETWORK_FILE = "etc/systemd/network/10-provdc-lab.network"
REQUIRED_TOOLS = ("qemu-system-x86_64", "qemu-img", "mkfs.ext4")
# No console login (the serial console is the boot log); the container image's timers too.
VM_MASKED_UNITS = tuple(u for u in image_mod.MASKED_UNITS if u != "console-getty.service") + (
    "serial-getty@ttyS0.service", "getty@tty1.service")


# The identity disk is found by its serial in sysfs, as soon as the kernel has probed it:
# waiting for udev's by-id link instead failed on a loaded machine (udevd started after
# the 90 s device timeout). It is mounted under /run, not /tmp: with /tmp on the root file
# system, systemd-tmpfiles-setup empties /tmp at boot (Debian's `D /tmp`) at the same
# time, and removed the mount point before the mount now and then.
IDENTITY_UNIT_TEXT = f"""\
[Unit]
Description=provdc lab: this VM's identity (host keys, address, operator key)
DefaultDependencies=no
After=local-fs.target
Before=systemd-networkd.service ssh.service sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -ec 'for i in $$(seq 600); do for b in /sys/block/vd*; do \
[ "$$(cat $$b/serial 2>/dev/null)" = {IDENTITY_SERIAL} ] && dev=/dev/$${{b##*/}}; done; \
[ -z "$$dev" ] || break; sleep 0.5; done; d=/run/provdc-lab-identity; mkdir -p $$d; \
mount -o ro $$dev $$d; cp -a $$d/files/. /; umount $$d; rmdir $$d'

[Install]
WantedBy=sysinit.target
"""

# The kernel's initramfs is built once, after every package is in: while apt installs,
# `update-initramfs` is a stub (the real one diverted aside); otherwise the kernel's postinst
# builds it and initramfs-tools' trigger builds it again. Run after the essential packages,
# before the rest (kernel, initramfs-tools); VM_HOOKS' first puts the real one back.
VM_ESSENTIAL_HOOKS = (
    'chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs',
    "printf '#!/bin/sh\\nexit 0\\n' > \"$1/usr/sbin/update-initramfs\" && "
    'chmod 755 "$1/usr/sbin/update-initramfs"',
)
# Run in the tree after mmdebstrap, before mkfs (any change here changes the cache key).
VM_HOOKS = (
    'rm "$1/usr/sbin/update-initramfs" && chroot "$1" dpkg-divert --quiet --local --rename '
    '--remove /usr/sbin/update-initramfs && '
    'chroot "$1" update-initramfs -c -k "$(ls "$1/lib/modules")"',
    'rm -f "$1"/etc/ssh/ssh_host_*',
    ': > "$1/etc/machine-id"',
    'rm -f "$1/var/lib/dbus/machine-id"',
    'systemctl --root="$1" mask ' + " ".join(VM_MASKED_UNITS),
    'systemctl --root="$1" enable systemd-networkd.service',
    'mkdir -p "$1/root/.ssh" && chmod 700 "$1/root/.ssh"',
    ': > "$1/etc/hostname"',
    'rm -f "$1/etc/resolv.conf" && : > "$1/etc/resolv.conf"',
    'rm -rf "$1"/var/cache/apt/*.bin',
    # The root file system alone, as on a stock Debian 12 server: /tmp is a directory on it
    # until VN-FS-04 mounts its tmpfs (over a /tmp in use, the baseline's own module's).
    "printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\\n' > \"$1/etc/fstab\"",
)
RECIPE_VERSION = "1"


class VmError(ProvdcError):
    pass


@dataclass(frozen=True)
class VmImage:
    key: str
    root: Path
    built_now: bool = False

    @property
    def disk(self) -> Path:
        return self.root / "disk.raw"

    @property
    def kernel(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.root / "initrd.img"


def packages() -> list[str]:
    return sorted(set(image_mod.packages()) | set(VM_PACKAGES))


def cache_key(pkgs: list[str] | None = None) -> str:
    recipe = {
        "version": RECIPE_VERSION,
        "suite": image_mod.SUITE,
        "packages": sorted(pkgs if pkgs is not None else packages()),
        "essential_hooks": list(VM_ESSENTIAL_HOOKS),
        "hooks": list(VM_HOOKS),
        "unit": IDENTITY_UNIT_TEXT,
        "options": list(image_mod.MMDEBSTRAP_OPTIONS),
        "disk": DISK_SIZE,
    }
    blob = json.dumps(recipe, sort_keys=True).encode()
    return f"vm-{image_mod.SUITE}-{hashlib.sha256(blob).hexdigest()[:16]}"


def cached(key: str | None = None) -> VmImage | None:
    key = key or cache_key()
    root = image_mod.cache_root() / key
    img = VmImage(key, root)
    if (root / "recipe.json").is_file() and all(
            p.is_file() for p in (img.disk, img.kernel, img.initrd)):
        return img
    return None


def preflight() -> None:
    missing = [t for t in (*REQUIRED_TOOLS, "mmdebstrap") if shutil.which(t) is None]
    if cached() is not None and "mmdebstrap" in missing:
        missing.remove("mmdebstrap")
    if missing:
        raise VmError(f"VM hosts need commands that are missing: {', '.join(missing)}",
                      field="--vm",
                      fix="run `bash quickstart.sh test` (it installs qemu-system-x86, "
                      "qemu-utils, e2fsprogs and mmdebstrap) as root")


def ensure_image(log=print) -> VmImage:
    """The cached VM image for the current package list, built once if needed."""
    pkgs = packages()
    key = cache_key(pkgs)
    root = image_mod.cache_root()
    if img := cached(key):
        return img
    with file_lock(root / ".lock"):
        if img := cached(key):
            return img
        tmp = root / f".{key}.building-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            took = _build(tmp, pkgs, log)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (tmp / "recipe.json").write_text(json.dumps(
            {"key": key, "suite": image_mod.SUITE, "packages": pkgs,
             "build_seconds": round(took, 1), "disk_size": DISK_SIZE,
             "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2))
        tmp.rename(root / key)
        log(f"VM image {key} built in {took:.0f} s")
        return VmImage(key, root / key, built_now=True)


def _run_logged(cmd: list[str], logfile: Path, what: str) -> None:
    with open(logfile, "a") as fh:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = logfile.read_text(errors="replace").splitlines()[-15:]
        raise VmError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(tail),
                      fix="check the network to the Debian mirror and the names in "
                      "modules/provdc/lab/packages.txt")


def _build(tmp: Path, pkgs: list[str], log) -> float:
    """mmdebstrap a tree, make it bootable, copy the kernel out, mkfs.ext4 -d it; the tree
    is deleted afterwards (only the disk file is kept)."""
    log(f"building the VM image with mmdebstrap ({len(pkgs)} packages and a kernel, ~2 min)")
    start = time.monotonic()
    tree, logfile = tmp / "rootfs", tmp / "build.log"
    _run_logged(["mmdebstrap", *image_mod.MMDEBSTRAP_OPTIONS, "--include=" + ",".join(pkgs),
                 *[f"--essential-hook={hook}" for hook in VM_ESSENTIAL_HOOKS],
                 *[f"--customize-hook={hook}" for hook in VM_HOOKS],
                 image_mod.SUITE, str(tree), *image_mod._mirror_args()], logfile, "mmdebstrap")
    unit = tree / "etc/systemd/system" / IDENTITY_UNIT
    unit.write_text(IDENTITY_UNIT_TEXT)
    wants = tree / "etc/systemd/system/sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / IDENTITY_UNIT).symlink_to(f"/etc/systemd/system/{IDENTITY_UNIT}")
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    initrds = sorted((tree / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise VmError("the VM image has no kernel or initrd in /boot",
                      fix="keep linux-image-cloud-amd64 and initramfs-tools in VM_PACKAGES")
    shutil.copy(kernels[-1], tmp / "vmlinuz")
    shutil.copy(initrds[-1], tmp / "initrd.img")
    _run_logged(["mkfs.ext4", "-q", "-F", "-L", "provdc-root", "-d", str(tree),
                 str(tmp / "disk.raw"), DISK_SIZE], logfile, "mkfs.ext4 -d")
    (tmp / "disk.raw").chmod(0o444)
    subprocess.run(["rm", "-rf", "--one-file-system", str(tree)], check=False)
    return time.monotonic() - start


# --- acceleration -------------------------------------------------------------------------


def probe_kvm(img: VmImage, timeout: float = 20) -> tuple[bool, str]:
    """Boot the image's kernel under KVM up to its first console line. (usable, why)."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is absent or not accessible"
    cmd = ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256", "-smp", "1",
           "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
           "-kernel", str(img.kernel), "-append", "console=ttyS0 panic=-1 earlyprintk=ttyS0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        while time.monotonic() < deadline and proc.poll() is None:
            chunk = proc.stdout.read() or b""
            seen += chunk
            if b"Linux version" in seen:
                return True, "the kernel booted under KVM"
            time.sleep(0.2)
        seen += proc.stdout.read() or b""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if b"Linux version" in seen:
        return True, "the kernel booted under KVM"
    last = seen.decode(errors="replace").strip().splitlines()[-1:] or ["no console output"]
    return False, f"KVM probe failed: {last[0][:200]}"


def accel(img: VmImage, log=print) -> str:
    """`kvm` or `tcg`, probed once per image and remembered in accel.json."""
    path = img.root / "accel.json"
    with file_lock(img.root / ".accel.lock"):
        if path.is_file():
            with_reason = json.loads(path.read_text())
        else:
            usable, why = probe_kvm(img)
            with_reason = {"accel": "kvm" if usable else "tcg", "reason": why,
                           "probed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            path.write_text(json.dumps(with_reason, indent=1))
            log(f"VM acceleration: {with_reason['accel']} ({why})")
    return with_reason["accel"]


# --- one VM host --------------------------------------------------------------------------


def network_unit(mac: str, address: str, prefix_len: int, gateway: str) -> str:
    return (f"# provdc lab: this VM's planned address (written by `provdc lab up`)\n"
            f"[Match]\nMACAddress={mac}\n\n[Network]\nAddress={address}/{prefix_len}\n"
            f"Gateway={gateway}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n")


def write_identity(files: dict[str, tuple[str, int]], workdir: Path, image: Path) -> None:
    """A small ext4 disk holding `files/<path>` (path -> (text, mode)), made without a
    mount: directories 0755, /root and /root/.ssh 0700."""
    tree = workdir / "files"
    shutil.rmtree(tree, ignore_errors=True)
    for rel, (text, mode) in files.items():
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)
    for d in [tree, *tree.rglob("*")]:
        if d.is_dir():
            d.chmod(0o700 if d.name in ("root", ".ssh") and d.parent in (tree, tree / "root")
                    else 0o755)
    image.unlink(missing_ok=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "provdc-id", "-d", str(workdir),
                    str(image), IDENTITY_SIZE], check=True, capture_output=True)
    shutil.rmtree(tree, ignore_errors=True)


def create_overlay(img: VmImage, disk: Path) -> None:
    disk.unlink(missing_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                    str(img.disk), str(disk)], check=True, capture_output=True)


def qemu_name(lab: str, host: str) -> str:
    """QEMU's `-name`: how `down` finds a lab's VMs even without their pid files."""
    return f"provdc-lab:{lab}.{host}"


def qemu_command(img: VmImage, accel_kind: str, hostdir: Path, lab: str, hostname: str,
                 machine_id: str, mac: str) -> list[str]:
    accel_args = (["-accel", "kvm", "-cpu", "host"] if accel_kind == "kvm"
                  else ["-accel", f"tcg,tb-size={TB_SIZE_MB}"])
    append = (f"root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname={hostname} "
              f"systemd.machine_id={machine_id} audit=1")
    return [
        "qemu-system-x86_64", "-name", qemu_name(lab, hostname), *accel_args,
        "-m", str(MEMORY_MB), "-smp", "1", "-nodefaults", "-display", "none",
        "-serial", f"file:{hostdir / 'console.log'}", "-monitor", "none",
        "-kernel", str(img.kernel), "-initrd", str(img.initrd), "-append", append,
        # both disks as explicit devices, in this order: the root disk is /dev/vda
        "-drive", f"file={hostdir / 'disk.qcow2'},if=none,id=root,format=qcow2,cache=unsafe",
        "-device", "virtio-blk-pci,drive=root",
        "-drive", f"file={hostdir / 'identity.img'},if=none,id=ident,format=raw,readonly=on",
        "-device", f"virtio-blk-pci,drive=ident,serial={IDENTITY_SERIAL}",
        "-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no",
        "-device", f"virtio-net-pci,netdev=n0,mac={mac}",
        "-device", "virtio-rng-pci",
    ]


def netns_lines(host_if: str) -> list[str]:
    """`ip -batch` lines in a VM host's namespace: eth0 (the veth into the lab) and the tap
    QEMU drives become ports of one bridge; the namespace itself has no address."""
    return [f"link add {BRIDGE} type bridge", f"link set {host_if} master {BRIDGE}",
            f"tuntap add dev {TAP} mode tap", f"link set {TAP} master {BRIDGE}",
            f"link set {host_if} up", f"link set {TAP} up", f"link set {BRIDGE} up"]
