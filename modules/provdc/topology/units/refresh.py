"""Rebuild gso-units.json, the vendored extract of the official administrative unit lists.

    python -m provdc.topology.units.refresh            (downloads the pinned wheel with pip)
    python -m provdc.topology.units.refresh --wheels DIR

provdc needs only the data of one package, vietnamadminunits (MIT), never its code at run time,
so the extract is vendored (with LICENSES.txt) rather than depended on. Its dataset holds:

- the 34 provinces and their 3,321 commune-level units after the 1 July 2025 reform, with the
  GSO codes of the official catalogue (table admin_units);
- the 63 provinces, their districts and communes as they stood just before the reform (table
  admin_units_legacy, the list its converter maps from);
- the converter itself: which former commune became which new one (a commune split between
  several new ones lists them all, the one its converter picks by default first).

A unit's type is read from the type word its official name starts with ('Phường Tân Lộc' is a
phuong), not from the dataset's type column: that column contradicts the name for a few units,
and the official catalogue agrees with the name (the refresh prints each such unit).

The converter names new units by an accent-free key, not by code; keys are resolved against the
2025 list of the same new province. A new province whose keys do not all resolve to exactly one
unit gets no converter entry (the refresh prints it): a wrong mapping would make the migration
plan carry an agency's prefix to the wrong commune.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path

PINS = {"vietnamadminunits": "1.0.4"}
OUT = Path(__file__).with_name("gso-units.json")
TYPE_SLUGS = {"tỉnh": "tinh", "thành phố trung ương": "thanh-pho", "thành phố": "thanh-pho",
              "quận": "quan", "huyện": "huyen", "thị xã": "thi-xa", "xã": "xa", "phường": "phuong",
              "thị trấn": "thi-tran", "đặc khu": "dac-khu"}


def key(text: str) -> str:
    """The converter's accent-free key: 'Phường Cái Khế' -> 'phuongcaikhe'."""
    text = text.replace("Đ", "D").replace("đ", "d")
    text = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in text if not unicodedata.combining(c))
                  .lower())


def clean(name: str) -> str:
    # the sources carry stray double spaces ('Xã  Phú Hữu') and decomposed tone marks
    return " ".join(unicodedata.normalize("NFC", name).split())


def download(dest: Path) -> dict[str, Path]:
    specs = [f"{name}=={version}" for name, version in PINS.items()]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest),
                    *specs], check=True)
    return wheels_in(dest)


def wheels_in(folder: Path) -> dict[str, Path]:
    found = {}
    for name, version in PINS.items():
        stem = name.replace("-", "_")
        matches = sorted(folder.glob(f"{stem}-{version}-*.whl"))
        if not matches:
            sys.exit(f"refresh: {folder} has no {stem}-{version} wheel (the pinned version)")
        found[name] = matches[0]
    return found


def split_type(name_with_type: str) -> tuple[str, str]:
    """'Thành phố Cần Thơ' -> ('thanh-pho', 'Cần Thơ'); 'Đặc khu Côn Đảo' -> ('dac-khu', ...)."""
    name = clean(name_with_type)
    words = [w for w in TYPE_SLUGS if name.lower().startswith(w + " ")]
    if not words:
        sys.exit(f"refresh: '{name}' does not start with a type word ({', '.join(TYPE_SLUGS)})")
    word = max(words, key=len)
    return TYPE_SLUGS[word], name[len(word) + 1:]


def _rows(db: Path, query: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def new_units(rows: list[tuple]) -> tuple[dict, list[str]]:
    """The 2025 list, and the units whose type column contradicts their name."""
    out: dict = {}
    contradicted = []
    for pc, prov, wc, ward, wtype in rows:
        p_type, p_name = split_type(prov)
        p = out.setdefault(pc, {"name": p_name, "type": p_type, "communes": []})
        w_type = split_type(ward)[0]
        if TYPE_SLUGS[wtype.lower()] != w_type:
            contradicted.append(f"{wc} {clean(ward)} ({wtype})")
        p["communes"].append([wc, clean(ward), w_type])
    for p in out.values():
        p["communes"].sort()
    return dict(sorted(out.items())), contradicted


def former_units(rows: list[tuple]) -> dict:
    out: dict = {}
    for pc, prov, dc, dist, dtype, wc, ward, wtype, *_ in rows:
        p_type, p_name = split_type(prov)
        p = out.setdefault(pc, {"name": p_name, "type": p_type, "districts": {}})
        d = p["districts"].setdefault(dc, [dc, clean(dist), TYPE_SLUGS[dtype.lower()], []])
        if wc:  # island districts have no communes
            d[3].append([wc, clean(ward), TYPE_SLUGS[wtype.lower()]])
    for p in out.values():
        p["districts"] = sorted(p["districts"].values())
        for d in p["districts"]:
            d[3].sort()
    return out


def converter(conv: dict, rows: list[tuple], new: dict) -> tuple[dict, list[str]]:
    old_code = {f"{r[8]}_{r[9]}_{r[10]}": r[5] for r in rows if r[5]}
    by_name = {key(f"{'Thành phố ' if v['type'] == 'thanh-pho' else 'Tỉnh '}{v['name']}"): c
               for c, v in new.items()}
    out, skipped = {}, []
    for prov_key, wards in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        code = by_name[prov_key]
        keys: dict[str, list[str]] = {}
        for c, name, _ in new[code]["communes"]:
            keys.setdefault(key(name), []).append(c)
        mapping, ok = {}, True
        for new_key, olds in wards.items():
            target = keys.get(key(new_key), [])
            ok &= len(target) == 1 and all(o in old_code for o in olds)
            for o in olds:
                mapping.setdefault(old_code.get(o, o), []).extend(target)
        for o, choices in conv["DICT_PROVINCE_WARD_DIVIDED"].get(prov_key, {}).items():
            ranked = sorted(choices, key=lambda w: not w["isDefaultNewWard"])
            targets = [keys.get(key(w["newWardKey"]), [None])[0] for w in ranked]
            ok &= None not in targets and o in old_code
            mapping[old_code.get(o, o)] = targets
        if ok:
            out[code] = dict(sorted(mapping.items()))
        else:
            skipped.append(new[code]["name"])
    return out, skipped


NEW_QUERY = "SELECT provinceCode, province, wardCode, ward, wardType FROM admin_units"
LEGACY_QUERY = ("SELECT provinceCode, province, districtCode, district, districtType, wardCode, "
                "ward, wardType, provinceKey, districtKey, wardKey FROM admin_units_legacy")


def build(wheels: dict[str, Path]) -> tuple[dict, list[str], list[str]]:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheels["vietnamadminunits"]) as z:
        z.extract("vietnamadminunits/data/dataset.db", tmp)
        db = Path(tmp) / "vietnamadminunits/data/dataset.db"
        new, contradicted = new_units(_rows(db, NEW_QUERY))
        rows = _rows(db, LEGACY_QUERY)
        conv = json.loads(z.read("vietnamadminunits/data/converter_2025.json"))
    mapping, skipped = converter(conv, rows, new)
    doc = {
        "sources": {name: {"version": v, "licence": "LICENSES.txt"} for name, v in PINS.items()},
        "former": former_units(rows),
        "2025": new,
        "converter": mapping,
    }
    return doc, skipped, contradicted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, help="a folder holding the pinned wheel")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = wheels_in(args.wheels) if args.wheels else download(Path(tmp))
        doc, skipped, contradicted = build(wheels)
    OUT.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n",
                   encoding="utf-8")
    print(f"wrote {OUT}: {len(doc['former'])} former provinces, {len(doc['2025'])} provinces "
          f"after the reform, converter for {len(doc['converter'])}")
    if contradicted:
        print("type taken from the name, not the type column: " + ", ".join(contradicted))
    if skipped:
        print("no converter (its new-unit names do not resolve one to one): " + ", ".join(skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
