"""Bad input never crashes and never destroys: a corpus for every entry point.

Every case is an input written here (not by provdc): a file of some broken kind given to an
option that reads it, a bad command-line value, or a bad request on stdin. Each must end
with exit 2 and one paragraph (`error: ... Fix: ...`) on stderr, raise nothing, print
nothing on stdout, and write nothing in its working directory. Cases that could hang or eat
memory (alias bombs, deep nesting, huge files) run the real CLI under a time and memory
limit.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provdc.cli import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "inventory" / "soctrang" / "topology.yml"
BIN = Path(sys.executable).parent
MEMORY_LIMIT = 1024 * 1024 * 1024  # 1 GiB of address space beyond what Python starts with
TIME_LIMIT = 60

# --- broken files, by kind: (name, writer(path)) --------------------------------------------


def _text(content: str) -> Callable[[Path], None]:
    return lambda p: p.write_text(content, encoding="utf-8")


def _bytes(content: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(content)


def _directory(p: Path) -> None:
    p.mkdir()


def _missing(p: Path) -> None:
    pass


def _huge(p: Path) -> None:
    with p.open("wb") as f:  # sparse: 80 MiB on paper, nothing on disk
        f.truncate(80 * 1024 * 1024)


ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]"
       for i in range(9)]) + "\n"

YAML_KINDS = [
    ("missing", _missing),
    ("directory", _directory),
    ("empty", _text("")),
    ("binary", _bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" * 20)),
    ("latin-1", _bytes("province:\n  name: S\xf3c Tr\xe3ng\n".encode("latin-1"))),
    ("utf-16", _bytes("province: {name: Sóc Trăng}\n".encode("utf-16"))),
    ("not-yaml", _text("province: [unclosed\n  name: x\n")),
    ("tabs", _text("province:\n\tname: x\n")),
    ("scalar", _text("just a sentence\n")),
    ("list", _text("- a\n- b\n")),
    ("duplicate-key", _text("a: 1\na: 2\n")),
    ("impossible-date", _text("province: {name: x, founded: 2027-02-30}\n")),
    ("alias-bomb", _text(ALIAS_BOMB)),
    ("deep-flow", _text("a: " + "[" * 5000 + "]" * 5000 + "\n")),
    ("deep-block", _text("".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "v\n")),
    ("huge", _huge),
    ("markup-and-escape", _text('province:\n  name: "Sóc Trăng [/x] [bold]\\e[2J"\n')),
]
LIMITED = {"alias-bomb", "deep-flow", "deep-block", "huge"}

# options that read a YAML file: (id, argv with {f} for the file)
YAML_READERS = [
    ("validate", ["validate", "{f}"]),
    ("plan", ["plan", "{f}"]),
    ("plan-json", ["plan", "{f}", "--format", "json"]),
    ("bandwidth-render", ["bandwidth", "render", "--topology", "{f}", "phuong-5"]),
    ("segmentation-render", ["segmentation", "render", "-t", "{f}", "zone-firewall"]),
    ("cloud-audit-topology", ["cloud", "audit", "--endpoint", "http://127.0.0.1:9",
                              "--topology", "{f}", "--out", "out"]),
    ("audit-waivers", ["audit", "-i", "{f}.inv", "--waivers", "{f}"]),
]

JSON_KINDS = [
    ("missing", _missing), ("directory", _directory), ("empty", _text("")),
    ("binary", _bytes(b"\x00\x01\x02" * 50)), ("not-json", _text("{hosts: [}")),
    ("a-list", _text("[]")), ("hosts-not-list", _text('{"hosts": {}}')),
    ("host-not-object", _text(json.dumps({"hosts": [42], "topology": str(SAMPLE)}))),
    ("host-missing-keys", _text(json.dumps({"hosts": [{"name": "x"}],
                                            "topology": str(SAMPLE)}))),
    ("host-bad-ip", _text(json.dumps({"topology": str(SAMPLE), "hosts": [
        {"name": "lgsp-1", "zone": "APP", "service": "lgsp", "security_level": 3,
         "private_ip": "10.94.2.999"}]}))),
    ("host-hostile-name", _text(json.dumps({"topology": str(SAMPLE), "hosts": [
        {"name": "../ca", "zone": "APP", "service": "lgsp", "security_level": 3,
         "private_ip": "10.94.2.10"}]}))),
    ("no-topology", _text(json.dumps({"hosts": []}))),
]

INVENTORY_KINDS = [
    ("missing", _missing), ("directory-empty", _directory),
    ("binary", _bytes(b"\x00\xff" * 100)), ("not-yaml", _text("all: [\n")),
    ("no-hosts", _text("all: {}\n")),
]
INVENTORY_READERS = [
    ("segmentation-render", ["segmentation", "render", "-i", "{f}"]),
    ("bandwidth-specs", ["bandwidth", "specs", "-i", "{f}"]),
    ("bandwidth-measure", ["bandwidth", "measure", "-i", "{f}", "phuong-5"]),
    ("segmentation-verify", ["segmentation", "verify", "-i", "{f}"]),
    ("audit", ["audit", "-i", "{f}", "--out", "out"]),
]

# bad values on the command line: (id, argv)
VALUES = [
    ("plan-format", ["plan", str(SAMPLE), "--format", "xml"]),
    ("render-format", ["segmentation", "render", "-t", str(SAMPLE), "--format", "xml"]),
    ("verify-format", ["segmentation", "verify", "-i", "x.yml", "--format", "xml"]),
    ("measure-format", ["bandwidth", "measure", "-i", "x.yml", "--format", "xml", "phuong-5"]),
    ("preview-format", ["preview", "--stack", "soctrang", "--root", str(ROOT), "--format", "x"]),
    ("render-unknown-site", ["bandwidth", "render", "--topology", str(SAMPLE), "atlantis"]),
    ("render-site-newline", ["bandwidth", "render", "--topology", str(SAMPLE), "phuong-5\n"]),
    ("render-device-newline", ["bandwidth", "render", "--topology", str(SAMPLE), "phuong-5",
                               "--device", "eth0\nqdisc del dev lo root"]),
    ("render-device-long", ["bandwidth", "render", "--topology", str(SAMPLE), "phuong-5",
                            "--device", "a" * 16]),
    ("render-leaf", ["bandwidth", "render", "--topology", str(SAMPLE), "phuong-5",
                     "--leaf", "fq_codel; reboot"]),
    ("render-no-topology", ["bandwidth", "render", "phuong-5"]),
    ("seg-render-unknown-host", ["segmentation", "render", "-t", str(SAMPLE), "nosuch"]),
    ("seg-operator-from", ["segmentation", "render", "-t", str(SAMPLE), "--operator-from",
                           "10.0.0.999"]),
    ("seg-verify-timeout", ["segmentation", "verify", "-i", "x.yml", "--timeout", "-1"]),
    ("audit-scope", ["audit", "-i", str(SAMPLE), "--scope", "everything"]),
    ("audit-workers", ["audit", "-i", str(SAMPLE), "--workers", "0"]),
    ("audit-out-is-file", ["audit", "-i", "{inv}", "--out", "{file}"]),
    ("lab-name-upper", ["lab", "status", "--name", "Prod"]),
    ("lab-name-newline", ["lab", "status", "--name", "lab\n"]),
    ("lab-name-long", ["lab", "status", "--name", "a" * 40]),
    ("lab-name-dots", ["lab", "down", "--name", "../etc"]),
    ("lab-ssh-name", ["lab", "ssh", "--name", "x y", "host"]),
    ("lab-exec-name", ["lab", "exec", "--name", "-rf", "--", "true"]),
    ("lab-up-sites", ["lab", "up", "--name", "corpus", "--topology", str(SAMPLE), "--sites",
                      "atlantis,../x"]),
    ("lab-up-topology", ["lab", "up", "--name", "corpus", "--topology", "{missing}"]),
    ("bootstrap-bucket", ["state", "bootstrap", "--bucket", "Bad_Name"]),
    ("bootstrap-bucket-newline", ["state", "bootstrap", "--bucket", "ok-name\n"]),
    ("bootstrap-endpoint-http", ["state", "bootstrap", "--bucket", "ok-name", "--endpoint",
                                 "http://10.1.2.3:9000"]),
    ("bootstrap-endpoint-lookalike", ["state", "bootstrap", "--bucket", "ok-name",
                                      "--endpoint", "http://127.attacker.example"]),
    ("bootstrap-endpoint-scheme", ["state", "bootstrap", "--bucket", "ok-name", "--endpoint",
                                   "ftp://127.0.0.1"]),
    ("bootstrap-region", ["state", "bootstrap", "--bucket", "ok-name", "--endpoint",
                          "http://127.0.0.1:9", "--region", "ap southeast\n1"]),
    ("cloud-audit-endpoint", ["cloud", "audit", "--endpoint", "gopher://x"]),
    ("cloud-audit-level", ["cloud", "audit", "--endpoint", "http://127.0.0.1:9", "--level", "9"]),
    ("cloud-audit-out-is-file", ["cloud", "audit", "--endpoint", "http://127.0.0.1:9",
                                 "--out", "{file}"]),
    ("preview-stack-missing", ["preview", "--stack", "nosuch", "--root", str(ROOT)]),
    ("preview-stack-traversal", ["preview", "--stack", "../../etc/passwd", "--root", str(ROOT)]),
    ("preview-root-missing", ["preview", "--stack", "soctrang", "--root", "{missing}"]),
    ("cloud-inventory-topology", ["cloud", "inventory", "--outputs", "{file}",
                                  "--topology", "{missing}"]),
]

# bad requests on stdin of the playbooks' controller steps: (id, argv, stdin)
STDIN = [
    ("seg-specs-not-json", ["segmentation", "specs", "-t", str(SAMPLE)], "{hostvars"),
    ("seg-specs-list", ["segmentation", "specs", "-t", str(SAMPLE)], "[]"),
    ("seg-specs-hostvars-list", ["segmentation", "specs", "-t", str(SAMPLE)],
     '{"hostvars": []}'),
    ("seg-specs-host-not-object", ["segmentation", "specs", "-t", str(SAMPLE)],
     '{"hostvars": {"a": 3}}'),
    ("seg-specs-clients-list", ["segmentation", "specs", "-t", str(SAMPLE)],
     '{"hostvars": {}, "clients": [1]}'),
    ("bw-specs-not-json", ["bandwidth", "specs", "-t", str(SAMPLE)], "nope"),
    ("bw-specs-list", ["bandwidth", "specs", "-t", str(SAMPLE)], "[1, 2]"),
    ("bw-specs-hostvars-list", ["bandwidth", "specs", "-t", str(SAMPLE)], '{"hostvars": [1]}'),
    ("bw-specs-empty", ["bandwidth", "specs"], ""),
    ("gate-not-json", ["controls", "gate"], "{"),
    ("gate-list", ["controls", "gate"], "[]"),
    ("gate-hosts-list", ["controls", "gate"], '{"hosts": []}'),
    ("gate-host-bad", ["controls", "gate"], '{"hosts": {"h": {"output": 3}}}'),
]


# what the paragraph must name, where a case could fail for another reason first
EXPECT = {"audit-out-is-file": ["--out", "not a directory"],
          "cloud-audit-out-is-file": ["--out", "not a directory"],
          "lab-up-sites": ["atlantis"], "render-device-newline": ["--device"],
          "render-leaf": ["--leaf"], "seg-operator-from": ["--operator-from"],
          "bootstrap-endpoint-lookalike": ["--endpoint"], "bootstrap-region": ["--region"],
          "lab-exec-name": ["--name"], "cloud-audit-level": ["--level"],
          "audit-workers": ["--workers"]}


def _cases() -> list:
    cases = []
    for reader, argv in YAML_READERS:
        for kind, writer in YAML_KINDS:
            cases.append(pytest.param("yaml", argv, writer, kind, id=f"{reader}-{kind}"))
    for kind, writer in JSON_KINDS:
        cases.append(pytest.param("json", ["cloud", "inventory", "--outputs", "{f}"], writer,
                                  kind, id=f"cloud-inventory-{kind}"))
    for reader, argv in INVENTORY_READERS:
        for kind, writer in INVENTORY_KINDS:
            cases.append(pytest.param("inventory", argv, writer, kind, id=f"{reader}-{kind}"))
    for name, argv in VALUES:
        cases.append(pytest.param("value", argv, None, name, id=name))
    return cases


CASES = _cases()


def files_in(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def _argv(argv: list[str], tmp_path: Path, f: Path | None) -> list[str]:
    inv = tmp_path / "given.inv"
    inv.write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    plain = tmp_path / "given.file"
    plain.write_text("{}")
    subst = {"{f}": str(f) if f else "", "{f}.inv": str(inv), "{inv}": str(inv),
             "{file}": str(plain), "{missing}": str(tmp_path / "nowhere" / "x.yml")}
    return [subst.get(a, a) for a in argv]


def assert_one_paragraph(code: int, stdout: str, stderr: str, raised: object = None) -> None:
    text = " ".join(stderr.split())
    assert raised is None or isinstance(raised, SystemExit), raised
    assert "Traceback" not in stderr + stdout
    assert code == 2, (code, stdout[-400:], stderr[-800:])
    assert text.startswith("error: "), text[:400]
    assert "Fix:" in text, text[:600]
    assert "\x1b" not in stderr, "an escape sequence reached the terminal"


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def invoke_limited(args: list[str], stdin: str | None = None) -> tuple[int, str, str, object]:
    """The CLI in-process, in a forked child under a memory and time limit: a case that
    hangs or balloons is killed and fails, instead of taking the suite with it."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: limits, one invocation, its result on the pipe
        try:
            os.close(read_fd)
            limit = _address_space() + MEMORY_LIMIT
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            signal.alarm(TIME_LIMIT)
            result = CliRunner().invoke(app, args, input=stdin)
            raised = result.exception
            doc = {"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                   "raised": None if raised is None or isinstance(raised, SystemExit)
                   else repr(raised)}
            with os.fdopen(write_fd, "w") as fh:
                fh.write(json.dumps(doc))
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        text = fh.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and text, f"the case crashed or hung (wait status {status})"
    doc = json.loads(text)
    return doc["code"], doc["stdout"], doc["stderr"], doc["raised"]


def run_limited(argv: list[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "provdc"), *argv], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=TIME_LIMIT,
                          preexec_fn=_limits, env=dict(os.environ, COLUMNS="200"))


def test_the_corpus_is_large():
    assert len(CASES) + len(STDIN) >= 150


@pytest.mark.parametrize("family, argv, writer, kind", CASES)
def test_bad_input_is_one_paragraph_and_exit_2(tmp_path, family, argv, writer, kind):
    work = tmp_path / "cwd"
    work.mkdir()
    f = None
    if writer is not None:
        f = tmp_path / ("input.json" if family == "json" else "input.yml")
        writer(f)
    args = _argv(argv, tmp_path, f)
    before = files_in(work)
    if kind in LIMITED:
        run = run_limited(args, work)
        assert_one_paragraph(run.returncode, run.stdout, run.stderr)
    else:
        cwd = Path.cwd()
        os.chdir(work)
        try:
            code, stdout, stderr, raised = invoke_limited(args)
        finally:
            os.chdir(cwd)
        assert_one_paragraph(code, stdout, stderr, raised)
        for word in EXPECT.get(kind, []):
            assert word in " ".join(stderr.split()), (word, stderr)
    assert files_in(work) == before, "a refused input wrote files"


@pytest.mark.parametrize("argv, stdin", [pytest.param(a, s, id=i) for i, a, s in STDIN])
def test_bad_request_on_stdin_is_one_paragraph_and_exit_2(tmp_path, argv, stdin):
    assert_one_paragraph(*invoke_limited(argv, stdin))


def test_soc_preparation_refuses_bad_requests(tmp_path):
    for request in ("{", "[]", '{"topology": 3, "pki_dir": "p"}',
                    json.dumps({"topology": str(SAMPLE), "pki_dir": str(tmp_path / "p"),
                                "hosts": {"a": ["not-an-ip"]}})):
        run = subprocess.run([sys.executable, "-m", "provdc.soc.prepare"], input=request,
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert_one_paragraph(run.returncode, run.stdout, run.stderr)
    assert not (tmp_path / "p").exists()


def test_names_with_markup_are_printed_as_text(tmp_path):
    """A valid province whose name looks like rich markup and carries an escape sequence:
    the commands succeed, print the name literally, and no escape reaches the terminal."""
    text = SAMPLE.read_text(encoding="utf-8").replace(
        "  name: Sóc Trăng\n", '  name: "Sóc Trăng [/x] [bold red]X\\e[2J"\n', 1)
    assert "[/x]" in text
    path = tmp_path / "markup.yml"
    path.write_text(text, encoding="utf-8")
    for argv in (["validate", str(path)], ["plan", str(path)]):
        run = subprocess.run([str(BIN / "provdc"), *argv], capture_output=True, text=True,
                             timeout=120, env=dict(os.environ, COLUMNS="200"))
        assert run.returncode == 0, run.stderr[-2000:]
        assert "[/x]" in run.stdout and "[bold red]X" in run.stdout
        assert "\x1b" not in run.stdout


def test_missing_cloud_credentials_are_one_paragraph(tmp_path, monkeypatch):
    """No AWS credentials anywhere: both boto3 commands say which ones to give."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # boto3's default session caches credentials it found earlier in this process (the moto
    # tests set some when they share a pytest worker with this one)
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.chdir(tmp_path)
    for argv in (["state", "bootstrap", "--bucket", "st8", "--endpoint", "http://127.0.0.1:9"],
                 ["cloud", "audit", "--endpoint", "http://127.0.0.1:9", "--level", "3",
                  "--out", "out"]):
        result = CliRunner().invoke(app, argv)
        assert_one_paragraph(result.exit_code, result.stdout, result.stderr, result.exception)
        assert "credentials" in result.stderr


def test_version_and_the_plumbing_commands_stay_out_of_the_help():
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"provdc {version('provdc')}"
    for group, hidden in (("segmentation", "specs"), ("bandwidth", "specs"),
                          ("controls", "gate")):
        shown = CliRunner().invoke(app, [group, "--help"]).stdout
        assert f" {hidden} " not in shown, (group, hidden)
