#!/usr/bin/env python3
"""One HTB tree per shaped interface: model, tc batch renderer, live parser, comparator, apply.

Standard library only on purpose: this file is ALSO the script installed on every site
gateway (`provdc-bandwidth`), so the controller (Ansible, pyinfra, tests) and the gateway
render, parse and compare with the very same code.

A *spec* (JSON, written by `provdc.qos.policy`) says what a link must guarantee: classes with
their DSCP, rate and ceiling. `tree_from_spec` turns it into a concrete `Tree` (HTB classes,
leaf qdiscs, u32 filters, explicit burst and quantum). `apply` makes the live interface match
that tree atomically:

1. read the live tree; if it already matches, change nothing;
2. validate the new batch on a scratch veth pair (the kernel's own verdict, not ours);
3. replace the whole tree in one `tc -batch`, then read it back and compare;
4. if step 3 fails, restore the previous tree from its own parsed form.

Command line (on a gateway): `provdc-bandwidth apply|check|render SPEC.json...` and
`provdc-bandwidth show DEV`. Every command prints one JSON document on stdout.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field

MTU_FRAME = 1514  # an Ethernet frame at MTU 1500, the unit HTB quantum must not go below
LEAF_PREFERENCE = ("fq_codel", "pfifo")  # fq_codel where the kernel has it, else a FIFO
ROOT_HANDLE = "1:"
ROOT_CLASS = "1:1"
# Runtime state (a lock, the leaf-qdisc probe result): /run, emptied at boot.
RUN_DIR = os.environ.get("PROVDC_BANDWIDTH_RUN_DIR", "/run")
LOCK_FILE = os.path.join(RUN_DIR, "provdc-bandwidth.lock")
LEAF_CACHE = os.path.join(RUN_DIR, "provdc-bandwidth-leaf.json")

# Rate/burst comparisons allow for the kernel storing rates in bytes/s and bursts in ticks.
RATE_TOLERANCE = 0.001
BURST_TOLERANCE = 0.03


class TcError(Exception):
    """tc refused something; the message carries tc's own words."""


# --- the tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HtbClass:
    classid: str  # "1:10"
    parent: str  # "1:1", or "1:" for the root class
    rate: int  # bit/s
    ceil: int  # bit/s
    burst: int  # bytes
    cburst: int  # bytes
    prio: int | None = None  # leaves only (tc prints them for leaves only)
    quantum: int | None = None


@dataclass(frozen=True)
class Leaf:
    parent: str  # the HTB class this qdisc hangs off
    kind: str
    limit: int | None = None  # packets, for pfifo


@dataclass(frozen=True)
class U32Filter:
    protocol: str  # "ip" or "ipv6"
    pref: int
    flowid: str
    keys: tuple[tuple[int, int, int], ...]  # (value, mask, offset) 32-bit words


@dataclass(frozen=True)
class Tree:
    default: int  # minor of the default class (hex in tc's notation)
    classes: tuple[HtbClass, ...]
    leaves: tuple[Leaf, ...]
    filters: tuple[U32Filter, ...]
    r2q: int = 10

    def cls(self, classid: str) -> HtbClass | None:
        return next((c for c in self.classes if c.classid == classid), None)

    def leaf(self, classid: str) -> Leaf | None:
        return next((q for q in self.leaves if q.parent == classid), None)


@dataclass
class Live:
    """What an interface carries now: our kind of tree, nothing, or something foreign."""

    tree: Tree | None
    root_kind: str  # "htb", "noqueue", "pfifo_fast", "tbf", ...
    problems: list[str] = field(default_factory=list)  # why it is not a tree we can restore

    @property
    def is_default(self) -> bool:
        return self.root_kind in ("noqueue", "pfifo_fast", "mq", "") and self.tree is None

    @property
    def foreign(self) -> bool:
        """Someone else's root qdisc (a tbf, netem, cake, another HTB): apply would replace
        it and could not put it back on failure, so apply refuses it."""
        return not self.is_default and (self.root_kind != "htb" or any(
            "handle" in p for p in self.problems))


# --- spec -> tree -------------------------------------------------------------------------


def dscp_prio(codepoint: int) -> int:
    """HTB borrowing priority from the DSCP: real time first, scavenger (CS1, LE) last."""
    if codepoint in (1, 8):
        return 4
    if codepoint >= 40:  # CS5, VA, EF, CS6, CS7
        return 0
    if codepoint >= 24:  # CS3..AF43
        return 1
    if codepoint >= 10:  # AF1x, CS2, AF2x
        return 2
    return 3


def burst_bytes(rate_bit: int) -> int:
    """Explicit burst: 5 ms at the rate, at least ten full frames, in whole KiB.

    iproute2 up to 6.14 derives a default burst that is too small for software timers, and
    TCP then backs off below the contracted rate; an explicit value avoids it.
    """
    need = max(rate_bit / 8 * 0.005, 10 * MTU_FRAME)
    return int(math.ceil(need / 1024) * 1024)


def quantum_bytes(rate_bit: int) -> int:
    """What the kernel would pick with r2q 10, kept between one frame and its 200 kB warning."""
    return max(MTU_FRAME, min(rate_bit // 8 // 10, 200_000))


def fifo_limit(ceil_bit: int) -> int:
    """A FIFO leaf holds about 100 ms at its ceiling (at least 30 packets)."""
    return max(30, math.ceil(ceil_bit / 8 * 0.1 / MTU_FRAME))


def dscp_keys(protocol: str, codepoint: int) -> tuple[tuple[int, int, int], ...]:
    """The u32 key matching a DSCP: `ip dsfield` (IPv4) or `ip6 priority` (IPv6)."""
    tos = codepoint << 2
    if protocol == "ip":
        return ((tos << 16, 0xFC << 16, 0),)
    return ((tos << 20, 0xFC << 20, 0),)


def tree_from_spec(spec: dict, leaf_kind: str) -> Tree:
    root_rate = int(spec["shaped_kbit"]) * 1000
    classes = [HtbClass(ROOT_CLASS, ROOT_HANDLE, root_rate, root_rate, burst_bytes(root_rate),
                        burst_bytes(root_rate), None, quantum_bytes(root_rate))]
    leaves, filters = [], []
    default = None
    for c in spec["classes"]:
        rate, ceil = int(c["rate_kbit"]) * 1000, int(c["ceil_kbit"]) * 1000
        classes.append(HtbClass(c["classid"], ROOT_CLASS, rate, ceil, burst_bytes(rate),
                                burst_bytes(ceil), dscp_prio(c["codepoint"]), quantum_bytes(rate)))
        leaves.append(Leaf(c["classid"], leaf_kind, fifo_limit(ceil) if leaf_kind == "pfifo"
                           else None))
        if c.get("default"):
            default = minor(c["classid"])
        if c.get("default") and c["codepoint"] == 0:
            continue  # unmarked traffic reaches the default class without a filter
        for pref, proto in ((1, "ip"), (2, "ipv6")):
            filters.append(U32Filter(proto, pref, c["classid"], dscp_keys(proto, c["codepoint"])))
    if default is None:
        raise ValueError("the spec has no default class")
    return Tree(default, tuple(classes), tuple(leaves), tuple(filters))


def minor(classid: str) -> int:
    return int(classid.split(":")[1] or "0", 16)


# --- tree -> tc batch ---------------------------------------------------------------------


# This file also runs on the hosts (standard library only), so it keeps its own copy of the
# two checks; the controller has refused such values earlier (provdc.hosts.contract).
DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}")


def check_device_name(dev: object) -> str:
    """An interface name as `ip link` has it; never text tc would read as more syntax."""
    if not isinstance(dev, str) or not DEVICE_NAME.fullmatch(dev):
        raise ValueError(f"not an interface name: {dev!r}")
    return dev


def check_label(text: object) -> str:
    """A class name for a `#` comment: printable, one line."""
    if not isinstance(text, str) or not text.isprintable():
        raise ValueError(f"not a printable one-line class name: {text!r}")
    return text


def render_batch(dev: str, tree: Tree, names: dict[str, str] | None = None) -> str:
    """The full replacement of `dev`'s egress tree as `tc -batch` input.

    The first line grafts a throwaway FIFO at the root, which drops every old class and
    filter; the second then creates a fresh HTB (replacing an HTB in place would keep
    stale classes). Both happen inside one tc process, a few milliseconds apart.
    """
    check_device_name(dev)
    for name in (names or {}).values():
        check_label(name)
    lines = [f"qdisc replace dev {dev} root handle ffff: pfifo",
             f"qdisc replace dev {dev} root handle {ROOT_HANDLE} htb default {tree.default:x} "
             f"r2q {tree.r2q}"]
    for c in _parents_first(tree.classes):
        line = (f"class add dev {dev} parent {c.parent} classid {c.classid} htb "
                f"rate {c.rate // 1000}kbit ceil {c.ceil // 1000}kbit "
                f"burst {c.burst} cburst {c.cburst}")
        if c.prio is not None:
            line += f" prio {c.prio}"
        if c.quantum is not None:
            line += f" quantum {c.quantum}"
        lines.append(line + (f"  # {names[c.classid]}" if names and c.classid in names else ""))
    for q in tree.leaves:
        handle = f"{minor(q.parent):x}:"
        opts = f" limit {q.limit}" if q.limit is not None else ""
        lines.append(f"qdisc add dev {dev} parent {q.parent} handle {handle} {q.kind}{opts}")
    for f in tree.filters:
        keys = " ".join(f"match u32 0x{v:08x} 0x{m:08x} at {o}" for v, m, o in f.keys)
        lines.append(f"filter add dev {dev} parent {ROOT_HANDLE} protocol {f.protocol} "
                     f"prio {f.pref} u32 {keys} flowid {f.flowid}")
    return "\n".join(lines) + "\n"


def _parents_first(classes: tuple[HtbClass, ...]) -> list[HtbClass]:
    """HTB silently makes a class whose parent does not exist yet a top-level one."""
    ids = {c.classid for c in classes}

    def depth(c: HtbClass) -> int:
        seen = 0
        while c.parent in ids and seen < len(ids):
            c = next(p for p in classes if p.classid == c.parent)
            seen += 1
        return seen

    return sorted(classes, key=lambda c: (depth(c), minor(c.classid)))


# --- live tree parsing --------------------------------------------------------------------

_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_rate(text: str) -> int:
    """'28500Kbit' -> 28500000 bit/s (tc prints SI prefixes; 'Kibit' means 1024)."""
    m = re.fullmatch(r"([\d.]+)([KMGT]?)(i?)bit", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a tc rate: {text!r}")
    base = 1024 if m.group(3) else 1000
    power = "kmgt".find(m.group(2).lower()) + 1 if m.group(2) else 0
    return round(float(m.group(1)) * base**power)


def parse_size(text: str) -> int:
    """'15Kb' -> 15360 bytes; '1600b' -> 1600; a '/cell' suffix is ignored."""
    m = re.fullmatch(r"([\d.]+)([KMG]?)b?(/\d+)?", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a tc size: {text!r}")
    return round(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def parse_classes(text: str) -> list[HtbClass]:
    """Parse `tc -d class show` (text: iproute2 6.1 prints no JSON for HTB classes)."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != "class" or words[1] != "htb":
            continue  # statistics lines, or classes of other qdiscs (fq_codel flows)
        kv = _pairs(words[3:])
        parent = kv.get("parent") or f"{words[2].split(':')[0]}:"
        out.append(HtbClass(
            classid=words[2], parent=parent, rate=parse_rate(kv["rate"]),
            ceil=parse_rate(kv["ceil"]), burst=parse_size(kv["burst"]),
            cburst=parse_size(kv["cburst"]),
            prio=int(kv["prio"]) if "prio" in kv and "leaf" in kv else None,
            quantum=int(kv["quantum"]) if "quantum" in kv and "leaf" in kv else None))
    return out


def _pairs(words: list[str]) -> dict[str, str]:
    """tc prints 'key value' pairs, with 'root' standing alone for the top class."""
    kv: dict[str, str] = {}
    i = 0
    while i < len(words):
        if words[i] == "root":
            i += 1
            continue
        if i + 1 < len(words):
            kv.setdefault(words[i], words[i + 1])
        i += 2
    return kv


def _json_pairs(pairs: list[tuple[str, object]]) -> dict:
    """tc repeats 'match' for multi-key u32 filters; keep every one of them."""
    out: dict = {}
    for k, v in pairs:
        if k == "match":
            out.setdefault("match", []).append(v)
        else:
            out[k] = v
    return out


def parse_filters(text: str) -> list[U32Filter]:
    """Parse `tc -j filter show dev X parent 1:` (u32 JSON is complete in iproute2 6.1)."""
    out = []
    for item in json.loads(text or "[]", object_pairs_hook=_json_pairs):
        opts = item.get("options") or {}
        if item.get("kind") != "u32" or "match" not in opts or "flowid" not in opts:
            continue  # hash-table headers, not rules
        keys = tuple((int(k["value"], 16), int(k["mask"], 16), int(k["off"]))
                     for k in opts["match"])
        out.append(U32Filter(item.get("protocol", "all"), int(item["pref"]), opts["flowid"],
                             keys))
    return out


def parse_qdiscs(text: str) -> list[dict]:
    return json.loads(text or "[]")


def assemble(qdiscs: list[dict], classes: list[HtbClass], filters: list[U32Filter]) -> Live:
    root = next((q for q in qdiscs if q.get("root")), None)
    kind = root["kind"] if root else ""
    if kind != "htb":
        return Live(None, kind, [] if kind in ("noqueue", "pfifo_fast", "mq", "")
                    else [f"the root qdisc is {kind}, not htb"])
    problems = []
    if root["handle"] != ROOT_HANDLE:
        problems.append(f"the HTB root has handle {root['handle']}, not {ROOT_HANDLE}")
    leaves = []
    for q in qdiscs:
        if q.get("root") or not str(q.get("parent", "")).startswith("1:"):
            continue
        limit = (q.get("options") or {}).get("limit") if q["kind"] in ("pfifo", "bfifo") else None
        leaves.append(Leaf(q["parent"], q["kind"], limit))
    opts = root.get("options") or {}
    tree = Tree(int(str(opts.get("default", "0")), 16), tuple(classes), tuple(leaves),
                tuple(filters), int(opts.get("r2q", 10)))
    return Live(tree, kind, problems)


# --- comparison ---------------------------------------------------------------------------


def _close(a: int, b: int, rel: float, slack: int = 0) -> bool:
    return abs(a - b) <= max(rel * max(a, b), slack)


def diff(want: Tree, live: Live, names: dict[str, str] | None = None) -> list[str]:
    """Human-readable differences between the desired tree and the live one; [] if equal."""
    names = names or {}

    def label(classid: str) -> str:
        return f"class {classid}" + (f" ({names[classid]})" if classid in names else "")

    if live.tree is None:
        return [f"no HTB tree (root qdisc: {live.root_kind or 'none'})"]
    have = live.tree
    out = list(live.problems)
    if have.default != want.default:
        out.append(f"default class is 1:{have.default:x}, want 1:{want.default:x}")
    for w in want.classes:
        h = have.cls(w.classid)
        if h is None:
            out.append(f"{label(w.classid)} is missing")
            continue
        out += _class_diff(label(w.classid), w, h, is_leaf=want.leaf(w.classid) is not None)
    for h in have.classes:
        if want.cls(h.classid) is None:
            out.append(f"unexpected {label(h.classid)}")
    for w in want.leaves:
        h = have.leaf(w.parent)
        if h is None:
            out.append(f"{label(w.parent)} has no leaf qdisc, want {w.kind}")
        elif (h.kind, h.limit) != (w.kind, w.limit):
            out.append(f"{label(w.parent)} leaf is {_leaf_text(h)}, want {_leaf_text(w)}")
    extra = [q for q in have.leaves if not any(w.parent == q.parent for w in want.leaves)]
    out += [f"unexpected leaf qdisc {_leaf_text(q)} under {q.parent}" for q in extra]
    want_f, have_f = sorted(want.filters, key=_fkey), sorted(have.filters, key=_fkey)
    for f in want_f:
        if f not in have_f:
            out.append(f"missing filter {_filter_text(f, names)}")
    for f in have_f:
        if f not in want_f:
            out.append(f"unexpected filter {_filter_text(f, names)}")
    return out


def _class_diff(label: str, w: HtbClass, h: HtbClass, is_leaf: bool) -> list[str]:
    out = []
    if h.parent != w.parent:
        out.append(f"{label} hangs off {h.parent}, want {w.parent}")
    for attr in ("rate", "ceil"):
        if not _close(getattr(w, attr), getattr(h, attr), RATE_TOLERANCE, 8):
            out.append(f"{label} {attr} is {getattr(h, attr) / 1e6:g} Mbit/s, "
                       f"want {getattr(w, attr) / 1e6:g}")
    for attr in ("burst", "cburst"):
        if not _close(getattr(w, attr), getattr(h, attr), BURST_TOLERANCE, 64):
            out.append(f"{label} {attr} is {getattr(h, attr)} bytes, want {getattr(w, attr)}")
    for attr in ("prio", "quantum") if is_leaf else ():  # tc prints them for leaves only
        if getattr(w, attr) != getattr(h, attr):
            out.append(f"{label} {attr} is {getattr(h, attr)}, want {getattr(w, attr)}")
    return out


def _leaf_text(q: Leaf) -> str:
    return q.kind + (f" limit {q.limit}" if q.limit is not None else "")


def _fkey(f: U32Filter) -> tuple:
    return (f.protocol, f.pref, f.flowid, f.keys)


def _filter_text(f: U32Filter, names: dict[str, str]) -> str:
    cls = f.flowid + (f" ({names[f.flowid]})" if f.flowid in names else "")
    keys = ", ".join(_key_text(f.protocol, k) for k in f.keys)
    return f"{f.protocol} {keys} -> {cls}"


def _key_text(protocol: str, key: tuple[int, int, int]) -> str:
    value, mask, off = key
    shift = 16 if protocol == "ip" else 20
    if off == 0 and mask == 0xFC << shift:
        return f"DSCP {(value >> shift) >> 2}"
    return f"u32 0x{value:08x}/0x{mask:08x} at {off}"


# --- talking to the kernel ----------------------------------------------------------------


def tc(*args: str, stdin: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(["tc", *args], input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise TcError((proc.stderr or proc.stdout).strip() or f"tc {' '.join(args)} failed")
    return proc.stdout


def read_live(dev: str) -> Live:
    qdiscs = parse_qdiscs(tc("-j", "qdisc", "show", "dev", dev))
    classes = parse_classes(tc("-d", "class", "show", "dev", dev))
    filters = parse_filters(tc("-j", "filter", "show", "dev", dev, "parent", ROOT_HANDLE,
                               check=False) or "[]")
    return assemble(qdiscs, classes, filters)


def run_batch(batch: str) -> None:
    tc("-batch", "-", stdin=batch)


@contextlib.contextmanager
def scratch_link():
    """A veth pair that exists only while a batch is tried on it (no dummy module here)."""
    name = f"pbw{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", f"{name}a", "type", "veth", "peer", "name", f"{name}b"],
                   check=True, capture_output=True)
    try:
        yield f"{name}a"
    finally:
        subprocess.run(["ip", "link", "del", f"{name}a"], capture_output=True)


def leaf_kind(preference: list[str] | tuple[str, ...] = LEAF_PREFERENCE) -> tuple[str, str]:
    """The first leaf qdisc the kernel accepts, and a note when it is a fallback.

    The answer only changes with the kernel, so it is kept in /run (emptied at boot) and the
    steady state (nothing to change) creates no scratch link at all."""
    key = {"kernel": os.uname().release, "preference": list(preference)}
    with contextlib.suppress(OSError, ValueError, KeyError):
        with open(LEAF_CACHE, encoding="utf-8") as fh:
            cached = json.load(fh)
        if cached["key"] == key:
            return cached["kind"], cached["note"]
    kind, note = _probe_leaf(list(preference))
    with contextlib.suppress(OSError), open(LEAF_CACHE, "w", encoding="utf-8") as fh:
        json.dump({"key": key, "kind": kind, "note": note}, fh)
    return kind, note


def _probe_leaf(preference: list[str]) -> tuple[str, str]:
    with scratch_link() as dev:
        for kind in preference:
            ok = subprocess.run(["tc", "qdisc", "add", "dev", dev, "root", kind],
                                capture_output=True).returncode == 0
            tc("qdisc", "del", "dev", dev, "root", check=False)
            if ok:
                skipped = preference[: preference.index(kind)]
                note = (f"{', '.join(skipped)} not available in this kernel; leaves use {kind}"
                        if skipped else "")
                return kind, note
    raise TcError(f"none of the leaf qdiscs {', '.join(preference)} is available")


def validate(tree: Tree) -> None:
    """Let the kernel judge the batch on a scratch link before the real one is touched."""
    with scratch_link() as dev:
        try:
            run_batch(render_batch(dev, tree))
        except TcError as exc:
            raise TcError(f"the kernel refused the new tree (nothing was changed): {exc}") from None


def restore(dev: str, previous: Live) -> None:
    if previous.tree is not None and not previous.problems:
        run_batch(render_batch(dev, previous.tree))
    else:
        tc("qdisc", "del", "dev", dev, "root", check=False)


# --- commands -----------------------------------------------------------------------------


def class_names(spec: dict) -> dict[str, str]:
    return {c["classid"]: c["name"] for c in spec["classes"]} | {ROOT_CLASS: "uplink"}


def plan(spec: dict) -> tuple[Tree, str, Live, list[str]]:
    kind, note = leaf_kind(spec.get("leaf", LEAF_PREFERENCE))
    tree = tree_from_spec(spec, kind)
    live = read_live(spec["device"])
    return tree, note, live, diff(tree, live, class_names(spec))


def check(spec: dict) -> dict:
    tree, note, _live, differences = plan(spec)
    return _result(spec, tree, note, differences, changed=bool(differences))


def apply(spec: dict) -> dict:
    """Make the device match the spec; all or nothing."""
    dev = spec["device"]
    tree, note, live, differences = plan(spec)
    if not differences:
        return _result(spec, tree, note, [], changed=False)
    if live.foreign:
        raise TcError(f"{dev} carries a root qdisc provdc did not make "
                      f"({'; '.join(live.problems) or live.root_kind}); it would be replaced "
                      f"and could not be restored, so nothing was changed. Remove it "
                      f"deliberately (tc qdisc del dev {dev} root) and apply again")
    validate(tree)
    try:
        run_batch(render_batch(dev, tree))
        after = diff(tree, read_live(dev), class_names(spec))
        if after:
            raise TcError("the applied tree reads back differently: " + "; ".join(after))
    except TcError as exc:
        restore(dev, live)
        raise TcError(f"{dev}: applying failed and the previous tree was restored: {exc}") from None
    return _result(spec, tree, note, differences, changed=True)


def _result(spec: dict, tree: Tree, note: str, differences: list[str], changed: bool) -> dict:
    return {"device": spec["device"], "site": spec.get("site"), "changed": changed,
            "leaf": tree.leaves[0].kind if tree.leaves else None, "leaf_note": note,
            "differences": differences}


def show(dev: str) -> dict:
    live = read_live(dev)
    return {"device": dev, "root_kind": live.root_kind, "problems": live.problems,
            "tree": asdict(live.tree) if live.tree else None}


def load_spec(path: str) -> list[dict]:
    """One spec, a list of specs, or a directory of *.json specs ('-' reads stdin;
    'b64:...' carries the spec itself, for a check run before any file is shipped)."""
    if path == "-":
        data = json.load(sys.stdin)
    elif path.startswith("b64:"):
        data = json.loads(base64.b64decode(path[4:]).decode("utf-8"))
    elif os.path.isdir(path):
        return [s for name in sorted(os.listdir(path)) if name.endswith(".json")
                for s in load_spec(os.path.join(path, name))]
    else:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    return data if isinstance(data, list) else [data]


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("apply", "check", "render", "show"):
        print("usage: provdc-bandwidth apply|check|render SPEC.json|DIR|- ... | show DEV",
              file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    try:
        if command == "show":
            results = [show(dev) for dev in args]
        elif command == "render":
            for spec in (s for a in args for s in load_spec(a)):
                tree = tree_from_spec(spec, leaf_kind(spec["leaf"])[0])
                sys.stdout.write(render_batch(spec["device"], tree, class_names(spec)))
            return 0
        else:
            specs = [s for a in args for s in load_spec(a)]
            with open(LOCK_FILE, "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # the boot unit and Ansible may overlap
                results = [(apply if command == "apply" else check)(s) for s in specs]
    except (TcError, OSError, ValueError, KeyError) as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
