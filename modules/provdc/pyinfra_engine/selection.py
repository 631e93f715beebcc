"""Which controls apply to a host, their fix items, and the role's templates rendered.

Engine-neutral on purpose: the selection is `provdc.controls.applicability.select`, which the
role's prepare step calls too (through its filter plugin), and `baseline_fix` is built
exactly as that file does, from `provdc.controls.fix.control_vars`.
The aggregate files (sysctl, sshd drop-in, modprobe, nftables) are rendered from the role's
own templates with Ansible's template settings, so both engines write byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import jinja2
import yaml

from provdc.controls import applicability, catalogue, kinds
from provdc.controls.ansible import PLATFORMS
from provdc.controls.applicability import as_bool
from provdc.controls.fix import control_vars
from provdc.controls.model import DEFAULT_LEVEL
from provdc.errors import ProvdcError

# Ansible's default `ansible_managed` string (ansible.cfg does not override it).
ANSIBLE_MANAGED = "Ansible managed"
@dataclass
class Selection:
    """The controls selected for one host and the views the operations loop over."""

    level: int
    in_container: bool
    selected: list[dict] = field(default_factory=list)
    # every applicable control whatever `only` names: the aggregate files are rendered from
    # it (baseline_in_scope of prepare.yml), so a limited run keeps the others' settings
    in_scope: list[dict] = field(default_factory=list)

    @property
    def ids(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for c in self.selected:
            out.setdefault(c["kind"], []).append(c["id"])
        return out

    @property
    def fix(self) -> dict[str, list[dict]]:
        """baseline_fix of prepare.yml: each kind's fix items, with kind and enforce added."""
        out: dict[str, list[dict]] = {}
        for c in self.selected:
            items = [c["fix"]] if isinstance(c["fix"], dict) else c["fix"]
            extra = {"kind": c["kind"], "enforce": c["enforce_in_container"]}
            out.setdefault(c["kind"], []).extend({**i, **extra} for i in items)
        return out

    def kinds(self) -> list[str]:
        present = self.ids
        return [k for k in kinds.ORDER if k in present]


def security_level(data: dict) -> int:
    raw = data.get("baseline_security_level", data.get("provdc_security_level", DEFAULT_LEVEL))
    try:
        level = int(raw)
    except (TypeError, ValueError):
        level = 0
    if not 1 <= level <= 5:
        raise ProvdcError(f"security level '{raw}' is not 1-5", field="provdc_security_level",
                          fix="set provdc_security_level to the host's level (1-5) "
                          "in the inventory")
    return level


# --data baseline_only=VN-SSH-02,ssh and baseline_skip=VN-FILE-01: the run's --tags and
# --skip-tags (a comma-separated string from the command line, a list from an inventory)
RUN_NAMES = {"baseline_only": "--tags", "baseline_skip": "--skip-tags"}


def run_names(data: dict, key: str) -> list[str]:
    raw = data.get(key) or []
    words = (raw.split(",") if isinstance(raw, str)
             else raw if isinstance(raw, list | tuple) else [raw])  # a lone number: a name
    return [str(w).strip() for w in words if str(w).strip()]


def check_data(data: dict) -> None:
    """Every input the selection reads, checked before any host is contacted: a misspelt
    name in baseline_only would otherwise select nothing and report success."""
    security_level(data)
    controls = catalogue().controls
    for control in controls:
        as_bool(data.get(control.toggle, True), control.toggle)
    known = applicability.known_names(controls)
    for key, like in RUN_NAMES.items():
        unknown = [w for w in run_names(data, key) if w not in known]
        if unknown:
            raise ProvdcError(
                f"'{unknown[0]}' names no control", field=key,
                fix=f"name controls as {like} does: an id (VN-SSH-02), a kind (sshd_option), "
                "a family (ssh) or a task file (packages); `provdc controls list` shows them")


def select(data: dict, groups: list[str], os_family: str, in_container: bool) -> Selection:
    """The role's selection (provdc.controls.applicability): toggle on, level high enough,
    not exempt, OS family listed; of those, the ones named by baseline_only and not by
    baseline_skip (control ids, kinds, families or task files, like --tags and
    --skip-tags) are fixed and verified."""
    out = Selection(security_level(data), in_container)
    applying = applicability.select(catalogue().controls, level=out.level, groups=groups,
                                    os_family=os_family, toggles=data)
    out.in_scope = [control_vars(c) for c in applying]
    out.selected = applicability.pick(out.in_scope, run_names(data, "baseline_only"),
                                      run_names(data, "baseline_skip"))
    return out


@cache
def os_vars(distribution: str, major: str, family: str) -> dict:
    """The OS variables (platforms/<Distribution>-<major>.yml, else <family>.yml), the files
    the role's prepare step loads from its vars/."""
    for name in (f"{distribution}-{major}.yml", f"{family}.yml"):
        path = PLATFORMS / name
        if path.is_file():
            return yaml.safe_load(path.read_text(encoding="utf-8"))
    raise ProvdcError(f"no OS variables for {distribution} {major} ({family})",
                      file=str(PLATFORMS),
                      fix="add <Distribution>-<major>.yml to provdc/controls/platforms and "
                      "re-render the role (provdc controls render-ansible)")


@cache
def _templates() -> jinja2.Environment:
    # Ansible's template module: trim_blocks on, the template's trailing newlines kept. The
    # templates are the kinds' own (the role holds byte-identical copies).
    dirs = [str(kinds.directory(k)) for k in kinds.ORDER]
    return jinja2.Environment(loader=jinja2.FileSystemLoader(list(dict.fromkeys(dirs))),
                              trim_blocks=True, keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, autoescape=False)


def render(template: str, sel: Selection, data: dict) -> str:
    return _templates().get_template(template).render(
        ansible_managed=ANSIBLE_MANAGED,
        baseline_catalogue_version=catalogue().version,
        baseline_in_scope=sel.in_scope,
        baseline_fix=sel.fix,
        baseline_sshd_extra_options=data.get("baseline_sshd_extra_options") or {},
    )
