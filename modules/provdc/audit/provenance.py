"""Where an audit's evidence comes from, so that a report can be trusted after it travelled.

Every report carries: the provdc version and, when run from a checkout, its commit; the
versions of the control and check catalogues; the inventory's SHA-256; who ran the audit
and when; and per host its facts (OS release, kernel, hostname, machine id, SSH host key
fingerprints), read in the suite's one round trip per host (`FACT_COMMANDS` ride along
with the checks' commands). `write_manifest` then lists the SHA-256 of every report file in
`sha256sum -c` format, so that a signed copy of the manifest proves the files unchanged.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import provdc

MANIFEST = "manifest.sha256"
# name -> command; the keys are what report.json's provenance.hosts.<host> holds
FACT_COMMANDS = {
    "os_release": "cat /etc/os-release 2>/dev/null",  # the same command host_context reads
    "kernel": "uname -srm",
    "hostname": "uname -n",
    "machine_id": "cat /etc/machine-id 2>/dev/null",
    "ssh_host_keys": "for f in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf \"$f\"; done "
                     "2>/dev/null",
    # two lines, "none" when not: the container manager, then the hypervisor
    "virt": "systemd-detect-virt --container 2>/dev/null; systemd-detect-virt --vm "
            "2>/dev/null; true",
}
# `ssh-keygen -l`: "256 SHA256:abc... root@host (ED25519)"
KEY_LINE = re.compile(r"^\d+\s+(\S+)\s+.*\((\w+)\)\s*$")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_auditor() -> str:
    """The OS user running the audit (a container may have no name for its uid)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tool() -> dict:
    """provdc's version, and the commit of the checkout it runs from (when it does)."""
    out: dict = {"name": "provdc"}
    # a source tree that was never installed has no version to tell
    with contextlib.suppress(metadata.PackageNotFoundError):
        out["version"] = metadata.version("provdc")
    out |= checkout(Path(provdc.__file__).resolve().parent)
    return out


def checkout(package_dir: Path) -> dict:
    """{"commit", "dirty"} when the package's own files are tracked by a git work tree; {}
    for an installed copy (a site-packages inside a checkout's .venv is not that checkout)."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(package_dir), *args], capture_output=True,
                              text=True)

    try:
        tracked = git("ls-files", "--", "__init__.py")
    except OSError:  # no git on this machine
        return {}
    if tracked.returncode != 0 or not tracked.stdout.strip():
        return {}
    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return {}
    # uncommitted changes of the package mean the commit alone does not say what ran
    dirty = bool(git("status", "--porcelain", "--", ".").stdout.strip())
    return {"commit": head.stdout.strip(), "dirty": dirty}


def run_facts(inventory: Path, auditor: str, started: str) -> dict:
    """The audit run's provenance (the hosts' facts are added by the report)."""
    from provdc.audit.checks import checks
    from provdc.controls import catalogue

    return {
        "tool": tool(),
        "catalogue_version": catalogue().version,
        "checks_version": checks().version,
        "inventory": {"path": str(inventory), "sha256": sha256_of(inventory)},
        "auditor": auditor,
        "started": started,
    }


def host_facts(outputs: dict[str, tuple[int, str]]) -> dict:
    """A host's facts from the outputs of FACT_COMMANDS (command -> (rc, stdout))."""
    def out(name: str) -> str:
        rc, text = outputs.get(FACT_COMMANDS[name], (127, ""))
        return text.strip() if rc == 0 else ""

    release = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', out("os_release"), re.M))
    keys = [{"type": m.group(2), "fingerprint": m.group(1)}
            for m in map(KEY_LINE.match, out("ssh_host_keys").splitlines()) if m]
    return {
        "os_release": release.get("PRETTY_NAME", ""),
        "kernel": out("kernel"),
        "hostname": out("hostname"),
        "machine_id": out("machine_id"),
        "ssh_host_keys": keys,
        **virt(out("virt")),
    }


def virt(detected: str) -> dict:
    """What kernel a host runs on, from `systemd-detect-virt --container` and `--vm`:
    virt container (it shares its machine's kernel: runtime kernel state is not its own),
    vm or bare-metal (a real kernel of its own); real_kernel says which."""
    lines = [line.strip() for line in detected.splitlines() if line.strip()]
    if len(lines) != 2:
        return {"virt": "unknown", "virt_technology": "", "real_kernel": False}
    container, hypervisor = lines
    if container != "none":
        return {"virt": "container", "virt_technology": container, "real_kernel": False}
    if hypervisor != "none":
        return {"virt": "vm", "virt_technology": hypervisor, "real_kernel": True}
    return {"virt": "bare-metal", "virt_technology": "", "real_kernel": True}


def write_manifest(out_dir: Path, names: list[str]) -> Path:
    """manifest.sha256 beside the reports: `sha256sum -c manifest.sha256` run in that
    directory checks every file (names relative, so the directory can be moved whole)."""
    lines = [f"{sha256_of(out_dir / n)}  {n}\n" for n in sorted(names)]
    path = out_dir / MANIFEST
    path.write_text("".join(lines), encoding="utf-8")
    return path
