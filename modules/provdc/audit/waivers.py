"""Waivers: an accepted, owned, dated exception to a control on some hosts.

    waivers:
      - control: VN-SSH-03
        hosts: ["mail-1", "gw-*"]      # names or shell patterns
        justification: the mail relay's vendor appliance needs aes128-cbc until 2027
        owner: Nguyễn Văn A (Sở TT&TT)
        expiry: 2027-03-31

`control` is a control of the catalogue or a check of `checks.yml` (VN-SEG-01, VN-SOC-04,
VN-BW-02...). A waived failure is reported as waived; after its expiry date it counts as a
failure again.
"""

from __future__ import annotations

import fnmatch
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from provdc.audit.checks import known_ids
from provdc.errors import ProvdcError
from provdc.yamlsource import YamlDocument


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    control: str = Field(pattern=r"^VN-[A-Z]+-\d{2}$")
    hosts: list[str] = Field(min_length=1)
    justification: str = Field(min_length=10)
    owner: str = Field(min_length=3)
    expiry: date

    def covers(self, control: str, host: str) -> bool:
        return control == self.control and any(fnmatch.fnmatchcase(host, p) for p in self.hosts)

    def expired(self, today: date) -> bool:
        return today > self.expiry


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[Waiver] = Field(default_factory=list)


EXAMPLE = (
    "write `waivers:` as a list of entries with control (e.g. VN-SSH-03 or VN-SEG-01), "
    "hosts (a list), justification, owner and expiry (YYYY-MM-DD)"
)


def load_waivers(path: str | Path | None) -> list[Waiver]:
    if path is None:
        return []
    doc = YamlDocument(path)
    if doc.data is None:
        return []
    if not isinstance(doc.data, dict):
        raise ProvdcError("the file must be a mapping with a `waivers:` list", doc.path, 1,
                          fix=EXAMPLE)
    parsed = doc.validate(WaiverFile, EXAMPLE)
    known = known_ids()
    for i, w in enumerate(parsed.waivers):
        if w.control not in known:
            raise ProvdcError(
                f"unknown control {w.control}", doc.path, doc.line_of(("waivers", i, "control")),
                f"waivers[{i}].control", "use a control or check id of the catalogue (`provdc "
                "controls list` lists both, e.g. VN-SSH-03 or VN-SEG-01)",
            )
    return parsed.waivers


def find_waiver(waivers: list[Waiver], control: str, host: str) -> Waiver | None:
    """The waiver that applies; a valid one wins over an expired one."""
    matching = [w for w in waivers if w.covers(control, host)]
    matching.sort(key=lambda w: w.expiry, reverse=True)
    return matching[0] if matching else None
