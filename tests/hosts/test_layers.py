"""The layering of docs/architecture.md, read from the package's own imports (AST)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "modules" / "provdc"
BASE = {"errors", "console", "paths", "text", "yamlsource"}
FEATURES = {"controls", "segmentation", "qos", "soc", "cloud", "lab", "backup", "diagram"}
BELOW = BASE | {"topology", "hosts"}
# package -> what it may import (besides itself); the sideways arrows carry their reason at
# the import and in docs/architecture.md
ALLOWED = {
    **{b: BASE for b in BASE},
    "topology": BASE,
    "hosts": BASE | {"topology"},
    **{f: BELOW for f in FEATURES},
    "audit": BELOW | FEATURES,
    "pyinfra_engine": BELOW | FEATURES,
    "collection": BELOW | FEATURES,
    "dossier": BELOW | FEATURES | {"audit"},
    "cli": BELOW | FEATURES | {"audit", "pyinfra_engine", "collection", "dossier"},
    "__main__": {"cli"},
}
NFT_KIND = "controls/kinds/nftables_input/__init__.py"
SIDEWAYS = {(NFT_KIND, "segmentation"), ("segmentation/verify.py", "lab")}


def top_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n.split(".")[1] for n in names if n.startswith("provdc.")}
    return out


def test_every_import_follows_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = top_of(path)
        rel = str(path.relative_to(PACKAGE))
        for target in imports(path) - {me}:
            if target not in ALLOWED.get(me, set()) and (rel, target) not in SIDEWAYS:
                wrong.append(f"{rel} imports provdc.{target}")
    assert wrong == [], "\n".join(wrong)


def test_the_check_sees_imports():
    """The reader finds a known arrow (else the test above could pass on nothing)."""
    assert "topology" in imports(PACKAGE / "hosts" / "inventory.py")
    assert "segmentation" in imports(PACKAGE / NFT_KIND)
