"""Effective-state readers against canned host output (the lab tests break real hosts)."""

from __future__ import annotations

import re
from types import SimpleNamespace

from provdc.controls import catalogue
from provdc.controls.checks import HostContext, evaluate
from provdc.controls.kinds import (
    file_content,
    kernel_module_disabled,
    key_value,
    mount_option,
    pam_profile,
    sshd_option,
    sysctl,
)
from provdc.controls.probe import Probe

CTX = HostContext(in_container=False, level=3, groups=[])
CAT = catalogue()


class Replies:
    """A host answering commands from a table (others: rc 1, nothing)."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def run(self, cmd):
        return SimpleNamespace(rc=0 if cmd in self.answers else 1, stdout=self.answers.get(cmd, ""),
                               stderr="")


def test_a_match_block_that_turns_passwords_back_on_fails_the_control():
    control = CAT.by_id["VN-SSH-02"]
    dropin = "\n".join(f"{k} {v}" for k, v in control.check.options.items())
    good = "\n".join(f"{k.lower()} {v}" for k, v in control.check.options.items())
    contexts = ("@@ctx /etc/ssh/sshd_config:140 user=root,host=localhost,addr=10.99.0.0\n"
                + good.replace("passwordauthentication no", "passwordauthentication yes"))
    probe = Probe(Replies({sshd_option.EFFECTIVE: good, sshd_option.CONTEXTS: contexts,
                           f"cat {sshd_option.DROPIN} 2>/dev/null": dropin}))
    result = evaluate(control, probe, CTX)
    assert result.status == "fail"
    bad = [e for e in result.evidence if not e.ok]
    assert len(bad) == 1 and "Match at /etc/ssh/sshd_config:140" in bad[0].item
    assert bad[0].actual == "yes"
    # without the block, the same host passes
    clean = Probe(Replies({sshd_option.EFFECTIVE: good, sshd_option.CONTEXTS: "",
                           f"cat {sshd_option.DROPIN} 2>/dev/null": dropin}))
    assert evaluate(control, clean, CTX).status == "pass"


def test_contexts_are_parsed_per_match_line():
    text = ("@@ctx /a:3 user=root,host=h,addr=10.0.0.1\npermitrootlogin no\n"
            "@@ctx /b:7 user=bob,host=h,addr=127.0.0.1\npermitrootlogin yes\n")
    assert sshd_option.contexts(text) == [("/a:3", "user=root,host=h,addr=10.0.0.1",
                                     {"permitrootlogin": "no"}),
                                    ("/b:7", "user=bob,host=h,addr=127.0.0.1",
                                     {"permitrootlogin": "yes"})]


def _sshd_host(control, effective: dict[str, str], order: str, contexts: str = "") -> Probe:
    dropin = "\n".join(f"{k} {v}" for k, v in control.check.options.items())
    return Probe(Replies({
        sshd_option.EFFECTIVE: "\n".join(f"{k.lower()} {v}" for k, v in effective.items()),
        sshd_option.CONTEXTS: contexts, sshd_option.READ_ORDER: order,
        f"cat {sshd_option.DROPIN} 2>/dev/null": dropin}))


def test_a_drop_in_read_before_ours_is_named_and_may_be_disabled():
    """sshd keeps the first value: a cloud image's or an admin's drop-in sorted before ours
    decides. The finding names its file and line; the fix may comment out that line alone."""
    control = CAT.by_id["VN-SSH-03"]
    effective = {**control.check.options, "Ciphers": "aes128-cbc,aes256-ctr"}
    order = ("/etc/ssh/sshd_config:13:Include /etc/ssh/sshd_config.d/*.conf\n"
             "/etc/ssh/sshd_config.d/00-cloud.conf:2:Ciphers aes128-cbc,aes256-ctr\n"
             f"{sshd_option.DROPIN}:1:Ciphers {control.check.options['Ciphers']}\n"
             "/etc/ssh/sshd_config:40:Subsystem sftp internal-sftp\n")
    result = evaluate(control, _sshd_host(control, effective, order), CTX)
    bad = [e for e in result.evidence if not e.ok]
    assert result.status == "fail" and len(bad) == 1
    assert bad[0].actual.endswith("(set at /etc/ssh/sshd_config.d/00-cloud.conf:2)")
    override = bad[0].override
    assert override.path == "/etc/ssh/sshd_config.d/00-cloud.conf" and "sshd -t" in override.then
    text = "# Ciphers from the image\nCiphers aes128-cbc,aes256-ctr\nMACs hmac-sha1\n"
    assert re.findall(override.pattern, text, re.M) == ["Ciphers aes128-cbc,aes256-ctr"]


def test_a_setting_in_a_file_with_a_match_block_is_named_but_never_disabled():
    control = CAT.by_id["VN-SSH-02"]
    key = next(iter(control.check.options))
    effective = {**control.check.options, key: control.check.bad[key]}
    order = (f"/etc/ssh/sshd_config:3:{key} {control.check.bad[key]}\n"
             "/etc/ssh/sshd_config:9:Match User backup\n"
             f"/etc/ssh/sshd_config:10:  {key} {control.check.options[key]}\n")
    bad = [e for e in evaluate(control, _sshd_host(control, effective, order), CTX).evidence
           if not e.ok]
    assert [e.actual for e in bad] == [f"{control.check.bad[key]} (set at /etc/ssh/sshd_config:3)"]
    assert bad[0].override is None  # disabling it would change what the Match block means


def test_the_auditors_own_connection_is_a_context_too():
    """A Match block negating some address (`Match Address !10.0.0.0/8`) names no address
    to try; the auditor's own session is evaluated as it is."""
    control = CAT.by_id["VN-SSH-02"]
    key = next(iter(control.check.options))
    good = "\n".join(f"{k.lower()} {v}" for k, v in control.check.options.items())
    session = ("@@ctx session user=root,host=10.20.0.5,addr=10.20.0.5\n"
               + good.replace(f"{key.lower()} {control.check.options[key]}",
                              f"{key.lower()} {control.check.bad[key]}"))
    result = evaluate(control, _sshd_host(control, control.check.options, "", session), CTX)
    bad = [e for e in result.evidence if not e.ok]
    assert result.status == "fail" and len(bad) == 1
    assert "the auditor's own connection: user=root,host=10.20.0.5" in bad[0].item


def test_a_later_sudoers_file_decides_and_is_named():
    ours = "/etc/sudoers.d/60-provdc-baseline"
    content = CAT.by_id["VN-AUTH-11"].check.content
    listing = (f"{ours}:2:Defaults use_pty\n{ours}:3:Defaults logfile=\"/var/log/sudo.log\"\n"
               "/etc/sudoers.d/90-x:1:Defaults:alice !use_pty, mail_badpass\n")
    probe = Probe(Replies({file_content.SUDOERS_DEFAULTS: listing}))
    evidence = file_content.effective_sudoers(content, probe, ours)
    bad = [e for e in evidence if not e.ok]
    assert [e.item for e in bad] == ["sudo Defaults use_pty"]
    assert "decided by /etc/sudoers.d/90-x:1" in bad[0].actual


def test_journald_takes_the_last_assignment_in_cat_config_order():
    ours = "/etc/systemd/journald.conf.d/60-provdc.conf"
    content = CAT.by_id["VN-LOG-09"].check.content
    cat = ("# /etc/systemd/journald.conf\n[Journal]\n#Storage=auto\n"
           f"# {ours}\n{content}\n"
           "# /etc/systemd/journald.conf.d/99-vendor.conf\n[Journal]\nStorage=volatile\n")
    probe = Probe(Replies({file_content.systemd_cat("journald"): cat}))
    evidence = file_content.effective_systemd(content, probe, ours)
    bad = [e for e in evidence if not e.ok]
    assert [e.item for e in bad] == ["journald Storage"]
    assert bad[0].actual == "volatile (decided by /etc/systemd/journald.conf.d/99-vendor.conf)"


def test_a_later_limits_file_and_a_group_line_override_ours():
    ours = "/etc/security/limits.d/60-provdc-core.conf"
    content = CAT.by_id["VN-KRN-04"].check.content
    good = f"{ours}:2:* hard core 0\n"
    read = file_content.effective_limits
    assert all(e.ok for e in read(content, Probe(Replies({file_content.LIMITS_FILES: good})),
                                  ours))
    later = good + "/etc/security/limits.d/99-vendor.conf:1:*  hard  core  unlimited\n"
    bad = [e for e in read(content, Probe(Replies({file_content.LIMITS_FILES: later})), ours)
           if not e.ok]
    assert len(bad) == 1 and "decided by /etc/security/limits.d/99-vendor.conf:1" in bad[0].actual
    group = good + "/etc/security/limits.d/70-dev.conf:3:@dev - core unlimited\n"
    bad = [e for e in read(content, Probe(Replies({file_content.LIMITS_FILES: group})), ours)
           if not e.ok]
    assert [e.item for e in bad] == ["limits @dev - core"]


PAM = {  # a Debian 12 host after pam-auth-update with the VN-AUTH-03 profiles
    "common-auth": ["auth\trequisite\tpam_faillock.so preauth",
                    "auth\t[success=1 default=ignore]\tpam_unix.so nullok",
                    "auth\t[default=die]\tpam_faillock.so authfail",
                    "auth\trequisite\tpam_deny.so", "auth\trequired\tpam_permit.so"],
    "common-account": ["account\trequired\tpam_faillock.so",
                       "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so",
                       "account\trequisite\tpam_deny.so", "account\trequired\tpam_permit.so"],
    "sshd": ["@include common-auth", "account required pam_nologin.so",
             "@include common-account"],
    "su": ["auth       sufficient pam_rootok.so", "@include common-auth",
           "@include common-account"],
}


def _pam_text(files: dict[str, list[str]]) -> str:
    return "".join(f"@@pam /etc/pam.d/{name}\n" + "\n".join(lines) + "\n"
                   for name, lines in files.items())


def _pam_probe(files: dict[str, list[str]]) -> Probe:
    return Probe(Replies({pam_profile.PAM_FILES: _pam_text(files),
                          **{f"cat /etc/pam.d/{n} 2>/dev/null": "\n".join(lines)
                             for n, lines in files.items()}}))


def test_the_whole_pam_stack_of_every_including_service_is_judged():
    control = CAT.by_id["VN-AUTH-03"]
    assert evaluate(control, _pam_probe(PAM), CTX).status == "pass"  # su's rootok is fine
    permit = {**PAM, "sshd": ["auth sufficient pam_permit.so", *PAM["sshd"]]}
    result = evaluate(control, _pam_probe(permit), CTX)
    bad = [e for e in result.evidence if not e.ok]
    assert [e.item for e in bad] == ["PAM sshd auth stack"]
    assert "ended before it by /etc/pam.d/sshd:1" in bad[0].actual
    done = {**PAM, "su": ["auth [success=done default=ignore] pam_permit.so", *PAM["su"]]}
    assert evaluate(control, _pam_probe(done), CTX).status == "fail"


def test_a_mount_unit_drop_in_decides_the_boot_options():
    fstab = "tmpfs /tmp tmpfs defaults,mode=1777,nodev,nosuid,noexec 0 0\n"
    assert mount_option.boot_options(fstab, "", "/tmp") == (
        "defaults,mode=1777,nodev,nosuid,noexec", "/etc/fstab")
    dropin = "/etc/systemd/system/tmp.mount.d/50-vendor.conf"
    assert mount_option.boot_options(fstab, f"@@dropin {dropin}\nOptions=mode=1777\n",
                                     "/tmp") == ("mode=1777", dropin)
    unit = "/etc/systemd/system/tmp.mount"  # a unit of its own wins over the generator's
    assert mount_option.boot_options(fstab, f"@@unit {unit}\n", "/tmp") == ("", unit)


def test_sysctl_names_the_file_that_decides():
    cat = ("# /etc/sysctl.d/60-provdc-baseline.conf\nkernel.randomize_va_space = 2\n"
           "# /etc/sysctl.d/99-vendor.conf\nkernel.randomize_va_space = 0\n")
    got = sysctl.effective(cat).get("kernel.randomize_va_space")
    assert got == "0 (decided by /etc/sysctl.d/99-vendor.conf)"
    assert sysctl.effective(cat.split("# /etc/sysctl.d/99")[0]).get(
        "kernel.randomize_va_space") == "2"


def test_the_login_shell_reader_names_the_script_that_set_a_wrong_value():
    ours = "/etc/profile.d/provdc-tmout.sh"
    content = CAT.by_id["VN-AUTH-07"].check.content
    mentions = f"{ours}:2:TMOUT=900\n/etc/profile.d/00-vendor-session.sh:1:readonly TMOUT=0\n"
    probe = Probe(Replies({file_content.LOGIN_SHELL_VARS: "TMOUT=0\n",
                           file_content.LOGIN_SHELL_FILES: mentions}))
    bad = [e for e in file_content.effective_login_shell(content, probe, ours) if not e.ok]
    assert len(bad) == 1 and "/etc/profile.d/00-vendor-session.sh:1" in bad[0].actual


def test_overrides_name_only_lines_that_may_be_disabled_alone():
    """The fix may comment out a foreign line only where it sets nothing else and lives in
    an administrator's file: a one-setting sudoers line yes, a line setting two values or a
    package's /usr file no (those stop the role loudly instead)."""
    ours = "/etc/sudoers.d/60-provdc-baseline"
    content = CAT.by_id["VN-AUTH-11"].check.content
    head = f"{ours}:2:Defaults use_pty\n{ours}:3:Defaults logfile=\"/var/log/sudo.log\"\n"

    def overrides(listing):
        probe = Probe(Replies({file_content.SUDOERS_DEFAULTS: head + listing}))
        return [e.override for e in file_content.effective_sudoers(content, probe, ours)
                if not e.ok]

    [alone] = overrides("/etc/sudoers.d/90-x:1:Defaults !use_pty\n")
    assert alone.path == "/etc/sudoers.d/90-x"
    assert re.search(alone.pattern, "Defaults !use_pty", re.M)
    assert overrides("/etc/sudoers.d/90-x:1:Defaults !use_pty, mail_badpass\n") == [None]
    ours_j = "/etc/systemd/journald.conf.d/60-provdc.conf"
    journald = CAT.by_id["VN-LOG-09"].check.content
    cat = f"# {ours_j}\n{journald}\n# /usr/lib/systemd/journald.conf.d/99-pkg.conf\nStorage=auto\n"
    [bad] = [e for e in file_content.effective_systemd(
        journald, Probe(Replies({file_content.systemd_cat("journald"): cat})), ours_j) if not e.ok]
    assert bad.override is None  # a package's file under /usr: never edited
    cat = cat.replace("/usr/lib/", "/etc/")
    [bad] = [e for e in file_content.effective_systemd(
        journald, Probe(Replies({file_content.systemd_cat("journald"): cat})), ours_j) if not e.ok]
    assert bad.override.then.startswith("systemctl restart systemd-journald")
    assert re.search(bad.override.pattern, "Storage=auto", re.M)


def test_the_first_install_line_in_kmods_order_decides_a_module():
    """kmod runs the first `install` line for a module in the name order of every modprobe.d
    file: a vendor's 00- file installing it normally beats our 60- file, whatever
    `--showconfig` also lists."""
    ours = kernel_module_disabled.FILE
    hits = [(ours, "3", "install cramfs /bin/false"),
            ("/etc/modprobe.d/00-vendor.conf", "1",
             "install cramfs /sbin/modprobe --ignore-install cramfs")]
    where = kernel_module_disabled._deciding_install("cramfs", hits)
    assert where == "/etc/modprobe.d/00-vendor.conf:1"
    assert kernel_module_disabled._deciding_install("cramfs", hits[:1]) == f"{ours}:3"
    ev = kernel_module_disabled._install(
        "cramfs", "install /sbin/modprobe --ignore-install cramfs", where)
    assert not ev.ok and "decided by /etc/modprobe.d/00-vendor.conf:1" in ev.actual
    assert re.search(ev.override.pattern, hits[1][2], re.M)
    assert kernel_module_disabled._install("cramfs", "install /bin/false", f"{ours}:3").ok
    # no install line at all: modprobe would load it (in a container: not found)
    assert not kernel_module_disabled._install("cramfs", "modprobe: FATAL: Module cramfs not "
                                               "found in directory /lib/modules/6.1", "").ok


def test_a_profile_scripts_looser_umask_overrides_login_defs():
    control = CAT.by_id["VN-AUTH-05"]
    defs = "ENCRYPT_METHOD SHA512\nSHA_CRYPT_MIN_ROUNDS 5000\nUMASK 027\n"

    def failing(umask_lines: str):
        probe = Probe(Replies({"cat /etc/login.defs 2>/dev/null": defs,
                               key_value.SHELL_UMASK: umask_lines}))
        return [e for e in evaluate(control, probe, CTX).evidence if not e.ok]

    assert failing("") == []
    assert failing("/etc/profile.d/strict.sh:1:umask 077\n") == []  # stricter is fine
    [bad] = failing("/etc/profile.d/00-vendor-umask.sh:1:umask 022\n")
    assert "decided by /etc/profile.d/00-vendor-umask.sh:1" in bad.actual
    assert re.search(bad.override.pattern, "umask 022", re.M)
