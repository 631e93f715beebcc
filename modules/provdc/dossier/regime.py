"""A security-level regime as package data: the level criteria, the dossier's parts and the
requirements by level, each requirement mapped to the controls and checks that implement it.

One YAML file per regime under `regimes/` (the topology's `province.regime` picks it), so a
successor regime is a new file, not an edit. Every id a requirement names must exist in the
control catalogue or the audit's check catalogue: a typo fails the load, not the dossier.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from provdc.audit.checks import checks
from provdc.controls import catalogue
from provdc.controls.model import Text
from provdc.errors import ProvdcError
from provdc.topology.schema import Strict
from provdc.yamlsource import YamlDocument

REGIMES = Path(__file__).with_name("regimes")
Confidence = Literal["verified", "partial", "unverified"]


class LevelCriteria(Strict):
    article: str
    confidence: Confidence
    text: Text


class DossierRules(Strict):
    article: str
    confidence: Confidence
    expert_opinion_from_level: int = Field(ge=1, le=5)
    approval: Text
    approval_confidence: Confidence


class Requirement(Strict):
    id: str = Field(pattern=r"^[A-Z]{2}-\d{2}$")
    group: str
    item: str = ""  # the threshold's name in the per-level matrix
    source: str = Field(min_length=3)
    confidence: Confidence
    text: Text
    implemented_by: list[str] = Field(default_factory=list)
    operator: Text | None = None

    @model_validator(mode="after")
    def _covered_or_operators(self) -> Requirement:
        if not self.implemented_by and self.operator is None:
            raise ValueError(f"{self.id}: neither implemented_by nor operator; say who covers it")
        return self


class Regime(Strict):
    regime: str
    version: str
    reviewed: date
    title: Text
    encoded_levels: list[int] = Field(min_length=1)
    levels: dict[int, LevelCriteria]
    dossier: DossierRules
    groups: dict[str, Text]
    requirements: list[Requirement] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Regime:
        if sorted(self.levels) != [1, 2, 3, 4, 5]:
            raise ValueError("levels must give the criteria of levels 1 to 5")
        ids = [r.id for r in self.requirements]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"requirement {twice[0]} appears twice")
        known = {c.id for c in catalogue().controls} | set(checks().by_id)
        for r in self.requirements:
            if r.group not in self.groups:
                raise ValueError(f"{r.id}: group '{r.group}' is not declared under groups")
            unknown = [i for i in r.implemented_by if i not in known]
            if unknown:
                raise ValueError(f"{r.id}: {', '.join(unknown)} is neither a catalogue control "
                                 "nor an audit check")
        return self


def load_regime(path: str | Path) -> Regime:
    return YamlDocument(path).validate(
        Regime, "see the fields of Regime in provdc/dossier/regime.py")


@cache
def regime(name: str) -> Regime:
    """The shipped regime of that name (the topology's province.regime)."""
    path = REGIMES / f"{name}.yml"
    if not path.is_file():
        shipped = sorted(p.stem for p in REGIMES.glob("*.yml"))
        raise ProvdcError(f"no dossier rules for the regime '{name}'", field="province.regime",
                          fix=f"use a regime provdc ships dossier rules for: {', '.join(shipped)}")
    return load_regime(path)
