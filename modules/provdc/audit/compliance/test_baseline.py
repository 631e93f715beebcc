"""Baseline controls: one test per control of the catalogue per host (id = control id).

Generated from `provdc/controls/catalogue.yml`; the check of each kind is in
`provdc/controls/checks.py`. Evidence (expected vs actual, runtime vs persisted) is recorded
as the `provdc` property of each test.
"""

import pytest

from provdc.audit.suite import control_params, run_control


@pytest.mark.parametrize("control", control_params())
def test_control(host, control, record_property):
    run_control(host, control, record_property)
