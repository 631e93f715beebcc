"""pytest fixtures for integration tests on the local lab.

Registered from `tests/conftest.py` (`pytest_plugins = ["provdc.lab.pytest_plugin"]`).

`lab` (session scope) brings the *small* lab up once per test session and always tears it
down (also on failure, Ctrl-C or SIGTERM), then fails the session if anything of the lab is
left on the machine (namespace, mount, cgroup, process, directory). Tests that use it are
skipped, with the reason, when not root or when systemd-nspawn is missing.

The project the tests run in is pytest's rootdir (the checkout; outside a pytest session, the
working directory): the lab is of its sample province (`inventory/soctrang/topology.yml`
there), its Ansible runs from there with its `ansible.cfg`, and its inventory goes to the
lab's own directory there (`inventory/lab-<name>/`), never over an operator's `inventory/lab/`.

Its name comes from `PROVDC_LAB_NAME`, else `t-<hash of the project's path>` so that two
checkouts (two engineers, CI) never share a lab (a second test session in the same checkout
gets `-2`); with pytest-xdist each worker gets its own
lab (`<name>-gw0`...). Set `PROVDC_LAB_PROFILE=province` for the full province and
`PROVDC_LAB_KEEP=1` to leave the lab up after the session (then `provdc lab down --name ...`).

The `lab` object (`LabHandle`):

    lab.name                    the lab name (prefix of its namespaces, cgroups, directories)
    lab.inventory               Path of the Ansible hosts.yml (also pyinfra_inventory.py,
                                ssh_config in the same directory: lab.pyinfra_inventory,
                                lab.ssh_config)
    lab.hosts                   list of LabHost: a Host (name, role, address, prefix_len, zone,
                                service, site, tier, security_level, groups...) plus .vars,
                                its inventory variables
    lab.host(name)              one Host; lab.group("gateways") -> hosts of a group
    lab.ssh(host, cmd, check=True, timeout=60) -> CompletedProcess (text; cmd is a shell string)
    lab.core_exec(cmd, check=True) -> CompletedProcess   run argv (list) or a shell string in
                                the core namespace (routes to every zone and site LAN)
    lab.netns(host)             the host's network namespace name (`ip netns exec NAME ...`);
                                lab.core_netns for the core router namespace
    lab.loaded                  the topology (provdc.topology.validate.Loaded)
    lab.ansible_playbook(playbook, *args, inventory=None) -> CompletedProcess
                                ansible-playbook with the lab inventory and the repo's ansible.cfg
    lab.ansible(pattern, *args) -> CompletedProcess   ad-hoc `ansible PATTERN ARGS`
    lab.compliance(check_file, hosts="all", *args, inventory=None) -> CompletedProcess
                                the auditors' suite (provdc.audit.compliance, CHECK_FILE
                                e.g. "test_soc.py") on hosts
    lab.add_host(name, segment) -> Host   a pristine host on "zone:<ZONE>" or "site:<slug>"
                                (booted, SSH up; not in lab.inventory: use
                                lab.inventory_for([name]) for an inventory of just it)
    lab.remove_host(name)
    lab.inventory_for(names) -> Path   an Ansible inventory of just these hosts

`fresh_host` (function scope) is a factory for pristine twins, removed after the test:

    def test_idempotent(lab, fresh_host):
        twin = fresh_host("zone:APP")          # or fresh_host("site:phuong-5")
        lab.ansible_playbook("playbooks/site.yml", inventory=lab.inventory_for([twin.name]))
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import pytest

from provdc.errors import ProvdcError
from provdc.lab.model import Host, core_netns, make_vms, netns_name, plan_lab
from provdc.topology.validate import Loaded, load

SAMPLE = Path("inventory") / "soctrang" / "topology.yml"  # under the project's root
_rootpath: list[Path] = []  # pytest's rootdir, once this plugin is configured


def pytest_configure(config):
    _rootpath[:] = [config.rootpath]


def project_root() -> Path:
    """The project the tests run in: pytest's rootdir, else the working directory (a script
    using these helpers outside pytest)."""
    return _rootpath[0] if _rootpath else Path.cwd()


def default_topology(root: Path | None = None) -> Path:
    """The sample province of the project: what the lab fixture brings up."""
    path = (root or project_root()) / SAMPLE
    if not path.is_file():
        raise ProvdcError("the lab's sample topology is not there", str(path),
                          fix="run pytest from the provdc checkout (its root holds "
                          f"{SAMPLE}), or bring a lab up with bring_up(name, topology=PATH)")
    return path


def default_lab_name(root: Path | None = None) -> str:
    explicit = os.environ.get("PROVDC_LAB_NAME")
    root = (root or project_root()).resolve()
    name = explicit or "t-" + hashlib.sha256(str(root).encode()).hexdigest()[:8]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    name = f"{name}-{worker}" if worker else name
    return name if explicit else _claim(name)


_claimed: dict[str, tuple[str, socket.socket]] = {}


def _claim(name: str) -> str:
    """Two pytest sessions in one checkout would bring up, use and tear down the SAME lab
    under each other. Each session holds its name for its lifetime by binding an abstract
    unix socket (released by the kernel when the process ends, leaves no file); a second
    session takes the next free suffix (`-2`, `-3`, ...)."""
    if name not in _claimed:
        for n in range(1, 10):
            candidate = name if n == 1 else f"{name}-{n}"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(f"\0provdc-lab-session-{candidate}")
            except OSError:
                sock.close()
                continue
            _claimed[name] = (candidate, sock)
            break
        else:
            raise RuntimeError(f"labs {name} to {name}-9 are all used by other test sessions; "
                               "set PROVDC_LAB_NAME to choose another name")
    return _claimed[name][0]


def skip_reason() -> str | None:
    """Why the lab cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "the lab needs root"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn is not installed (apt-get install systemd-container)"
    for tool in ("ip", "nsenter", "nc", "ssh"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@dataclass
class LabHost(Host):
    """A lab host as tests see it: its record plus its inventory variables."""

    vars: dict = field(default_factory=dict)


class LabHandle:
    """A running lab, as tests see it (see the module docstring)."""

    def __init__(self, name: str, loaded: Loaded, root: Path | None = None):
        from provdc.lab import runtime

        self._rt = runtime
        self.name = name
        self.loaded = loaded
        self.root = root or project_root()  # where Ansible runs, with its ansible.cfg
        self.core_netns = core_netns(name)

    # --- data
    @property
    def _state(self):
        state = self._rt.load_state(self.name)
        if state is None:
            raise RuntimeError(f"lab {self.name} is not up")
        return state

    @property
    def inventory_dir(self) -> Path:
        return Path(self._state.inventory_dir)

    @property
    def inventory(self) -> Path:
        return self.inventory_dir / "hosts.yml"

    @property
    def pyinfra_inventory(self) -> Path:
        return self.inventory_dir / "pyinfra_inventory.py"

    @property
    def ssh_config(self) -> Path:
        return self._rt.LabDir(self.name).ssh_config

    def _with_vars(self, h: Host, plan) -> LabHost:
        from provdc.lab import inventory as inv

        ldir = self._rt.LabDir(self.name)
        return LabHost(**h.to_dict(), vars=inv.host_vars(plan, h, ldir.key, ldir.control_dir))

    @property
    def hosts(self) -> list[LabHost]:
        plan = self._state.plan
        return [self._with_vars(h, plan) for h in plan.hosts if not h.extra]

    @property
    def extra_hosts(self) -> list[LabHost]:
        plan = self._state.plan
        return [self._with_vars(h, plan) for h in plan.hosts if h.extra]

    def host(self, name: str) -> LabHost:
        plan = self._state.plan
        return self._with_vars(plan.host(name), plan)

    def group(self, group: str) -> list[LabHost]:
        return [h for h in self.hosts if group in h.groups]

    def vars(self, host: str) -> dict:
        return self.host(host).vars

    def netns(self, host: str) -> str:
        return netns_name(self.name, host)

    # --- actions
    def ssh(self, host: str, cmd: str, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["ssh", "-F", str(self.ssh_config), "-o", "BatchMode=yes", host, cmd],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"ssh {host} {cmd!r} exited {proc.returncode}\nstdout: {proc.stdout}\n"
                f"stderr: {proc.stderr}"
            )
        return proc

    def core_exec(self, cmd: list[str] | str, check: bool = True,
                  timeout: float = 60) -> subprocess.CompletedProcess:
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{self.core_netns}", *argv],
            capture_output=True, text=True, check=check, timeout=timeout,
        )

    def compliance(self, check_file: str, hosts: str = "all", *args: str,
                   inventory: Path | None = None,
                   timeout: float = 900) -> subprocess.CompletedProcess:
        """The auditors' suite on lab hosts, the way an auditor runs one file of it: `pytest
        --pyargs provdc.audit.compliance.test_soc --hosts=...` (CHECK_FILE "test_soc.py");
        hosts: an inventory group, host or comma-separated hosts."""
        targets = ",".join(f"ansible://{h}" for h in hosts.split(","))
        module = f"provdc.audit.compliance.{Path(check_file).stem}"
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs",
             module, f"--hosts={targets}",
             f"--ansible-inventory={inventory or self.inventory}", *args],
            capture_output=True, text=True, cwd=self.root, env=self._ansible_env(),
            timeout=timeout)

    def _ansible_env(self) -> dict:
        env = dict(os.environ, ANSIBLE_CONFIG=str(self.root / "ansible.cfg"),
                   ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1")
        venv_bin = Path(sys.executable).parent
        env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"
        return env

    def ansible_playbook(self, playbook: str | Path, *args: str,
                         inventory: Path | None = None,
                         timeout: float = 1800) -> subprocess.CompletedProcess:
        return self._run_group(
            ["ansible-playbook", "-i", str(inventory or self.inventory), str(playbook), *args],
            timeout)

    def ansible(self, pattern: str, *args: str, inventory: Path | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
        return self._run_group(["ansible", "-i", str(inventory or self.inventory), pattern,
                                *args], timeout)

    def _run_group(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run Ansible in its own process group: on timeout its forked workers are ended
        with it (subprocess.run would kill only the main process and orphan the forks)."""
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=self.root, env=self._ansible_env(),
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def add_host(self, name: str, segment: str) -> LabHost:
        self._rt.add_host(self.name, name, segment)
        return self.host(name)

    def remove_host(self, name: str) -> None:
        self._rt.remove_host(self.name, name)

    def inventory_for(self, names: list[str], path: Path | None = None) -> Path:
        from provdc.lab import inventory as inv

        state = self._state
        ldir = self._rt.LabDir(self.name)
        hosts = [state.plan.host(n) for n in names]
        path = path or ldir.root / f"inventory-{'-'.join(names)[:80]}.yml"
        path.write_text(inv.render_hosts_yml(state.plan, ldir.key, ldir.control_dir, hosts))
        return path


def bring_up(name: str, topology: Path | None = None, profile: str = "small",
             sites: list[str] | None = None, root: Path | None = None,
             services: list[str] | None = None, vms: list[str] | None = None) -> LabHandle:
    """Bring a lab of `topology` (default: the project's sample) up; its inventory goes to
    `inventory/lab-<name>/` under `root` (default: the project's root). `sites`/`services`
    narrow the profile's hosts; `vms` names hosts that run as QEMU VMs (`lab up --vm`)."""
    from provdc.lab import runtime

    root = root or project_root()
    loaded = load(topology or default_topology(root))
    plan = make_vms(plan_lab(loaded, name, profile, sites, services), vms or [])
    runtime.up(plan, root / "inventory" / f"lab-{name}", log=lambda m: None)
    return LabHandle(name, loaded, root)


def tear_down(name: str) -> dict:
    """Down, then return what is left (empty: clean)."""
    from provdc.lab import runtime

    runtime.down(name, log=lambda m: None)
    return runtime.leftovers(name)


@pytest.fixture(scope="session")
def lab():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    try:
        topology = default_topology()
    except ProvdcError as exc:
        pytest.fail(str(exc), pytrace=False)
    name = default_lab_name()
    profile = os.environ.get("PROVDC_LAB_PROFILE", "small")
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):  # let pytest unwind and run the teardown below
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        handle = bring_up(name, topology, profile=profile)
        yield handle
    finally:
        signal.signal(signal.SIGTERM, previous)
        if os.environ.get("PROVDC_LAB_KEEP") != "1":
            left = tear_down(name)
            if left:
                pytest.fail(f"lab {name} leaked after down: {left}", pytrace=False)


_fresh_numbers = count(1)


@pytest.fixture
def fresh_host(lab):
    made: list[str] = []

    def make(segment: str, name: str | None = None) -> LabHost:
        name = name or f"fresh-{next(_fresh_numbers)}"
        host = lab.add_host(name, segment)
        made.append(name)
        return host

    yield make
    for name in made:
        with contextlib.suppress(Exception):
            lab.remove_host(name)
