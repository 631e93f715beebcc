"""The dossier as files: a Word document (what appraisal bodies exchange), an HTML page and the
network diagram's SVG beside them (a .docx cannot embed SVG; the HTML embeds it)."""

from __future__ import annotations

import base64
import io
import os
import re
import tempfile
from pathlib import Path

import jinja2
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.shared import Mm, Pt

from provdc.dossier.document import Dossier, Figure, Para, Table
from provdc.errors import ProvdcError

TEMPLATES = Path(__file__).with_name("templates")
# XML 1.0 cannot carry these; python-docx refuses them and a browser stops at them
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: object) -> str:
    return _NOT_XML.sub("", str(text))


def html(d: Dossier) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             finalize=clean, trim_blocks=True, lstrip_blocks=True)
    env.filters["b64"] = lambda s: base64.b64encode(s.encode("utf-8")).decode("ascii")
    return env.get_template("dossier.html.j2").render(d=d)


def docx(d: Dossier) -> bytes:
    doc = Document()
    doc.core_properties.title = clean(f"{d.title}: {d.system}")
    doc.core_properties.language = "vi-VN" if d.lang == "vi" else "en-GB"
    doc.styles["Normal"].font.name = "Times New Roman"  # the administrative documents' face
    doc.styles["Normal"].font.size = Pt(11)
    page = doc.sections[0]  # A4 landscape: the requirement table has seven columns
    page.orientation = WD_ORIENT.LANDSCAPE
    page.page_width, page.page_height = Mm(297), Mm(210)
    page.left_margin = page.right_margin = Mm(20)
    doc.add_heading(clean(d.title), 0)
    doc.add_paragraph().add_run(clean(d.subtitle)).bold = True
    for note in d.notes:
        doc.add_paragraph(clean(note)).runs[0].italic = True
    for part in d.parts:
        doc.add_heading(clean(f"{part.number}. {part.title}"), 1)
        for block in part.blocks:
            _block(doc, block)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def _block(doc, block) -> None:
    if isinstance(block, Para):
        if block.kind == "h":
            doc.add_heading(clean(block.text), 2)
        else:
            p = doc.add_paragraph(clean(block.text))
            if block.kind == "note":
                p.runs[0].italic = True
    elif isinstance(block, Table):
        table = doc.add_table(rows=1, cols=len(block.headers))
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, block.headers, strict=True):
            cell.text = ""
            cell.paragraphs[0].add_run(clean(text)).bold = True
        for row in block.rows:
            cells = table.add_row().cells
            for cell, text in zip(cells, row, strict=True):
                cell.text = clean(text)
        doc.add_paragraph()
    elif isinstance(block, Figure):
        doc.add_paragraph(clean(f"{block.caption}: {block.file}")).runs[0].italic = True


def write(d: Dossier, out_dir: Path) -> list[Path]:
    """Write the three files, each atomically, after all of them rendered: a failure in
    rendering writes nothing."""
    stem = f"dossier-{d.system}-{d.lang}"
    figure = next(b for p in d.parts for b in p.blocks if isinstance(b, Figure))
    files = {out_dir / f"{stem}.docx": docx(d), out_dir / f"{stem}.html": html(d).encode(),
             out_dir / figure.file: figure.svg.encode()}
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        _atomic(path, data)
    return list(files)


def _atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".dossier-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ProvdcError(f"cannot write {path.name} ({exc.strerror})", str(path),
                          field="--out", fix="name a writable directory") from None
