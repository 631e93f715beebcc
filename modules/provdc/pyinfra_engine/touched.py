"""What each control touches on a host, derived from the catalogue: the files its fix writes
and the state its fix changes (unit enablement, packages, mounts). The parity test
fingerprints these on two hosts converged by different engines and compares them."""

from __future__ import annotations

import shlex

from provdc.controls import files
from provdc.controls.model import Control

# Files written for every control of a kind (the aggregate files and what includes them).
KIND_FILES = {
    "sysctl": [files.SYSCTL_FILE],
    "sshd_option": [files.SSHD_DROPIN, "/etc/ssh/sshd_config"],
    "kernel_module_disabled": [files.MODPROBE_FILE],
    "mount_option": ["/etc/fstab"],
    "accounts": ["/etc/passwd", "/etc/shadow"],
}


def touched_files(control: Control) -> list[str]:
    p = control.check
    match control.kind:
        case "key_value" | "file_line" | "file_content":
            return [p.path]
        case "file_mode":
            return list(p.paths)
        case "pam_profile":
            return ([f"{files.PAM_CONFIGS_DIR}/{n}" for n in p.profiles]
                    + [f"/etc/pam.d/{f}" for f in p.expect])
        case "auditd_rule":
            return [files.auditd_rules_file(control)]
        case "nftables_input":  # the segmentation engine's script, boot unit and boot copy
            return [files.firewall_boot_file(p.table), files.FIREWALL_SCRIPT,
                    f"/etc/systemd/system/{files.FIREWALL_UNIT}"]
    return list(KIND_FILES.get(control.kind, []))


def state_commands(control: Control) -> list[str]:
    """Commands whose output is the non-file state the control's fix changes."""
    p = control.check
    match control.kind:
        case "service_enabled" | "service_disabled":
            return [f"systemctl is-enabled {shlex.quote(u)}" for u in p.services]
        case "package_present" | "package_absent":
            return ["dpkg-query -W -f='${Package} ${Status}\\n' "
                    + " ".join(shlex.quote(x) for x in p.packages)]
        case "mount_option":
            return [f"findmnt -n -o OPTIONS -M {shlex.quote(p.target)}"]
        case "find_none":
            return [files.find_command(p)]
    return []


def fingerprint_script(controls: list[Control]) -> str:
    """A shell script printing `CONTROL<TAB>ITEM<TAB>FINGERPRINT` lines for these controls."""
    lines = []
    for c in controls:
        for path in touched_files(c):
            q = shlex.quote(path)
            lines.append(
                f"printf '%s\\t%s\\t%s\\n' {c.id} {q} \"$(if [ -e {q} ]; then "
                f"stat -c '%a %U %G' {q}; [ -f {q} ] && sha256sum < {q} | cut -c1-16; "
                f"else echo absent; fi | tr '\\n' ' ')\"")
        for cmd in state_commands(c):
            lines.append(f"printf '%s\\t%s\\t%s\\n' {c.id} {shlex.quote(cmd)} "
                         f"\"$( ( {cmd} ) 2>&1 | sha256sum | cut -c1-16)\"")
    return "\n".join(lines) + "\n"


def parse_fingerprints(text: str) -> dict[tuple[str, str], str]:
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            out[(parts[0], parts[1])] = parts[2].strip()
    return out
