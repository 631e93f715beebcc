"""The topology's `operations` block drives the SOC: collector service, onward link,
retention and the NTP upstream. Mistakes are one-paragraph errors with file, line and field,
from `provdc validate` as from soc.yml's controller step."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from provdc.cli import app
from provdc.soc.prepare import resolve

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"
TEXT = SAMPLE.read_text(encoding="utf-8")
SOC_BLOCK = "  soc:\n    collector_service: soc-collector\n"


def variant(tmp_path: Path, old: str, new: str) -> Path:
    assert old in TEXT, f"not in the sample: {old!r}"
    path = tmp_path / "topology.yml"
    path.write_text(TEXT.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def request(topology: Path, pki_dir: Path, **extra) -> dict:
    return {"topology": str(topology), "pki_dir": str(pki_dir),
            "hosts": {"soc-collector-1": ["10.94.4.2"], "ntp-1": ["10.94.4.4"],
                      "agent": ["10.94.66.2"]},
            "services": {"soc-collector-1": "soc-collector", "ntp-1": "ntp", "agent": None},
            "ntp_fallback": ["10.94.4.4"], **extra}


def test_sample_settings_come_from_the_topology(tmp_path):
    out = resolve(request(SAMPLE, tmp_path))
    assert out["collector"] == {"name": "soc-collector-1", "address": "10.94.4.2"}
    assert out["upstream"]["host"] == "10.94.0.250"
    assert (out["upstream"]["protocol"], out["upstream"]["severity_max"]) == ("syslog", 4)
    assert out["retention_days"] == 90
    assert out["ntp_upstream"] and all("pool.ntp.org" in s for s in out["ntp_upstream"])


def test_playbook_variables_override_the_topology(tmp_path):
    out = resolve(request(SAMPLE, tmp_path, upstream={}, retention_days=200,
                          collector="agent"))
    assert out["upstream"] is None  # soc_upstream: {} switches the link off
    assert out["retention_days"] == 200
    assert out["collector"]["name"] == "agent"


def test_topology_cef_link_and_longer_retention(tmp_path):
    path = variant(tmp_path, "protocol: syslog-tls, min_severity: warning",
                   "protocol: cef, min_severity: err")
    path.write_text(path.read_text(encoding="utf-8").replace(
        SOC_BLOCK, SOC_BLOCK + "    retention_days: 120\n"), encoding="utf-8")
    out = resolve(request(path, tmp_path / "pki"))
    assert (out["upstream"]["protocol"], out["upstream"]["severity_max"]) == ("cef", 3)
    assert out["retention_days"] == 120


def test_no_block_at_all_keeps_the_defaults(tmp_path):
    """The block is optional: a topology without it still validates (cantho-2025 has none)."""
    start = TEXT.index("  soc:\n")
    end = TEXT.index("\n", TEXT.index("ntp_upstream:")) + 1
    path = variant(tmp_path, TEXT[start:end], "")
    out = resolve(request(path, tmp_path / "pki"))
    assert out["upstream"] is None and out["retention_days"] == 90
    assert out["collector"]["name"] == "soc-collector-1" and out["ntp_upstream"] == []


CASES = [
    # (name, old, new, field, message, line needle)
    ("short-retention", SOC_BLOCK, SOC_BLOCK + "    retention_days: 60\n",
     "operations.soc.retention_days", "60 days is shorter than the 90 days security level 3",
     "retention_days: 60"),
    ("unknown-collector", "collector_service: soc-collector", "collector_service: siem",
     "operations.soc.collector_service", "unknown service 'siem'", "collector_service: siem"),
    ("collector-not-soc", "collector_service: soc-collector", "collector_service: ntp",
     "operations.soc.collector_service", "service 'ntp' has role 'ntp', not 'soc'",
     "collector_service: ntp"),
    ("no-flow-to-upstream", "host: 10.94.0.250, port: 6514", "host: 10.94.0.250, port: 6515",
     "operations.soc.upstream.port", "no flow lets the SOC collector reach the upstream on "
     "tcp/6515", "port: 6515"),
    ("bad-protocol", "protocol: syslog-tls", "protocol: gelf",
     "operations.soc.upstream.protocol", "", "protocol: gelf"),
    ("bad-severity", "min_severity: warning", "min_severity: loud",
     "operations.soc.upstream.min_severity", "", "min_severity: loud"),
    ("bad-ntp-upstream", "ntp_upstream: [", "ntp_upstream: [not a host, ",
     "operations.ntp_upstream[0]", "", "ntp_upstream:"),
    ("unknown-key", SOC_BLOCK, SOC_BLOCK + "    retention: 120\n",
     "operations.soc.retention", "unknown key 'retention'", "retention: 120"),
]


@pytest.mark.parametrize(("name", "old", "new", "field", "message", "needle"), CASES,
                         ids=[c[0] for c in CASES])
def test_operations_mistakes_name_file_line_and_field(tmp_path, name, old, new, field,
                                                      message, needle):
    path = variant(tmp_path, old, new)
    result = CliRunner().invoke(app, ["validate", str(path)])
    output = " ".join(result.output.split())  # rich may wrap long paragraphs
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit | None)
    assert f"{path}, line {line_of(path, needle)}:" in output, output
    assert f"{field}:" in output and message in output, output
