"""Deploy used by test_pyinfra_operations: the custom operations on files under one scratch
directory of the machine running the test (PROVDC_OPS_DIR), through pyinfra's @local."""

import os

from provdc.pyinfra_engine import operations as ops

d = os.environ["PROVDC_OPS_DIR"]
ops.managed_file(name="managed", path=f"{d}/etc/managed.conf", content="a = 1\n", mode="0640")
ops.line_in_file(name="line", path=f"{d}/login.defs", line="PASS_MAX_DAYS 60",
                 regexp=r"^\s*#?\s*PASS_MAX_DAYS(\s|$)")
ops.line_in_file(name="created", path=f"{d}/useradd", line="INACTIVE=45",
                 regexp=r"^\s*#?\s*INACTIVE\s*=", create=True)
ops.file_mode(name="mode", path=f"{d}/loose", mode="0600")
ops.file_mode(name="missing ok", path=f"{d}/absent", mode="0600", missing_ok=True)
ops.fix_found(name="find", probe=["find", d, "-name", "loose", "-perm", "-o+r", "-print"],
              fix=["chmod", "o-r", f"{d}/loose"])
ops.managed_file(name="refused", path=f"{d}/validated.conf", content="bad\n",
                 validate="grep -q good %s", _ignore_errors=True)
