"""Backup and restore throughput of restic (what the backup role runs) against a plain
`tar | zstd` of the same data, in the same run, on this machine's disk.

The data set is what a provincial host backs up: document files (incompressible, like PDFs
and scans), text (logs, configuration) and a PostgreSQL plain dump's worth of rows. restic
writes an encrypted, deduplicated repository on a local path (the repository host's view;
SFTP adds the network); `tar | zstd -3 -T0` is the floor of reading, compressing and writing
the same bytes without encryption or deduplication. A second restic backup of unchanged data
shows what deduplication saves on every run after the first.

    .venv/bin/python benchmarks/backup_bench.py [--mb 200] [--write]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import markdown_table, write_section  # noqa: E402

PASSWORD = "benchmark-only-password-not-a-secret"


def make_data(root: Path, megabytes: int) -> int:
    """Half incompressible documents, a quarter text, a quarter dump-like rows."""
    rng = random.Random(21)
    docs, text, rows = root / "van-ban", root / "log", root / "postgresql"
    for d in (docs, text, rows):
        d.mkdir(parents=True)
    half = megabytes * 2**20 // 2
    for i in range(half // 2**20):
        (docs / f"{i}.pdf").write_bytes(os.urandom(2**20))
    words = ["ủy", "ban", "nhân", "dân", "tỉnh", "sở", "văn", "bản", "hồ", "sơ", "2026"]
    line = " ".join(rng.choice(words) for _ in range(20)) + "\n"
    (text / "syslog").write_text(line * (megabytes * 2**20 // 4 // len(line.encode())))
    with (rows / "csdl.sql").open("w") as dump:
        dump.write("COPY public.ho_so (id, noi_dung) FROM stdin;\n")
        written, n = 0, 0
        while written < megabytes * 2**20 // 4:
            row = f"{n}\t{rng.getrandbits(128):032x}\tHồ sơ {n}\n"
            dump.write(row)
            written += len(row.encode())
            n += 1
        dump.write("\\.\n")
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def timed(cmd: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(megabytes: int) -> tuple[list[list[str]], dict]:
    work = Path(tempfile.mkdtemp(prefix="provdc-backup-bench-"))
    try:
        data = work / "data"
        size = make_data(data, megabytes)
        env = {**os.environ, "RESTIC_REPOSITORY": str(work / "repo"),
               "RESTIC_PASSWORD": PASSWORD, "RESTIC_CACHE_DIR": str(work / "cache")}
        subprocess.run(["restic", "init", "--quiet"], check=True, env=env)
        t = {
            "tar_c": timed(f"tar -C {data} -cf - . | zstd -q -3 -T0 > {work}/data.tar.zst", env),
            "restic_c": timed(f"restic backup --quiet {data}", env),
            "restic_c2": timed(f"restic backup --quiet {data}", env),
        }
        (work / "t1").mkdir()
        t["tar_x"] = timed(f"zstd -q -dc {work}/data.tar.zst | tar -C {work}/t1 -xf -", env)
        t["restic_x"] = timed(f"restic restore --quiet latest --target {work}/t2", env)
        stored = {"tar": (work / "data.tar.zst").stat().st_size,
                  "restic": sum(p.stat().st_size for p in (work / "repo").rglob("*")
                                if p.is_file())}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mb = size / 2**20
    rows = [
        ["backup (first)", f"{mb / t['restic_c']:.0f} MB/s", f"{mb / t['tar_c']:.0f} MB/s",
         f"{t['restic_c'] / t['tar_c']:.1f}×"],
        ["backup (unchanged data)", f"{mb / t['restic_c2']:.0f} MB/s", "—",
         f"{t['restic_c2'] / t['tar_c']:.1f}×"],
        ["restore", f"{mb / t['restic_x']:.0f} MB/s", f"{mb / t['tar_x']:.0f} MB/s",
         f"{t['restic_x'] / t['tar_x']:.1f}×"],
        ["stored size", f"{stored['restic'] / 2**20:.0f} MB", f"{stored['tar'] / 2**20:.0f} MB",
         f"{stored['restic'] / stored['tar']:.2f}×"],
    ]
    return rows, {"mb": mb, "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    args = parser.parse_args()
    version = subprocess.run(["restic", "version"], capture_output=True, text=True).stdout
    rows, info = measure(args.mb)
    table = markdown_table(["", "restic (encrypted, deduplicated)", "tar \\| zstd -3 -T0",
                            "restic time / tar time"], rows)
    body = (f"`.venv/bin/python benchmarks/backup_bench.py --mb {args.mb} --write` — "
            f"{info['mb']:.0f} MB (half incompressible documents, a quarter text, a quarter "
            f"dump rows) on the local disk, both tools in the same run; "
            f"{version.split(' compiled')[0].strip()}; load average at the start "
            f"{info['load']:.0f}.\n\n{table}\n")
    print(body)
    if args.write:
        write_section("backup", "Backups: restic against tar | zstd", body)


if __name__ == "__main__":
    main()
