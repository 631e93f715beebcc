"""Fixtures of the cloud suite: the Sóc Trăng stack settings, one offline preview of it,
stack configs with one guarded property flipped, and a real moto server on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# pulumi_aws warns about its own deprecated classes when imported; not ours to fix.
PULUMI_AWS_DEPRECATIONS = "ignore::DeprecationWarning:pulumi_aws"


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", PULUMI_AWS_DEPRECATIONS)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def soctrang():
    from provdc.cloud.settings import load_stack_file

    return load_stack_file("soctrang", ROOT)


@pytest.fixture(scope="session")
def soctrang_preview(soctrang):
    from provdc.cloud.preview import preview

    return preview(soctrang)


@pytest.fixture
def write_stack():
    return _write_stack


def _write_stack(tmp: Path, name: str, changes: dict) -> Path:
    """Copy Pulumi.soctrang.yaml into `tmp` as Pulumi.<name>.yaml with `changes` applied
    (keys like "provdc:guardrails.imdsTokens" set nested values); `tmp` becomes a Pulumi
    project (its Pulumi.yaml copied too)."""
    (tmp / "Pulumi.yaml").write_bytes((ROOT / "Pulumi.yaml").read_bytes())
    doc = yaml.safe_load((ROOT / "Pulumi.soctrang.yaml").read_text(encoding="utf-8"))
    config = doc["config"]
    config["provdc:topology"] = str(ROOT / config["provdc:topology"])
    for key, value in changes.items():
        top, _, rest = key.partition(".")
        if not rest:
            config[top] = value
            continue
        node = config.setdefault(top, {})
        *path, last = rest.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    path = tmp / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def start_pack():
    return _start_pack


@contextlib.contextmanager
def _start_pack(pack_dir: Path, cwd: Path):
    """The policy pack started as the Pulumi CLI starts it: a process that prints its gRPC
    port; yields an Analyzer stub connected to it."""
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    proc = subprocess.Popen([sys.executable, str(pack_dir)], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            # unbuffered, as the Pulumi CLI runs a Python plugin: the port
                            # line must arrive before the server blocks
                            env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"})
    try:
        port = proc.stdout.readline().strip()
        assert port.isdigit(), proc.stderr.read() if proc.poll() is not None else port
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()  # our own child, by its handle
        proc.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real moto server (HTTP on 127.0.0.1, a free port) for the whole session."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                             "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_SESSION_TOKEN="testing", AWS_DEFAULT_REGION="ap-southeast-1")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def moto(moto_endpoint):
    """The moto server, emptied before each test so tests cannot see each other's resources."""
    req = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    return moto_endpoint
