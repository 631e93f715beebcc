"""`provdc dossier SYSTEM`: the security-level proposal dossier of one information system."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from provdc.console import FORMAT, Format, emit, fail, out, plain
from provdc.errors import ProvdcError
from provdc.paths import output_dir


class Lang(StrEnum):
    vi = "vi"
    en = "en"


def register(app: typer.Typer) -> None:
    app.command("dossier")(dossier)


def dossier(
    system: str = typer.Argument(..., help="a service slug (lgsp) or a system the services "
                                 "name with `system:`"),
    topology: Path = typer.Option(..., "--topology", "-t", help="the province topology YAML"),
    audit: Path = typer.Option(None, "--audit", help="a report.json of `provdc audit`: the "
                               "requirements' status and evidence"),
    out_dir: Path = typer.Option(Path("reports/dossier"), "--out", help="where the files go"),
    lang: Lang = typer.Option(Lang.vi, "--lang", help="vi (default) or en"),
    format: Format = FORMAT,
) -> None:
    """Write the security-level proposal dossier (Decree 85/2016 Art. 15) of one information
    system: description, design, justification of the level, the security plan with every
    requirement of the level mapped to the controls and checks (and their audit status), the
    expert opinion; as .docx and HTML, with the network diagram as SVG."""
    from provdc.audit.diff import load_report
    from provdc.dossier import build, render
    from provdc.topology.validate import load

    try:
        output_dir(out_dir, "--out")
        report = load_report(audit, "--audit") if audit is not None else None
        loaded = load(topology)
        doc = build.build(loaded, system, report, lang.value)
        files = render.write(doc, out_dir)
    except ProvdcError as exc:
        fail(exc)
    data = {"system": system, "level": doc.level, "lang": doc.lang,
            "files": [str(f) for f in files], **doc.summary}
    emit(format, data, lambda: out.print(
        f"dossier: {plain(system)}, level {doc.level}: {doc.summary['requirements']} "
        f"requirements ({doc.summary['mapped']} checked, {doc.summary['operator_only']} for "
        f"the operator); {plain(', '.join(map(str, files)))}", highlight=False,
        soft_wrap=True))
