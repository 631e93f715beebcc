"""The fix of each control, worked out once for every engine.

`fix_items(control)` turns a control's check parameters into what a fix loops over (the exact
line, regexp, argv or file content); the Ansible role (`controls/ansible.py` writes it into the
role's vars) and the pyinfra deploy (`pyinfra_engine/selection.py`) both apply these items, so
the two engines cannot disagree on what a control sets.
"""

from __future__ import annotations

import re

from provdc.controls import files
from provdc.controls.model import Control

# The order kinds run in: packages first (a later kind may need them), sshd last but one
# before the firewall so a mistake in either shows up while the session is still open.
KIND_ORDER = [
    "package_present", "package_absent", "kernel_module_disabled", "sysctl", "mount_option",
    "key_value", "pam_profile", "file_line", "file_content", "file_mode", "find_none",
    "accounts", "service_enabled", "service_disabled", "auditd_rule", "sshd_option",
    "nftables_input",
]

# Kinds whose fix runs even when the check-first gate finds every control of the kind
# passing: the host firewall's check proves a default-deny table is loaded, not that it is
# today's rendering of the flow matrix, which may have changed since (the segmentation
# role compares the two and changes nothing when they agree).
ALWAYS_RUN_KINDS = ["nftables_input"]


def _regexp_key(key: str, separator: str) -> str:
    sep = r"\s*=" if separator.strip() == "=" else r"(\s|$)"
    return rf"^\s*#?\s*{re.escape(key)}{sep}"


def fix_items(control: Control) -> list[dict] | dict:
    """What the role's task file for this kind loops over, computed once here."""
    p = control.check
    cid = control.id
    match control.kind:
        case "sysctl":
            return [{"id": cid, "key": k, "value": str(v)} for k, v in p.settings.items()]
        case "sshd_option":
            return [{"id": cid, "option": k, "value": str(v)} for k, v in p.options.items()]
        case "key_value":
            return [
                {
                    "id": cid, "path": p.path, "create": p.create,
                    "regexp": _regexp_key(k, p.separator),
                    "line": k if v is None else f"{k}{p.separator}{v}",
                }
                for k, v in p.settings.items()
            ]
        case "pam_profile":
            probe = " && ".join(
                f"grep -Eq {_shq(rx)} /etc/pam.d/{f}" for f, rxs in p.expect.items() for rx in rxs
            )
            profiles = [{"name": n, "content": t} for n, t in p.profiles.items()]
            return {"id": cid, "profiles": profiles, "probe": probe}
        case "file_line":
            return [{"id": cid, "path": p.path, "line": p.line, "regexp": p.regexp,
                     "insertafter": p.insertafter or "EOF"}]
        case "file_mode":
            return [{"id": cid, "path": x, "mode": p.mode, "owner": p.owner, "group": p.group,
                     "missing_ok": p.missing_ok} for x in p.paths]
        case "file_content":
            return [{"id": cid, "path": p.path, "content": p.content, "mode": p.mode,
                     "validate": p.validate_cmd, "notify": p.notify}]
        case "package_absent" | "package_present":
            return {"id": cid, "packages": list(p.packages)}
        case "service_enabled" | "service_disabled":
            return [{"id": cid, "unit": u, "masked": p.masked} for u in p.services]
        case "kernel_module_disabled":
            return [{"id": cid, "module": m} for m in p.modules]
        case "mount_option":
            opts = ",".join([*p.base_options, *p.options])
            return {
                "id": cid, "target": p.target, "options": list(p.options),
                "fstab_line": f"{p.source} {p.target} {p.fstype} {opts} 0 0",
                "fstab_regexp": rf"^\S+\s+{re.escape(p.target)}\s",
                "remount": "remount," + ",".join(p.options),
            }
        case "auditd_rule":
            return {"id": cid, "path": files.auditd_rules_file(control),
                    "content": f"## provdc {cid}\n" + "\n".join(p.rules) + "\n"}
        case "find_none":
            return {"id": cid, "probe": files.find_argv(p), "fix": files.find_argv(p, fix=True)}
        case "accounts":
            query, expected = files.ACCOUNT_QUERIES[p.rule]
            return {"id": cid, "rule": p.rule, "query": query, "expected": expected}
        case "nftables_input":  # the rules themselves come from the segmentation engine
            return {"id": cid, "table": p.table, "allow_tcp": [str(x) for x in p.allow_tcp]}
    raise ValueError(f"no fix renderer for kind {control.kind}")


def _shq(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def control_vars(control: Control) -> dict:
    return {
        "id": control.id,
        "kind": control.kind,
        "family": control.family,
        "title": control.title.en,
        "toggle": control.toggle,
        "min_level": control.min_level,
        "os_families": list(control.os_families),
        "enforce_in_container": control.enforce_in_container,
        "exempt_groups": list(control.exempt_groups),
        "fix": fix_items(control),
    }


