"""`stacks/__main__.py`, the file `pulumi up` runs, reads its config through pulumi.Config
(here from PULUMI_CONFIG, as the engine passes it) and declares the data centre. Run in a
child process so its mocks and config cannot leak into other tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, runpy, sys, pulumi
from pulumi.runtime.mocks import _sync_await, run_pulumi_func

class Mocks(pulumi.runtime.Mocks):
    types = []
    def new_resource(self, args):
        if args.custom:  # components are not cloud resources
            self.types.append(args.typ)
        return [f"{args.name}-id", {**args.inputs, "arn": f"arn:mock:{args.name}"}]
    def call(self, args):
        return {"accountId": "000000000000", "id": "ami-debian12"}

mocks = Mocks()
pulumi.runtime.set_mocks(mocks, project="provdc", stack="soctrang", preview=True)
exported = {}
real_export = pulumi.export
pulumi.export = lambda k, v: exported.__setitem__(k, v)
_sync_await(run_pulumi_func(lambda: runpy.run_path(sys.argv[1])))
hosts = _sync_await(pulumi.Output.from_input(exported["hosts"]).future())
print(json.dumps({"resources": len(mocks.types), "hosts": hosts,
                  "level": exported["security_level"]}))
"""


def test_pulumi_entrypoint_builds_the_stack_from_pulumi_config(tmp_path):
    config = yaml.safe_load((ROOT / "Pulumi.soctrang.yaml").read_text(encoding="utf-8"))["config"]
    # the engine hands every value over as a string; objects as JSON
    env_config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    env = dict(os.environ, PULUMI_CONFIG=json.dumps(env_config))
    # run from elsewhere: the program must find its topology relative to Pulumi.yaml
    run = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "stacks" / "__main__.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads(run.stdout.strip().splitlines()[-1])
    golden = yaml.safe_load((ROOT / "tests/cloud/golden/soctrang.yaml").read_text())
    assert doc["resources"] == golden["resource_count"]  # the same program as the preview
    assert doc["level"] == 3
    assert [h["name"] for h in doc["hosts"]][:2] == ["dvc-portal-1", "dvc-portal-2"]
