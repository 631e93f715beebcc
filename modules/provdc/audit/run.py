"""Run the compliance suite against an inventory and turn the results into the reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provdc.audit import compliance, diff, oscal, provenance, report
from provdc.audit.plugin import hosts_done
from provdc.audit.waivers import Waiver
from provdc.errors import ProvdcError

# The suite ships inside the package (provdc.audit.compliance), so an installed provdc
# audits from any directory, with paths read from the caller's working directory.
SUITE = Path(compliance.__file__).resolve().parent


@dataclass
class AuditFiles:
    json: Path
    junit: Path
    html: Path
    raw: Path
    oscal: Path
    catalog: Path


def _tool_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def inventory_hosts(inventory: Path) -> list[str]:
    """The hosts of an Ansible inventory; a clear error when it cannot be read."""
    if not inventory.is_file():
        raise ProvdcError("inventory file not found", str(inventory), field="-i/--inventory",
                          fix="pass an Ansible inventory, e.g. inventory/lab/hosts.yml after "
                          "`provdc lab up`")
    exe = shutil.which("ansible-inventory", path=_tool_env()["PATH"]) or "ansible-inventory"
    proc = subprocess.run([exe, "-i", str(inventory), "--list"], capture_output=True, text=True,
                          env=_tool_env())
    data = {}
    if proc.returncode == 0:
        try:
            data = json.loads(proc.stdout)
        except json.JSONDecodeError:
            data = {}
    hosts = sorted(data.get("_meta", {}).get("hostvars", {}))
    if not hosts:
        last = (proc.stderr.strip().splitlines() or ["no hosts in it"])[-1]
        raise ProvdcError(f"not a usable Ansible inventory ({last})", str(inventory),
                          field="-i/--inventory",
                          fix="check the YAML/INI syntax with `ansible-inventory -i FILE --list`")
    return hosts


def scopes() -> list[str]:
    """What an audit can be limited to: one per file of the suite (compliance/test_X.py)."""
    return sorted(p.stem.removeprefix("test_") for p in SUITE.glob("test_*.py"))


def scope_files(scope: list[str] | None) -> list[Path]:
    """The suite's files for these scopes (all of them when none is given)."""
    known = scopes()
    unknown = sorted(set(scope or []) - set(known))
    if unknown:
        raise ProvdcError(f"unknown audit scope {', '.join(unknown)}", field="--scope",
                          fix=f"use one or more of {', '.join(known)} (comma-separated), "
                          "or leave --scope out to audit everything")
    return [SUITE / f"test_{s}.py" for s in (scope or known)]


def run_suite(inventory: Path, out: Path, limit: str | None = None,
              workers: int = 1, scope: list[str] | None = None,
              tell: Progress | None = None) -> AuditFiles:
    suite_files = scope_files(scope)
    out.mkdir(parents=True, exist_ok=True)
    files = AuditFiles(out / "report.json", out / "junit.xml", out / "report.html",
                       out / "results-raw.json", out / oscal.RESULTS_FILE,
                       out / oscal.CATALOG_FILE)
    files.raw.unlink(missing_ok=True)  # a former audit's results must not pass for this one's
    cmd = [
        sys.executable, "-m", "pytest", *map(str, suite_files), "-q",
        # the suite's own configuration, not that of the directory the audit runs in; no
        # cache: the suite may sit in a read-only site-packages
        "-c", str(SUITE / "pytest.ini"), "--rootdir", str(SUITE), "-p", "no:cacheprovider",
        "-p", "provdc.audit.plugin", f"--provdc-json={files.raw}",
        f"--junitxml={files.junit}",
        f"--hosts=ansible://{limit or 'all'}", f"--ansible-inventory={inventory}",
    ]
    cmd += xdist_args(workers)
    # Run from the caller's directory, so relative paths (-i, provdc_topology) mean what they
    # say; PYTHONSAFEPATH keeps that directory off sys.path (in xdist's workers too): a
    # provdc/ or pytest.py in it must not stand in for the real ones.
    with tempfile.TemporaryDirectory(prefix="provdc-audit-") as scratch:
        ticks = Path(scratch) / "progress"
        suite = subprocess.Popen(cmd + [f"--provdc-progress={ticks}"],
                                 env=_tool_env() | {"PYTHONSAFEPATH": "1"},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _follow(suite, ticks, tell)
    if not files.raw.exists():
        raise ProvdcError("the compliance suite produced no results", str(inventory),
                          fix="run `pytest --pyargs provdc.audit.compliance "
                          "--hosts=ansible://all --ansible-inventory=INVENTORY` to see why")
    return files


# told (hosts whose checks are all done, hosts) as the suite runs
Progress = Callable[[int, int], None]


def _follow(suite: subprocess.Popen, ticks: Path, tell: Progress | None) -> None:
    """Wait for the suite, telling how many hosts it has finished every half second."""
    while suite.poll() is None:
        time.sleep(0.5)
        if tell and ticks.exists():
            tell(*hosts_done(ticks.read_text(encoding="utf-8").splitlines()))


def xdist_args(workers: int) -> list[str]:
    """pytest's arguments for `workers` processes: none for one (the suite then reads every
    host in threads itself), else xdist with a host's tests kept on one worker (the suite's
    conftest groups them by host)."""
    if workers > 1 and _has_xdist():
        return ["-n", str(workers), "--dist", "loadgroup"]
    return []


def _has_xdist() -> bool:
    try:
        import xdist  # noqa: F401
    except ImportError:
        return False
    return True


def audit(inventory: Path, out: Path, waivers: list[Waiver], workers: int = 1,
          scope: list[str] | None = None, auditor: str | None = None,
          baseline: tuple[Path, dict] | None = None, tell: Progress | None = None) -> dict:
    """Run the suite, write the reports and their manifest; `baseline` is an earlier
    report (its path and document), compared with this one in the report; `tell` hears
    hosts done / total while the suite runs."""
    scope_files(scope)  # a bad --scope is an error before any host is read
    hosts = inventory_hosts(inventory)
    started = provenance.now()
    files = run_suite(inventory, out, workers=workers, scope=scope, tell=tell)
    raw = json.loads(files.raw.read_text(encoding="utf-8"))
    run = provenance.run_facts(inventory, auditor or provenance.default_auditor(), started)
    doc = report.build(raw, hosts, str(inventory), waivers,
                       provenance=run | {"finished": provenance.now()})
    if baseline:
        doc["baseline"] = diff.compare(baseline[1], doc, str(baseline[0]), str(files.json))
    files.json.write_text(report.write_json(doc), encoding="utf-8")
    files.html.write_text(report.render_html(doc), encoding="utf-8")
    # the catalog beside the results: their findings name its controls' objectives by id
    oscal.write(oscal.catalog(), files.catalog)
    oscal.write(oscal.assessment_results(doc, files.catalog.name), files.oscal)
    # last: the manifest covers every file written above
    manifest = provenance.write_manifest(out, [p.name for p in files.__dict__.values()])
    doc["_files"] = {k: str(v) for k, v in files.__dict__.items()} | {"manifest": str(manifest)}
    return doc
