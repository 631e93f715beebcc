"""The shipped Cần Thơ topologies and the shape of a user error, for the merger tests."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MERGED = ROOT / "inventory" / "cantho-merged"
NEW = MERGED / "topology.yml"
FORMER = [MERGED / "former" / f"{p}.yml" for p in ("can-tho", "hau-giang", "soc-trang")]
REFERENCE = ROOT / "inventory" / "soctrang" / "topology.yml"
# An independent export of the 2021 units (not the vendored extract): where the machine keeps
# shared data, PROVDC_SHARED_DATA, by default the directory beside the checkout.
SHARED_DATA = Path(os.environ.get("PROVDC_SHARED_DATA", ROOT.parent / "shared" / "data"))
SHARED_CSV = SHARED_DATA / "soctrang-units-2021.csv"


def one_paragraph_error(result) -> str:
    """The error a user sees: exit 2, no traceback, one paragraph with a fix."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit | None), result.exception
    text = " ".join(result.stderr.split())
    assert text.startswith("error: ") and "Fix: " in text, result.stderr
    return text
