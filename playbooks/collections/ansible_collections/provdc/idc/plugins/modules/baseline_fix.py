#!/usr/bin/python
# The baseline role's fixes, one module run per control kind and host
# (plugins/module_utils/baseline_fix.py does the work).

from __future__ import annotations

DOCUMENTATION = r"""
module: baseline_fix
short_description: Apply every selected item of one baseline control kind at once
description:
  - Applies all the fix items the baseline role selected for one control kind on the host
    in one run (file modes, KEY VALUE lines, whole files, find-and-fix, accounts, mounts,
    live sysctl values, PAM profiles, systemd units), with the semantics of the builtin
    modules it replaces (file, lineinfile, copy with validate, command, user,
    systemd_service), and reports the control ids it changed.
  - Standard-library Python on the host.
version_added: 0.2.0
author: provdc
options:
  kind:
    description: The control kind (a key of the role's C(baseline_fix)).
    type: str
    required: true
    choices: [file_mode, key_value, file_line, file_content, auditd_rule, find_none,
              accounts, mount_option, sysctl, pam_profile, services]
  items:
    description: The kind's fix items (C(baseline_fix[kind]), each with the control C(id)).
    type: list
    elements: dict
    required: true
  in_container:
    description: Global kernel settings are read-only here (configuration-only items).
    type: bool
    default: false
  nologin:
    description: The no-login shell (accounts).
    type: str
    default: /usr/sbin/nologin
  pam_configs:
    description: The directory of pam-auth-update profiles (pam_profile).
    type: str
    default: /usr/share/pam-configs
  pam_update:
    description: The command that enables profiles, before their names (pam_profile).
    type: list
    elements: str
    default: [pam-auth-update, --package, --enable]
attributes:
  check_mode:
    support: full
    description: Reads the host and reports what would change; writes nothing.
  diff_mode:
    support: full
    description: The edited files before and after; modes and owners as text.
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: "File_mode | set mode and owner | {{ baseline_ids.file_mode | join(' ') }}"
  provdc.idc.baseline_fix:
    kind: file_mode
    items: "{{ baseline_fix.file_mode }}"
"""

RETURN = r"""
changed_ids:
  description: The control ids whose fix changed something (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: [VN-FILE-01]
changes:
  description: One line per change, starting with its control id.
  returned: always
  type: list
  elements: str
  sample: ["VN-FILE-01: /etc/passwd mode 0664 -> 0644"]
notify:
  description: What a changed file's readers need (file_content's C(notify) values).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.provdc.idc.plugins.module_utils.baseline_fix import FixError, apply  # noqa: E402


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "kind": {"type": "str", "required": True,
                     "choices": ["file_mode", "key_value", "file_line", "file_content",
                                 "auditd_rule", "find_none", "accounts", "mount_option",
                                 "sysctl", "pam_profile", "services"]},
            "items": {"type": "list", "elements": "dict", "required": True},
            "in_container": {"type": "bool", "default": False},
            "nologin": {"type": "str", "default": "/usr/sbin/nologin"},
            "pam_configs": {"type": "str", "default": "/usr/share/pam-configs"},
            "pam_update": {"type": "list", "elements": "str",
                           "default": ["pam-auth-update", "--package", "--enable"]},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        res = apply(p["kind"], p["items"], module.check_mode, in_container=p["in_container"],
                    nologin=p["nologin"], pam_configs=p["pam_configs"],
                    pam_update=p["pam_update"])
    except (FixError, KeyError, OSError) as exc:
        module.fail_json(msg=f"{p['kind']}: {exc}")
    for warning in res.warnings:
        module.warn(warning)
    result = {"changed": bool(res.ids), "changed_ids": res.ids, "changes": res.changes,
              "notify": res.notify}
    if module._diff and res.diff:
        result["diff"] = res.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
