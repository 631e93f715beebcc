"""The lab certificate authority for syslog over TLS, generated on the controller.

Layout of a PKI directory (the same layout works with a production CA: put your CA
certificate and each host's certificate and key there, and provdc only checks them):

    ca.crt, ca.key              the CA (the key never leaves the controller)
    hosts/<name>.crt, .key      one per host: CN and DNS name = the inventory name, plus its
                                IP addresses; usable as TLS server and client (mutual TLS)

Everything is idempotent: a certificate is re-issued only if it is missing, not signed by
this CA, about to expire or does not name the host and its addresses any more.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provdc.errors import ProvdcError
from provdc.hosts.contract import check_host_name

CA_DAYS = 3650
HOST_DAYS = 825  # the CA/Browser maximum; short enough that a lost key expires
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class HostCert:
    name: str
    cert: Path
    key: Path


CN_MAX = 64  # X.520 upper bound for a common name, which cryptography counts in UTF-8 bytes


def cn(name: str) -> str:
    """A name cut to fit a certificate's CN (a 60-character Vietnamese province name makes
    the CA's longer); peers are verified by the subject alternative names, which carry it
    whole."""
    if len(name.encode()) <= CN_MAX:
        return name
    while len((name + "…").encode()) > CN_MAX:
        name = name[:-1]
    return name + "…"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Two playbook runs (two labs) may share a PKI directory: one writer at a time."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp.chmod(0o644)
    tmp.replace(path)


def _fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - RENEW_BEFORE > _now()


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey | None] | None:
    """The CA certificate and, for provdc's own lab CA, its key (None: the operator's CA,
    whose key provdc never sees)."""
    crt, key = directory / "ca.crt", directory / "ca.key"
    if not crt.is_file():
        return None
    try:
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
        private = (serialization.load_pem_private_key(key.read_bytes(), password=None)
                   if key.is_file() else None)
    except ValueError as exc:
        raise ProvdcError(f"the CA in {directory} cannot be read ({exc})", file=str(crt),
                          fix="restore ca.crt/ca.key, or remove both to let provdc create a "
                          "new lab CA (every host certificate is then re-issued)") from None
    return cert, private


def ensure_ca(directory: Path, common_name: str) -> bool:
    """Create the CA if it is missing or expiring; True if something was written."""
    loaded = _load_ca(directory)
    if loaded and loaded[1] is None:  # the operator's own CA: check it, never replace it
        if not _fresh(loaded[0]):
            raise ProvdcError(f"the CA certificate in {directory} expires on "
                              f"{loaded[0].not_valid_after_utc:%Y-%m-%d}", file=str(directory),
                              fix="renew the CA and re-issue the host certificates in your PKI")
        return False
    if loaded and _fresh(loaded[0]):
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provdc"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn(common_name))])
    start = _now() - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                     False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(directory / "ca.key", key)
    _write_cert(directory / "ca.crt", cert)
    return True


def _names_of(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (set(san.get_values_for_type(x509.DNSName)),
            {str(ip) for ip in san.get_values_for_type(x509.IPAddress)})


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _valid_host_cert(path: Path, ca: x509.Certificate, name: str, ips: set[str]) -> bool:
    if not path.is_file() or not path.with_suffix(".key").is_file():
        return False
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        return False
    dns, addresses = _names_of(cert)
    return _fresh(cert) and _signed_by(cert, ca) and dns == {name} and addresses == ips


def _check_ips(name: str, ips: list[str]) -> set[str]:
    out = set()
    for ip in ips:
        try:
            out.add(str(ipaddress.ip_address(ip)))
        except ValueError:
            raise ProvdcError(f"'{ip}' is not an IP address", field=f"host {name}",
                              fix="give the host's address (ansible_host) as an IPv4 address"
                              ) from None
    return out


def ensure_host(directory: Path, name: str, ips: list[str]) -> bool:
    """Issue `hosts/<name>.crt/.key` unless a valid one exists; True if written."""
    ca_cert, ca_key = _load_ca(directory) or (None, None)
    if ca_cert is None:
        raise ProvdcError(f"no CA in {directory}", file=str(directory),
                          fix="run ensure_ca first (soc.yml does)")
    wanted = _check_ips(name, ips)
    hosts = directory / "hosts"
    hosts.mkdir(exist_ok=True, mode=0o700)
    crt = hosts / f"{name}.crt"
    if _valid_host_cert(crt, ca_cert, name, wanted):
        return False
    if ca_key is None:
        raise ProvdcError(
            f"no valid certificate for host {name} ({', '.join(sorted(wanted))}) in {hosts}",
            file=str(crt), fix=f"issue hosts/{name}.crt and .key from your CA (CN and DNS name "
            f"{name}, IP addresses {', '.join(sorted(wanted))}, server and client use)")
    key = ec.generate_private_key(ec.SECP256R1())
    start = _now() - dt.timedelta(minutes=5)
    san = [x509.DNSName(name)] + [x509.IPAddress(ipaddress.ip_address(i)) for i in sorted(wanted)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn(name))]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=HOST_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                     False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(crt.with_suffix(".key"), key)
    _write_cert(crt, cert)
    return True


def ensure(directory: Path, ca_name: str, hosts: dict[str, list[str]]) -> tuple[bool, dict]:
    """The CA and one certificate per host (name -> IPs). Returns (changed, paths).

    Every name becomes a file name under hosts/: each is checked before anything is
    written (a name such as `../ca` would otherwise replace the CA's key)."""
    for name in hosts:
        try:
            check_host_name(name)
        except ValueError as exc:
            raise ProvdcError(f"certificate name {exc}", field=f"hosts: {name!r}",
                              fix="name hosts with letters, digits, '-' and '.' only (an RFC "
                              "1123 name)") from None
        _check_ips(name, hosts[name])
    directory = directory.resolve()
    with _locked(directory):
        changed = ensure_ca(directory, ca_name)
        for name in sorted(hosts):
            changed |= ensure_host(directory, name, hosts[name])
    paths = {
        "dir": str(directory),
        "ca": str(directory / "ca.crt"),
        "hosts": {n: {"cert": str(directory / "hosts" / f"{n}.crt"),
                      "key": str(directory / "hosts" / f"{n}.key")} for n in sorted(hosts)},
    }
    return changed, paths
