"""Synthetic provinces for benchmarks and property tests: same shape as a real one, any size."""

from __future__ import annotations

from pathlib import Path

import yaml


def synthetic_province(districts: int, communes_per_district: int, *, template: Path) -> dict:
    """A three-tier province under 10.0.0.0/8: one /16 per district, one /24 per commune.

    Zones, tiers' classes, services and flows are borrowed from `template`, a real province's
    topology with province, district and commune tiers (the Sóc Trăng sample), so the
    synthetic file exercises every check a real one does.
    """
    if not 1 <= districts <= 250 or not 1 <= communes_per_district <= 254:
        raise ValueError("districts must be 1-250 and communes_per_district 1-254")
    base = yaml.safe_load(Path(template).read_text(encoding="utf-8"))
    classes = {t["name"]: t["bandwidth"] for t in base["tiers"]}
    doc = {
        "version": 1,
        "province": {"name": "Tỉnh Thử Nghiệm", "slug": "thu-nghiem", "gso_code": "99",
                     "lan_supernet": "10.0.0.0/8", "tslcd_wan": "100.64.0.0/15"},
        "datacenter": {**base["datacenter"], "block": "10.0.0.0/20"},
        "tiers": [
            {"name": "province", "block_prefix_len": 8, "lan_prefix_len": 24, "lan_slot": 16,
             "security_level": 3, "bandwidth": classes["province"]},
            {"name": "district", "block_prefix_len": 16, "lan_prefix_len": 24,
             "security_level": 2, "bandwidth": classes["district"]},
            {"name": "commune", "block_prefix_len": 24, "lan_prefix_len": 24,
             "security_level": 2, "bandwidth": classes["commune"]},
        ],
        "sites": [{"name": "Tỉnh Thử Nghiệm", "slug": "thu-nghiem", "tier": "province",
                   "slot": 0}],
        "services": base["services"],
        "flows": [f for f in base["flows"] if not f["from"].startswith("tier:department")],
    }
    for d in range(districts):
        dslug = f"huyen-{d + 1}"
        doc["sites"].append({"name": f"Huyện Số {d + 1}", "slug": dslug, "tier": "district",
                             "parent": "thu-nghiem", "slot": d + 1,
                             "gso_code": f"{1000 + d}"})
        for c in range(communes_per_district):
            doc["sites"].append({"name": f"Xã Số {c + 1} huyện {d + 1}",
                                 "slug": f"xa-{d + 1}-{c + 1}", "tier": "commune",
                                 "parent": dslug, "slot": c + 1,
                                 "gso_code": f"{10000 + d * 256 + c}"})
    return doc


def write_synthetic(path: Path, districts: int, communes_per_district: int, *,
                    template: Path) -> Path:
    doc = synthetic_province(districts, communes_per_district, template=template)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
