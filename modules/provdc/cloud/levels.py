"""Security level (Decree 85/2016 "cấp độ") -> how long logs must be kept, and how.

One table, used by the program (object-lock retention, log-group retention), the policy
rule PDC-LOG-01 and the cloud audit. Confidence markers follow the reference notes:
[V] verified, [P] partly verified (third-party checklist), [U] unverified.
"""

from __future__ import annotations

# level -> minimum retention in days
RETENTION_DAYS: dict[int, int] = {
    1: 30,   # nothing required [P]; we keep 30 days like level 2
    2: 30,   # 1 month (TCVN 14423:2026 matrix, "likely similar" for TCVN 11930) [P]
    3: 90,   # >= 03 months central log storage (TCVN 11930:2017 L3 checklist) [P]
    4: 180,  # 6 months, immutable, separate zone [P]
    5: 365,  # 12 months [P]
}

RETENTION_REFS = (
    "TCVN 11930:2017 §7 (L3: central log storage >= 03 months) [P]",
    "Circular 12/2022/TT-BTTTT appendices (minimums per level) [P]",
    "TCVN 14423:2026 matrix (L2 1 mo, L3 3 mo, L4 6 mo immutable, L5 12 mo) [P]",
)

# From this level on, logs must be immutable even for the account root (WORM).
IMMUTABLE_FROM_LEVEL = 4


def retention_days(level: int) -> int:
    return RETENTION_DAYS[level]


def lock_mode(level: int) -> str:
    """S3 object-lock mode: COMPLIANCE cannot be shortened by anyone, GOVERNANCE by admins."""
    return "COMPLIANCE" if level >= IMMUTABLE_FROM_LEVEL else "GOVERNANCE"
