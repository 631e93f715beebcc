"""One applicability rule for the role, pyinfra and the audit (provdc.controls.applicability)."""

from __future__ import annotations

import pytest

from provdc.controls import catalogue
from provdc.controls.applicability import names_of, not_applicable_reason, pick, select
from provdc.controls.fix import control_vars
from provdc.errors import ProvdcError

CONTROLS = catalogue().controls
# what the role holds: the catalogue rendered into its vars (baseline_controls)
AS_ROLE_DICTS = [control_vars(c) for c in CONTROLS]


@pytest.mark.parametrize("level, groups", [(1, []), (2, []), (3, ["gateways"]), (5, [])])
def test_the_role_dicts_and_the_catalogue_get_the_same_answer(level, groups):
    for obj, d in zip(CONTROLS, AS_ROLE_DICTS, strict=True):
        assert not_applicable_reason(obj, level=level, groups=groups, os_family="Debian") == \
            not_applicable_reason(d, level=level, groups=groups, os_family="Debian"), obj.id


def test_selection_honours_level_toggle_exemption_os_and_tags():
    everything = select(CONTROLS, level=5, groups=[], os_family="Debian", toggles={})
    assert len(everything) == sum("Debian" in c.os_families for c in CONTROLS)
    low = select(CONTROLS, level=1, groups=[], os_family="Debian", toggles={})
    assert 0 < len(low) < len(everything)
    ssh02 = next(c for c in CONTROLS if c.id == "VN-SSH-02")
    off = select(CONTROLS, level=5, groups=[], os_family="Debian",
                 toggles={ssh02.toggle: "false"})
    assert ssh02 not in off and len(off) == len(everything) - 1
    assert select(CONTROLS, level=5, groups=[], os_family="Debian", toggles={},
                  wanted=["VN-SSH-02"]) == [ssh02]
    assert select(CONTROLS, level=5, groups=[], os_family="RedHat", toggles={}) == [
        c for c in CONTROLS if "RedHat" in c.os_families]
    exempting = [c for c in CONTROLS if "gateways" in c.exempt_groups]
    assert exempting, "the catalogue exempts gateways from some controls"
    on_gateway = select(CONTROLS, level=5, groups=["gateways"], os_family="Debian", toggles={})
    assert not set(c.id for c in exempting) & {c.id for c in on_gateway}


def test_a_toggle_that_is_not_a_boolean_is_an_input_error():
    ssh02 = next(c for c in CONTROLS if c.id == "VN-SSH-02")
    with pytest.raises(ProvdcError, match=ssh02.toggle):
        select(CONTROLS, level=3, groups=[], os_family="Debian", toggles={ssh02.toggle: "maybe"})


def test_a_run_names_controls_by_id_kind_family_or_task_file_alike_in_both_shapes():
    for obj, d in zip(CONTROLS, AS_ROLE_DICTS, strict=True):
        assert names_of(obj) == names_of(d), obj.id
    ids = [c.id for c in pick(CONTROLS, ["services"])]
    assert ids == [c.id for c in CONTROLS if c.kind in ("service_enabled", "service_disabled")]


def test_skipping_drops_the_named_controls_alone():
    file01 = next(c for c in CONTROLS if c.id == "VN-FILE-01")
    kept = pick(CONTROLS, [], ["VN-FILE-01"])
    assert file01 not in kept and len(kept) == len(CONTROLS) - 1
    assert pick(CONTROLS, ["all"], []) == CONTROLS == pick(CONTROLS, [], [])
    assert pick(CONTROLS, ["ssh"], ["ssh"]) == [] == pick(CONTROLS, [], ["baseline"])
