"""Fleet benchmark: baseline hardening of N lab hosts by Ansible, by pyinfra, and by a raw
batched-SSH floor, first converge and no-op re-run, all in one run (root; the lab).

    flock /tmp/provdc-bench.lock python benchmarks/fleet_bench.py --sizes 1,10,50 [--write]
        [--logs DIR]  (with ANSIBLE_LOG_PATH set: a time-stamped log of every task)

For each size, each engine gets pristine hosts: a lab named `fleet-bench` is brought up
with enough sites for N hosts, the engine converges the first N hosts, runs again (nothing
to change), and the lab goes down. Engines run in the order floor, Ansible, pyinfra.

- **floor**: what any engine must at least do over SSH: one `ssh` session per host (OpenSSH,
  ControlPersist from the lab's ssh_config, N in parallel) running ONE shell script that
  reads every state the catalogue's checks read (the audit's batched probe) and writes every
  whole file the baseline manages on that host (aggregate files, file_content, audit rules:
  rendered by `provdc.pyinfra_engine.selection`), each replaced only if it differs. It does
  not do the line edits, modes, units or mounts, so it is a lower bound, not an engine.
- **Ansible**: `ansible-playbook playbooks/baseline.yml` with forks = N, pipelining on
  (ansible.cfg), ControlMaster/ControlPersist=60s (lab inventory), `gather_subset: [min]`.
- **pyinfra**: `pyinfra playbooks/pyinfra/inventory.py playbooks/pyinfra/baseline.py -y
  --parallel N`: `-y` skips the change-detection pass (which would run every fact twice);
  paramiko keeps one SSH connection per host for the whole run (no ControlPersist needed).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import os
import shlex
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
BIN = Path(sys.executable).parent
LAB = "fleet-bench"

from _table import markdown_table, write_section  # noqa: E402

from provdc.controls import catalogue, kinds  # noqa: E402
from provdc.controls.checks import commands_for  # noqa: E402
from provdc.lab.pytest_plugin import bring_up, tear_down  # noqa: E402
from provdc.pyinfra_engine import selection  # noqa: E402
from provdc.topology.validate import load  # noqa: E402

DEFAULT_TOPOLOGY = REPO / "inventory" / "soctrang" / "topology.yml"


def env() -> dict:
    return dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}",
                ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")


LOGS: Path | None = None  # --logs DIR: each engine run's output, for a per-task profile


def keep_log(engine: str, n: int, text: str) -> None:
    if LOGS is not None:
        LOGS.mkdir(parents=True, exist_ok=True)
        runs = len(list(LOGS.glob(f"{engine}-{n}-*.log")))
        (LOGS / f"{engine}-{n}-{runs + 1}.log").write_text(text)


def timed(argv: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env(), **kw)
    return time.monotonic() - start, proc


# --- the floor -------------------------------------------------------------------------------


# The whole files the role renders from its templates (kind: template, destination, mode).
AGGREGATES = {
    "sysctl": ("sysctl.conf.j2", kinds.sysctl.FILE, "0644"),
    "sshd_option": ("sshd_baseline.conf.j2", kinds.sshd_option.DROPIN, "0600"),
    "kernel_module_disabled": ("modprobe.conf.j2", kinds.kernel_module_disabled.FILE, "0644"),
}


def floor_script(host_vars: dict, groups: list[str]) -> str:
    sel = selection.select(host_vars, groups, "Debian", True)
    files: dict[str, tuple[str, str]] = {}
    for kind, (template, dest, mode) in AGGREGATES.items():
        if kind in sel.ids:
            files[dest] = (selection.render(template, sel, host_vars), mode)
    for item in sel.fix.get("file_content", []):
        files[item["path"]] = (item["content"], item["mode"])
    for item in sel.fix.get("auditd_rule", []):
        files[item["path"]] = (item["content"], "0640")
    probes = commands_for([c for c in catalogue().controls if c.id in
                           {s["id"] for s in sel.selected}])
    lines = [f"( {c} ) >/dev/null 2>&1" for c in dict.fromkeys(probes)]
    for dest, (content, mode) in files.items():
        b64 = base64.b64encode(content.encode()).decode()
        d, t = shlex.quote(dest), shlex.quote(dest + ".floor-new")
        lines.append(f"mkdir -p $(dirname {d}); printf %s {b64} | base64 -d > {t}; "
                     f"chmod {mode} {t}; if cmp -s {t} {d}; then rm -f {t}; "
                     f"else mv -f {t} {d}; echo changed {d}; fi")
    return "\n".join(lines) + "\n"


def run_floor(lab, names: list[str]) -> tuple[float, int]:
    scripts = {n: floor_script(lab.vars(n), list(lab.host(n).groups)) for n in names}

    def one(name: str) -> int:
        proc = subprocess.run(["ssh", "-F", str(lab.ssh_config), "-o", "BatchMode=yes", name,
                               "sh -s"], input=scripts[name], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"floor on {name}: {proc.stderr[-500:]}")
        return proc.stdout.count("changed ")

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
        changed = sum(pool.map(one, names))
    return time.monotonic() - start, changed


# --- the engines -----------------------------------------------------------------------------


def run_ansible(lab, names: list[str]) -> tuple[float, int]:
    seconds, proc = timed([str(BIN / "ansible-playbook"), "-i", str(lab.inventory),
                           "playbooks/baseline.yml", "--limit", ",".join(names),
                           "--forks", str(len(names))])
    keep_log("ansible", len(names), proc.stdout)
    if proc.returncode != 0:
        raise RuntimeError(f"ansible-playbook failed: {proc.stdout[-2000:]}")
    changed = sum(int(line.split("changed=")[1].split()[0])
                  for line in proc.stdout.splitlines() if " changed=" in line)
    return seconds, changed


def run_pyinfra(lab, names: list[str]) -> tuple[float, int]:
    import json

    argv = [str(BIN / "pyinfra"), "playbooks/pyinfra/inventory.py",
            "playbooks/pyinfra/baseline.py", "-y", "--json", "--parallel", str(len(names))]
    for name in names:
        argv += ["--limit", name]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO,
                          env={**env(), "PROVDC_INVENTORY": str(lab.inventory)})
    seconds = time.monotonic() - start
    keep_log("pyinfra", len(names), proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"pyinfra failed: {proc.stderr[-2000:]}")
    return seconds, json.loads(proc.stdout)["results"]["totals"]["success"]


ENGINES = {"raw batched SSH (floor)": run_floor, "Ansible": run_ansible, "pyinfra": run_pyinfra}


def sites_for(n: int) -> list[str]:
    """Enough sites (gateway + one agency host each) next to the ~10 DC hosts."""
    slugs = [s.slug for s in load(DEFAULT_TOPOLOGY).plan.sites][1:]
    return slugs[:max(1, (n - 8) // 2 + 1)]


def measure(n: int, engines: list[str]) -> dict[str, tuple[float, float, int, int]]:
    out = {}
    for engine, run in ENGINES.items():
        if engine.split()[0].lower() not in engines:
            continue
        tear_down(LAB)
        lab = bring_up(LAB, DEFAULT_TOPOLOGY, sites=sites_for(n), root=REPO)
        try:
            names = [h.name for h in lab.hosts][:n]
            if len(names) < n:
                raise SystemExit(f"the lab has {len(names)} hosts, fewer than {n}")
            first, changed = run(lab, names)
            again, rechanged = run(lab, names)
            out[engine] = (first, again, changed, rechanged)
            print(f"{n} hosts, {engine}: first {first:.1f} s ({changed} changes), "
                  f"re-run {again:.1f} s ({rechanged} changes)", flush=True)
        finally:
            tear_down(LAB)
    return out


def table(results: dict[int, dict], conditions: str) -> str:
    rows = []
    for n, by_engine in results.items():
        floor = by_engine.get("raw batched SSH (floor)")
        for engine, (first, again, changed, rechanged) in by_engine.items():
            ratios = ([f"{first / floor[0]:.1f}", f"{again / floor[1]:.1f}"] if floor
                      else ["-", "-"])
            rows.append([n, engine, f"{first:.1f}", ratios[0], f"{again:.1f}", ratios[1],
                         f"{changed} / {rechanged}"])
    head = ["hosts", "engine", "first converge (s)", "× floor", "no-op re-run (s)", "× floor",
            "changes first / re-run"]
    return (f"Measured {date.today()} with `python benchmarks/fleet_bench.py --sizes "
            f"{','.join(map(str, results))} --write` on the shared 2-core machine "
            f"({conditions}). One run each (the machine is shared; re-run for "
            "medians). Changes are counted per engine's own unit: Ansible tasks "
            "changed, pyinfra operations changed, floor files replaced.\n\n"
            + markdown_table(head, rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="comma-separated host counts")
    parser.add_argument("--engines", default="raw,ansible,pyinfra",
                        help="comma-separated subset of raw (the floor), ansible, pyinfra")
    parser.add_argument("--logs", type=Path, help="keep each run's output in this directory "
                        "(with ANSIBLE_LOG_PATH set, Ansible's log has a time stamp per task)")
    parser.add_argument("--write", action="store_true", help="refresh benchmarks/README.md")
    args = parser.parse_args()
    global LOGS
    LOGS = args.logs
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root")
    load_at_start, started = os.getloadavg()[0], time.monotonic()
    engines = args.engines.split(",")
    results = {n: measure(n, engines) for n in map(int, args.sizes.split(","))}
    text = table(results, f"load average {load_at_start:.1f} at start and "
                          f"{os.getloadavg()[0]:.1f} at the end of a "
                          f"{(time.monotonic() - started) / 60:.0f}-minute run")
    print(text)
    if args.write and len(engines) == len(ENGINES):
        write_section("pyinfra", "pyinfra and Ansible on a fleet", FLEET_INTRO + text)
    return 0


FLEET_INTRO = """
Script: `benchmarks/fleet_bench.py` (root): `flock /tmp/provdc-bench.lock python
benchmarks/fleet_bench.py --sizes 1,10,50 --write` refreshes this table (`--engines` picks a
subset and only prints). Baseline hardening of N pristine lab hosts (DC hosts first, then
site gateways and agency hosts), a fresh lab for each engine and size: first converge, then
a no-op re-run. Every engine and size is measured in one run, and each ratio is against the
floor of the same size in that run. The floor is one OpenSSH session per host running one
batched script that reads what the checks read and writes the whole files the baseline
manages: a lower bound, not an engine.

How each engine was tuned (its fastest settings that keep its semantics):

- **Ansible**: `--forks N` (a worker per host); `pipelining = True` (ansible.cfg: a module
  runs in one SSH exec, no temporary file copy); ControlMaster auto with ControlPersist=60s
  (lab inventory: one SSH handshake per host for the whole run); `gather_subset: [min]`;
  the default linear strategy. The role runs one module per control kind and host
  (`provdc.idc.baseline_fix`: about 30 module runs for a host's first converge, 125 when
  each item was a task loop iteration) behind its check-first gate.
- **pyinfra**: `--parallel N`; `-y`, which skips the separate change-detection pass (it
  would run every fact twice); one paramiko connection per host kept for the whole run
  (ControlPersist does not apply to paramiko); the flow matrix rendered once per run; the
  kinds shared with the role run the same host-side code, one command per kind.
- **floor**: N OpenSSH sessions in parallel through the lab's ssh_config (ControlPersist).

"""


if __name__ == "__main__":
    sys.exit(main())
