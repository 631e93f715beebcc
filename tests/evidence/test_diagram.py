"""`provdc plan --diagram FILE.svg`: the picture a browser shows, checked in headless Chromium
against the topology read with plain YAML (not provdc's loader)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from provdc.cli import app

ROOT = Path(__file__).resolve().parents[2]
SOCTRANG = ROOT / "inventory/soctrang/topology.yml"  # hand-written
CANTHO = ROOT / "inventory/cantho-merged/topology.yml"  # merged from the former provinces
SVG = "{http://www.w3.org/2000/svg}"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                                    "(quickstart.sh installs it for the tests)")


def provdc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provdc", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def provdc_here(*args: str) -> subprocess.CompletedProcess:
    """The command in this process, for the refusals (no picture to open): same command tree,
    error handling and exit codes as the entry point, without its start-up."""
    result = CliRunner().invoke(app, list(args))
    assert isinstance(result.exception, SystemExit | None), result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox",
                           "--hide-scrollbars", *args], capture_output=True, text=True,
                          timeout=120)


def browser_texts(svg: Path, tag: str = "text") -> list[str]:
    """The document as Chromium parsed it (an XML error becomes an HTML error page), read
    back with the standard library's XML parser: every <text> (or other tag) element's
    content."""
    dom = chromium("--dump-dom", svg.as_uri()).stdout
    assert "parsererror" not in dom, dom[:600]
    root = ET.fromstring(dom)
    assert root.tag == f"{SVG}svg", root.tag
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}{tag}")]


def png_colours(png: Path) -> int:
    """How many distinct byte values the decoded image data holds: a blank page has a
    handful (one colour plus filter bytes), a drawing many."""
    data, pos, idat = png.read_bytes(), 8, b""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(idat)))


@needs_chromium
@pytest.mark.parametrize("topology", [SOCTRANG, CANTHO], ids=["soctrang", "cantho-merged"])
def test_diagram_renders_every_zone_service_and_tier(tmp_path, topology):
    out = tmp_path / "network.svg"
    proc = provdc("plan", str(topology), "--diagram", str(out), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lstrip().startswith("{")  # the plan's JSON stays clean on stdout

    texts = browser_texts(out)
    doc = yaml.safe_load(topology.read_text(encoding="utf-8"))
    zone_heads = {t.split()[0] for t in texts if t}
    for zone in doc["datacenter"]["zones"]:
        assert zone["name"] in zone_heads, f"zone {zone['name']} not drawn"
    joined = "\n".join(texts)
    for service in doc["services"]:
        assert f"{service['slug']} ×{service.get('instances', 1)}" in joined
    for tier in doc["tiers"]:
        assert f"tier {tier['name']}" in texts
        assert f"TSLCD link {tier['bandwidth']['link_mbit']:g} Mbit/s" in joined
    # every flow of the matrix is in the legend, by its destination and ports
    for flow in doc["flows"]:
        ports = flow.get("proto", "tcp") + (
            "/" + ",".join(map(str, flow["ports"])) if flow.get("ports") else "")
        dst = flow["to"].split(":", 1)
        target = dst[1] if dst[0] in ("service", "external") else f"{dst[0]} {dst[1]}"
        assert f"→ {target} {ports}" in joined, flow

    png = tmp_path / "network.png"
    chromium(f"--screenshot={png}", "--window-size=1600,1400", out.as_uri())
    assert png_colours(png) > 50


@needs_chromium
def test_names_from_the_file_are_escaped(tmp_path):
    hostile = 'SOC <collector> & "Co" </text><script>alert(1)</script>\u0001'
    text = SOCTRANG.read_text(encoding="utf-8").replace(
        'name: "SOC collector"', "name: " + yaml.safe_dump(hostile).splitlines()[0])
    assert hostile[:10] in yaml.safe_load(text)["services"][6]["name"]
    topology = tmp_path / "topology.yml"
    topology.write_text(text, encoding="utf-8")
    out = tmp_path / "network.svg"
    proc = provdc("plan", str(topology), "--diagram", str(out))
    assert proc.returncode == 0, proc.stderr
    # the box's tooltip holds the whole name verbatim (the box wraps it); nothing executed
    titles = browser_texts(out, "title")
    assert hostile.replace("\u0001", "") + " (soc-collector)" in titles
    assert "<script" not in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("target, words", [
    ("missing-dir/network.svg", "does not exist"),
    (".", "does not end in .svg"),
    ("network.png", "does not end in .svg"),
    ("a-dir.svg", "is a directory"),
    ("a-file/network.svg", "is not a directory"),
])
def test_bad_diagram_target_is_one_paragraph(tmp_path, target, words):
    (tmp_path / "a-dir.svg").mkdir()
    (tmp_path / "a-file").write_text("not a directory\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = provdc_here("plan", str(SOCTRANG), "--diagram", str(tmp_path / target))
    assert proc.returncode == 2
    assert proc.stdout == ""  # refused before the plan is printed
    message = proc.stderr.strip()
    assert "Traceback" not in message and "\n\n" not in message
    assert words in message and "--diagram" in message and "Fix:" in message
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_invalid_topology_writes_no_diagram(tmp_path):
    topology = tmp_path / "topology.yml"
    topology.write_text(SOCTRANG.read_text(encoding="utf-8").replace(
        "zone: DB, instances: 2", "zone: NOWHERE, instances: 2"), encoding="utf-8")
    out = tmp_path / "network.svg"
    proc = provdc_here("plan", str(topology), "--diagram", str(out))
    assert proc.returncode == 2 and "NOWHERE" in proc.stderr
    assert not out.exists()
