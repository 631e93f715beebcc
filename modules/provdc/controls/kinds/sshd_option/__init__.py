"""sshd_option: sshd settings, in one drop-in read before every other configuration file
(sshd keeps the first value it sees for an option).

Effective state: `sshd -T -C` for root from localhost, for the auditor's own connection (the
address and user of the session the probe runs in), and in every connection context a
`Match` block names (its Address, User, Host... satisfied), so a Match block that turns an
option back on for some peers fails the control, naming the file and line of the Match. A
wrong effective value is traced to the line that set it: the first one outside a Match block
in sshd's own reading order (sshd_config with its Include lines expanded in place).

Foreign drift: the breaker is a drop-in read before ours; the foreign breaker appends a
`Match Address` block to sshd_config weakening the first option sshd allows in Match, or,
for VN-SSH-03 (ciphers and key exchange cannot be set per context), is that drop-in read
before ours. A line outside any Match block in a file with no Match block is disabled by the
fix (sshd reloaded after `sshd -t`); a Match block stops the role loudly: disabling one line
of it would change what the block means.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from provdc.controls.base import (
    PERSISTED,
    RUNTIME,
    Breaker,
    Evidence,
    Override,
    Scalar,
    Strict,
    active_lines,
    norm,
    overridable,
    snapshot,
)

if TYPE_CHECKING:
    from provdc.controls.model import Control
    from provdc.controls.probe import Probe

KINDS = ("sshd_option",)
DROPIN = "/etc/ssh/sshd_config.d/05-provdc-baseline.conf"
MAIN = "/etc/ssh/sshd_config"
TEMPLATE = "sshd_baseline.conf.j2"
BREAK_FILE = "/etc/ssh/sshd_config.d/00-provdc-break.conf"  # read before ours: it wins
# The configuration sshd applies to a new root connection from localhost.
EFFECTIVE = "sshd -T -C user=root,host=localhost,addr=127.0.0.1 2>&1"
# The configuration sshd applies in every connection context its Match blocks name (one
# `sshd -T -C` per Match line of sshd_config and its drop-ins, with that block's Address,
# User, Host, LocalAddress or LocalPort satisfied), each framed by "@@ctx FILE:LINE SPEC":
# a Match block that turns an option back on for some peers is seen here, where a plain
# `sshd -T` never evaluates it. One command, so the audit's batch stays one round trip.
CONTEXTS = r"""if [ -n "${SSH_CLIENT:-}" ]; then
  spec="user=$(id -un),host=${SSH_CLIENT%% *},addr=${SSH_CLIENT%% *}"
  echo "@@ctx session $spec"
  sshd -T -C "$spec" 2>&1
fi
for f in /etc/ssh/sshd_config /etc/ssh/sshd_config.d/*.conf; do
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
# Every active line of sshd's configuration in the order sshd reads it, as FILE:LINE:TEXT:
# sshd_config with each Include expanded in place (relative paths under /etc/ssh, globs in
# sorted order, as sshd does). The first line outside a Match block for an option decides it.
READ_ORDER = r"""walk() {
  local f="$1" n=0 l g p
  while IFS= read -r l || [ -n "$l" ]; do
    n=$((n + 1))
    set -f; set -- $l; set +f
    case "$1" in
      [Ii][Nn][Cc][Ll][Uu][Dd][Ee]) shift
        for g in "$@"; do
          case "$g" in /*) ;; *) g="/etc/ssh/$g" ;; esac
          for p in $g; do [ -f "$p" ] && walk "$p"; done
        done ;;
      ''|'#'*) ;;
      *) printf '%s:%s:%s\n' "$f" "$n" "$l" ;;
    esac
  done < "$f"
}
walk /etc/ssh/sshd_config 2>/dev/null"""
# After disabling a line: reload sshd only if the whole configuration still validates.
RELOAD = "sh -c '/usr/sbin/sshd -t && systemctl reload sshd'"
# Keywords sshd accepts inside a Match block (sshd_config(5)) among the catalogue's options:
# only these can be weakened per connection context.
MATCHABLE = {
    "passwordauthentication", "permitrootlogin", "permitemptypasswords",
    "hostbasedauthentication", "kbdinteractiveauthentication", "maxauthtries", "maxsessions",
    "clientaliveinterval", "clientalivecountmax", "allowtcpforwarding",
    "allowagentforwarding", "x11forwarding", "permittunnel", "loglevel", "ignorerhosts",
    "banner",
}


class Params(Strict):
    kind: Literal["sshd_option"]
    options: dict[str, Scalar] = Field(min_length=1)
    # the value a breaker writes for each option (must differ from the wanted one)
    bad: dict[str, Scalar] = Field(min_length=1)

    @model_validator(mode="after")
    def _bad_covers(self) -> Params:
        missing = set(self.options) - set(self.bad)
        if missing:
            raise ValueError(f"bad: needs a breaking value for {sorted(missing)}")
        return self


PARAMS = (Params,)


def check(control: Control, probe: Probe, runtime: bool) -> list[Evidence]:
    effective = {}
    for line in probe.out(EFFECTIVE).splitlines():
        key, _, value = line.partition(" ")
        effective[key.lower()] = value.strip()
    dropin = {}
    for line in active_lines(probe.read(DROPIN)):
        key, _, value = line.partition(" ")
        dropin.setdefault(key.lower(), value.strip())
    found = contexts(probe.out(CONTEXTS))
    deciding = first_setters(probe.out(READ_ORDER))
    ev = []
    for key, want in control.check.options.items():
        want_n = _norm(want)
        got = effective.get(key.lower(), "not reported by sshd -T")
        ev.append(_runtime(key, str(want), got, _norm(got) == want_n,
                           deciding.get(key.lower())))
        for where, spec, values in found:  # what each Match block makes of it
            got = values.get(key.lower(), "not reported by sshd -T -C")
            if _norm(got) != want_n:
                context = ("the auditor's own connection" if where == "session"
                           else f"Match at {where}")
                ev.append(Evidence(f"{key} ({context}: {spec})", RUNTIME, str(want), got,
                                   False))
        got = dropin.get(key.lower(), f"not in {DROPIN}")
        ev.append(Evidence(key, PERSISTED, str(want), got, _norm(got) == want_n))
    return ev


def _runtime(key: str, want: str, got: str, ok: bool,
             setter: tuple[str, int, bool] | None) -> Evidence:
    """The global value, and on a wrong one the line that set it; that line is disabled by
    the fix only when it is an administrator's and its file has no Match block."""
    if ok or setter is None:
        return Evidence(key, RUNTIME, want, got, ok)
    path, line, file_has_match = setter
    override = None
    if path != DROPIN and overridable(path) and not file_has_match:
        override = Override(path, rf"^[ \t]*{re.escape(key)}(?:[ \t]*=[ \t]*|[ \t]+).*$",
                            RELOAD)
    return Evidence(key, RUNTIME, want, f"{got} (set at {path}:{line})", ok, override)


def first_setters(text: str) -> dict[str, tuple[str, int, bool]]:
    """option (lower case) -> (file, line, whether that file has a Match block) of the first
    line outside a Match block that sets it, from READ_ORDER's output."""
    first: dict[str, tuple[str, int]] = {}
    in_match: set[str] = set()  # files whose Match block has begun
    for row in text.splitlines():
        path, _, rest = row.partition(":")
        number, _, line = rest.partition(":")
        found = re.match(r"\s*([A-Za-z]+)", line)
        if not found or not number.isdigit():
            continue
        key = found.group(1).lower()
        if key == "match":
            in_match.add(path)
        elif path not in in_match:
            first.setdefault(key, (path, int(number)))
    return {k: (p, n, p in in_match) for k, (p, n) in first.items()}


def contexts(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """(file:line of the Match, the -C spec, sshd's effective options there) per Match."""
    out: list[tuple[str, str, dict[str, str]]] = []
    for line in text.splitlines():
        if line.startswith("@@ctx "):
            where, _, spec = line[6:].partition(" ")
            out.append((where, spec, {}))
        elif out:
            key, _, value = line.partition(" ")
            out[-1][2][key.lower()] = value.strip()
    return out


def _norm(value: object) -> str:
    # sshd -T reports prohibit-password under its old name
    return norm(value).replace("without-password", "prohibit-password")


def fix_items(control: Control) -> list[dict]:
    return [{"id": control.id, "option": k, "value": str(v)}
            for k, v in control.check.options.items()]


def breaker(control: Control, in_container: bool) -> Breaker:
    """A drop-in read before ours (sshd keeps the first value): a foreign file wins."""
    option = next(iter(control.check.options))
    return Breaker(control.id, f"echo '{option} {control.check.bad[option]}' > {BREAK_FILE}",
                   f"rm -f {BREAK_FILE}", names=BREAK_FILE)


def foreign_breaker(control: Control) -> Breaker | None:
    """A Match block at the end of sshd_config that weakens the first option sshd allows
    there, for one subnet: `sshd -T` alone never evaluates it. For options no Match block
    may set (ciphers, key exchange), the drop-in read before ours: it too leaves our file
    alone."""
    option = next((o for o in control.check.options if o.lower() in MATCHABLE), None)
    if option is None:
        return breaker(control, in_container=False)
    save, back = snapshot([MAIN])
    block = f"Match Address 10.99.0.0/16\n    {option} {control.check.bad[option]}"
    return Breaker(control.id, f"printf '\\n%s\\n' {shlex.quote(block)} >> {MAIN}", back, save,
                   names=f"Match at {MAIN}")


def touched(control: Control) -> list[str]:
    return [DROPIN, MAIN]


def apply(engine, kind: str, sel, osv: dict) -> None:
    """Drop-in and Include validated with `sshd -t -f` as candidates; the whole
    configuration validated again right before the reload."""
    ops, sshd, ids = engine.ops, osv["baseline_sshd_bin"], " ".join(sel.ids[kind])
    include = ops.line_in_file(
        name=f"sshd: sshd_config includes sshd_config.d | {ids}", path=MAIN,
        regexp=r"^\s*Include\s+/etc/ssh/sshd_config\.d/\*\.conf",
        line="Include /etc/ssh/sshd_config.d/*.conf", insertbefore="BOF",
        validate=f"{sshd} -t -f %s")
    dropin = ops.managed_file(name=f"sshd_option: {DROPIN} | {ids}", path=DROPIN,
                              content=engine.render(TEMPLATE), mode="0600",
                              validate=f"{sshd} -t -f %s")
    ops.run_when(name="sshd: validate the whole configuration, then reload",
                 command=f"{sshd} -t && systemctl reload {osv['baseline_sshd_service']}",
                 when=ops.changed([include, dropin]))
