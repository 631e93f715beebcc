"""`provdc plan --against`: a prefix of the previous plan never moves silently."""

from __future__ import annotations

import json

import pytest
from merger_inputs import FORMER, NEW, REFERENCE, one_paragraph_error

from provdc.topology import skeleton
from provdc.topology.validate import load


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """Sóc Trăng regenerated from the newer official list without --keep: a merged ward
    shifts its siblings' slots (the renumbering nothing warned about before)."""
    path = tmp_path_factory.mktemp("guard") / "soc-trang.yml"
    path.write_text(skeleton.generate(skeleton.Options("94", "former", "172.16.92.0/22")),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def previous_json(tmp_path_factory):
    from typer.testing import CliRunner

    from provdc.cli import app

    result = CliRunner().invoke(app, ["plan", str(REFERENCE), "-f", "json"])
    assert result.exit_code == 0, result.output
    path = tmp_path_factory.mktemp("guard") / "previous.json"
    path.write_text(result.stdout, encoding="utf-8")
    return path


def test_moving_prefixes_is_refused_and_names_the_sites(invoke, regenerated, previous_json):
    text = one_paragraph_error(invoke("plan", regenerated, "--against", previous_json))
    assert "6 prefix(es) of the previous plan would move" in text
    assert "soc-trang/phuong-4 10.94.72.0/24 -> 10.94.71.0/24" in text
    assert "soc-trang/phuong-9 10.94.74.0/24 -> released" in text
    assert "--allow-renumber" in text


def test_the_same_against_a_topology_file(invoke, regenerated):
    text = one_paragraph_error(invoke("plan", regenerated, "--against", REFERENCE))
    assert "would move" in text


def test_allow_renumber_accepts_and_still_lists(invoke, regenerated, previous_json):
    result = invoke("plan", regenerated, "--against", previous_json, "--allow-renumber",
                    "-f", "json")
    assert result.exit_code == 0, result.output
    moves = json.loads(result.stdout)["moves"]
    assert len(moves) == 6 and {"former", "prefix", "to"} == set(moves[0])
    assert "renumbering accepted" in result.stderr


def test_a_migration_section_that_lists_the_moves_is_accepted(invoke, regenerated, tmp_path):
    lines = ["migration:", "  sources: [soc-trang]", "  renumbered:"]
    for slug, to in (("phuong-1-soc-trang", "phuong-1-soc-trang"), ("phuong-4", "phuong-4"),
                     ("phuong-3-soc-trang", "phuong-3-soc-trang"),
                     ("phuong-10", "phuong-10")):
        lines.append(f"    - {{former: soc-trang/{slug}, to: {to}, reason: list order}}")
    lines += ["  retired:",
              "    - {former: soc-trang/phuong-9, reason: merged into Phường 1}",
              "    - {former: soc-trang/xa-hoa-tu-ii, reason: spelt Hòa Tú 2 now}"]
    path = tmp_path / "listed.yml"
    path.write_text(regenerated.read_text(encoding="utf-8") + "\n".join(lines) + "\n",
                    encoding="utf-8")
    result = invoke("plan", path, "--against", REFERENCE, "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["moves"] == []


def test_keep_generates_a_topology_the_guard_accepts_but_for_the_merged_ward(invoke):
    text = one_paragraph_error(invoke("plan", FORMER[2], "--against", REFERENCE))
    assert "1 prefix(es)" in text and "soc-trang/phuong-1-soc-trang 10.94.71.0/24 -> " \
                                      "released" in text


def test_the_merged_city_moves_nothing_of_its_former_provinces(invoke):
    args = [a for p in FORMER for a in ("--against", p)]
    result = invoke("plan", NEW, *args, "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["moves"] == []


def test_an_unlisted_former_data_centre_is_a_move(invoke, tmp_path):
    text = NEW.read_text(encoding="utf-8")
    old = "    - {former: soc-trang/datacenter, reason: its data centre is consolidated into " \
          "that of Thành phố Cần Thơ}\n"
    assert old in text
    path = tmp_path / "topology.yml"
    path.write_text(text.replace(old, ""), encoding="utf-8")
    out = one_paragraph_error(invoke("plan", path, "--against", FORMER[2]))
    assert "soc-trang/zone:APP 10.94.2.0/24 -> 10.92.2.0/24" in out


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot read the previous plan"),
    ('{"zones": []}', "not a plan: it has no list of sites"),
    ('{"sites": [{"slug": "x", "cidr": "10.0.0.1/24"}]}', "a site needs a slug and a CIDR"),
])
def test_a_previous_plan_that_is_not_one(invoke, tmp_path, content, message):
    path = tmp_path / "previous.json"
    path.write_text(content, encoding="utf-8")
    assert message in one_paragraph_error(invoke("plan", NEW, "--against", path))


def test_the_guard_is_silent_without_against(invoke):
    result = invoke("plan", REFERENCE, "-f", "json")
    assert result.exit_code == 0 and "moves" not in json.loads(result.stdout)
    assert load(REFERENCE).topology.migration is None
