"""The control catalogue as typed data.

A control is a rule in the ComplianceAsCode sense: metadata (id, bilingual title and
rationale, severity, references) plus a `kind` — a template — and that kind's parameters.
Each kind has exactly one fix renderer (the Ansible role's task file for that kind) and one
check (provdc.controls.checks), so the fix and the check read the same parameters and cannot
drift apart. Unknown keys are errors everywhere.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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

Scalar = str | int
Level = Annotated[int, Field(ge=1, le=5)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(Strict):
    vi: str = Field(min_length=3)
    en: str = Field(min_length=3)


class Reference(Strict):
    """A pointer into a standard or regulation, with how sure we are about the clause."""

    regime: Literal["cis", "nd85_tt12_tcvn11930", "nd331_tcvn14423", "devsec", "nist", "lynis"]
    source: str = Field(min_length=2, description="e.g. 'CIS Debian 12 v1.1', 'TCVN 11930:2017'")
    section: str = Field(min_length=1)
    confidence: Literal["verified", "partial", "unverified"]


# --- one parameter model per kind ------------------------------------------------------------


class Sysctl(Strict):
    kind: Literal["sysctl"]
    settings: dict[str, Scalar] = Field(min_length=1)

    @field_validator("settings")
    @classmethod
    def _keys(cls, v: dict[str, Scalar]) -> dict[str, Scalar]:
        for key in v:
            if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_-]+)+", key):
                raise ValueError(f"'{key}' is not a sysctl key such as net.ipv4.ip_forward")
        return v


class SshdOption(Strict):
    kind: Literal["sshd_option"]
    options: dict[str, Scalar] = Field(min_length=1)
    # the value a breaker writes for each option (must differ from the wanted one)
    bad: dict[str, Scalar] = Field(min_length=1)

    @model_validator(mode="after")
    def _bad_covers(self) -> SshdOption:
        missing = set(self.options) - set(self.bad)
        if missing:
            raise ValueError(f"bad: needs a breaking value for {sorted(missing)}")
        return self


class KeyValue(Strict):
    """`KEY<sep>VALUE` lines in a flat config file (login.defs, pwquality.conf, auditd.conf)."""

    kind: Literal["key_value"]
    path: str = Field(pattern=r"^/")
    separator: Literal[" ", " = ", "="]
    # None = a bare flag such as pwquality's `enforce_for_root`
    settings: dict[str, Scalar | None] = Field(min_length=1)
    bad: dict[str, Scalar] = Field(default_factory=dict)
    create: bool = False


class PamProfile(Strict):
    """A pam-auth-update profile (Debian family): the fix installs and enables it."""

    kind: Literal["pam_profile"]
    # profile name (a file in /usr/share/pam-configs) -> its content
    profiles: dict[str, str] = Field(min_length=1)
    # regexes that must each match an active line of the named /etc/pam.d file
    expect: dict[str, list[str]] = Field(min_length=1)


class FileLine(Strict):
    kind: Literal["file_line"]
    path: str = Field(pattern=r"^/")
    line: str
    regexp: str
    insertafter: str | None = None


class FileMode(Strict):
    kind: Literal["file_mode"]
    paths: list[str] = Field(min_length=1)
    mode: str = Field(pattern=r"^0[0-7]{3}$", description="the most permissive mode allowed")
    owner: str = "root"
    group: str = "root"
    missing_ok: bool = False


class FileContent(Strict):
    kind: Literal["file_content"]
    path: str = Field(pattern=r"^/")
    content: str = Field(min_length=1)
    mode: str = Field(default="0644", pattern=r"^0[0-7]{3}$")
    validate_cmd: str | None = Field(default=None, alias="validate")
    # a service to restart when the file changes (handler name)
    notify: Literal["journald", "chrony", "none"] = "none"
    # how the consuming program reads the file among others (its include order), so the
    # check judges the effective value, whoever wrote it: sudo's Defaults, journald's
    # configuration, apt's, or the variables a login shell ends up with
    effective: Literal["sudoers", "journald", "apt", "login_shell", "none"] = "none"


class PackageAbsent(Strict):
    kind: Literal["package_absent"]
    packages: list[str] = Field(min_length=1)


class PackagePresent(Strict):
    kind: Literal["package_present"]
    packages: list[str] = Field(min_length=1)


class ServiceState(Strict):
    kind: Literal["service_enabled", "service_disabled"]
    services: list[str] = Field(min_length=1)
    masked: bool = False


class KernelModuleDisabled(Strict):
    kind: Literal["kernel_module_disabled"]
    modules: list[str] = Field(min_length=1)


class MountOption(Strict):
    kind: Literal["mount_option"]
    target: str = Field(pattern=r"^/")
    options: list[Literal["nodev", "nosuid", "noexec"]] = Field(min_length=1)
    fstype: str = "tmpfs"
    source: str = "tmpfs"
    base_options: list[str] = Field(default_factory=lambda: ["defaults"])


class AuditdRule(Strict):
    kind: Literal["auditd_rule"]
    rules: list[str] = Field(min_length=1)
    # how `auditctl -l`/`-s` shows these rules were loaded (runtime check on a real host)
    runtime: list[str] = Field(min_length=1)
    # rules.d files load in name order; `-e 2` must come last
    order: int = Field(default=60, ge=10, le=99)


class FindNone(Strict):
    """No file matches a `find` expression (world-writable, unowned, loose key modes)."""

    kind: Literal["find_none"]
    paths: list[str] = Field(min_length=1)
    expression: list[str] = Field(min_length=1, description="find(1) tests, one token each")
    fix: list[str] = Field(min_length=1, description="argv run on matches: find ... -exec FIX {} +")
    xdev: bool = True
    # what a breaker creates: a shell snippet producing one matching file
    breaker: str


class Accounts(Strict):
    kind: Literal["accounts"]
    rule: Literal["uid0_only_root", "no_empty_password", "system_nologin"]


class NftablesInput(Strict):
    """Inbound default deny. One source: the rules are the host firewall the segmentation
    engine renders from the flow matrix; this control checks the table it loads, the file it
    keeps for boot and the unit that loads that file."""

    kind: Literal["nftables_input"]
    table: str = "provdc_segmentation"
    allow_tcp: list[int | str] = Field(min_length=1)


Params = Annotated[
    Sysctl
    | SshdOption
    | KeyValue
    | PamProfile
    | FileLine
    | FileMode
    | FileContent
    | PackageAbsent
    | PackagePresent
    | ServiceState
    | KernelModuleDisabled
    | MountOption
    | AuditdRule
    | FindNone
    | Accounts
    | NftablesInput,
    Field(discriminator="kind"),
]


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
