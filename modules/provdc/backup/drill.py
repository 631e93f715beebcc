"""The restore drill: prove that a host's latest backup restores.

From the controller, over SSH (the inventory's own connection settings):

1. the source host takes a backup now (`provdc-backup.service`, which also dumps each
   database and counts its rows inside the dump's snapshot);
2. the repository host restores that snapshot into a scratch directory, loads each database
   dump into a throwaway PostgreSQL cluster on a Unix socket, counts every table's rows, and
   times it all (the recovery time);
3. the restored files' SHA-256 are compared with the source's (a file changed on the source
   after the snapshot is reported as such, not as a mismatch), and each table's row count
   with the count taken at dump time;
4. the result is kept on the repository host (`/var/lib/provdc-backup/drills/<host>.json`,
   which the audit reads for the level's drill interval) and logged to the journal, which
   the SOC receives. The scratch directory is removed whatever happens.

The operator's password is given at run time (PROVDC_BACKUP_PASSWORD or --password-file);
the host's own repository password is derived from it here (provdc.backup.secret) and
reaches the repository host on SSH's standard input only.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from provdc.backup import secret as backup_secret
from provdc.backup import specs as backup_specs
from provdc.errors import ProvdcError
from provdc.hosts import inventory as host_inventory

DRILL_DIR = "/var/lib/provdc-backup/drills"
REMOTE_SCRIPT = Path(__file__).with_name("drill-restore.sh")
CHECKSUMS = ("cd / && for p in \"$@\"; do [ -e \"$p\" ] && find \"$p\" -xdev -type f "
             "-printf '%T@ %p\\0'; done | while IFS= read -r -d '' line; do "
             "f=${line#* }; printf '%s %s\\n' \"${line%% *}\" \"$(sha256sum < \"$f\" | "
             "cut -c1-64) $f\"; done")


@dataclass
class DrillResult:
    host: str
    repository_host: str
    snapshot: str
    snapshot_time: str
    backup_seconds: float
    recovery_seconds: float
    files_checked: int = 0
    files_matched: int = 0
    changed_since_snapshot: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    databases: dict[str, dict] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (not self.mismatched and not self.missing
                and all(not d["mismatched"] for d in self.databases.values()))

    def document(self) -> dict:
        return {"host": self.host, "repository_host": self.repository_host,
                "snapshot": self.snapshot, "snapshot_time": self.snapshot_time,
                "backup_seconds": round(self.backup_seconds, 2),
                "recovery_seconds": round(self.recovery_seconds, 2),
                "files": {"checked": self.files_checked, "matched": self.files_matched,
                          "changed_since_snapshot": self.changed_since_snapshot,
                          "mismatched": self.mismatched, "missing": self.missing},
                "databases": self.databases, "passed": self.passed,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _ssh(hostvars: dict, host: str, command: str, stdin: str = "",
         timeout: float = 1800) -> subprocess.CompletedProcess:
    proc = subprocess.run([*host_inventory.ssh_argv(hostvars[host]), command], input=stdin,
                          text=True, capture_output=True, timeout=timeout, check=False)
    if proc.returncode == 255:
        raise ProvdcError(f"cannot reach {host} over SSH: {proc.stderr.strip()[-300:]}",
                          field=host, fix="check the inventory's connection settings and that "
                          "the host is up")
    return proc


def password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ProvdcError(f"cannot read the password file: {exc.strerror}",
                              file=str(password_file), field="--password-file",
                              fix="give a readable file holding the repository password") from None
    else:
        text = os.environ.get("PROVDC_BACKUP_PASSWORD", "")
    return backup_secret.operator_password(text)


def checksums(text: str) -> dict[str, tuple[float, str]]:
    """`<mtime> <sha256> <path>` lines -> {path: (mtime, sha256)}."""
    out = {}
    for line in text.splitlines():
        mtime, digest, path = line.split(" ", 2)
        out[path] = (float(mtime), digest)
    return out


def run(inventory: str | Path, host: str, secret: str) -> DrillResult:
    inv = host_inventory.read(inventory)
    found = backup_specs.specs(inv)
    if host not in found["hosts"]:
        known = ", ".join(found["hosts"]) or "none"
        raise ProvdcError(f"host '{host}' has no backup policy in this inventory",
                          file=str(inventory), field="HOST",
                          fix=f"name a backed-up host ({known})")
    spec, repo = found["hosts"][host], found["repository"]
    hv = inv.hostvars

    started = time.monotonic()
    taken = _ssh(hv, host, "systemctl start provdc-backup.service")
    if taken.returncode != 0:
        raise ProvdcError(f"the backup on {host} failed: {taken.stderr.strip()[-300:]}",
                          field=host, fix=f"read `journalctl -u provdc-backup` on {host}")
    backup_seconds = time.monotonic() - started
    source = _ssh(hv, host, f"bash -s -- {shlex.join(spec['paths'])}", CHECKSUMS)

    remote = f"bash -s -- {shlex.quote(spec['repository_path'])} {shlex.quote(host)}"
    # bash reads its script from stdin line by line: the first line reads the next one, the
    # password, so it never appears on a command line or in a file of the project
    script = ("IFS= read -r PROVDC_PW\n" + backup_secret.host_password(secret, host) + "\n"
              + REMOTE_SCRIPT.read_text())
    restored = _ssh(hv, repo["host"], remote, script)
    if restored.returncode != 0:
        raise ProvdcError(f"the restore on {repo['host']} failed: "
                          f"{restored.stderr.strip()[-400:]}", field=repo["host"],
                          fix="check the repository password and the repository host")
    report = json.loads(restored.stdout.strip().splitlines()[-1])
    result = DrillResult(host, repo["host"], report["snapshot"], report["snapshot_time"],
                         backup_seconds, report["recovery_seconds"])
    compare_files(result, checksums(source.stdout), checksums(report["checksums"]),
                  report["snapshot_epoch"], spec["paths"])
    result.databases = report["databases"]
    keep = json.dumps(result.document())
    # the source keeps it too: its own audit reads when it was last proven restorable
    _ssh(hv, host, "install -d -m 0755 /var/lib/provdc-backup && "
         "cat > /var/lib/provdc-backup/last-drill.json", keep)
    level = "info" if result.passed else "err"
    _ssh(hv, repo["host"], f"install -d -m 0700 {DRILL_DIR} && cat > {DRILL_DIR}/{host}.json "
         f"&& logger -t provdc-backup-drill -p daemon.{level} -- "
         f"{shlex.quote(_summary(result))}", keep)
    return result


def compare_files(result: DrillResult, source: dict, restored: dict, snapshot_epoch: float,
                  paths: list[str]) -> None:
    """Source files against restored ones (restored paths carry no scratch prefix)."""
    for path, (mtime, digest) in sorted(source.items()):
        if not any(path == p or path.startswith(p.rstrip("/") + "/") for p in paths):
            continue
        result.files_checked += 1
        if mtime > snapshot_epoch:
            result.changed_since_snapshot.append(path)
        elif path not in restored:
            result.missing.append(path)
        elif restored[path][1] != digest:
            result.mismatched.append(path)
        else:
            result.files_matched += 1


def _summary(r: DrillResult) -> str:
    rows = sum(d["rows"] for d in r.databases.values())
    return (f"drill {'ok' if r.passed else 'FAILED'} host={r.host} snapshot={r.snapshot} "
            f"recovery_seconds={r.recovery_seconds:.1f} files={r.files_matched}/"
            f"{r.files_checked} mismatched={len(r.mismatched) + len(r.missing)} "
            f"databases={len(r.databases)} rows={rows}")
