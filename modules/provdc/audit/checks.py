"""The audit's checks outside the control catalogue (segmentation, SOC, bandwidth) as typed
data: `checks.yml`, package data beside this file.

Each check has an id of the controls' shape (`VN-SEG-01`), a family of its own, a bilingual
title and rationale, a severity, references with their confidence, and the name of the one
compliance test that checks it. `metadata()` gives every id the report can meet (the 73
controls and these checks) in one shape, so the report, the waivers, the scores, the OSCAL
export and the diff treat a check exactly like a control.
"""

from __future__ import annotations

from datetime import date
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from provdc.controls import catalogue
from provdc.controls.base import Strict
from provdc.controls.model import CONTROL_ID, FAMILIES, Text
from provdc.yamlsource import YamlDocument

CHECKS_PATH = Path(__file__).with_name("checks.yml")


class Reference(Strict):
    """Like a control's reference; the regimes are this file's own (TSLCD, SOC dispatches)."""

    regime: str
    source: str = Field(min_length=2)
    section: str = Field(min_length=1)
    confidence: Literal["verified", "partial", "unverified"]


class Check(Strict):
    id: str = Field(pattern=CONTROL_ID)
    test: str = Field(pattern=r"^test_\w+$", description="the compliance test function")
    title: Text
    rationale: Text
    severity: Literal["low", "medium", "high", "critical"]
    references: list[Reference] = Field(min_length=1)

    @property
    def family(self) -> str:
        return self.id.split("-")[1]


class CheckCatalogue(Strict):
    version: str
    reviewed: date
    regimes: dict[str, str] = Field(min_length=1)
    families: dict[str, Text] = Field(min_length=1)
    checks: list[Check] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> CheckCatalogue:
        clash = sorted(set(self.families) & set(FAMILIES))
        if clash:  # a check family must never mix into a control family's score
            raise ValueError(f"family {clash[0]} is a control family of the catalogue")
        for field in ("id", "test"):
            values = [getattr(c, field) for c in self.checks]
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"check {field} {twice[0]} appears twice")
        for c in self.checks:
            if c.family not in self.families:
                raise ValueError(f"{c.id}: family {c.family} is not declared under families")
            for ref in c.references:
                if ref.regime not in self.regimes:
                    raise ValueError(f"{c.id}: reference regime '{ref.regime}' is not declared")
        return self

    @cached_property
    def by_test(self) -> dict[str, Check]:
        return {c.test: c for c in self.checks}

    @cached_property
    def by_id(self) -> dict[str, Check]:
        return {c.id: c for c in self.checks}


def load_checks(path: str | Path = CHECKS_PATH) -> CheckCatalogue:
    """Parse and validate a check catalogue; every problem names its line and field."""
    return YamlDocument(path).validate(
        CheckCatalogue, "see the fields of CheckCatalogue in provdc/audit/checks.py")


@cache
def checks() -> CheckCatalogue:
    """The check catalogue shipped with provdc (cached)."""
    return load_checks()


def families() -> dict[str, tuple[str, str]]:
    """Every family a result can score in: code -> (Vietnamese, English)."""
    return FAMILIES | {k: (v.vi, v.en) for k, v in checks().families.items()}


def known_ids() -> set[str]:
    """Every id a waiver, a report or a diff may name."""
    return set(catalogue().by_id) | set(checks().by_id)


def metadata() -> dict[str, dict]:
    """Every control and check, in the one shape report.json carries under `controls`."""
    out = {
        c.id: {
            "title": c.title.model_dump(), "rationale": c.rationale.model_dump(),
            "severity": c.severity, "family": c.family, "kind": c.kind,
            "min_level": c.min_level, "enforce_in_container": c.enforce_in_container,
            "references": [r.model_dump() for r in c.references],
        }
        for c in catalogue().controls
    }
    for c in checks().checks:
        out[c.id] = {
            "title": c.title.model_dump(), "rationale": c.rationale.model_dump(),
            "severity": c.severity, "family": c.family, "kind": "check", "test": c.test,
            # the check's own test decides where it applies (roles, services, level)
            "min_level": None, "enforce_in_container": True,
            "references": [r.model_dump() for r in c.references],
        }
    return out
