"""Rulesets -> nftables text: one table per firewall, replaced in one transaction.

The file declares the table, deletes it and declares it again, so `nft -f` swaps the whole
table atomically and touches no other table (Docker's, the baseline's, anyone's). The table
carries the digest of its own rendering as a comment, so an auditor can tell which rendering
is live before comparing rule by rule.
"""

from __future__ import annotations

import hashlib

from provdc.errors import ProvdcError
from provdc.segmentation.matrix import Addr, Rule, Ruleset

HEADER = "#!/usr/sbin/nft -f\n"


def _set(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _addr(direction: str, addr: Addr | None) -> str:
    if addr is None:
        return ""
    nets = [n.removesuffix("/32") for n in addr.nets]
    return f"ip {direction} {'!= ' if addr.negate else ''}{_set(nets)} "


def _comment(text: str) -> str:
    return _one_line(text).replace('"', "'")[:120]


def _one_line(text: str) -> str:
    """Text that goes into the file (a comment, the title): printable and on one line, or
    refused. The inventory and topology were validated before; this is the last guard of a
    file that runs as root (a newline would start a new nft command)."""
    if not text.isprintable():
        raise ProvdcError(f"refusing to render {text[:60]!r} into an nftables file",
                          field="host or flow text",
                          fix="remove control characters (newline, ESC, ...) from the "
                          "inventory or topology value")
    return text


def port_runs(ports: tuple[int, ...]) -> list[tuple[int, int]]:
    """Sorted ports as (first, last) runs of consecutive numbers."""
    runs: list[list[int]] = []
    for p in sorted(set(ports)):
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return [(a, b) for a, b in runs]


def _ports(ports: tuple[int, ...]) -> str:
    # Runs of three or more ports as nft ranges (the lab's measurement ports are 99 of them);
    # without such a run the ports stay as the matrix lists them (renderings keep their
    # digest).
    runs = port_runs(ports)
    if all(b - a < 2 for a, b in runs):
        return _set([str(p) for p in ports])
    items = []
    for a, b in runs:
        items += [f"{a}-{b}"] if b - a >= 2 else [str(p) for p in range(a, b + 1)]
    return _set(items)


def rule_line(rule: Rule) -> str:
    match = _addr("saddr", rule.src) + _addr("daddr", rule.dst)
    if rule.proto == "icmp":
        match += "meta l4proto icmp "
    else:
        match += f"{rule.proto} dport {_ports(rule.ports)} "
    return f'{match}accept comment "{_comment(rule.why)}"'


def body(rs: Ruleset) -> list[str]:
    lines = [f"type filter hook {rs.hook} priority filter; policy drop;"]
    if rs.hook == "input":
        lines.append('iif "lo" accept')
    lines += ["ct state established,related accept", "ct state invalid drop"]
    lines += [rule_line(r) for r in rs.rules]
    if rs.egress_drop and rs.outside is not None:
        src = Addr.of([n for a in rs.egress_drop for n in a.nets])
        lines.append(f'{_addr("saddr", src)}{_addr("daddr", rs.outside)}counter drop '
                     f'comment "egress control: DB and MGMT reach outside only as listed"')
    lines.append('counter drop comment "not in the allowed-flow matrix"')
    return lines


def digest(rs: Ruleset) -> str:
    text = "\n".join([rs.table, rs.hook, *body(rs)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render(rs: Ruleset) -> str:
    """The whole file for `nft -f` (the same bytes wherever the topology file lies)."""
    head = [HEADER.rstrip(), f"# provdc segmentation: {_one_line(rs.title)}.",
            "# Rendered from the topology's flow matrix; do not edit (re-render instead)."]
    chain = "\n".join(f"    {line}" for line in body(rs))
    return "\n".join([
        *head,
        f"table inet {rs.table}",
        f"delete table inet {rs.table}",
        f"table inet {rs.table} {{",
        f'  comment "provdc segmentation {digest(rs)}"',
        f"  chain {rs.hook} {{",
        chain,
        "  }",
        "}",
        "",
    ])


def size(rs: Ruleset) -> dict:
    """Rules and address entries of a ruleset (the benchmark's 'ruleset size')."""
    lines = body(rs)
    entries = sum(len(r.src.nets) if r.src else 0 for r in rs.rules) + sum(
        len(r.dst.nets) if r.dst else 0 for r in rs.rules)
    return {"rules": len(lines) - 1, "addresses": entries, "bytes": len(render(rs).encode())}
