"""Provenance in every report (tool, commit, catalogues, inventory digest, auditor, hosts'
facts) and the SHA-256 manifest of the report files, without hosts."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from provdc.audit import provenance, report, suite
from provdc.audit.plugin import _record

TODAY = date(2026, 11, 28)
ED = "SHA256:Q0n4xXqF2mW3v7y8zAbCdEfGhIjKlMnOpQrStUvWx12"
KEYS = ("256 SHA256:Q0n4xXqF2mW3v7y8zAbCdEfGhIjKlMnOpQrStUvWx12 root@lgsp-1 (ED25519)\n"
        "3072 SHA256:AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjjKKK root@lgsp-1 (RSA)\n")
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'


def canned_outputs() -> dict[str, tuple[int, str]]:
    c = provenance.FACT_COMMANDS
    return {c["os_release"]: (0, OS_RELEASE), c["kernel"]: (0, "Linux 6.1.0-28-amd64 x86_64\n"),
            c["hostname"]: (0, "lgsp-1\n"), c["machine_id"]: (0, "0123456789abcdef\n"),
            c["ssh_host_keys"]: (0, KEYS), c["virt"]: (0, "systemd-nspawn\nkvm\n")}


def test_host_facts_are_read_from_the_probe_outputs():
    facts = provenance.host_facts(canned_outputs())
    assert facts == {
        "os_release": "Debian GNU/Linux 12 (bookworm)", "kernel": "Linux 6.1.0-28-amd64 x86_64",
        "hostname": "lgsp-1", "machine_id": "0123456789abcdef",
        "ssh_host_keys": [
            {"type": "ED25519", "fingerprint": ED},
            {"type": "RSA", "fingerprint": "SHA256:AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjjKKK"}],
        "virt": "container", "virt_technology": "systemd-nspawn", "real_kernel": False,
    }
    # a command that failed tells nothing rather than its error text
    broken = canned_outputs() | {provenance.FACT_COMMANDS["machine_id"]: (1, "No such file")}
    assert provenance.host_facts(broken)["machine_id"] == ""


@pytest.mark.parametrize(("detected", "virt", "real"), [
    ("systemd-nspawn\nkvm\n", "container", False),  # a lab container on a cloud VM
    ("none\nqemu\n", "vm", True),  # a lab VM host under TCG
    ("none\nnone\n", "bare-metal", True),
    ("", "unknown", False),  # systemd-detect-virt missing: never claimed real
])
def test_the_facts_say_whether_the_kernel_is_the_hosts_own(detected, virt, real):
    facts = provenance.virt(detected)
    assert (facts["virt"], facts["real_kernel"]) == (virt, real)


class LocalHost:
    """A testinfra-like host that runs commands here and counts the round trips."""

    def __init__(self):
        self.calls: list[str] = []
        self.backend = SimpleNamespace(host=SimpleNamespace(name="local-1"),
                                       get_variables=lambda: {"provdc_security_level": 3})

    def run(self, command: str):
        self.calls.append(command)
        p = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        return SimpleNamespace(rc=p.returncode, stdout=p.stdout, stderr=p.stderr)


def test_facts_ride_in_the_hosts_one_probe_round_trip(monkeypatch):
    # the checks' own commands are left out here: only the facts' ride is under test
    monkeypatch.setattr(suite, "commands_for", lambda controls: [])
    monkeypatch.setattr(suite, "_hosts", {})
    host, recorded = LocalHost(), []
    suite.record_facts(host, lambda k, v: recorded.append((k, v)))
    suite.record_facts(host, lambda k, v: recorded.append((k, v)))  # a second test: cached
    batches = [c for c in host.calls if "uname -srm" in c]
    assert len(batches) == 1 and all(c in batches[0] for c in provenance.FACT_COMMANDS.values())
    assert [k for k, _ in recorded] == [suite.FACTS, suite.FACTS]
    facts = json.loads(recorded[0][1])
    assert facts["kernel"] == f"{platform.system()} {platform.release()} {platform.machine()}"
    assert facts["hostname"] == platform.node()


def test_an_unreachable_host_records_no_facts(monkeypatch):
    monkeypatch.setattr(suite, "_hosts", {})

    class Refused(LocalHost):
        def run(self, command):
            raise RuntimeError("ssh: connect to host 10.0.0.9 port 22: Connection refused")

    recorded = []
    suite.record_facts(Refused(), lambda k, v: recorded.append(v))
    assert recorded == ["{}"]


def test_the_plugin_carries_facts_and_the_report_files_them_per_host():
    facts = provenance.host_facts(canned_outputs())
    props = [(suite.FACTS, json.dumps(facts))]
    record = _record(SimpleNamespace(
        nodeid="test_soc.py::test_soc_rsyslog_running_and_configuration_valid"
               "[ansible://lgsp-1]", outcome="passed", when="call", user_properties=props,
        skipped=False, longreprtext=""))
    run = {"tool": {"name": "provdc", "version": "0.1.0", "commit": "abc123", "dirty": False},
           "catalogue_version": "2026.11", "checks_version": "2026.11",
           "inventory": {"path": "inv.yml", "sha256": "f" * 64}, "auditor": "thanh.nv",
           "started": "2026-11-28T01:00:00+00:00", "finished": "2026-11-28T01:05:00+00:00"}
    doc = report.build([record], ["lgsp-1", "gone-2"], "inv.yml", [], TODAY, provenance=run)
    assert doc["provenance"]["hosts"] == {"lgsp-1": facts}  # gone-2 was never read
    assert doc["provenance"]["auditor"] == "thanh.nv"
    html = report.render_html(doc)
    for text in ("Provenance", "commit abc123", "thanh.nv", "f" * 64, "0123456789abcdef",
                 "ED25519 SHA256:Q0n4xXqF2mW3v7y8zAbCdEfGhIjKlMnOpQrStUvWx12",
                 "Debian GNU/Linux 12 (bookworm)", "sha256sum -c manifest.sha256"):
        assert text in html, text


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
                   cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_commit_is_told_only_for_a_tracked_package(tmp_path):
    repo = tmp_path / "checkout"
    pkg = repo / "modules" / "provdc"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip()
    assert provenance.checkout(pkg) == {"commit": head, "dirty": False}
    (pkg / "__init__.py").write_text("# edited\n")
    assert provenance.checkout(pkg) == {"commit": head, "dirty": True}
    # an installed copy inside the checkout (its .venv) is not the checkout's code
    installed = repo / ".venv" / "site-packages" / "provdc"
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    assert provenance.checkout(installed) == {}
    outside = tmp_path / "elsewhere" / "provdc"
    outside.mkdir(parents=True)
    (outside / "__init__.py").write_text("")
    assert provenance.checkout(outside) == {}


def test_the_run_names_its_inventory_by_digest_and_its_auditor(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  hosts: {a: {}}\n", encoding="utf-8")
    run = provenance.run_facts(inv, "auditor-1", "2026-11-28T01:00:00+00:00")
    digest = subprocess.run(["sha256sum", str(inv)], capture_output=True, text=True)
    assert run["inventory"]["sha256"] == digest.stdout.split()[0]
    assert run["auditor"] == "auditor-1" and run["tool"]["name"] == "provdc"
    assert run["catalogue_version"] and run["checks_version"]


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils' sha256sum")
def test_the_manifest_checks_with_sha256sum_and_catches_a_changed_file(tmp_path):
    for name, text in (("report.json", "{}\n"), ("report.html", "<p>ok</p>\n"),
                       ("junit.xml", "<testsuites/>\n")):
        (tmp_path / name).write_text(text, encoding="utf-8")
    manifest = provenance.write_manifest(tmp_path, ["report.json", "report.html", "junit.xml"])
    assert manifest.name == "manifest.sha256"
    ok = subprocess.run(["sha256sum", "-c", manifest.name], cwd=tmp_path, capture_output=True,
                        text=True)
    assert ok.returncode == 0 and ok.stdout.count(": OK") == 3, ok.stdout + ok.stderr
    (tmp_path / "report.html").write_text("<p>edited</p>\n", encoding="utf-8")
    bad = subprocess.run(["sha256sum", "-c", manifest.name], cwd=tmp_path, capture_output=True,
                         text=True)
    assert bad.returncode == 1 and "report.html: FAILED" in bad.stdout
