"""Draw a Diagram as one self-contained SVG file (no scripts, no external fonts or images).

The layout is an arc diagram an engineer can read in a design document: the boxes stand in
one column (the outside world, the zones from the edge inwards, the TSLCD and its tiers);
each link is an arc on the column's right with a numbered badge, and the legend beside the
arcs lists, per number, the flows it carries. Every text comes from the topology file, so
all of it is escaped; characters XML cannot carry at all are dropped.
"""

from __future__ import annotations

import os
import re
import tempfile
import textwrap
from pathlib import Path
from xml.sax.saxutils import escape

from provdc.diagram.model import Diagram, Link, Node, ServiceBox, TierBox
from provdc.errors import ProvdcError

FONT = "DejaVu Sans, Noto Sans, Arial, sans-serif"
X0, TOP, WIDTH, GAP = 20, 78, 720, 18  # the column of boxes
PAD, SVC_GAP, SVC_PER_ROW = 14, 10, 3
LINE = 14  # text line height inside boxes
LANE0, LANE = 30, 18  # first arc lane's distance from the column, and between lanes
LEGEND_CHARS, LEGEND_LINE = 86, 15
ARC_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
               "#17becf")
ZONE_FILLS = ("#eef6ee", "#eef1fa", "#fbf6e9", "#f3eefa", "#eaf6f6", "#f6eef0")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def t(value: object) -> str:
    """Text from the topology, safe inside an SVG element."""
    return escape(_NOT_XML.sub("", str(value)))


def _text(x: float, y: float, value: object, size: int = 11, weight: str = "normal",
          anchor: str = "start", fill: str = "#222") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
            f'text-anchor="{anchor}" fill="{fill}">{t(value)}</text>')


def _wrap(value: str, chars: int, lines: int | None = None) -> list[str]:
    out = textwrap.wrap(value, chars) or [""]
    if lines is not None and len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: chars - 1] + "…"
    return out


# --- the boxes ----------------------------------------------------------------------------


def _svc_width() -> float:
    return (WIDTH - 2 * PAD - (SVC_PER_ROW - 1) * SVC_GAP) / SVC_PER_ROW


def _svc_lines(s: ServiceBox) -> tuple[list[str], str]:
    ports = ", ".join(map(str, s.ports)) or "no ports"
    meta = f"{s.slug} ×{s.instances} · level {s.level} · {ports}"
    return _wrap(s.name, int(_svc_width() / 6.6), 3), meta


def _tier_columns(n: int) -> int:
    return max(1, min(2, n))  # two abreast: a traffic class's line fits whole


def _tier_width(n: int) -> float:
    k = _tier_columns(n)
    return (WIDTH - 2 * PAD - (k - 1) * SVC_GAP) / k


def _tier_height(tier: TierBox) -> float:
    return LINE * (4 + len(tier.classes)) + 10


def _rows(items: list, per_row: int) -> list[list]:
    return [items[i:i + per_row] for i in range(0, len(items), per_row)]


def node_height(node: Node) -> float:
    if node.kind == "external":
        return 34
    inner = 0.0
    if node.kind == "zone":
        rows = _rows(node.services, SVC_PER_ROW) or [[]]
        inner = sum(_svc_row_height(r) + SVC_GAP for r in rows)
    else:
        inner = sum(max(_tier_height(x) for x in r) + SVC_GAP
                    for r in _rows(node.tiers, _tier_columns(len(node.tiers))))
    return 44 + inner


def _svc_row_height(row: list[ServiceBox]) -> float:
    if not row:
        return LINE
    return max(LINE * (len(_svc_lines(s)[0]) + 1) + 12 for s in row)


def _draw_node(node: Node, y: float, index: int) -> list[str]:
    h = node_height(node)
    if node.kind == "external":
        return [f'<g class="external"><rect x="{X0}" y="{y:.1f}" width="{WIDTH}" '
                f'height="{h}" rx="17" fill="#f2f2f2" stroke="#777" stroke-dasharray="5 3"/>',
                _text(X0 + PAD, y + 21, node.title, 13, "bold"),
                _text(X0 + PAD + 12 + 8 * len(node.title), y + 21, node.subtitle, 11,
                      fill="#555"), "</g>"]
    if node.kind == "zone":
        fill = "#fdecea" if node.internet_facing else ZONE_FILLS[index % len(ZONE_FILLS)]
        stroke = "#c0392b" if node.internet_facing else "#4a6b8a"
    else:
        fill, stroke = "#eaf2fb", "#2e6da4"
    tag = "  (Internet-facing)" if node.internet_facing else ""
    out = [f'<g class="{node.kind}"><rect x="{X0}" y="{y:.1f}" width="{WIDTH}" height="{h:.1f}" '
           f'rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>',
           _text(X0 + PAD, y + 19, node.title + tag, 14, "bold", fill=stroke),
           _text(X0 + PAD, y + 35, node.subtitle, 11, fill="#333")]
    out += _draw_services(node, y + 44) if node.kind == "zone" else _draw_tiers(node, y + 44)
    return [*out, "</g>"]


def _draw_services(node: Node, y: float) -> list[str]:
    if not node.services:
        return [_text(X0 + PAD, y + 10, "(no services)", 11, fill="#777")]
    out, w = [], _svc_width()
    for row in _rows(node.services, SVC_PER_ROW):
        h = _svc_row_height(row)
        for i, s in enumerate(row):
            x = X0 + PAD + i * (w + SVC_GAP)
            name, meta = _svc_lines(s)
            out.append(f'<g class="service"><title>{t(s.name)} ({t(s.slug)})</title>'
                       f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="4" '
                       f'fill="#ffffff" stroke="#666"/>')
            out += [_text(x + 8, y + 15 + j * LINE, line, 11, "bold")
                    for j, line in enumerate(name)]
            out += [_text(x + 8, y + 15 + len(name) * LINE, meta, 10, fill="#444"), "</g>"]
        y += h + SVC_GAP
    return out


def _draw_tiers(node: Node, y: float) -> list[str]:
    out, w = [], _tier_width(len(node.tiers))
    for row in _rows(node.tiers, _tier_columns(len(node.tiers))):
        h = max(_tier_height(x) for x in row)
        for i, tier in enumerate(row):
            x = X0 + PAD + i * (w + SVC_GAP)
            chars = int(w / 6.2)
            out.append(f'<g class="tier"><title>{t(tier.description)}</title>'
                       f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="4" '
                       f'fill="#ffffff" stroke="#2e6da4"/>')
            lines = [(f"tier {tier.name}", "bold"),
                     (f"{tier.sites} site{'' if tier.sites == 1 else 's'} · security level "
                      f"{tier.level}", "normal"),
                     (f"TSLCD link {tier.link_mbit:g} Mbit/s, shaped to {tier.shaped_mbit:g}",
                      "normal")]
            lines += [(f"{c.name}{' (default)' if c.default else ''}: {c.dscp}, "
                       f"{c.rate_mbit:g}–{c.ceil_mbit:g} Mbit/s", "normal") for c in tier.classes]
            for j, (line, weight) in enumerate(lines):
                size = 11 if j < 3 else 10
                out.append(_text(x + 8, y + 15 + j * LINE, _wrap(line, chars, 1)[0], size, weight))
            out.append("</g>")
        y += h + SVC_GAP
    return out


# --- the arcs and the legend --------------------------------------------------------------


def _attachments(links: list[Link], centre: dict[str, float], top: dict[str, float],
                 height: dict[str, float]) -> dict[tuple[int, str], float]:
    """Where each link meets each of its boxes: spread along the box's right edge, ordered by
    the other end's height so that arcs to boxes above leave from higher up."""
    ends: dict[str, list[tuple[float, int, str]]] = {}
    for link in links:
        ends.setdefault(link.a, []).append((centre[link.b] - 0.1, link.number, "a"))
        ends.setdefault(link.b, []).append((centre[link.a] + 0.1, link.number, "b"))
    at = {}
    for key, items in ends.items():
        items.sort()
        step = height[key] / (len(items) + 1)
        for i, (_, number, end) in enumerate(items, 1):
            at[(number, end)] = top[key] + i * step
    return at


def _lanes(spans: list[tuple[int, float, float]]) -> dict[int, int]:
    """Nest the arcs: shorter spans on inner lanes, no two overlapping on one lane."""
    lanes: list[list[tuple[float, float]]] = []
    out = {}
    for number, lo, hi in sorted(spans, key=lambda s: (s[2] - s[1], s[1])):
        for i, used in enumerate(lanes):
            if all(hi + 6 < a or lo - 6 > b for a, b in used):
                used.append((lo, hi))
                out[number] = i
                break
        else:
            lanes.append([(lo, hi)])
            out[number] = len(lanes) - 1
    return out


def _markers() -> list[str]:
    return ["<defs>"] + [
        f'<marker id="arrow{i}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{c}"/></marker>' for i, c in enumerate(ARC_COLOURS)] + ["</defs>"]


def _draw_arcs(links: list[Link], at: dict, lanes: dict[int, int]) -> list[str]:
    out = []
    right = X0 + WIDTH
    for link in links:
        y1, y2 = at[(link.number, "a")], at[(link.number, "b")]
        x = right + LANE0 + lanes[link.number] * LANE
        c = (link.number - 1) % len(ARC_COLOURS)
        start = f' marker-start="url(#arrow{c})"' if link.to_a else ""
        end = f' marker-end="url(#arrow{c})"' if link.to_b or link.inside else ""
        mid = (y1 + y2) / 2
        out.append(f'<g class="flow" data-link="{link.number}">'
                   f'<path d="M{right},{y1:.1f} H{x:.1f} V{y2:.1f} H{right}" fill="none" '
                   f'stroke="{ARC_COLOURS[c]}" stroke-width="1.6"{start}{end}/>'
                   f'<circle cx="{x:.1f}" cy="{mid:.1f}" r="9" fill="{ARC_COLOURS[c]}"/>'
                   + _text(x, mid + 4, link.number, 10, "bold", "middle", "#ffffff") + "</g>")
    return out


def _arrow(link: Link) -> str:
    if link.inside:
        return "inside"
    return {(True, True): "⇄", (True, False): "→", (False, True): "←"}[(link.to_b, link.to_a)]


def _draw_legend(d: Diagram, x: float) -> tuple[list[str], float]:
    y = TOP + 4
    out = [_text(x, y, "Luồng được phép / Allowed flows", 13, "bold"),
           _text(x, y + 16, "from the flow matrix; everything else is denied", 11, fill="#555")]
    y += 40
    for link in d.links:
        c = ARC_COLOURS[(link.number - 1) % len(ARC_COLOURS)]
        a, b = d.node(link.a).title, d.node(link.b).title
        head = f"{a} (inside)" if link.inside else f"{a} {_arrow(link)} {b}"
        out += [f'<circle cx="{x + 9}" cy="{y - 4}" r="9" fill="{c}"/>',
                _text(x + 9, y, link.number, 10, "bold", "middle", "#ffffff"),
                _text(x + 26, y, head, 12, "bold")]
        y += LEGEND_LINE
        for line in link.lines:
            for j, part in enumerate(_wrap(line, LEGEND_CHARS)):
                out.append(_text(x + 26 + (12 if j else 0), y, part, 11, fill="#333"))
                y += LEGEND_LINE
        y += 6
    return out, y


def render(d: Diagram) -> str:
    """The whole picture as SVG text."""
    top, height, centre = {}, {}, {}
    body: list[str] = []
    y = TOP
    for i, node in enumerate(d.nodes):
        top[node.key], height[node.key] = y, node_height(node)
        centre[node.key] = y + height[node.key] / 2
        body += _draw_node(node, y, i)
        y += height[node.key] + GAP
    column_bottom = y
    at = _attachments(d.links, centre, top, height)
    lanes = _lanes([(k.number, *sorted((at[(k.number, "a")], at[(k.number, "b")])))
                    for k in d.links])
    legend_x = X0 + WIDTH + LANE0 + (max(lanes.values(), default=0) + 1) * LANE + 24
    legend, legend_bottom = _draw_legend(d, legend_x)
    w = legend_x + LEGEND_CHARS * 6.4 + 40
    h = max(column_bottom, legend_bottom) + 10
    head = [_text(X0, 30, f"Sơ đồ mạng / Network diagram: {d.title}", 18, "bold"),
            _text(X0, 52, d.subtitle, 12, fill="#444")]
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
        f'viewBox="0 0 {w:.0f} {h:.0f}" font-family="{FONT}">',
        f"<title>{t(d.title)}</title>",
        *_markers(),
        f'<rect width="{w:.0f}" height="{h:.0f}" fill="#ffffff"/>',
        *head, *body, *_draw_arcs(d.links, at, lanes), *legend, "</svg>", ""])


# --- the file -----------------------------------------------------------------------------


def check_target(path: Path, field: str = "--diagram") -> Path:
    """Refuse a target the picture cannot be written to, before anything is computed."""
    fix = "name a new or existing .svg file in an existing directory, e.g. reports/network.svg"
    if path.suffix.lower() != ".svg":
        raise ProvdcError(f"{path} does not end in .svg", str(path), field=field, fix=fix)
    if path.is_dir():
        raise ProvdcError(f"{path} is a directory", str(path), field=field, fix=fix)
    parent = path.parent
    if not parent.is_dir():
        what = "does not exist" if not parent.exists() else "is not a directory"
        raise ProvdcError(f"the directory {parent} {what}", str(path), field=field, fix=fix)
    if not os.access(parent, os.W_OK):
        raise ProvdcError(f"the directory {parent} is not writable", str(path), field=field,
                          fix=fix)
    return path


def write_svg(path: Path, svg: str, field: str = "--diagram") -> None:
    """Write atomically: a reader never sees half a picture, a failure leaves the old one."""
    check_target(path, field)
    fd, tmp = tempfile.mkstemp(prefix=".diagram-", suffix=".svg", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(svg)
        os.chmod(tmp, 0o644)  # a document to share, not mkstemp's private 0600
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ProvdcError(f"cannot write the diagram ({exc.strerror})", str(path), field=field,
                          fix="name a writable .svg file") from None
