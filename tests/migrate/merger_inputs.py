"""The shipped Cần Thơ topologies and the shape of a user error, for the merger tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MERGED = ROOT / "inventory" / "cantho-merged"
NEW = MERGED / "topology.yml"
FORMER = [MERGED / "former" / f"{p}.yml" for p in ("can-tho", "hau-giang", "soc-trang")]
REFERENCE = ROOT / "inventory" / "soctrang" / "topology.yml"
SHARED_CSV = Path("/work/shared/data/soctrang-units-2021.csv")


def one_paragraph_error(result) -> str:
    """The error a user sees: exit 2, no traceback, one paragraph with a fix."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit | None), result.exception
    text = " ".join(result.stderr.split())
    assert text.startswith("error: ") and "Fix: " in text, result.stderr
    assert "Traceback" not in result.output
    return text
