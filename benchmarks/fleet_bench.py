"""Fleet benchmark: baseline hardening of N lab hosts by Ansible, by pyinfra, and by a raw
batched-SSH floor, first converge and no-op re-run, all in one run (root; the lab).

    flock /tmp/provdc-bench.lock python benchmarks/fleet_bench.py --sizes 1,10,50 [--write]
        [--logs DIR]  (with ANSIBLE_LOG_PATH set: a time-stamped log of every task)
        [--devsec DIR]  (where dev-sec's virtualenv and collection are: see below)

For each size, each engine gets pristine hosts: a lab named `fleet-bench` is brought up
with enough sites for N hosts, the engine converges the first N hosts, runs again (nothing
to change), and the lab goes down. Engines run in the order floor, Ansible, pyinfra, dev-sec.

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
- **dev-sec**: the public devsec.hardening collection's `os_hardening` and `ssh_hardening`
  roles, the best-known Ansible hardening, as a reference for the per-host cost of hardening
  in Ansible. Never a project dependency: it runs from its own virtualenv and collections
  path under --devsec DIR (default /var/cache/provdc/bench), prepared once from a snapshot
  of the collection's repository (no Galaxy):

      python3 -m venv DIR/devsec-venv && DIR/devsec-venv/bin/pip install ansible==12.3.0
      DIR/devsec-venv/bin/ansible-galaxy collection install --offline --no-deps \
          -p DIR/devsec-collections SNAPSHOT   # ansible.posix, community.general: bundled

      cd DIR/devsec-debs && apt-get download libpam-passwdqc libpasswdqc1

  Its playbook, group_vars and ansible.cfg are written into DIR/devsec-work, with the three
  settings a lab container needs (DEVSEC_VARS), forwarding left alone on the site gateways
  (DEVSEC_GATEWAY_VARS, as our catalogue exempts them) and the same connection tuning as
  ours. The one package it installs that the lab image lacks (libpam-passwdqc: lab hosts
  reach no archive) is installed from DIR/devsec-debs on each host before the clock
  starts, as if the image had it.
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
    return seconds, changed_tasks(proc.stdout)


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


# --- dev-sec ---------------------------------------------------------------------------------

DEVSEC = Path("/var/cache/provdc/bench")  # --devsec: devsec-venv/, devsec-collections/

# What dev-sec needs in a lab container, and nothing else changed from its defaults:
DEVSEC_VARS = {
    # its sysctl loop skips docker/lxc/openvz only: the global (non-net.*) keys are read-only
    # in an nspawn container (its defaults' 14 and Debian's 2)
    "sysctl_unsupported_entries": [
        "fs.protected_hardlinks", "fs.protected_symlinks", "fs.protected_fifos",
        "fs.protected_regular", "fs.suid_dumpable", "kernel.core_uses_pid",
        "kernel.kptr_restrict", "kernel.kexec_load_disabled", "kernel.sysrq",
        "kernel.randomize_va_space", "kernel.yama.ptrace_scope", "vm.mmap_min_addr",
        "vm.mmap_rnd_bits", "vm.mmap_rnd_compat_bits", "kernel.unprivileged_userns_clone",
        "kernel.unprivileged_bpf_disabled"],
    # the lab's hosts have ed25519 and ECDSA keys (its default also names an RSA key)
    "ssh_host_key_files": ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ecdsa_key"],
    # its auditd restart handler fails in a container and would abort the others: the
    # variable its own molecule tests set to skip it
    "molecule_yml": {"driver": {"name": "docker"}},
    # the benchmark (and the lab) log in as root with a key
    "ssh_permit_root_login": "without-password",
}
# Site gateways route their agency hosts' traffic: dev-sec's defaults turn forwarding off
# (net.ipv4.ip_forward and net.ipv6.conf.all.forwarding 0), which cut every agency host
# behind a gateway off mid-run in the first 50-host run. Our catalogue exempts gateways
# from VN-NET-01; dev-sec is told to leave the same two keys alone there.
DEVSEC_GATEWAY_VARS = {"sysctl_unsupported_entries": [
    *DEVSEC_VARS["sysctl_unsupported_entries"],
    "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]}


def devsec_files(root: Path) -> tuple[Path, Path]:
    """The playbook and ansible.cfg dev-sec runs with, written under root/devsec-work."""
    import json

    work = root / "devsec-work"
    (work / "group_vars").mkdir(parents=True, exist_ok=True)
    # group_vars next to the playbook (play vars would outrank the gateways' own)
    (work / "group_vars" / "all.json").write_text(json.dumps(DEVSEC_VARS, indent=2))
    (work / "group_vars" / "gateways.json").write_text(json.dumps(DEVSEC_GATEWAY_VARS,
                                                                  indent=2))
    play = [{"name": "dev-sec os_hardening and ssh_hardening", "hosts": "all",
             "roles": ["devsec.hardening.os_hardening", "devsec.hardening.ssh_hardening"]}]
    (work / "devsec.yml").write_text(json.dumps(play, indent=2) + "\n")  # JSON is YAML
    (work / "ansible.cfg").write_text(
        "[defaults]\n"
        f"collections_path = {root / 'devsec-collections'}\n"
        "host_key_checking = False\ninterpreter_python = /usr/bin/python3\n"
        "retry_files_enabled = False\ngathering = smart\n"
        "[ssh_connection]\npipelining = True\n")
    return work / "devsec.yml", work / "ansible.cfg"


def devsec_packages(lab, names: list[str]) -> None:
    """Untimed: dpkg -i the packages in DIR/devsec-debs on every host (what apt would fetch)."""
    debs = sorted((DEVSEC / "devsec-debs").glob("*.deb"))
    if not debs:
        raise SystemExit(f"no packages in {DEVSEC / 'devsec-debs'}: see the docstring")
    script = "d=$(mktemp -d) && cd $d && " + " && ".join(
        f"printf %s {base64.b64encode(deb.read_bytes()).decode()} | base64 -d > {deb.name}"
        for deb in debs) + " && dpkg -i *.deb >/dev/null && rm -rf $d\n"

    def one(name: str) -> None:
        proc = subprocess.run(["ssh", "-F", str(lab.ssh_config), "-o", "BatchMode=yes", name,
                               "sh -s"], input=script, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"dev-sec's packages on {name}: {proc.stderr[-500:]}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
        list(pool.map(one, names))


def run_devsec(lab, names: list[str]) -> tuple[float, int]:
    venv = DEVSEC / "devsec-venv" / "bin"
    if not (venv / "ansible-playbook").exists():
        raise SystemExit(f"dev-sec's virtualenv is not at {venv.parent}: prepare it as "
                         "fleet_bench.py's docstring says, or pass --devsec DIR")
    play, cfg = devsec_files(DEVSEC)
    start = time.monotonic()
    proc = subprocess.run([str(venv / "ansible-playbook"), "-i", str(lab.inventory), str(play),
                           "--limit", ",".join(names), "--forks", str(len(names))],
                          capture_output=True, text=True, cwd=play.parent,
                          env=dict(env(), PATH=f"{venv}:{os.environ.get('PATH', '')}",
                                   ANSIBLE_CONFIG=str(cfg)))
    seconds = time.monotonic() - start
    keep_log("devsec", len(names), proc.stdout)
    if proc.returncode != 0:
        raise RuntimeError(f"dev-sec's playbook failed: {proc.stdout[-2000:]}")
    return seconds, changed_tasks(proc.stdout)


def changed_tasks(recap: str) -> int:
    return sum(int(line.split("changed=")[1].split()[0])
               for line in recap.splitlines() if " changed=" in line)


ENGINES = {"raw batched SSH (floor)": run_floor, "Ansible": run_ansible, "pyinfra": run_pyinfra,
           "dev-sec os+ssh_hardening": run_devsec}  # the first word names it in --engines
PREPARE = {"dev-sec os+ssh_hardening": devsec_packages}  # untimed, once per fresh lab


def sites_for(n: int) -> list[str]:
    """Enough sites (gateway + one agency host each) next to the ~10 DC hosts."""
    slugs = [s.slug for s in load(DEFAULT_TOPOLOGY).plan.sites][1:]
    return slugs[:max(1, (n - 8) // 2 + 1)]


def measure(n: int, engines: list[str], loads: list[float]) -> dict[str, tuple]:
    """{engine: (first s, re-run s, changes, re-run changes, load average during the pair)};
    an engine that fails is reported and left out, the others still run."""
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
            PREPARE.get(engine, lambda lab, names: None)(lab, names)
            before = os.getloadavg()[0]
            first, changed = run(lab, names)
            again, rechanged = run(lab, names)
            loads += [before, os.getloadavg()[0]]
            out[engine] = (first, again, changed, rechanged, (before + loads[-1]) / 2)
            print(f"{n} hosts, {engine}: first {first:.1f} s ({changed} changes), "
                  f"re-run {again:.1f} s ({rechanged} changes), load {before:.0f}-"
                  f"{loads[-1]:.0f}", flush=True)
        except RuntimeError as exc:
            print(f"{n} hosts, {engine}: FAILED: {exc}", flush=True)
        finally:
            tear_down(LAB)
    return out


ANSIBLE, PYINFRA, DEVSEC_ENGINE = "Ansible", "pyinfra", "dev-sec os+ssh_hardening"


def table(results: dict[int, dict], conditions: str) -> str:
    rows = []
    for n, by_engine in sorted(results.items()):
        floor = by_engine.get("raw batched SSH (floor)")
        for engine, (first, again, changed, rechanged, busy) in by_engine.items():
            ratios = ([f"{first / floor[0]:.1f}", f"{again / floor[1]:.1f}"] if floor
                      else ["-", "-"])
            rows.append([n, engine, f"{first:.1f}", ratios[0], f"{again:.1f}", ratios[1],
                         f"{changed} / {rechanged}", f"{busy:.0f}"])
    head = ["hosts", "engine", "first converge (s)", "× floor", "no-op re-run (s)", "× floor",
            "changes first / re-run", "load avg"]
    return (f"Measured {date.today()} with `python benchmarks/fleet_bench.py --sizes "
            f"{','.join(map(str, sorted(results)))} --write` on the shared 2-core machine "
            f"({conditions}). One run each (the machine is shared; re-run for "
            "medians). Changes are counted per engine's own unit: Ansible tasks "
            "changed (ours and dev-sec's), pyinfra operations changed, floor files "
            "replaced; load avg: the 1-minute load average before and after the engine's "
            "pair of runs, averaged.\n\n" + markdown_table(head, rows)
            + "\n\nThe targets, as ratios within the same run and size:\n\n"
            + targets(results))


def targets(results: dict[int, dict]) -> str:
    """Our Ansible role against pyinfra (first converge <= 3x, no-op <= 2x) and against
    dev-sec on the same number of hosts (below it: ratio < 1)."""
    rows = []
    for n, by_engine in sorted(results.items()):
        ours, py, dev = (by_engine.get(e) for e in (ANSIBLE, PYINFRA, DEVSEC_ENGINE))
        rows.append([n, against(ours, py, 0, 3), against(ours, py, 1, 2),
                     against(ours, dev, 0, 1), against(ours, dev, 1, 1)])
    return markdown_table(["hosts", "Ansible ÷ pyinfra, first (≤ 3)",
                           "Ansible ÷ pyinfra, no-op (≤ 2)", "Ansible ÷ dev-sec, first (< 1)",
                           "Ansible ÷ dev-sec, no-op (< 1)"], rows)


def against(ours: tuple | None, other: tuple | None, i: int, limit: float) -> str:
    if not ours or not other:
        return "-"
    r = ours[i] / other[i]
    return f"{r:.2f} ({'met' if r <= limit else 'missed'})"


def main() -> int:
    global LOGS, DEVSEC
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="comma-separated host counts, "
                        "measured in this order (the table lists them smallest first)")
    parser.add_argument("--engines", default="raw,ansible,pyinfra,dev-sec",
                        help="comma-separated subset of raw (the floor), ansible, pyinfra, "
                             "dev-sec")
    parser.add_argument("--logs", type=Path, help="keep each run's output in this directory "
                        "(with ANSIBLE_LOG_PATH set, Ansible's log has a time stamp per task)")
    parser.add_argument("--devsec", type=Path, default=DEVSEC,
                        help="holds devsec-venv/ and devsec-collections/ (see the docstring)")
    parser.add_argument("--write", action="store_true", help="refresh benchmarks/README.md "
                        "after each size (every engine must be measured)")
    args = parser.parse_args()
    LOGS, DEVSEC = args.logs, args.devsec
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root")
    loads, started = [os.getloadavg()[0]], time.monotonic()
    engines = args.engines.split(",")
    results: dict[int, dict] = {}
    for n in map(int, args.sizes.split(",")):
        results[n] = measure(n, engines, loads)
        text = table(results, f"load average {min(loads):.0f}-{max(loads):.0f} over a "
                              f"{(time.monotonic() - started) / 60:.0f}-minute run")
        print(text, flush=True)
        if args.write and len(engines) == len(ENGINES):  # the table so far, size by size
            write_section("pyinfra", "pyinfra and Ansible on a fleet", FLEET_INTRO + text)
    return 0


FLEET_INTRO = """
Script: `benchmarks/fleet_bench.py` (root): `flock /tmp/provdc-bench.lock python
benchmarks/fleet_bench.py --sizes 1,10,50 --write` refreshes this table (`--engines` picks a
subset and only prints; dev-sec's virtualenv and collection are prepared once, as the
script's docstring says). Baseline hardening of N pristine lab hosts (DC hosts first, then
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
  each item was a task loop iteration) behind its check-first gate, whose one probe round
  trip also answers whether the host is a container (a separate command before).
- **pyinfra**: `--parallel N`; `-y`, which skips the separate change-detection pass (it
  would run every fact twice); one paramiko connection per host kept for the whole run
  (ControlPersist does not apply to paramiko); the flow matrix rendered once per run; the
  kinds shared with the role run the same host-side code, one command per kind.
- **dev-sec** (devsec.hardening 10.6.0, `os_hardening` then `ssh_hardening`, on ansible
  12.3.0 = ansible-core 2.19.14, its own virtualenv and collections path, never a project
  dependency): the same Ansible tuning as ours (`--forks N`, pipelining, the lab
  inventory's ControlPersist, `host_key_checking` off) with its own fact gathering (its
  tasks read the full facts: virtualization type, mounts, packages); its defaults except
  the three settings a lab container needs (`sysctl_unsupported_entries`: the 16 global
  `kernel.*`/`fs.*`/`vm.*` keys, read-only in an nspawn container, which its sysctl block
  does not skip; `ssh_host_key_files`: the host's ed25519 and ECDSA keys;
  `molecule_yml.driver.name: docker`: its own switch that skips the auditd restart a
  container refuses) and `ssh_permit_root_login: without-password` (the bench logs in as
  root with a key); on the site gateways (from 11 hosts up) the two forwarding keys are
  added to `sysctl_unsupported_entries`: its defaults turn forwarding off, which cut the
  agency hosts behind them off (our catalogue exempts gateways from VN-NET-01).
  libpam-passwdqc, the one package it installs that the lab image lacks, is installed
  before the clock starts (the hosts reach no archive).
- **floor**: N OpenSSH sessions in parallel through the lab's ssh_config (ControlPersist).

"""


if __name__ == "__main__":
    sys.exit(main())
