"""The official administrative unit lists (vendored in gso-units.json; refresh.py rebuilds it).

Two lists: `former`, the province/district/commune units just before the 1 July 2025 reform
(three tiers), and `2025`, the provinces and their commune-level units after it (two tiers);
plus the converter from former communes to new ones. Everything that reads them goes through
this module, so a code that is not in the data is refused in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from provdc.errors import ProvdcError
from provdc.text import slugify

DATA = Path(__file__).with_name("gso-units.json")
ListName = Literal["former", "2025"]
LISTS: tuple[ListName, ...] = ("former", "2025")
TYPE_WORDS = ("Thành phố ", "Thị xã ", "Thị trấn ", "Huyện ", "Quận ", "Phường ", "Xã ",
              "Đặc khu ")


@dataclass(frozen=True)
class Unit:
    code: str
    name: str  # with its type: 'Phường Cái Khế', 'Huyện Kế Sách'
    type: str  # GSO type slug: xa, phuong, thi-tran, dac-khu, huyen, quan, thi-xa, thanh-pho
    parent: str | None = None  # the district's code (former list) or the province's


@dataclass(frozen=True)
class ProvinceUnits:
    """One province of one list: its districts (former list only) and communes."""

    list_name: ListName
    code: str
    name: str  # without its type: 'Cần Thơ'
    type: str  # tinh or thanh-pho
    districts: tuple[Unit, ...] = ()
    communes: tuple[Unit, ...] = ()
    by_code: dict[str, Unit] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name_with_type(self) -> str:
        return ("Thành phố " if self.type == "thanh-pho" else "Tỉnh ") + self.name


@cache
def _data() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def province(code: str, list_name: ListName) -> ProvinceUnits:
    """A province of a list by GSO code; an unknown code is a user error naming the valid ones."""
    raw = _data()[list_name].get(code)
    if raw is None:
        known = ", ".join(f"{c} {p['name']}" for c, p in sorted(_data()[list_name].items()))
        raise ProvdcError(
            f"there is no province with GSO code '{code}' in the {list_name} unit list",
            field="gso_code", fix=f"use one of: {known}")
    return _build(code, list_name)


@cache
def _build(code: str, list_name: ListName) -> ProvinceUnits:
    raw = _data()[list_name][code]
    if list_name == "2025":
        districts: list[Unit] = []
        communes = [Unit(c, n, t, code) for c, n, t in raw["communes"]]
    else:
        districts = [Unit(dc, dn, dt, code) for dc, dn, dt, _ in raw["districts"]]
        communes = [Unit(c, n, t, dc) for dc, _, _, kids in raw["districts"] for c, n, t in kids]
    units = ProvinceUnits(list_name, code, raw["name"], raw["type"], tuple(districts),
                          tuple(communes))
    units.by_code.update({u.code: u for u in (*districts, *communes)})
    return units


def converter(new_province_code: str) -> dict[str, tuple[str, ...]] | None:
    """Former commune code -> the new communes it went to (the default one first), for a new
    province whose mapping resolved one to one (None otherwise)."""
    raw = _data()["converter"].get(new_province_code)
    return None if raw is None else {old: tuple(new) for old, new in raw.items()}


def sources() -> dict[str, dict]:
    return dict(_data()["sources"])


def short_name(name: str) -> str:
    """'Thành phố Sóc Trăng' -> 'Sóc Trăng' (what duplicate commune names are told apart by)."""
    return next((name[len(w):] for w in TYPE_WORDS if name.startswith(w)), name)


def slugs(communes, districts_by_code) -> dict[str, str]:
    """slugify(name), told apart by the district's short name when two share a name."""
    names: dict[str, int] = {}
    for c in communes:
        names[slugify(c.name)] = names.get(slugify(c.name), 0) + 1
    out = {}
    for c in communes:
        slug = slugify(c.name)
        if names[slug] > 1:
            district = districts_by_code.get(c.parent)
            slug += "-" + (slugify(short_name(district.name)) if district else c.code)
        out[c.code] = slug
    return out
