"""Effective-state readers against canned host output (the lab tests break real hosts)."""

from __future__ import annotations

from types import SimpleNamespace

from provdc.controls import catalogue
from provdc.controls.checks import HostContext, evaluate
from provdc.controls.kinds import file_content, sshd_option
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
    probe = Probe(Replies({file_content.JOURNALD_CAT: cat}))
    evidence = file_content.effective_journald(content, probe, ours)
    bad = [e for e in evidence if not e.ok]
    assert [e.item for e in bad] == ["journald Storage"]
    assert bad[0].actual == "volatile (decided by /etc/systemd/journald.conf.d/99-vendor.conf)"
