"""ansible-runner is the contract: the installed collection's site playbook converges the lab
through `ansible-runner run` with a private data directory, as AWX runs a job, and the
installed provdc's audit then finds every applicable control passing.

Nothing comes from the checkout: a fresh virtualenv holds the wheel and ansible-runner, the
collection is installed from its tarball into a collections path of its own, the inventory
is the collection's plugin reading the lab's state, the operator key is handed over as
ansible-runner's `env/ssh_key` (ssh-agent, like a machine credential) and the SOC CA's
directory as an extra variable outside the project. Minutes: pip fetches the dependencies,
then every lab host is converged and audited.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from provdc.lab import runtime

# The backup repositories' password, as an AWX credential would inject it into the job's
# environment (never in the project, the inventory or the extra variables)
BACKUP_PASSWORD = secrets.token_urlsafe(24)


@dataclass
class Venv:
    path: Path
    work: Path

    def env(self, **extra: str) -> dict:
        """No way back to the checkout: its venv off PATH, no Ansible or pytest settings."""
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
                if p and not Path(p).resolve().is_relative_to(ROOT)]
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("ANSIBLE_", "PYTEST_")) and k not in (
                    "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PROVDC_SOC_PKI_DIR")}
        return {**keep, "PATH": os.pathsep.join([str(self.path / "bin"), *path]), **extra}

    def run(self, program: str, *args: str, timeout: float = 600,
            **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.path / "bin" / program), *args], cwd=self.work,
                              env=self.env(**env), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)


def dev_pin(package: str) -> str:
    import tomllib

    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["dev"]
    return next(p for p in dev if p.startswith(f"{package}=="))


@pytest.fixture(scope="module")
def venv(built, tmp_path_factory) -> Venv:
    base = tmp_path_factory.mktemp("runner")
    assert not base.resolve().is_relative_to(ROOT)
    box = Venv(base / "venv", base / "work")
    box.work.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(box.path)], check=True, timeout=300)
    proc = box.run("python", "-m", "pip", "install", "-q", str(built.wheel),
                   dev_pin("ansible-runner"), timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    collections = base / "collections"
    proc = box.run("ansible-galaxy", "collection", "install", str(built.collection), "-p",
                   str(collections))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return box


def private_data_dir(base: Path, lab_name: str, collections: Path, pki: Path) -> Path:
    """What AWX hands ansible-runner for a job: an empty project, the inventory source, the
    environment, the extra variables and the machine credential's key."""
    pdd = base / "job"
    (pdd / "project").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    (pdd / "env").mkdir()
    (pdd / "inventory" / "lab.provdc.yml").write_text(yaml.safe_dump({
        "plugin": "provdc.idc.hosts", "source": "lab", "lab_name": lab_name,
        "lab_key": False}))
    envvars = {"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_FORKS": "25",
               "PROVDC_BACKUP_PASSWORD": BACKUP_PASSWORD,
               "ANSIBLE_PIPELINING": "True", "ANSIBLE_HOST_KEY_CHECKING": "False",
               "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True", "ANSIBLE_NOCOLOR": "1"}
    if os.environ.get("PROVDC_LAB_ROOT"):
        envvars["PROVDC_LAB_ROOT"] = os.environ["PROVDC_LAB_ROOT"]
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (pdd / "env" / "extravars").write_text(yaml.safe_dump({"soc_pki_dir": str(pki)}))
    key = runtime.LabDir(lab_name).key
    (pdd / "env" / "ssh_key").write_text(key.read_text())
    return pdd


@pytest.mark.lab
def test_ansible_runner_converges_the_lab_and_the_audit_is_complete(lab, venv):
    base = venv.work.parent
    collections, pki = base / "collections", base / "soc-pki"
    pdd = private_data_dir(base, lab.name, collections, pki)
    proc = venv.run("ansible-runner", "run", str(pdd), "-p", "provdc.idc.site", "--ident",
                    "site", timeout=3600)
    artifacts = pdd / "artifacts" / "site"
    status = (artifacts / "status").read_text() if (artifacts / "status").exists() else "?"
    assert proc.returncode == 0 and status == "successful", (
        status + proc.stdout[-6000:] + proc.stderr[-2000:])
    recap = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
    stats = next(e["event_data"] for e in recap if e["event"] == "playbook_on_stats")
    hosts = {h.name for h in lab.hosts}
    assert set(stats["ok"]) >= hosts and not stats["failures"] and not stats["dark"]

    # the keys were handed over at run time and stayed out of the project and inventory
    assert not any((pdd / "project").iterdir())
    assert not (artifacts / "ssh_key_data").exists()  # ssh-agent read it; the fifo is gone
    assert (pki / "ca.key").is_file()
    listed = venv.run("ansible-inventory", "-i", str(pdd / "inventory" / "lab.provdc.yml"),
                      "--list", ANSIBLE_COLLECTIONS_PATH=str(collections))
    assert listed.returncode == 0, listed.stderr
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]
    assert set(hostvars) == hosts
    assert not [h for h, v in hostvars.items() if "ansible_ssh_private_key_file" in v]

    # the installed provdc audits every host through the same plugin (with the lab's key)
    audit_inventory = venv.work / "audit.provdc.yml"
    audit_inventory.write_text(yaml.safe_dump({"plugin": "provdc.idc.hosts", "source": "lab",
                                               "lab_name": lab.name}))
    env = {"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_HOST_KEY_CHECKING": "False"}
    if os.environ.get("PROVDC_LAB_ROOT"):
        env["PROVDC_LAB_ROOT"] = os.environ["PROVDC_LAB_ROOT"]
    # backups proven the way the audit asks: a drill per backed-up host, from the installed
    # wheel (the lab runs no applications: a database host gets empty stand-in databases)
    specs = venv.run("provdc", "backup", "specs", "-i", str(audit_inventory), "-f", "json", **env)
    assert specs.returncode == 0, specs.stdout[-2000:] + specs.stderr[-2000:]
    for host, spec in json.loads(specs.stdout)["hosts"].items():
        for db in spec["databases"]:
            lab.ssh(host, "systemctl enable --now postgresql && runuser -u postgres -- "
                    f"createdb {shlex.quote(db)}")
        drill = venv.run("provdc", "backup", "drill", "-i", str(audit_inventory), host,
                         timeout=900, PROVDC_BACKUP_PASSWORD=BACKUP_PASSWORD, **env)
        assert drill.returncode == 0, drill.stdout[-2000:] + drill.stderr[-2000:]
    # the lab has no object store, so the job gave no off-site bucket: the repository host's
    # VN-BAK-05 is waived (dated), as an operator would, and nothing else may fail
    repository = json.loads(specs.stdout)["repository"]
    waivers = venv.work / "waivers.yml"
    waivers.write_text(yaml.safe_dump({"waivers": [{
        "control": "VN-BAK-05", "hosts": [repository["host"]], "owner": "provdc tests",
        "expiry": date.today() + timedelta(days=1),
        "justification": "no object store in the lab: the off-site copy is not configured"}]}))
    audit = venv.run("provdc", "audit", "-i", str(audit_inventory), "--out", "audit",
                     "--waivers", str(waivers), timeout=1800, **env)
    doc = json.loads((venv.work / "audit" / "report.json").read_text())
    overall = doc["scores"]["overall"]
    assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-3000:]
    assert sorted(doc["hosts"]) == sorted(hosts) and doc["unreachable"] == []
    assert overall["score_with_waivers"] == 100.0, audit.stdout[-3000:]
    assert overall["fail"] == 0 and overall["error"] == 0
    assert overall["waived"] == 1 and repository["offsite"], audit.stdout[-3000:]
    assert overall["not_checked"] == 0 and overall["pass"] > 0
