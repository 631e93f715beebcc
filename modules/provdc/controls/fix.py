"""The fix of each control, worked out once for every engine.

`control_vars(control)` is what both engines loop over for a control: its metadata and its
kind's fix items (the exact line, regexp, argv or file content, from the kind's folder). The
Ansible role gets them in its vars (`controls/ansible.py`), the pyinfra deploy from
`pyinfra_engine/selection.py`, so the two engines cannot disagree on what a control sets.
"""

from __future__ import annotations

from provdc.controls import kinds
from provdc.controls.model import Control


def control_vars(control: Control) -> dict:
    return {
        "id": control.id,
        "kind": control.kind,
        "family": control.family,
        "title": control.title.en,
        "toggle": control.toggle,
        "min_level": control.min_level,
        "os_families": list(control.os_families),
        "enforce_in_container": control.enforce_in_container,
        "exempt_groups": list(control.exempt_groups),
        "fix": kinds.fix_items(control),
    }
