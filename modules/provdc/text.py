"""Vietnamese text helpers."""

from __future__ import annotations

import re
import unicodedata


def slugify(text: str) -> str:
    """'Xã Hồ Đắc Kiện' -> 'xa-ho-dac-kien' (đ is not a combining mark, so map it first)."""
    text = text.replace("Đ", "D").replace("đ", "d")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")
