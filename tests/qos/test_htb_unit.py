"""Renderer, parser and comparator of the HTB tree, without root (recorded tc 6.1 output)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from provdc.qos import htb

DATA = Path(__file__).parent / "data"
SPEC = json.loads((DATA / "live-spec.json").read_text())


def recorded_live() -> htb.Live:
    """The tree a real kernel reported after `provdc-bandwidth apply live-spec.json`."""
    return htb.assemble(htb.parse_qdiscs((DATA / "tc61-qdisc.json").read_text()),
                        htb.parse_classes((DATA / "tc61-class.txt").read_text()),
                        htb.parse_filters((DATA / "tc61-filter.json").read_text()))


def want() -> htb.Tree:
    return htb.tree_from_spec(SPEC, "pfifo")


@pytest.mark.parametrize("text, bits", [("6Mbit", 6_000_000), ("28500Kbit", 28_500_000),
                                        ("950bit", 950), ("1Gbit", 10**9), ("2Kibit", 2048)])
def test_parse_rate(text, bits):
    assert htb.parse_rate(text) == bits


@pytest.mark.parametrize("text, size", [("15Kb", 15360), ("1600b", 1600), ("18Kb/1", 18432),
                                        ("1Mb", 1048576)])
def test_parse_size(text, size):
    assert htb.parse_size(text) == size


def test_parse_rejects_garbage():
    with pytest.raises(ValueError):
        htb.parse_rate("fast")


def test_recorded_tree_matches_its_spec():
    assert htb.diff(want(), recorded_live()) == []


def test_statistics_lines_are_ignored():
    plain = htb.parse_classes((DATA / "tc61-class.txt").read_text())
    with_stats = htb.parse_classes((DATA / "tc61-class-stats.txt").read_text())
    assert plain == with_stats and len(plain) == 5


def test_tree_shape_from_spec():
    tree = want()
    assert tree.default == 0x40
    root = tree.cls("1:1")
    assert (root.parent, root.rate, root.ceil) == ("1:", 28_500_000, 28_500_000)
    bulk = tree.cls("1:50")
    assert (bulk.rate, bulk.ceil, bulk.prio) == (2_000_000, 15_000_000, 4)
    assert tree.cls("1:10").prio == 0  # EF borrows first
    # every leaf: quantum at least a frame, burst at least ten frames
    for c in tree.classes:
        assert c.quantum >= htb.MTU_FRAME and c.burst >= 10 * htb.MTU_FRAME
    # the default class (DSCP 0) needs no filter; the 3 others get one per IP version
    assert {f.flowid for f in tree.filters} == {"1:10", "1:20", "1:50"}
    assert len(tree.filters) == 6


def test_dscp_keys_are_tos_shifted():
    ef_v4 = htb.dscp_keys("ip", 46)[0]
    assert ef_v4 == (0xB8 << 16, 0xFC << 16, 0)  # `match ip dsfield 0xb8 0xfc`
    ef_v6 = htb.dscp_keys("ipv6", 46)[0]
    assert ef_v6 == (0xB8 << 20, 0xFC << 20, 0)  # `match ip6 priority 0xb8 0xfc`


def test_batch_lists_parents_before_children():
    tree = want()
    shuffled = dataclasses.replace(tree, classes=tuple(reversed(tree.classes)))
    lines = htb.render_batch("eth0", shuffled).splitlines()
    class_lines = [ln for ln in lines if ln.startswith("class add")]
    assert "classid 1:1 " in class_lines[0]
    assert lines[0].startswith("qdisc replace dev eth0 root handle ffff: pfifo")
    assert "htb default 40" in lines[1]
    assert sum(ln.startswith("filter add") for ln in lines) == 6


def test_render_parse_round_trip_of_explicit_values():
    batch = htb.render_batch("eth0", want(), htb.class_names(SPEC))
    assert "rate 6000kbit ceil 28500kbit burst 15360 cburst 18432 prio 0 quantum 75000" in batch
    assert "# video-conf" in batch
    assert "match u32 0x00b80000 0x00fc0000 at 0 flowid 1:10" in batch


def _live_with(**changes) -> htb.Live:
    live = recorded_live()
    return htb.Live(dataclasses.replace(live.tree, **changes), "htb")


def test_diff_finds_a_changed_rate():
    live = recorded_live()
    classes = tuple(dataclasses.replace(c, rate=7_000_000) if c.classid == "1:10" else c
                    for c in live.tree.classes)
    out = htb.diff(want(), _live_with(classes=classes), htb.class_names(SPEC))
    assert out == ["class 1:10 (video-conf) rate is 7 Mbit/s, want 6"]


def test_diff_finds_missing_and_unexpected_classes():
    live = recorded_live()
    classes = tuple(c for c in live.tree.classes if c.classid != "1:50")
    classes += (htb.HtbClass("1:60", "1:1", 10**6, 10**6, 15360, 15360, 3, 1514),)
    out = htb.diff(want(), _live_with(classes=classes))
    assert "class 1:50 is missing" in out and "unexpected class 1:60" in out


def test_diff_finds_wrong_leaf_and_filters():
    live = recorded_live()
    leaves = tuple(dataclasses.replace(q, kind="bfifo", limit=None) if q.parent == "1:20" else q
                   for q in live.tree.leaves)
    filters = tuple(f for f in live.tree.filters if f.flowid != "1:50")
    filters += (htb.U32Filter("ip", 1, "1:40", htb.dscp_keys("ip", 26)),)
    out = htb.diff(want(), _live_with(leaves=leaves, filters=filters), htb.class_names(SPEC))
    assert "class 1:20 (business-apps) leaf is bfifo, want pfifo limit 236" in out
    assert "missing filter ip DSCP 8 -> 1:50 (bulk)" in out
    assert "unexpected filter ip DSCP 26 -> 1:40 (best-effort)" in out


def test_diff_finds_default_and_foreign_roots():
    assert htb.diff(want(), _live_with(default=0x10)) == ["default class is 1:10, want 1:40"]
    tbf = htb.assemble([{"kind": "tbf", "handle": "8001:", "root": True}], [], [])
    assert htb.diff(want(), tbf) == ["no HTB tree (root qdisc: tbf)"]
    assert tbf.problems and not tbf.is_default
    bare = htb.assemble([{"kind": "noqueue", "handle": "0:", "root": True}], [], [])
    assert bare.is_default


def test_burst_tolerance_absorbs_kernel_rounding_only():
    live = recorded_live()
    bumped = tuple(dataclasses.replace(c, burst=c.burst + 100) for c in live.tree.classes)
    assert htb.diff(want(), _live_with(classes=bumped)) == []
    doubled = tuple(dataclasses.replace(c, burst=c.burst * 2) for c in live.tree.classes)
    assert len(htb.diff(want(), _live_with(classes=doubled))) == 5


def test_multi_key_u32_filters_keep_every_key():
    text = json.dumps([{"protocol": "ip", "pref": 1, "kind": "u32", "options": {
        "fh": "800::800", "flowid": "1:10",
        "match": {"value": "b80000", "mask": "fc0000", "off": 0}}}])
    text = text.replace('"flowid"', '"match": {"value": "6", "mask": "ff", "off": 8}, "flowid"')
    (f,) = htb.parse_filters(text)
    assert len(f.keys) == 2


def test_load_spec_forms(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(SPEC))
    (tmp_path / "b.json").write_text(json.dumps([SPEC, SPEC]))
    assert len(htb.load_spec(str(tmp_path))) == 3
    import base64

    inline = "b64:" + base64.b64encode(json.dumps(SPEC).encode()).decode()
    assert htb.load_spec(inline) == [SPEC]


def test_script_usage_error_exit_code(capsys):
    assert htb.main(["nonsense"]) == 2


# --- measurement arithmetic (no traffic) --------------------------------------------------


def test_busy_stretch_ignores_skewed_starts():
    from provdc.qos import measure

    # two classes at 1 MB/s each; class 1:20 starts late (t >= 1.0)
    samples = [(t / 5, {"1:10": int(t / 5 * 1e6), "1:20": max(0, int((t / 5 - 1) * 1e6))})
               for t in range(0, 21)]
    rates = measure._busy_rates(samples, ["1:10", "1:20"], min_span=1)
    assert rates == pytest.approx({"1:10": 8e6, "1:20": 8e6}, rel=1e-3)
    with pytest.raises(measure.ProvdcError):
        measure._busy_rates(samples[:7], ["1:10", "1:20"], min_span=1)


def test_busy_window_keeps_a_class_that_stalls_briefly():
    from provdc.qos import measure

    # both at 1 MB/s for 4 s; 1:20 stalls 0.4 s in the middle (a TCP recovery), then catches
    # up: the window spans the stall, and the stalled class's mean rate is what it carried
    def count_20(t: float) -> int:
        return int(min(t, 2.0) * 1e6 + max(0.0, t - 2.4) * 1e6)

    samples = [(t / 5, {"1:10": int(t / 5 * 1e6), "1:20": count_20(t / 5)}) for t in range(21)]
    rates = measure._busy_rates(samples, ["1:10", "1:20"], min_span=2)
    assert rates["1:10"] == pytest.approx(8e6, rel=1e-3)
    assert 6e6 < rates["1:20"] < 8e6
    with pytest.raises(measure.ProvdcError):
        measure._busy_rates(samples, ["1:10", "1:30"], min_span=2)  # 1:30 never moved


def test_judge_applies_the_issue_bounds():
    from provdc.qos import measure

    g = measure.GOODPUT
    row = {"class": "ef", "classid": "1:10", "rate_mbit": 6, "ceil_mbit": 28.5,
           "counted_in": "1:10", "solo_mbit": 28.5 * g, "together_mbit": 6 * g}
    assert measure.judge([dict(row)], 28.5)["ok"]
    slow = dict(row, solo_mbit=28.5 * g * 0.94)
    assert "not within 5%" in measure.judge([slow], 28.5)["problems"][0]
    starved = dict(row, together_mbit=6 * g * 0.9)
    assert "below 95%" in measure.judge([starved], 28.5)["problems"][0]
    misfiled = dict(row, counted_in="1:40")
    assert "counted in 1:40" in measure.judge([misfiled], 28.5)["problems"][0]
    greedy = dict(row, together_mbit=28.5 * g * 1.05)
    assert "above the corrected uplink" in measure.judge([greedy], 28.5)["problems"][0]
