"""How the collection's plugins call the provdc package: on the controller, in the Python
that runs Ansible, and with provdc's own errors (one paragraph naming the input, the field
and the fix) as the task's failure message, never a traceback."""

from __future__ import annotations

import importlib
import json
import sys

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

INSTALL_FIX = ("install the provdc wheel into the Python that runs Ansible (pip install "
               "provdc-VERSION-py3-none-any.whl), or run in the provdc execution environment")


def provdc(module: str):
    """provdc.<module>, or an error naming the Python that cannot import it."""
    try:
        return importlib.import_module(f"provdc.{module}")
    except ImportError as exc:
        raise AnsibleError(f"error: the provdc Python package is not importable by "
                           f"{sys.executable} ({exc}). Fix: {INSTALL_FIX}.") from None


def plain(value):
    """Task arguments as the JSON the provdc command line used to read on stdin: plain
    dicts, lists and strings, whatever types the templating engine handed over."""
    return json.loads(json.dumps(value))


def outcome(call) -> dict:
    """An action's result: what `call` returns, or failed with provdc's paragraph."""
    errors = provdc("errors")
    try:
        return call()
    except errors.ProvdcError as exc:
        return {"failed": True, "msg": f"error: {exc}"}


class ControllerAction(ActionBase):
    """An action that runs on the controller only: its arguments checked against SPEC, handed
    as plain data to `compute(args)`, provdc's errors turned into the task's failure."""

    TRANSFERS_FILES = False
    _requires_connection = False
    SPEC: dict = {}

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=self.SPEC)
        return {**result, **outcome(lambda: self.compute(plain(args)))}

    def compute(self, args: dict) -> dict:
        raise NotImplementedError
