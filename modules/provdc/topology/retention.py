"""How long logs and security events are kept: the one table by security level (Decree 85/2016).

The SOC collector (it serves every host of the province, so it keeps events as long as the
highest security level in the topology requires), the cloud stack's log archive and log
groups, its policy rule and the cloud audit all read this table. Each row says where the
number comes from and how sure we are (same scale as the control catalogue: verified /
partial / unverified).
"""

from __future__ import annotations

from dataclasses import dataclass

from provdc.errors import ProvdcError


@dataclass(frozen=True)
class Retention:
    level: int
    days: int | None  # None: no central-retention requirement at this level
    source: str
    confidence: str


TABLE: dict[int, Retention] = {
    1: Retention(1, None, "TCVN 14423:2026 matrix, log retention row: none at level 1",
                 "partial"),
    2: Retention(2, 30, "TCVN 14423:2026 matrix: 1 month; regulations.md §7 level 2 "
                 "'log retention ≥30 d'", "partial"),
    3: Retention(3, 90, "TCVN 11930:2017 §7 (level 3): central log storage kept ≥ 03 months",
                 "partial"),
    4: Retention(4, 180, "TCVN 14423:2026 matrix: 6 months, immutable, separate zone",
                 "partial"),
    5: Retention(5, 365, "TCVN 14423:2026 matrix: 12 months; Decree 333/2026 ≥12 months for "
                 "online-service providers", "unverified"),
}

# Below level 2 nothing is required; the collector still keeps a month so that an incident
# can be investigated at all (an operational floor, not a regulation).
FLOOR_DAYS = 30


# From this level on, logs must be immutable even for the account root (WORM).
IMMUTABLE_FROM_LEVEL = 4

REFERENCES = (
    "TCVN 11930:2017 §7 (L3: central log storage >= 03 months) [P]",
    "Circular 12/2022/TT-BTTTT appendices (minimums per level) [P]",
    "TCVN 14423:2026 matrix (L2 1 mo, L3 3 mo, L4 6 mo immutable, L5 12 mo) [P]",
)


def lock_mode(level: int) -> str:
    """S3 object-lock mode: COMPLIANCE cannot be shortened by anyone, GOVERNANCE by admins."""
    return "COMPLIANCE" if level >= IMMUTABLE_FROM_LEVEL else "GOVERNANCE"


def required_days(level: int) -> int | None:
    """The regulatory minimum at this level (None: none)."""
    if level not in TABLE:
        raise ProvdcError(f"security level {level} is not 1-5", field="security_level",
                          fix="use a Decree 85/2016 level between 1 and 5")
    return TABLE[level].days


def minimum_days(level: int) -> int:
    """The shortest retention the collector may have at this level (floor included)."""
    return required_days(level) or FLOOR_DAYS


def retention_days(level: int, override: int | None = None, source: str = "soc.yml") -> int:
    """Days the collector keeps events: the level's minimum, or a longer override."""
    minimum = minimum_days(level)
    if override is None:
        return minimum
    if isinstance(override, bool) or not isinstance(override, int) or override < 1:
        raise ProvdcError(f"'{override}' is not a number of days", file=source,
                          field="soc_retention_days", fix="give a whole number of days, e.g. 120")
    if override < minimum:
        raise ProvdcError(
            f"{override} days is shorter than the {minimum} days level {level} requires "
            f"({TABLE[level].source})", file=source, field="soc_retention_days",
            fix=f"set soc_retention_days to {minimum} or more, or leave it unset")
    return override
