"""The dossier as a plain document (parts of headings, paragraphs, tables and one figure),
so that the .docx and the HTML renderers draw the same content and neither decides any."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Para:
    text: str
    kind: str = "p"  # p | note (a remark about certainty or a gap) | h (a sub-heading)


@dataclass
class Table:
    key: str  # what the table is: "general", "requirements"... (tests find it by it)
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    svg: str
    file: str  # the SVG written beside the dossier (a .docx cannot hold SVG)
    caption: str


Block = Para | Table | Figure


@dataclass
class Part:
    number: int
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Part:
        self.blocks.extend(blocks)
        return self


@dataclass
class Dossier:
    lang: str
    system: str
    level: int
    title: str
    subtitle: str
    notes: list[str]
    parts: list[Part]
    summary: dict
