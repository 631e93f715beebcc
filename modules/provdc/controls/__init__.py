"""The baseline control catalogue: one YAML file rendered into the fix, the check and the report."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import ValidationError

from provdc.controls.model import Catalogue, Control
from provdc.errors import ProvdcError, ValidationFailed
from provdc.yamlsource import YamlDocument, field_path

CATALOGUE_PATH = Path(__file__).with_name("catalogue.yml")

__all__ = ["CATALOGUE_PATH", "Catalogue", "Control", "load_catalogue", "catalogue"]


def load_catalogue(path: str | Path = CATALOGUE_PATH) -> Catalogue:
    """Parse and validate a catalogue file; every problem names its line and field."""
    doc = YamlDocument(path)
    try:
        return Catalogue.model_validate(doc.data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = _strip_union_tag(err["loc"])
            errors.append(
                ProvdcError(
                    err["msg"],
                    doc.path,
                    line=doc.line_of(loc),
                    field=_named(doc.data, loc),
                    fix="see the kinds and fields in provdc/controls/model.py",
                )
            )
        raise ValidationFailed(errors) from None


def _strip_union_tag(loc: tuple) -> tuple:
    """pydantic puts the kind in the error path: check.sysctl.settings -> check.settings."""
    out = list(loc)
    for i in range(len(out) - 1):
        if out[i] == "check" and isinstance(out[i + 1], str):
            del out[i + 1]
            break
    return tuple(out)


def _named(data: object, loc: tuple) -> str:
    """controls[12].check.settings -> controls[VN-NET-03].check.settings for readers."""
    text = field_path(loc)
    if len(loc) >= 2 and loc[0] == "controls" and isinstance(loc[1], int):
        try:
            cid = data["controls"][loc[1]]["id"]  # type: ignore[index]
            text = text.replace(f"controls[{loc[1]}]", f"controls[{cid}]", 1)
        except (KeyError, IndexError, TypeError):
            pass
    return text


@cache
def catalogue() -> Catalogue:
    """The catalogue shipped with provdc (cached)."""
    return load_catalogue()
