"""The backup policy in the topology: hand-written mistakes each get one paragraph and exit 2;
the sample's effective policy (retention, destinations, vault lock) follows the level table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from provdc.cli import app
from provdc.topology import backup
from provdc.topology.validate import load

ROOT = Path(__file__).resolve().parents[2]
CASES = yaml.safe_load((Path(__file__).parent / "policy_errors.yml").read_text(encoding="utf-8"))
BASE = (ROOT / CASES["base"]).read_text(encoding="utf-8")


def broken(case: dict, tmp_path: Path) -> tuple[Path, str]:
    text = BASE
    for old, new in case["replace"]:
        assert text.count(old) == 1, f"{case['name']}: {old!r} is not in the sample once"
        text = text.replace(old, new)
    path = tmp_path / f"{case['name']}.yml"
    path.write_text(text, encoding="utf-8")
    return path, text


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_each_policy_mistake_is_one_paragraph(case, tmp_path):
    path, text = broken(case, tmp_path)
    result = CliRunner().invoke(app, ["validate", str(path)])
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"{case['field']}:" in output
    assert case["message"] in output
    assert "Fix:" in output
    if case.get("fix"):
        assert case["fix"] in output
    line = next(n for n, row in enumerate(text.splitlines(), 1) if case["line_of"] in row)
    assert f"{path}, line {line}:" in output


def test_real_process_exits_2_without_traceback(tmp_path):
    path, _ = broken(CASES["cases"][0], tmp_path)
    proc = subprocess.run([sys.executable, "-m", "provdc", "validate", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "retention_days" in proc.stderr


def test_sample_effective_policy():
    topo = load(ROOT / "inventory/soctrang/topology.yml").topology
    by_slug = {s.slug: s for s in backup.backed_up(topo)}
    assert set(by_slug) == {"qlvb", "mail", "shared-db", "soc-collector"}
    # level 3 defaults to its minimum and goes off-site; level 2 stays in the BACKUP zone
    assert backup.retention_days(by_slug["qlvb"]) == 90
    assert backup.destinations(by_slug["qlvb"]) == ["backup-zone", "offsite"]
    assert backup.retention_days(by_slug["mail"]) == 30
    assert backup.destinations(by_slug["mail"]) == ["backup-zone"]
    # a longer retention than the level's is kept, and sets the vault's lock
    assert backup.retention_days(by_slug["soc-collector"]) == 120
    assert backup.vault_retention_days(topo) == 120


def test_level_table_is_monotonic():
    rows = [backup.TABLE[n] for n in range(1, 6)]
    assert [r.retention_days for r in rows] == sorted(r.retention_days for r in rows)
    assert [r.drill_days for r in rows] == sorted((r.drill_days for r in rows), reverse=True)
    assert all(r.offsite for r in rows if r.level >= 3)
