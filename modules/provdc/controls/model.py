"""The control catalogue as typed data.

A control is a rule in the ComplianceAsCode sense: metadata (id, bilingual title and
rationale, severity, references) plus a `kind` — a template — and that kind's parameters.
Each kind lives in one folder (provdc.controls.kinds): its parameters, its check, its fix
items, its breakers, its Ansible task file and its pyinfra apply, so the fix and the check
read the same parameters and cannot drift apart. Unknown keys are errors everywhere.
"""

from __future__ import annotations

from datetime import date
from functools import cached_property
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from provdc.controls.base import Strict
from provdc.controls.kinds import PARAMS

CONTROL_ID = r"^VN-[A-Z]+-\d{2}$"
FAMILIES = {
    "FS": ("Hệ thống tệp", "File systems"),
    "BOOT": ("Khởi động", "Boot"),
    "KRN": ("Nhân hệ điều hành", "Kernel"),
    "NET": ("Mạng", "Network"),
    "SVC": ("Dịch vụ", "Services"),
    "SSH": ("SSH", "SSH"),
    "AUTH": ("Xác thực", "Authentication"),
    "FILE": ("Quyền tệp", "File permissions"),
    "LOG": ("Nhật ký và giám sát", "Logging and audit"),
}
# Sysctl trees that are global to the kernel: read-only inside a container (lab host).
GLOBAL_SYSCTL_PREFIXES = ("kernel.", "vm.", "fs.", "dev.", "abi.")
# The level assumed for a host whose inventory does not say (the provincial IDC's level).
DEFAULT_LEVEL = 3

Level = Annotated[int, Field(ge=1, le=5)]


class Text(Strict):
    vi: str = Field(min_length=3)
    en: str = Field(min_length=3)


class Reference(Strict):
    """A pointer into a standard or regulation, with how sure we are about the clause."""

    regime: Literal["cis", "nd85_tt12_tcvn11930", "nd331_tcvn14423", "devsec", "nist", "lynis"]
    source: str = Field(min_length=2, description="e.g. 'CIS Debian 12 v1.1', 'TCVN 11930:2017'")
    section: str = Field(min_length=1)
    confidence: Literal["verified", "partial", "unverified"]


# One parameter model per kind, each in its kind's folder (provdc.controls.kinds).
Params = Annotated[Union[PARAMS], Field(discriminator="kind")]  # noqa: UP007 (a tuple)


class Control(Strict):
    id: str = Field(pattern=CONTROL_ID)
    title: Text
    rationale: Text
    severity: Literal["low", "medium", "high", "critical"]
    min_level: Level = 1
    os_families: list[Literal["Debian"]] = Field(default_factory=lambda: ["Debian"])
    references: list[Reference] = Field(min_length=1)
    check: Params
    # False: a container cannot enforce this at runtime (global sysctl, auditd, capability
    # the lab drops); there the fix writes the persisted configuration and the check reads
    # only that configuration, and the report says so.
    enforce_in_container: bool = True
    # inventory groups whose hosts are exempt by design (site gateways forward packets)
    exempt_groups: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _family(cls, v: str) -> str:
        family = v.split("-")[1]
        if family not in FAMILIES:
            raise ValueError(f"family '{family}' is not one of {', '.join(FAMILIES)}")
        return v

    @property
    def family(self) -> str:
        return self.id.split("-")[1]

    @property
    def kind(self) -> str:
        return self.check.kind

    @property
    def toggle(self) -> str:
        """The Ansible variable that switches this control on or off."""
        return "baseline_" + self.id.lower().replace("-", "_")

    def configuration_only(self, in_container: bool) -> bool:
        return in_container and not self.enforce_in_container


class Catalogue(Strict):
    version: str
    regimes: dict[str, str] = Field(min_length=1, description="regime id -> description")
    reviewed: date
    controls: list[Control] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        seen: set[str] = set()
        for c in self.controls:
            if c.id in seen:
                raise ValueError(f"control id {c.id} appears twice")
            seen.add(c.id)
            for ref in c.references:
                if ref.regime not in self.regimes:
                    raise ValueError(f"{c.id}: reference regime '{ref.regime}' is not declared")
            if c.kind == "sysctl" and c.enforce_in_container:
                glob = [k for k in c.check.settings if k.startswith(GLOBAL_SYSCTL_PREFIXES)]
                if glob:
                    raise ValueError(
                        f"{c.id}: {glob[0]} is a global sysctl; set enforce_in_container: false"
                    )
        return self

    @cached_property
    def by_id(self) -> dict[str, Control]:
        return {c.id: c for c in self.controls}

    def by_kind(self) -> dict[str, list[Control]]:
        out: dict[str, list[Control]] = {}
        for c in self.controls:
            out.setdefault(c.kind, []).append(c)
        return out
