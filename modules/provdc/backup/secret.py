"""Each host's repository password, derived from the one password the operator gives at run
time (PROVDC_BACKUP_PASSWORD, -e backup_password=..., --password-file).

    host password = base64url(scrypt(operator password, salt="provdc-backup/" + host,
                                     N=2**14, r=8, p=1, 32 bytes))

A host's password file then opens its own repository only: a host that is broken into gives
away neither the other hosts' repositories nor the operator's password, which scrypt makes
slow to guess from a derived one. The operator still keeps one secret; both engines and the
restore drill derive the same password from it, on the controller (the operator's password
never reaches a host). Anyone can re-derive a host's password with the formula above, for
instance to restore from the off-site copy without provdc.
"""

from __future__ import annotations

import base64
import hashlib

from provdc.errors import ProvdcError

MIN_LENGTH = 16
SALT = "provdc-backup/"
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}  # 16 MiB, ~50 ms a host


def host_password(operator_password: str, host: str) -> str:
    key = hashlib.scrypt(operator_password.encode(), salt=(SALT + host).encode(), **SCRYPT)
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def operator_password(text: str, field: str = "PROVDC_BACKUP_PASSWORD") -> str:
    """The operator's password as given, refused when missing or short."""
    text = text.strip()
    if len(text) < MIN_LENGTH:
        raise ProvdcError(f"no repository password of {MIN_LENGTH} characters or more was "
                          "given", field=field,
                          fix="export PROVDC_BACKUP_PASSWORD (from your vault) or pass "
                              "--password-file FILE; it is never kept in the project")
    return text
