"""Where the fix writes and the check reads: one definition shared by both renderers."""

from __future__ import annotations

import re
import shlex

# Sideways on purpose: VN-NET-09 is the host firewall the segmentation package renders and
# applies; the check reads its boot copy where that package's apply script keeps it.
from provdc.segmentation.nftapply import BOOT_DIR

# The role renders these files from the selected controls of each kind; the check reads them.
SYSCTL_FILE = "/etc/sysctl.d/60-provdc-baseline.conf"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/05-provdc-baseline.conf"
MODPROBE_FILE = "/etc/modprobe.d/60-provdc-baseline.conf"
PAM_CONFIGS_DIR = "/usr/share/pam-configs"

# The host firewall (VN-NET-09) is the segmentation engine's: the confirmed table is kept for
# boot under BOOT_DIR and loaded by this unit.
FIREWALL_UNIT = "provdc-segmentation.service"
FIREWALL_SCRIPT = "/usr/local/sbin/provdc-segmentation"


def firewall_compare(table: str) -> str:
    """The apply script's comparison of the live table with its confirmed boot copy (JSON
    with `changed` and `differences`)."""
    return f"{FIREWALL_SCRIPT} check {firewall_boot_file(table)} 2>&1"


def firewall_boot_file(table: str) -> str:
    return f"{BOOT_DIR}/{table}.nft"

# Every sysctl file in the order systemd-sysctl applies it (later assignments win).
SYSCTL_CAT = (
    "/lib/systemd/systemd-sysctl --cat-config 2>/dev/null || cat /usr/lib/sysctl.d/*.conf "
    "/etc/sysctl.d/*.conf /etc/sysctl.conf 2>/dev/null"
)
# The configuration sshd applies to a new root connection from localhost.
SSHD_EFFECTIVE = "sshd -T -C user=root,host=localhost,addr=127.0.0.1 2>&1"
# The configuration sshd applies in every connection context its Match blocks name (one
# `sshd -T -C` per Match line of sshd_config and its drop-ins, with that block's Address,
# User, Host, LocalAddress or LocalPort satisfied), each framed by "@@ctx FILE:LINE SPEC":
# a Match block that turns an option back on for some peers is seen here, where a plain
# `sshd -T` never evaluates it. One command, so the audit's batch stays one round trip.
SSHD_CONTEXTS = r"""for f in /etc/ssh/sshd_config /etc/ssh/sshd_config.d/*.conf; do
  [ -f "$f" ] && grep -HniE '^[[:space:]]*match[[:space:]]' "$f"
done 2>/dev/null | while IFS= read -r hit; do
  where=${hit%%:[Mm][Aa][Tt][Cc][Hh]*}; where=${where%%:[[:space:]]*}
  spec=$(printf '%s
' "${hit#*:*:}" | awk '{
    u="root"; h="localhost"; a="127.0.0.1"; la=""; lp="";
    for (i = 2; i < NF; i += 2) { k = tolower($i); v = $(i + 1);
      n = split(v, parts, ","); v = "";
      for (j = 1; j <= n; j++) if (substr(parts[j], 1, 1) != "!") { v = parts[j]; break }
      if (v == "") continue; gsub(/\*/, "1", v); gsub(/\?/, "1", v); sub(/\/.*/, "", v);
      if (k == "user") u = v; else if (k == "host") h = v; else if (k == "address") a = v;
      else if (k == "localaddress") la = v; else if (k == "localport") lp = v }
    s = "user=" u ",host=" h ",addr=" a;
    if (la != "") s = s ",laddr=" la; if (lp != "") s = s ",lport=" lp; print s }')
  echo "@@ctx $where $spec"
  sshd -T -C "$spec" 2>&1
done"""

# Every Defaults line sudo reads, in its order: /etc/sudoers, then the files of
# /etc/sudoers.d in lexical order, skipping names that end in '~' or contain a '.' (as
# sudo's @includedir does). A later Defaults wins.
SUDOERS_DEFAULTS = r"""for f in /etc/sudoers $(ls /etc/sudoers.d 2>/dev/null | LC_ALL=C sort |
    grep -v -e '~$' -e '[.]' | sed 's|^|/etc/sudoers.d/|'); do
  [ -f "$f" ] && grep -HnE '^[[:space:]]*Defaults' "$f"
done 2>/dev/null"""

# journald's configuration as it reads it: journald.conf then its drop-ins, each file under
# a "# /path" header (later assignments win).
JOURNALD_CAT = "systemd-analyze cat-config systemd/journald.conf 2>&1"
# apt's merged configuration, and every file of apt.conf.d that assigns something, in apt's
# (lexical) order with line numbers, to name the file that decided.
APT_DUMP = "apt-config dump 2>&1"
APT_FILES = ("for f in /etc/apt/apt.conf $(ls /etc/apt/apt.conf.d 2>/dev/null | LC_ALL=C sort "
             "| sed 's|^|/etc/apt/apt.conf.d/|'); do [ -f \"$f\" ] && grep -Hn '\"' \"$f\"; "
             "done 2>/dev/null")
# What a root login shell ends up with after /etc/profile and every profile.d script.
LOGIN_SHELL_VARS = ("env -i HOME=/root TERM=dumb bash -l -c 'for v in TMOUT; do "
                    "eval \"echo $v=\\${$v-unset}\"; done' </dev/null 2>/dev/null")

# accounts rules: (argv printing the offending names, what it must print)
ACCOUNT_QUERIES: dict[str, tuple[list[str], str]] = {
    "uid0_only_root": (["awk", "-F:", "$3 == 0 {print $1}", "/etc/passwd"], "root"),
    "no_empty_password": (["awk", "-F:", '$2 == "" {print $1}', "/etc/shadow"], ""),
    "system_nologin": (
        ["awk", "-F:", "$3 > 0 && $3 < 1000 && $1 !~ /^(sync|shutdown|halt)$/ && "
         "$7 !~ /(nologin|false)$/ {print $1}", "/etc/passwd"],
        "",
    ),
}


def auditd_rules_file(control) -> str:
    return f"/etc/audit/rules.d/{control.check.order}-provdc-{control.id.lower()}.rules"


def find_argv(params, fix: bool = False) -> list[str]:
    argv = ["find", *params.paths]
    if params.xdev:
        argv.append("-xdev")
    argv += params.expression
    argv += ["-exec", *params.fix, "{}", "+"] if fix else ["-print"]
    return argv


def find_command(params, fix: bool = False) -> str:
    return shlex.join(find_argv(params, fix))


def nft_ports(chain_listing: str) -> set[str]:
    """Ports accepted by `tcp dport` rules in an `nft list chain` output."""
    ports: set[str] = set()
    for m in re.finditer(r"tcp dport (\{[^}]*\}|\S+) accept", chain_listing):
        ports.update(p.strip() for p in m.group(1).strip("{} ").split(","))
    return ports
