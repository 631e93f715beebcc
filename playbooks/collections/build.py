"""Build the provdc.idc collection from this checkout, and optionally the provdc wheel and
the execution environment's build context.

    python playbooks/collections/build.py [--out DIR] [--wheel] [--ee] [--repository URL]
    python playbooks/collections/build.py --assemble --out DIR   (the tree only, to lint it)

    DIR/provdc-idc-VERSION.tar.gz       the collection (ansible-galaxy collection build)
    DIR/provdc-VERSION-py3-none-any.whl --wheel or --ee: the package its plugins import
    DIR/ee/                             --ee: execution-environment.yml, dist/ (both files)
                                        and context/ (`ansible-builder create`: the
                                        Containerfile and everything it copies)

The collection's source is playbooks/collections/ansible_collections/provdc/idc: galaxy.yml,
meta/, plugins/, playbooks/, and roles/ (a link to playbooks/roles). The build copies it with
the roles in full, adds the argument specs of a role that has none but can be derived (the
baseline's: one typed toggle per control of the catalogue), and runs ansible-galaxy on the
copy. DIR defaults to build/collection (git-ignored). Run it with the checkout's virtualenv
(.venv/bin/python): the tools it runs are looked up next to that Python first.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from provdc.errors import EXIT_INVALID, ProvdcError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SOURCE = HERE / "ansible_collections" / "provdc" / "idc"
EE_DEFINITION = HERE / "execution-environment.yml"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.tar.gz")


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as yamllint (and ansible-lint) expect."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def tool(name: str) -> str:
    """A command next to this Python (the checkout's virtualenv), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise ProvdcError(f"{name} is not installed", field=name,
                          fix="install the development extras: .venv/bin/pip install -e '.[dev]'")
    return found


def run(argv: list[str], what: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        tail = " ".join((proc.stdout + proc.stderr).split())[-600:]
        raise ProvdcError(f"{what} failed: {tail}", field=Path(argv[0]).name,
                          fix=f"run `{' '.join(argv)}` to see the whole output")
    return proc.stdout


def galaxy() -> dict:
    return yaml.safe_load((SOURCE / "galaxy.yml").read_text(encoding="utf-8"))


def baseline_argument_specs() -> dict:
    """The baseline role's entry point, typed: its settings and one boolean toggle per
    control of the catalogue (the same list `provdc controls render-ansible` writes into
    the role's defaults)."""
    from provdc.controls import load_catalogue

    options = {
        "baseline_security_level": {
            "description": "The host's security level (Decree 85/2016): it selects the "
                           "controls (default the host's provdc_security_level, else 3).",
            "type": "int", "choices": [1, 2, 3, 4, 5]},
        "baseline_sshd_extra_options": {
            "description": "Extra sshd options for this host or group (validated with "
                           "sshd -t before any reload).",
            "type": "dict", "default": {}},
        "baseline_check_first": {
            "description": "Run the audit's checks first and only the fixes of failing "
                           "controls; false runs every selected control's fixes.",
            "type": "bool", "default": True},
    }
    for c in load_catalogue().controls:
        options[c.toggle] = {"description": f"{c.id}: {c.title.en} (false leaves it "
                                             "unmanaged; the audit still checks it).",
                             "type": "bool", "default": True}
    return {"argument_specs": {"main": {
        "short_description": "Baseline hardening from the provdc control catalogue",
        "description": [
            "Applies the controls of the catalogue whose level the host's security level "
            "reaches: checks first with the audit's own checks (provdc.idc.controls_gate) "
            "and runs the fixes of the failing kinds only.",
            "Every control has a toggle; --tags selects controls by id, kind or family."],
        "author": "provdc",
        "options": options}}}


def assemble(dest: Path, repository: str | None = None) -> Path:
    """The collection's tree under dest/ansible_collections/provdc/idc, roles copied in;
    `repository` (where the source is published) goes into its galaxy.yml."""
    tree = dest / "ansible_collections" / "provdc" / "idc"
    shutil.copytree(SOURCE, tree, symlinks=False, ignore=IGNORED)
    spec = tree / "roles" / "baseline" / "meta" / "argument_specs.yml"
    if not spec.exists():
        spec.write_text("---\n# Derived from the control catalogue by "
                        "playbooks/collections/build.py.\n"
                        + yaml.dump(baseline_argument_specs(), Dumper=_Dumper,
                                    sort_keys=False, allow_unicode=True, width=100),
                        encoding="utf-8")
    if repository:
        meta = tree / "galaxy.yml"
        meta.write_text(meta.read_text(encoding="utf-8") + f"repository: {repository}\n",
                        encoding="utf-8")
    return tree


def origin() -> str | None:
    """The checkout's git remote `origin`, where its source is published, if it has one."""
    proc = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"],
                          capture_output=True, text=True)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def build_collection(out: Path, repository: str | None = None) -> Path:
    with tempfile.TemporaryDirectory(prefix="provdc-collection-") as tmp:
        tree = assemble(Path(tmp), repository)
        run([tool("ansible-galaxy"), "collection", "build", str(tree), "--output-path",
             str(out), "--force"], "ansible-galaxy collection build")
    meta = galaxy()
    return out / f"{meta['namespace']}-{meta['name']}-{meta['version']}.tar.gz"


def build_wheel(out: Path) -> Path:
    """The provdc wheel, built from a copy of the sources (the build writes scratch files
    next to what it builds)."""
    with tempfile.TemporaryDirectory(prefix="provdc-wheel-") as tmp:
        src = Path(tmp)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(ROOT / "modules", src / "modules",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        before = set(out.glob("provdc-*.whl"))
        run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)],
            "python -m build --wheel")
    built = sorted(set(out.glob("provdc-*.whl")) - before) or sorted(out.glob("provdc-*.whl"))
    return built[-1]


def create_ee(out: Path, artifacts: list[Path]) -> Path:
    """The execution environment's build context: the definition next to the files it names
    (dist/), then `ansible-builder create`. Building the image needs a container registry
    for the base image; the context is what CI can check without one."""
    ee = out / "ee"
    if ee.exists():
        shutil.rmtree(ee)
    (ee / "dist").mkdir(parents=True)
    for path in artifacts:
        shutil.copy2(path, ee / "dist" / path.name)
    definition = ee / EE_DEFINITION.name
    shutil.copy2(EE_DEFINITION, definition)
    run([tool("ansible-builder"), "create", "--file", str(definition), "--context",
         str(ee / "context"), "--output-filename", "Containerfile"], "ansible-builder create")
    return ee / "context"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "collection")
    parser.add_argument("--wheel", action="store_true", help="also build the provdc wheel")
    parser.add_argument("--ee", action="store_true",
                        help="also the wheel and the execution environment's build context")
    parser.add_argument("--repository", default=origin(),
                        help="where the source is published (default: the git remote origin)")
    parser.add_argument("--assemble", action="store_true",
                        help="only lay the collection's tree out in DIR (to lint it)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    try:
        if out.exists() and not out.is_dir():
            raise ProvdcError("is a file, not a directory", str(out), None, "--out",
                              "name a directory (it is created if missing)")
        out.mkdir(parents=True, exist_ok=True)
        if args.assemble:
            print(assemble(out, args.repository))
            return 0
        built = [build_collection(out, args.repository)]
        if args.wheel or args.ee:
            built.append(build_wheel(out))
        if args.ee:
            built.append(create_ee(out, built[:2]))
    except ProvdcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    for path in built:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
