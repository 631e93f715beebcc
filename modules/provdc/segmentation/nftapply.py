#!/usr/bin/env python3
"""Apply one nftables table atomically, with a timed revert unless confirmed.

Standard library only: this file is also the script installed on every host
(`/usr/local/sbin/provdc-segmentation`) and run in the lab's core namespace, so the controller
and the hosts check and compare with the same code.

    provdc-segmentation check CANDIDATE            live table vs candidate (no change)
    provdc-segmentation apply CANDIDATE [--confirm-within S] [--boot-dir DIR]
    provdc-segmentation confirm TABLE              keep what apply loaded (new SSH session!)
    provdc-segmentation revert TABLE               restore the table as it was (the timer)
    provdc-segmentation load DIR|FILE...           load the confirmed tables (boot unit)

CANDIDATE is a file, `-` (stdin) or `b64:<base64>`. Every command prints one JSON document.

apply: (1) `nft -c -f` the candidate, then load it in a throwaway network namespace and list
it back, which is how the kernel would hold it; (2) if the live table already lists the same,
change nothing; (3) save the live table as a restore script, start a systemd timer that runs
`revert` after S seconds, load the candidate in one `nft -f` transaction and read it back.
Only `confirm`, run by the operator over a NEW connection, stops the timer and promotes the
candidate to the boot directory. If the new ruleset cut the operator off, nobody confirms and
the timer restores the previous table; the boot file was never changed.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

STATE_DIR = Path("/var/lib/provdc-segmentation")
BOOT_DIR = Path("/etc/provdc/segmentation")
LOCK_FILE = "provdc-segmentation.lock"  # in the state directory
TABLE_RE = re.compile(r"^\s*table\s+(ip|ip6|inet|arp|bridge|netdev)\s+([A-Za-z0-9_-]+)", re.M)
COUNTER_RE = re.compile(r"counter packets \d+ bytes \d+")


class Failed(Exception):
    """Something refused; the message carries nft's own words."""


def nft(*args: str, stdin: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(["nft", *args], input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise Failed(f"nft {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def table_of(text: str) -> tuple[str, str]:
    found = {m.groups() for m in TABLE_RE.finditer(text)}
    if len(found) != 1:
        raise Failed(f"the candidate must hold exactly one table, found {len(found)}")
    return found.pop()


def normalise(listing: str) -> str:
    """A listing without the counters' values (they change with traffic). Listings are made
    with `nft -p` (protocols as numbers): hosts without /etc/protocols print them so anyway."""
    lines = [COUNTER_RE.sub("counter", line.rstrip()) for line in listing.splitlines()]
    return "\n".join(line for line in lines if line.strip()) + "\n"


def live(family: str, table: str) -> str | None:
    out = subprocess.run(["nft", "-p", "list", "table", family, table], capture_output=True,
                         text=True)
    return normalise(out.stdout) if out.returncode == 0 else None


def canonical(text: str, family: str, table: str) -> str:
    """How the kernel holds `text`: loaded in a throwaway network namespace, listed back."""
    nft("-c", "-f", "-", stdin=text)
    proc = subprocess.run(
        ["unshare", "--net", "--", "sh", "-c", 'nft -f - && nft -p list table "$1" "$2"', "sh",
         family, table], input=text, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failed(f"nft -f in a scratch namespace: {proc.stderr.strip()}")
    return normalise(proc.stdout)


def differences(want: str, have: str | None) -> list[str]:
    if have is None:
        return ["the table is not loaded"]
    return [line for line in difflib.unified_diff(have.splitlines(), want.splitlines(),
                                                  "live", "rendered", lineterm="", n=0)]


def read_candidate(arg: str) -> str:
    if arg == "-":
        return sys.stdin.read()
    if arg.startswith("b64:"):
        return base64.b64decode(arg[4:]).decode()
    return Path(arg).read_text()


# --- state of a pending apply -------------------------------------------------------------


def state(table: str) -> Path:
    return STATE_DIR / table


def unit_name(table: str) -> str:
    return f"provdc-segmentation-revert-{table.replace('_', '-')}"


def restore_script(family: str, table: str, listing: str | None) -> str:
    """nft -f input that puts the table back as it was (or removes it if it was absent)."""
    return f"table {family} {table}\ndelete table {family} {table}\n" + (listing or "")


def has_systemd() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemd-run") is not None


def stop_timer(table: str) -> None:
    if has_systemd():
        subprocess.run(["systemctl", "stop", f"{unit_name(table)}.timer",
                        f"{unit_name(table)}.service"], capture_output=True)


def start_timer(table: str, seconds: int) -> None:
    if not has_systemd():
        raise Failed("no systemd to schedule the automatic revert; pass --confirm-within 0 "
                     "only where the operator's session cannot cross this firewall")
    stop_timer(table)
    subprocess.run(["systemctl", "reset-failed", f"{unit_name(table)}.service"],
                   capture_output=True)
    proc = subprocess.run(
        ["systemd-run", f"--unit={unit_name(table)}", f"--on-active={seconds}s",
         "--timer-property=AccuracySec=100ms", "--description=provdc segmentation: revert "
         f"{table} unless confirmed", sys.executable, os.path.realpath(__file__), "revert",
         table, "--state-dir", str(STATE_DIR)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failed(f"systemd-run: {proc.stderr.strip()}")


# --- commands -----------------------------------------------------------------------------


def check(text: str, boot_dir: Path = BOOT_DIR) -> dict:
    family, table = table_of(text)
    want = canonical(text, family, table)
    have = live(family, table)
    diff = differences(want, have)
    boot = boot_dir / f"{table}.nft"
    boot_same = boot.is_file() and boot.read_text() == text
    if not boot_same:
        diff.append(f"{boot} differs from the rendering")
    return {"table": table, "changed": have != want or not boot_same, "differences": diff}


def apply(text: str, confirm_within: int, boot_dir: Path = BOOT_DIR) -> dict:
    family, table = table_of(text)
    want = canonical(text, family, table)
    have = live(family, table)
    boot = boot_dir / f"{table}.nft"
    result = {"table": table, "changed": False, "pending": False,
              "differences": differences(want, have)}
    st = state(table)
    pending = (st / "pending").exists()
    # Live and unconfirmed (an earlier run stopped before its confirmation): apply again
    # below, so that this run confirms over a new session; never promote it unconfirmed.
    if have == want and not pending:
        result["differences"] = []
        if not (boot.is_file() and boot.read_text() == text):
            promote(text, boot)
            result["changed"] = True
        return result
    st.mkdir(parents=True, exist_ok=True)
    # An unconfirmed apply is still pending: keep the last CONFIRMED table as the fallback.
    if not pending:
        (st / "previous.nft").write_text(restore_script(family, table, have))
    (st / "staged.nft").write_text(text)
    (st / "boot").write_text(str(boot))
    if confirm_within > 0:
        start_timer(table, confirm_within)
        (st / "pending").write_text(str(confirm_within))
    try:
        nft("-f", "-", stdin=text)
        now = live(family, table)
        if now != want:
            raise Failed("the table read back differs from the rendering: "
                         + " ".join(differences(want, now))[:600])
    except Failed:
        nft("-f", "-", stdin=(st / "previous.nft").read_text(), check=False)
        clear(table)
        raise
    result.update(changed=True, pending=confirm_within > 0)
    if confirm_within <= 0:
        promote(text, boot)
        clear(table)
    return result


def promote(text: str, boot: Path) -> None:
    boot.parent.mkdir(parents=True, exist_ok=True)
    tmp = boot.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(boot)


def clear(table: str) -> None:
    stop_timer(table)
    shutil.rmtree(state(table), ignore_errors=True)


def confirm(table: str) -> dict:
    st = state(table)
    if not (st / "pending").exists():
        return {"table": table, "changed": False, "confirmed": False}
    stop_timer(table)
    promote((st / "staged.nft").read_text(), Path((st / "boot").read_text()))
    clear(table)
    return {"table": table, "changed": True, "confirmed": True}


def revert(table: str) -> dict:
    st = state(table)
    if not (st / "pending").exists():
        return {"table": table, "changed": False, "reverted": False}
    nft("-f", "-", stdin=(st / "previous.nft").read_text())
    shutil.rmtree(st, ignore_errors=True)
    print(f"provdc-segmentation: {table} was not confirmed; previous table restored",
          file=sys.stderr)
    return {"table": table, "changed": True, "reverted": True}


def load(paths: list[str]) -> dict:
    files = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.nft")) if p.is_dir() else [p] if p.exists() else []
    for f in files:
        nft("-f", str(f))
    return {"changed": bool(files), "loaded": [str(f) for f in files]}


@contextlib.contextmanager
def locked():
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / LOCK_FILE, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def main(argv: list[str]) -> int:
    global STATE_DIR  # --state-dir: the lab's core keeps its state in the lab's directory
    if not argv or argv[0] not in ("check", "apply", "confirm", "revert", "load"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    opts = {"--confirm-within": "0", "--boot-dir": str(BOOT_DIR),
            "--state-dir": str(STATE_DIR)}
    rest = []
    while args:
        a = args.pop(0)
        if a in opts:
            opts[a] = args.pop(0)
        else:
            rest.append(a)
    boot_dir = Path(opts["--boot-dir"])
    STATE_DIR = Path(opts["--state-dir"])
    try:
        with locked():
            if cmd == "check":
                out = check(read_candidate(rest[0]), boot_dir)
            elif cmd == "apply":
                out = apply(read_candidate(rest[0]), int(opts["--confirm-within"]), boot_dir)
            elif cmd == "confirm":
                out = confirm(rest[0])
            elif cmd == "revert":
                out = revert(rest[0])
            else:
                out = load(rest or [str(boot_dir)])
    except (Failed, OSError, IndexError, ValueError) as exc:
        print(json.dumps({"changed": False, "failed": True, "msg": str(exc)}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
