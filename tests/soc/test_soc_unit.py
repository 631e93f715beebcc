"""The SOC settings without a lab: retention by level, the onward-link model, the lab CA and
the controller-side resolver that soc.yml runs before touching any host."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from provdc.errors import ProvdcError
from provdc.soc import pki, upstream
from provdc.soc.prepare import resolve
from provdc.topology import retention

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"


# --- retention --------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "days"), [(1, 30), (2, 30), (3, 90), (4, 180), (5, 365)])
def test_retention_by_level(level, days):
    assert retention.retention_days(level) == days


def test_every_level_says_where_its_number_comes_from():
    for row in retention.TABLE.values():
        assert row.source and row.confidence in {"verified", "partial", "unverified"}
    assert retention.required_days(1) is None  # nothing required: the floor applies


def test_a_longer_retention_is_accepted_a_shorter_one_refused():
    assert retention.retention_days(3, 120) == 120
    with pytest.raises(ProvdcError) as err:
        retention.retention_days(3, 60)
    assert "soc_retention_days" in str(err.value) and "90" in str(err.value)
    with pytest.raises(ProvdcError):
        retention.retention_days(3, True)


def test_sample_province_keeps_90_days(tmp_path):
    """Sóc Trăng's highest level is 3 (IDC services): 3 months."""
    out = resolve_sample(tmp_path)
    assert (out["level"], out["retention_days"]) == (3, 90)


# --- onward link --------------------------------------------------------------------------


def test_upstream_defaults_and_severity_cut():
    link = upstream.parse({"host": "10.94.0.20"})
    assert (link.protocol, link.port, link.min_severity, link.severity_max) == (
        "syslog", 6514, "warning", 4)
    facts = upstream.parse({"host": "ncsc.example.vn", "protocol": "cef",
                            "min_severity": "crit"}).facts()
    assert facts["permitted_peer"] == "ncsc.example.vn" and facts["severity_max"] == 2
    assert facts["cef_severity"][2] == 8


@pytest.mark.parametrize(("data", "field"), [
    ({"host": "bad host!"}, "soc_upstream.host"),
    ({"host": "10.0.0.1", "protocol": "gelf"}, "soc_upstream.protocol"),
    ({"host": "10.0.0.1", "min_severity": "loud"}, "soc_upstream.min_severity"),
    ({"host": "10.0.0.1", "port": 70000}, "soc_upstream.port"),
    ({"host": "10.0.0.1", "colour": "red"}, "soc_upstream.colour"),
    ({"port": 6514}, "soc_upstream.host"),
])
def test_bad_upstream_is_one_paragraph_naming_the_field(data, field):
    with pytest.raises(ProvdcError) as err:
        upstream.parse(data)
    text = str(err.value)
    assert field in text and "Fix:" in text and "\n" not in text


def test_no_upstream_disables_the_link():
    assert upstream.parse(None) is None and upstream.parse({}) is None


# --- lab CA -------------------------------------------------------------------------------


def load_cert(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def test_ca_and_host_certificates(tmp_path):
    changed, paths = pki.ensure(tmp_path, "test CA", {"agent-1": ["10.94.66.2"]})
    assert changed
    ca, host = load_cert(paths["ca"]), load_cert(paths["hosts"]["agent-1"]["cert"])
    host.verify_directly_issued_by(ca)
    san = host.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["agent-1"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.94.66.2"]
    eku = host.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(eku)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = Path(paths["hosts"]["agent-1"]["key"])
    assert key.stat().st_mode & 0o777 == 0o600 and (tmp_path / "ca.key").stat().st_mode & 0o077 == 0


def test_second_run_issues_nothing(tmp_path):
    pki.ensure(tmp_path, "test CA", {"a": ["10.0.0.1"], "b": ["10.0.0.2"]})
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.crt")}
    changed, _ = pki.ensure(tmp_path, "test CA", {"a": ["10.0.0.1"], "b": ["10.0.0.2"]})
    assert not changed
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.crt")} == before


def test_a_moved_host_gets_a_new_certificate_others_keep_theirs(tmp_path):
    pki.ensure(tmp_path, "test CA", {"a": ["10.0.0.1"], "b": ["10.0.0.2"]})
    b_before = (tmp_path / "hosts" / "b.crt").read_bytes()
    changed, paths = pki.ensure(tmp_path, "test CA", {"a": ["10.0.0.9"], "b": ["10.0.0.2"]})
    assert changed and (tmp_path / "hosts" / "b.crt").read_bytes() == b_before
    san = load_cert(paths["hosts"]["a"]["cert"]).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.9"]


def test_a_new_ca_reissues_every_host(tmp_path):
    pki.ensure(tmp_path, "test CA", {"a": ["10.0.0.1"]})
    (tmp_path / "ca.crt").unlink()
    pki.ensure(tmp_path, "test CA", {"a": ["10.0.0.1"]})
    load_cert(str(tmp_path / "hosts" / "a.crt")).verify_directly_issued_by(
        load_cert(str(tmp_path / "ca.crt")))


def test_an_expiring_host_certificate_is_renewed(tmp_path, monkeypatch):
    pki.ensure(tmp_path, "test CA", {"a": ["10.0.0.1"]})
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=pki.HOST_DAYS - 10)
    monkeypatch.setattr(pki, "_now", lambda: later)
    changed, _ = pki.ensure(tmp_path, "test CA", {"a": ["10.0.0.1"]})
    assert changed


def test_bad_address_is_refused(tmp_path):
    with pytest.raises(ProvdcError) as err:
        pki.ensure(tmp_path, "test CA", {"a": ["10.0.0.300"]})
    assert "host a" in str(err.value)


# --- the resolver soc.yml runs on the controller ------------------------------------------


def resolve_sample(pki_dir: Path, **extra) -> dict:
    return resolve({"topology": str(SAMPLE), "pki_dir": str(pki_dir),
                    "hosts": {"soc-collector-1": ["10.94.4.3"], "agent": ["10.94.66.2"]},
                    "collector": "soc-collector-1", "ntp_fallback": ["10.94.4.5"], **extra})


def test_resolver_takes_port_ntp_and_collector_from_topology_and_inventory(tmp_path):
    out = resolve_sample(tmp_path, upstream={"host": "10.94.0.20", "protocol": "cef"})
    assert out["port"] == 6514  # operations.syslog_port
    assert out["collector"] == {"name": "soc-collector-1", "address": "10.94.4.3"}
    assert out["ntp_servers"] == ["10.94.4.5"]  # the sample names no NTP server: the ntp host
    assert out["ntp_allow"] == "10.94.0.0/16"
    assert out["upstream"]["protocol"] == "cef"
    assert set(out["pki"]["hosts"]) == {"soc-collector-1", "agent"}


def run_prepare(request: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provdc.soc.prepare"], input=json.dumps(request),
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize(("change", "expect"), [
    ({"collector": None}, "no host of the SOC collector service"),
    ({"collector": "ghost"}, "'ghost' has no address"),
    ({"ntp_fallback": []}, "operations.ntp_servers"),
    ({"upstream": {"host": "10.0.0.1", "protocol": "gelf"}}, "soc_upstream.protocol"),
    ({"retention_days": 10}, "soc_retention_days"),
    ({"topology": "inventory/nope.yml"}, "nope.yml"),
])
def test_bad_settings_exit_2_with_one_paragraph_and_write_nothing(tmp_path, change, expect):
    request = {"topology": str(SAMPLE), "pki_dir": str(tmp_path / "pki"),
               "hosts": {"soc-collector-1": ["10.94.4.3"]}, "collector": "soc-collector-1",
               "ntp_fallback": ["10.94.4.5"], **change}
    proc = run_prepare(request)
    assert proc.returncode == 2, proc.stderr
    assert expect in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stdout == ""
    assert not (tmp_path / "pki").exists()  # validation before any certificate is made


def test_prepare_prints_json(tmp_path):
    request = {"topology": str(SAMPLE), "pki_dir": str(tmp_path), "collector": "c",
               "hosts": {"c": ["10.94.4.3"]}, "ntp_fallback": ["10.94.4.5"]}
    first, second = run_prepare(request), run_prepare(request)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["changed"] is True
    assert json.loads(second.stdout)["changed"] is False


def test_operator_ca_is_checked_never_replaced(tmp_path):
    """Production: the operator's CA certificate and host certificates, no CA key."""
    pki.ensure(tmp_path, "their CA", {"a": ["10.0.0.1"]})
    (tmp_path / "ca.key").unlink()
    ca_before = (tmp_path / "ca.crt").read_bytes()
    changed, _ = pki.ensure(tmp_path, "their CA", {"a": ["10.0.0.1"]})
    assert not changed and (tmp_path / "ca.crt").read_bytes() == ca_before
    with pytest.raises(ProvdcError) as err:
        pki.ensure(tmp_path, "their CA", {"a": ["10.0.0.1"], "b": ["10.0.0.2"]})
    assert "host b" in str(err.value) and "from your CA" in str(err.value)
    assert (tmp_path / "ca.crt").read_bytes() == ca_before


def test_a_long_province_name_still_makes_a_ca_and_host_certificates(tmp_path):
    """A 60-character province name makes the CA's common name longer than X.520's 64."""
    province = "Thành phố trực thuộc trung ương Cần Thơ sau sắp xếp năm 2025 x"
    assert len(f"provdc lab SOC CA ({province})") > 64
    host = "a" * 63 + ".b" * 10  # a valid RFC 1123 name longer than 64 characters
    changed, paths = pki.ensure(tmp_path, f"provdc lab SOC CA ({province})",
                                {host: ["10.94.2.10"]})
    assert changed and Path(paths["hosts"][host]["cert"]).is_file()
    again, _ = pki.ensure(tmp_path, f"provdc lab SOC CA ({province})", {host: ["10.94.2.10"]})
    assert again is False  # idempotent: the SAN carries the whole name
