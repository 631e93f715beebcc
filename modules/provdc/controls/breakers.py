"""Breakers: how to put a hardened host out of compliance with exactly one control.

Used by the integration tests to prove that every check can fail, and fails alone: for each
control, break it on a hardened host, audit, restore. One breaker per kind, driven by the
control's own parameters (its `bad` values, its `breaker` snippet for find_none).

A breaker is three shell snippets: `snapshot` saves the files it will touch (tar, plus a list
of the ones that did not exist), `run` breaks, `restore` puts everything back.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from provdc.controls import files
from provdc.controls.model import Control

STASH = "/var/tmp/provdc-break"


@dataclass
class Breaker:
    control: str
    run: str
    restore: str
    snapshot: str = ""


def _snapshot(paths: list[str]) -> tuple[str, str]:
    """Shell to save these paths and to put them back exactly (absent ones removed)."""
    q = " ".join(shlex.quote(p) for p in paths)
    save = (
        f"rm -rf {STASH} && mkdir -p {STASH} && for p in {q}; do "
        f"if [ -e \"$p\" ]; then echo \"$p\" >> {STASH}/present; "
        f"else echo \"$p\" >> {STASH}/absent; fi; done; "
        f"[ ! -s {STASH}/present ] || tar -C / -cpf {STASH}/saved.tar "
        f"$(sed 's#^/##' {STASH}/present)"
    )
    back = (
        f"[ ! -s {STASH}/saved.tar ] || tar -C / -xpf {STASH}/saved.tar; "
        f"[ ! -s {STASH}/absent ] || xargs rm -rf < {STASH}/absent; rm -rf {STASH}"
    )
    return save, back


def _flip(value: str) -> str:
    return "0" if value != "0" else "1"


def breaker(control: Control, in_container: bool) -> Breaker:
    p = control.check
    runtime = not control.configuration_only(in_container)
    cid = control.id
    match control.kind:
        case "sysctl":
            key, want = next(iter(p.settings.items()))
            bad = _flip(str(want))
            path = "/etc/sysctl.d/99-provdc-break.conf"
            live = f"; sysctl -q -w {key}={bad}" if runtime else ""
            # re-apply the whole baseline file too: the kernel couples some keys (turning
            # ip_forward off sets conf.all.accept_redirects back to 1)
            back = (f"; sysctl -q -w {key}={want}; sysctl -q -p {files.SYSCTL_FILE} "
                    "2>/dev/null; true") if runtime else ""
            return Breaker(cid, f"echo '{key} = {bad}' > {path}{live}", f"rm -f {path}{back}")
        case "sshd_option":
            option = next(iter(p.options))
            path = "/etc/ssh/sshd_config.d/00-provdc-break.conf"
            return Breaker(cid, f"echo '{option} {p.bad[option]}' > {path}", f"rm -f {path}")
        case "key_value":
            key = next(k for k in p.settings if k in p.bad)
            save, back = _snapshot([p.path])
            line = f"{key}{p.separator}{p.bad[key]}"
            return Breaker(cid, f"echo {shlex.quote(line)} >> {p.path}", back, save)
        case "pam_profile":
            names = " ".join(p.profiles)
            return Breaker(cid, f"pam-auth-update --package --disable {names}",
                           f"pam-auth-update --package --enable {names}")
        case "file_line":
            save, back = _snapshot([p.path])
            return Breaker(cid, f"sed -i -E {shlex.quote(f'/{p.regexp}/d')} {p.path}", back, save)
        case "file_mode":
            path = p.paths[0]
            save, back = _snapshot([path])
            make = f"mkdir -p $(dirname {path}) && install -m {p.mode} /dev/null {path}"
            return Breaker(cid, f"[ -e {path} ] || {{ {make}; }}; chmod g+w {path}", back, save)
        case "file_content":
            save, back = _snapshot([p.path])
            return Breaker(cid, f"echo '# provdc-break' >> {p.path}", back, save)
        case "package_absent":
            pkg = p.packages[0]
            build = (
                f"d={STASH}-deb && mkdir -p $d/DEBIAN && printf 'Package: {pkg}\\n"
                f"Version: 0.0-provdc-break\\nArchitecture: all\\n"
                f"Maintainer: provdc <ops@example.org>\\n"
                f"Description: breaker stand-in\\n' > $d/DEBIAN/control && "
                f"dpkg-deb -b $d $d.deb >/dev/null && dpkg -i $d.deb >/dev/null"
            )
            # dpkg creates /var/log/dpkg.log 0644 if it is missing (the lab image has none),
            # which VN-LOG-12 would flag too: create it as the baseline leaves logs, and
            # remove it again on restore if it was not there
            log = "/var/log/dpkg.log"
            build = f"[ -e {log} ] || install -m 0640 /dev/null {log}; {build}"
            save, back = _snapshot([log])
            return Breaker(cid, build, f"dpkg -P {pkg} >/dev/null; rm -rf {STASH}-deb*; {back}",
                           save)
        case "package_present":
            pkg = p.packages[0]
            return Breaker(cid, f"echo '{pkg} deinstall' | dpkg --set-selections",
                           f"echo '{pkg} install' | dpkg --set-selections")
        case "service_enabled":
            unit = p.services[0]
            # stop and start it too where the check wants it running: systemd 252 can lose
            # the state of a running unit whose Alias= symlink goes and comes back (rsyslog's
            # syslog.service; it failed five lab tests once), leaving it "inactive" with its
            # daemon still there
            now = " --now" if runtime else ""
            return Breaker(cid, f"systemctl disable -q{now} {unit}",
                           f"systemctl enable -q{now} {unit}")
        case "service_disabled":
            unit = p.services[0]
            if p.masked:
                return Breaker(cid, f"systemctl unmask -q {unit}", f"systemctl mask -q {unit}")
            return Breaker(cid, f"systemctl enable -q {unit}", f"systemctl disable -q {unit}")
        case "kernel_module_disabled":
            save, back = _snapshot([files.MODPROBE_FILE])
            mod = p.modules[0]
            return Breaker(cid, f"sed -i -E '/^(install|blacklist) {mod}( |$)/d' "
                           f"{files.MODPROBE_FILE}", back, save)
        case "mount_option":
            opt = p.options[-1]
            undo = opt[2:]  # noexec -> exec
            return Breaker(cid, f"mount -o remount,{undo} {p.target}",
                           f"mount -o remount,{opt} {p.target}")
        case "auditd_rule":
            path = files.auditd_rules_file(control)
            save, back = _snapshot([path])
            return Breaker(cid, f"rm -f {path}", back, save)
        case "find_none":
            # the control's own fix puts things right again
            return Breaker(cid, p.breaker, files.find_command(p, fix=True) + " 2>/dev/null; true")
        case "accounts":
            save, back = _snapshot(["/etc/passwd", "/etc/shadow", "/etc/passwd-", "/etc/shadow-"])
            run = {
                "uid0_only_root": "echo 'toor:x:0:0::/root:/usr/sbin/nologin' >> /etc/passwd",
                "no_empty_password": "sed -i 's/^games:[^:]*:/games::/' /etc/shadow",
                "system_nologin":
                    "sed -i -E 's#^(games:([^:]*:){5})[^:]*$#\\1/bin/sh#' /etc/passwd",
            }[p.rule]
            return Breaker(cid, run, back, save)
        case "nftables_input":
            return Breaker(cid, f"nft delete table inet {p.table}",
                           f"nft -f {files.firewall_boot_file(p.table)}")
    raise ValueError(f"no breaker for kind {control.kind}")


# --- foreign breakers: drift written by someone else, outside the files the role manages ----
#
# Each changes what the consuming program will actually use without touching our file: a
# Match block at the end of sshd_config, a later sudoers file, a rule inserted at the top of
# the live firewall chain. The check must catch it by reading the effective state, and name
# the foreign file or rule. Controls with none yet are listed in README.md (hardening).

FOREIGN_SSHD = "/etc/ssh/sshd_config"
FOREIGN_SUDOERS = "/etc/sudoers.d/90-vendor-tools"
# A package's or an admin's own file, read after (or, for profile scripts, before) ours.
FOREIGN_FILES = {
    "VN-LOG-09": ("/etc/systemd/journald.conf.d/99-vendor.conf",
                  "[Journal]\nStorage=volatile\n"),
    "VN-SVC-05": ("/etc/apt/apt.conf.d/99vendor-no-updates",
                  'APT::Periodic::Unattended-Upgrade "0";\n'),
    "VN-AUTH-07": ("/etc/profile.d/00-vendor-session.sh", "readonly TMOUT=0\n"),
}


def foreign_breakers(controls: list[Control]) -> dict[str, Breaker]:
    """control id -> a breaker that leaves the role's own files alone."""
    by_id = {c.id: c for c in controls}
    out: dict[str, Breaker] = {}
    ssh02 = by_id.get("VN-SSH-02")
    if ssh02 is not None:  # password logins back on for one subnet, at the end of the file
        save, back = _snapshot([FOREIGN_SSHD])
        block = "Match Address 10.99.0.0/16\n    PasswordAuthentication yes"
        out[ssh02.id] = Breaker(ssh02.id, f"printf '\\n%s\\n' {shlex.quote(block)} >> "
                                f"{FOREIGN_SSHD}", back, save)
    auth11 = by_id.get("VN-AUTH-11")
    if auth11 is not None:  # a vendor's sudoers file, read after ours
        out[auth11.id] = Breaker(
            auth11.id, f"install -m 0440 /dev/null {FOREIGN_SUDOERS} && "
            f"echo 'Defaults !use_pty' > {FOREIGN_SUDOERS}", f"rm -f {FOREIGN_SUDOERS}")
    for cid, (path, text) in FOREIGN_FILES.items():
        if cid in by_id:
            out[cid] = Breaker(cid, f"printf {shlex.quote(text)} > {path}", f"rm -f {path}")
    net09 = by_id.get("VN-NET-09")
    if net09 is not None:  # an accept-all at the top of the live input chain
        table = net09.check.table
        out[net09.id] = Breaker(net09.id, f"nft insert rule inet {table} input accept",
                                f"nft -f {files.firewall_boot_file(table)}")
    return out
