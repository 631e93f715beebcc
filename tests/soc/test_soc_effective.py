"""The SOC checks read what rsyslog and chronyd will use, whoever wrote it.

The rsyslog input is rsyslogd's own dump of its configuration (`rsyslogd -N1 -o FILE`, rsyslog
8.2302 of Debian 12), captured from a lab image where a vendor snippet sorted before ours
discards auth events: the order and framing are rsyslog's, not ours.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provdc.audit.compliance.test_soc import (
    FORWARD,
    _selects_auth,
    _split_grep,
    discards_before,
)

DUMP = (Path(__file__).parent / "data" / "rsyslog-full.conf").read_text()


def test_a_discard_parsed_before_the_forward_is_named_with_its_file_and_line():
    # 20-mail.conf stops mail and everything but auth (not ours to judge); 70-late.conf
    # discards auth after the forward has taken its copy
    assert discards_before(DUMP, FORWARD) == ["/etc/rsyslog.d/10-vendor.conf:2: "
                                              "auth,authpriv.* stop"]


def test_without_the_vendor_snippet_nothing_is_discarded_before_the_forward():
    clean = DUMP.replace("auth,authpriv.* stop", "# removed")
    assert discards_before(clean, FORWARD) == []


@pytest.mark.parametrize("selector, takes_auth", [
    ("auth,authpriv.*", True), ("*.*", True), ("*.info", True),
    ("*.*;auth,authpriv.none", False), ("*.*;auth.none", True),  # authpriv still taken
    ("mail.*", False), ("authpriv.none", False),
])
def test_selectors_take_auth_as_rsyslog_reads_them(selector, takes_auth):
    assert _selects_auth(selector) is takes_auth


def test_chrony_sources_keep_their_file_and_line():
    assert _split_grep("/etc/chrony/conf.d/50-vendor.conf:3:pool 2.debian.pool.ntp.org") == (
        "/etc/chrony/conf.d/50-vendor.conf:3", "pool 2.debian.pool.ntp.org")
