"""The lab's Debian 12 root file system: built once with mmdebstrap, cached, shared read-only.

Every lab host boots the same tree as the lower layer of its own overlay, so the image is
built once per package list and recipe and never modified afterwards. The cache directory
is keyed by a hash of `packages.txt` and of the build recipe below: editing either builds a
new image once (about a minute, needs the Debian mirror), and concurrent `lab up`s wait on
one lock instead of building twice.

Layout under the cache (default `/var/cache/provdc/images`, env `PROVDC_IMAGE_CACHE`):

    <key>/rootfs/        the extracted tree (overlay lowerdir)
    <key>/recipe.json    what was built, from which packages, how long it took
    .lock                held while a build runs
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provdc.errors import ProvdcError

SUITE = "bookworm"
PACKAGES_FILE = Path(__file__).with_name("packages.txt")

# Units that cannot work in a container, cost CPU on hundreds of hosts, or wait for a tty.
MASKED_UNITS = (
    "console-getty.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "man-db.timer",
    "dailyaidecheck.timer",
    "systemd-networkd-wait-online.service",
)
# Enabled by their packages but unable to run in a container on this kernel (auditd:
# "audit support not in kernel"; acct needs CAP_SYS_PACCT). Hardening playbooks may
# still configure them; the lab just does not start them at boot.
# PostgreSQL is in the image for the database hosts the backup drill uses; it starts only
# where a test or a playbook enables it.
DISABLED_UNITS = ("auditd.service", "acct.service", "postgresql.service")

# The customize hooks make the image lab-ready. Any change here changes the cache key.
CUSTOMIZE_HOOKS = (
    # Each host gets its own host keys and machine-id, written before its first boot.
    'rm -f "$1"/etc/ssh/ssh_host_*',
    ': > "$1/etc/machine-id"',
    'rm -f "$1/var/lib/dbus/machine-id"',
    'systemctl --root="$1" mask ' + " ".join(MASKED_UNITS),
    'systemctl --root="$1" disable ' + " ".join(DISABLED_UNITS) + " || true",
    # A volatile journal: about 100 KB of disk per host instead of 8 MB.
    'mkdir -p "$1/etc/systemd/journald.conf.d"',
    "printf '[Journal]\\nStorage=volatile\\nRuntimeMaxUse=8M\\n' "
    '> "$1/etc/systemd/journald.conf.d/00-provdc-lab.conf"',
    'mkdir -p "$1/root/.ssh" && chmod 700 "$1/root/.ssh"',
    ': > "$1/etc/hostname"',
    'rm -f "$1/etc/resolv.conf" && : > "$1/etc/resolv.conf"',
    # Nothing to fetch from: hosts have no mirror. Keep apt from trying at boot.
    'rm -rf "$1"/var/cache/apt/*.bin',
)
MMDEBSTRAP_OPTIONS = (
    "--variant=apt",
    "--format=directory",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/locale/locale.alias",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/info/*",
)
RECIPE_VERSION = "1"


def packages(path: Path = PACKAGES_FILE) -> list[str]:
    """The image's package list: one name per line, `#` comments and blank lines ignored."""
    names = []
    for line in path.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return sorted(set(names))


def cache_root() -> Path:
    return Path(os.environ.get("PROVDC_IMAGE_CACHE", "/var/cache/provdc/images"))


def cache_key(pkgs: list[str] | None = None) -> str:
    """A short hash of everything that determines the image's contents."""
    recipe = {
        "version": RECIPE_VERSION,
        "suite": SUITE,
        "packages": sorted(pkgs if pkgs is not None else packages()),
        "hooks": list(CUSTOMIZE_HOOKS),
        "options": list(MMDEBSTRAP_OPTIONS),
    }
    blob = json.dumps(recipe, sort_keys=True).encode()
    return f"{SUITE}-{hashlib.sha256(blob).hexdigest()[:16]}"


@dataclass(frozen=True)
class Image:
    key: str
    rootfs: Path
    built_now: bool = False
    build_seconds: float | None = None


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (concurrent `lab up`s, image builds, down)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _mirror_args() -> list[str]:
    """Use the machine's own Debian sources (its mirror or proxy), else mmdebstrap's default."""
    for candidate in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        if Path(candidate).is_file() and Path(candidate).stat().st_size:
            return [candidate]
    return []


def cached(key: str | None = None) -> Image | None:
    key = key or cache_key()
    rootfs = cache_root() / key / "rootfs"
    if (cache_root() / key / "recipe.json").is_file() and rootfs.is_dir():
        return Image(key, rootfs)
    return None


def ensure_image(log=print) -> Image:
    """Return the cached image for the current package list, building it if needed."""
    pkgs = packages()
    key = cache_key(pkgs)
    root = cache_root()
    if img := cached(key):
        return img
    if shutil.which("mmdebstrap") is None:
        raise ProvdcError(
            "mmdebstrap is not installed, so the lab image cannot be built",
            fix="run `bash quickstart.sh test` (or `apt-get install mmdebstrap`) as root",
        )
    with file_lock(root / ".lock"):
        if img := cached(key):
            return img  # another `lab up` built it while we waited
        final = root / key
        tmp = root / f".{key}.building-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        log(f"building the lab image {key} with mmdebstrap ({len(pkgs)} packages, ~1 min)")
        cmd = [
            "mmdebstrap",
            *MMDEBSTRAP_OPTIONS,
            "--include=" + ",".join(pkgs),
            *[f"--customize-hook={hook}" for hook in CUSTOMIZE_HOOKS],
            SUITE,
            str(tmp / "rootfs"),
            *_mirror_args(),
        ]
        start = time.monotonic()
        logfile = tmp / "build.log"
        with open(logfile, "w") as fh:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=fh,
                                  stderr=subprocess.STDOUT)
        took = time.monotonic() - start
        if proc.returncode != 0:
            tail = logfile.read_text(errors="replace").splitlines()[-15:]
            shutil.rmtree(tmp, ignore_errors=True)
            raise ProvdcError(
                "building the lab image failed (mmdebstrap exit "
                f"{proc.returncode}):\n" + "\n".join(tail),
                fix="check the network to the Debian mirror and the names in "
                "modules/provdc/lab/packages.txt",
            )
        (tmp / "recipe.json").write_text(
            json.dumps(
                {"key": key, "suite": SUITE, "packages": pkgs, "build_seconds": round(took, 1),
                 "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                indent=2,
            )
        )
        tmp.rename(final)
        log(f"lab image {key} built in {took:.0f} s")
        return Image(key, final / "rootfs", built_now=True, build_seconds=took)


def prune(in_use: set[str], log=print) -> list[str]:
    """Delete cached images other than the current one that no lab uses (not mounted)."""
    root = cache_root()
    if not root.is_dir():
        return []
    current = cache_key()
    try:
        mounts = Path("/proc/self/mountinfo").read_text()
    except OSError:
        mounts = ""
    removed = []
    with file_lock(root / ".lock"):
        for d in root.iterdir():
            if d.name.startswith(".") or not d.is_dir() or d.name in in_use | {current}:
                continue
            if f"lowerdir={d}/" in mounts or f"lowerdir={d}," in mounts:
                continue
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d.name)
            log(f"removed the unused lab image {d.name}")
    return removed
