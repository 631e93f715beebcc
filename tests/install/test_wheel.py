"""provdc as an installed package, outside any checkout.

The wheel is built from this checkout's sources, installed with its pinned dependencies in a
fresh virtualenv under a temporary directory, and its `provdc` runs from a working directory
that holds nothing but a copy of the sample topology: every path a command reads must be an
argument or relative to that directory, and everything else (the schema, the catalogue, the
auditors' compliance suite) must come from the installed package, never from the checkout.

Building and installing take a minute or so (pip fetches the dependencies); the last test
audits lab hosts with the installed provdc (root and systemd-nspawn; skipped elsewhere).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from provdc.controls import catalogue
from provdc.topology.validate import load

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "version"]
SCOPES = "bandwidth, baseline, segmentation, soc"


@dataclass
class Installed:
    """A virtualenv holding only the wheel and its dependencies, and a working directory."""

    venv: Path
    work: Path

    def env(self) -> dict:
        """This process's environment without any way back to the checkout: its venv off
        PATH, no PYTHONPATH, no pytest options or worker ids inherited."""
        drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS",
                "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST"}
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
                if p and not Path(p).resolve().is_relative_to(ROOT)]
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), *path])
        return env

    def run(self, program: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.venv / "bin" / program), *args], cwd=self.work,
                              env=self.env(), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def provdc(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return self.run("provdc", *args, timeout=timeout)


def build_wheel(tmp: Path) -> Path:
    """The wheel of a copy of the sources (the build writes its scratch files next to them,
    and the checkout is shared with other work)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "modules", src / "modules",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir",
                           str(tmp / "dist"), str(src)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = sorted((tmp / "dist").glob("provdc-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("install")
    assert not tmp.resolve().is_relative_to(ROOT), "the install must happen outside the checkout"
    wheel = build_wheel(tmp)
    venv = tmp / "venv"
    # from this venv's interpreter, `-m venv` makes a venv of the base interpreter: none of
    # the checkout venv's packages are visible in it
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    work = tmp / "work"
    work.mkdir()
    shutil.copy2(SAMPLE, work / "topology.yml")
    box = Installed(venv, work)
    proc = box.run("python", "-m", "pip", "install", "-q", str(wheel), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return box


def assert_one_paragraph(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    text = " ".join(proc.stderr.split())
    assert text.startswith("error:") and "Fix:" in text, proc.stderr
    for word in words:
        assert word in text, proc.stderr


def closed_loopback_port() -> int:
    """A port nothing listens on: bind one, note it, release it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_provdc_and_its_suite_come_from_the_installed_package(installed):
    proc = installed.run("python", "-c", "import provdc, provdc.audit.compliance as c; "
                         "print(provdc.__file__); print(c.__file__)")
    assert proc.returncode == 0, proc.stderr
    site = (installed.venv / "lib").resolve()
    for line in proc.stdout.split():
        assert Path(line).resolve().is_relative_to(site), proc.stdout
    suite = Path(proc.stdout.split()[1]).parent
    assert {p.name for p in suite.iterdir()} >= {
        "conftest.py", "pytest.ini", "test_baseline.py", "test_bandwidth.py",
        "test_segmentation.py", "test_soc.py"}


def test_version(installed):
    proc = installed.provdc("--version")
    assert (proc.returncode, proc.stdout.strip()) == (0, f"provdc {VERSION}"), proc.stderr


def test_validate_and_plan_a_topology_given_relative_to_the_working_directory(installed):
    expected = load(SAMPLE)
    proc = installed.provdc("validate", "topology.yml")
    assert proc.returncode == 0, proc.stderr
    assert f"{len(expected.topology.sites)} sites" in proc.stdout, proc.stdout
    proc = installed.provdc("plan", "topology.yml", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert len(plan["sites"]) == len(expected.topology.sites)
    zones = {z.name for z in expected.topology.datacenter.zones}
    assert {z["name"] for z in plan["zones"]} == zones


def test_a_topology_that_is_not_there_is_one_paragraph(installed):
    assert_one_paragraph(installed.provdc("validate", "inventory/soctrang/topology.yml"),
                         "inventory/soctrang/topology.yml")


def test_the_catalogue_is_package_data(installed):
    proc = installed.provdc("controls", "list")
    assert proc.returncode == 0, proc.stderr
    for control in catalogue().controls:
        assert control.id in proc.stdout


def test_rendering_the_role_outside_a_checkout_asks_for_the_role(installed):
    proc = installed.provdc("controls", "render-ansible", "--check")
    assert_one_paragraph(proc, "--role-dir", "playbooks/roles/baseline")
    assert not (installed.work / "playbooks").exists()


def test_audit_knows_its_scopes_from_the_installed_suite(installed):
    proc = installed.provdc("audit", "--help")
    assert proc.returncode == 0 and "--scope" in proc.stdout, proc.stderr
    assert_one_paragraph(installed.provdc("audit", "-i", "hosts.yml", "--scope", "nope"),
                         "unknown audit scope nope", SCOPES)


def test_an_unreachable_host_in_a_relative_inventory_is_not_checked(installed):
    """The installed suite runs, from the working directory: the host is tried (and
    refused), never lost for want of the suite or of the inventory."""
    (installed.work / "gone.yml").write_text(yaml.safe_dump({"all": {"hosts": {"gone-1": {
        "ansible_host": "127.0.0.1", "ansible_port": closed_loopback_port(),
        "ansible_user": "root", "provdc_security_level": 3,
        "ansible_ssh_common_args": "-o ConnectTimeout=5 -o StrictHostKeyChecking=no "
                                   "-o UserKnownHostsFile=/dev/null -o BatchMode=yes"}}}}))
    proc = installed.provdc("audit", "-i", "gone.yml", "--out", "gone", "--scope", "baseline")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = json.loads((installed.work / "gone" / "report.json").read_text(encoding="utf-8"))
    assert doc["unreachable"] == ["gone-1"]
    assert doc["scores"]["overall"]["not_checked"] == len(catalogue().controls)
    assert all("Connection refused" in r["reason"] for r in doc["results"]), doc["results"][0]
    assert (installed.work / "gone" / "junit.xml").is_file()


def test_pytest_runs_the_installed_suite_by_module_name_and_skips_without_hosts(installed):
    proc = installed.run("python", "-m", "pytest", "--pyargs", "provdc.audit.compliance",
                         "-q", "-p", "no:cacheprovider", "-rs")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert "skipped" in last and "passed" not in last and "failed" not in last, last
    assert "compliance checks need hosts" in proc.stdout


@pytest.mark.lab
def test_the_installed_provdc_audits_lab_hosts(lab, installed):
    """Two lab hosts as they come up (not hardened): every check reaches them, the gateway's
    bandwidth checks read the topology its inventory names, nothing is left unchecked."""
    dc = next(h for h in lab.hosts if h.role == "dc")
    gateway = lab.group("gateways")[0]
    lab.inventory_for([dc.name, gateway.name], path=installed.work / "lab.yml")
    proc = installed.provdc("audit", "-i", "lab.yml", "--out", "lab-audit", "--scope",
                            "baseline,bandwidth", timeout=900)
    doc = json.loads((installed.work / "lab-audit" / "report.json").read_text(encoding="utf-8"))
    overall = doc["scores"]["overall"]
    assert doc["hosts"] == sorted([dc.name, gateway.name]) and doc["unreachable"] == []
    assert overall["not_checked"] == 0 and overall["error"] == 0, proc.stdout
    assert overall["pass"] > 0
    assert proc.returncode == (1 if overall["fail"] else 0), proc.stdout + proc.stderr
    bandwidth: dict[str, set[str]] = {}
    for r in doc["results"]:
        if r["control"].startswith("VN-BW-"):
            bandwidth.setdefault(r["host"], set()).add(r["status"])
    assert bandwidth[gateway.name] and bandwidth[gateway.name] <= {"pass", "fail"}, bandwidth
    assert bandwidth[dc.name] == {"not_applicable"}, bandwidth
