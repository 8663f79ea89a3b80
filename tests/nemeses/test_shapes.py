"""Partition shapes, fault parsing and the schedule: pure, checked with hypothesis."""
from __future__ import annotations

import random

import networkx as nx
import pytest
from hypothesis import given, settings, strategies as st

from harness.generators import Context, Invocation, Wait
from harness.nemesis import UnknownNemesis
from nemeses import FAMILIES, SHAPES, FaultSchedule, build_package, parse_faults, parse_groups, parse_schedule
from nemeses import grudges

node_lists = st.integers(min_value=2, max_value=9).map(lambda n: [f"n{i}" for i in range(1, n + 1)])
seeds = st.integers(min_value=0, max_value=2**32)


def reach(graph, node):
    return set(graph.neighbors(node)) | {node}


@given(node_lists, seeds)
def test_grudge_is_the_complement_of_the_graph_and_symmetric(nodes, seed):
    for shape in grudges.SHAPES.values():
        g = shape(nodes, random.Random(seed))
        assert sorted(g.nodes) == sorted(nodes)
        gr = grudges.grudge(g)
        for a in nodes:
            assert set(gr[a]) == set(nodes) - reach(g, a)
            for b in gr[a]:
                assert a in gr[b]


@given(node_lists, seeds)
def test_halves_minority_and_one_split_into_two_cliques(nodes, seed):
    n = len(nodes)
    for name, small in (("partition-halves", n // 2), ("partition-minority", grudges.minority_size(n)),
                        ("partition-one", 1)):
        g = grudges.SHAPES[name](nodes, random.Random(seed))
        parts = sorted((sorted(c) for c in nx.connected_components(g)), key=len)
        assert [len(p) for p in parts] == sorted([small, n - small])
        for p in parts:
            assert nx.density(g.subgraph(p)) == 1 or len(p) == 1
    minority = grudges.SHAPES["partition-minority"](nodes, random.Random(seed))
    if n >= 3:  # two nodes have no majority to keep
        assert max(len(c) for c in nx.connected_components(minority)) > n // 2


@given(st.integers(min_value=5, max_value=9), seeds)
def test_ring_every_node_sees_a_majority_but_no_majority_is_common(n, seed):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    g = grudges.ring(nodes, random.Random(seed))
    majority = n // 2 + 1
    views = [reach(g, a) for a in nodes]
    assert all(len(v) >= majority for v in views)
    assert len(set.intersection(*views)) < majority
    assert any(grudges.grudge(g).values())


@given(st.integers(min_value=3, max_value=9), seeds)
def test_bridge_one_node_reaches_both_halves_which_cannot_reach_each_other(n, seed):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    g = grudges.bridge(nodes, random.Random(seed))
    bridges = [a for a in nodes if reach(g, a) == set(nodes)]
    assert len(bridges) == 1
    rest = g.subgraph(set(nodes) - set(bridges))
    assert nx.number_connected_components(rest) == 2


def test_families_and_shapes_parse_and_unknown_names_are_clear():
    assert parse_faults("partition") == FAMILIES["partition"]
    assert parse_faults("kill,pause-one,kill-one") == ["kill-one", "kill-minority", "kill-all", "pause-one"]
    assert "partition-leader" in parse_faults("partition")
    with pytest.raises(UnknownNemesis, match="unknown nemesis 'partitoin'"):
        parse_faults("partitoin")
    with pytest.raises(UnknownNemesis, match="seconds must be a number"):
        parse_schedule("kill-one:x", 5)
    assert parse_schedule("kill-one:3,clock-bump", 5) == [("kill-one", 3.0), ("clock-bump", 5.0)]


def drive(gen, until):
    """(time, invocation) of the nemesis thread, asking whenever the generator allows."""
    out, t = [], 0.0
    while t < until:
        r = gen.next(Context(t, "nemesis", ("nemesis",)))
        if isinstance(r, Invocation):
            out.append((t, r))
        elif isinstance(r, Wait):
            t = r.until
        else:
            break
    return out


@given(seeds, st.floats(min_value=0.5, max_value=20))
@settings(max_examples=50)
def test_schedule_alternates_start_and_stop_of_the_same_fault_at_the_interval(seed, interval):
    groups = parse_groups("partition,kill,pause,clock")
    ops = drive(FaultSchedule(groups, seed, interval), 20 * interval)
    assert len(ops) >= 10
    for i, (t, op) in enumerate(ops):
        assert t == pytest.approx(interval * (i + 1))
        assert op.f == ("start-" if i % 2 == 0 else "stop-") + SHAPES[op.value]
        if i % 2:
            assert op.value == ops[i - 1][1].value
    assert drive(FaultSchedule(groups, seed, interval), 20 * interval) == ops  # reproducible


def test_each_named_fault_gets_an_equal_share_whatever_its_number_of_shapes():
    ops = drive(FaultSchedule(parse_groups("partition,kill-one"), 3, 1.0), 4000)
    starts = [op.value for _, op in ops if op.f.startswith("start-")]
    kills = starts.count("kill-one") / len(starts)
    assert 0.4 < kills < 0.6


def test_fixed_schedule_is_followed_in_order_with_its_durations():
    ops = drive(FaultSchedule([], 1, 2.0, [("kill-one", 3.0), ("clock-bump", 1.0)]), 30)
    assert [(t, o.f, o.value) for t, o in ops[:8]] == [
        (2.0, "start-kill", "kill-one"), (5.0, "stop-kill", "kill-one"),
        (7.0, "start-clock", "clock-bump"), (8.0, "stop-clock", "clock-bump"),
        (10.0, "start-kill", "kill-one"), (13.0, "stop-kill", "kill-one"),
        (15.0, "start-clock", "clock-bump"), (16.0, "stop-clock", "clock-bump")]


def test_package_heals_at_the_end_and_asks_for_faketime_only_with_clock_faults():
    options = {}
    package = build_package("partition,kill", options, 7)
    assert [i.f for i in package.final] == ["heal-all"] and package.recovery_seconds > 0
    assert "faketime" not in options
    build_package("pause,clock", options, 7)
    assert options["faketime"] == {"monotonic": False}
    build_package("clock-skew", opts := {"fake_monotonic": True}, 7)
    assert opts["faketime"] == {"monotonic": True}


def test_the_partition_family_cuts_off_the_leader_half_the_time_and_still_uses_every_other_shape():
    ops = drive(FaultSchedule(parse_groups("partition"), 5, 1.0), 4000)
    starts = [op.value for _, op in ops if op.f.startswith("start-")]
    assert 0.4 < starts.count("partition-leader") / len(starts) < 0.6
    assert set(starts) == set(FAMILIES["partition"])


# ---------------------------------------------------------------- composite faults a+b

def test_composites_parse_as_one_option_and_enable_every_part():
    assert parse_groups("partition-leader+clock-bump,kill") == [["partition-leader+clock-bump"], FAMILIES["kill"]]
    assert parse_faults("partition-one+clock") == ["partition-one", *FAMILIES["clock"]]
    assert parse_schedule("partition-leader+clock-bump-back:8,kill-one", 5) == [
        ("partition-leader+clock-bump-back", 8.0), ("kill-one", 5.0)]


@pytest.mark.parametrize("spec, message", [
    ("partition-one+partition-halves", "both partition faults"),
    ("partition+packet-loss", "both partition faults"),
    ("clock-bump+clock", "both clock faults"),
    ("kill-one+pause-one", "both kill/pause faults"),
    ("partition-one+", "empty part"),
    ("partition-one+clock-bmp", "unknown nemesis 'clock-bmp'"),
])
def test_bad_composites_are_refused_clearly(spec, message):
    with pytest.raises(UnknownNemesis, match=message):
        parse_groups(spec)


def test_a_fixed_schedule_refuses_families_and_same_family_parts_in_composites():
    with pytest.raises(UnknownNemesis, match="--nemesis-schedule: unknown fault 'clock'"):
        parse_schedule("partition-one+clock:3", 5)
    with pytest.raises(UnknownNemesis, match="both partition faults"):
        parse_schedule("partition-one+partition-halves:3", 5)


@given(seeds, st.floats(min_value=0.5, max_value=20), st.sampled_from(
    ["partition-leader+clock-bump", "partition+clock", "partition-one+kill+clock-skew", "kill,pause+partition"]))
@settings(max_examples=50)
def test_composite_parts_start_together_in_order_and_stop_together_in_reverse(seed, interval, spec):
    ops = drive(FaultSchedule(parse_groups(spec), seed, interval), 20 * interval)
    i = rounds = 0
    while i < len(ops):
        t, first = ops[i]
        assert first.f.startswith("start-") and t == pytest.approx(interval * (2 * rounds + 1))
        starts = [first]
        while i + len(starts) < len(ops) and ops[i + len(starts)][1].f.startswith("start-"):
            assert ops[i + len(starts)][0] == t   # no wait between the parts
            starts.append(ops[i + len(starts)][1])
        stops = [op for _, op in ops[i + len(starts):i + 2 * len(starts)]]
        if len(stops) < len(starts):
            break
        assert [o.value for o in stops] == [o.value for o in reversed(starts)]
        assert all(o.f == "stop-" + SHAPES[o.value] for o in stops)
        assert ops[i + len(starts)][0] == pytest.approx(t + interval)
        assert len({SHAPES[o.value] for o in starts}) == len(starts)   # never two parts of one family
        i += 2 * len(starts)
        rounds += 1
    assert rounds >= 5


def test_a_family_inside_a_composite_is_a_random_shape_of_it_each_time():
    ops = drive(FaultSchedule(parse_groups("partition+clock-bump-back"), 9, 1.0), 2000)
    starts = [op.value for _, op in ops if op.f.startswith("start-")]
    partitions = [s for s in starts if SHAPES[s] == "partition"]
    assert starts[1::2] == ["clock-bump-back"] * (len(starts) // 2)
    assert set(partitions) == set(FAMILIES["partition"])
    assert 0.4 < partitions.count("partition-leader") / len(partitions) < 0.6


def test_a_fixed_composite_schedule_keeps_its_durations():
    ops = drive(FaultSchedule([], 1, 2.0, [("partition-leader+clock-bump-back", 8.0)]), 21)
    assert [(t, o.f, o.value) for t, o in ops] == [
        (2.0, "start-partition", "partition-leader"), (2.0, "start-clock", "clock-bump-back"),
        (10.0, "stop-clock", "clock-bump-back"), (10.0, "stop-partition", "partition-leader"),
        (12.0, "start-partition", "partition-leader"), (12.0, "start-clock", "clock-bump-back"),
        (20.0, "stop-clock", "clock-bump-back"), (20.0, "stop-partition", "partition-leader")]


def test_a_composite_with_a_clock_part_asks_for_faketime_and_builds_every_family():
    options = {"nemesis_schedule": "partition-leader+clock-bump-back:8"}
    package = build_package("kill-one", options, 3)
    assert options["faketime"] == {"monotonic": False}
    nemesis = package.nemesis
    assert nemesis.partition is not None and nemesis.clock is not None and nemesis.process is not None


@given(node_lists, seeds)
def test_a_part_that_picks_nodes_picks_among_those_a_partition_cut_off(nodes, seed):
    from nemeses.faults import _targets
    among = nodes[-1:]
    assert _targets(nodes, "one", random.Random(seed), among) == among
    assert _targets(nodes, "minority", random.Random(seed), among) == among
    assert _targets(nodes, "all", random.Random(seed), among) == nodes
    assert _targets(nodes, "one", random.Random(seed), []) == _targets(nodes, "one", random.Random(seed))


def test_harness_run_refuses_a_composite_of_one_family_with_exit_254(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, ZKJEPSEN_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=str(repo))
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--store", str(tmp_path / "store"), "--db",
                           "reference", "--nemesis", "partition-one+partition-halves"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 254
    assert "both partition faults" in proc.stderr and "Traceback" not in proc.stderr


@given(st.integers(min_value=1, max_value=7), seeds)
def test_shapes_that_cut_nothing_on_the_cluster_are_never_drawn(n, seed):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    if n == 1:
        with pytest.raises(UnknownNemesis, match="partition cuts no link on 1 node; it needs at least 2"):
            build_package("partition", {"nodes": nodes}, seed)
        return
    package = build_package("partition,partition+kill", {"nodes": nodes}, seed)
    ops = drive(package.generator, 4000)
    drawn = {inv.value for _, inv in ops if inv.f == "start-partition"}
    assert drawn
    assert ("partition-ring" in drawn) == (n >= 4)
    for shape in drawn - {"partition-leader"}:
        for s in range(5):
            assert any(grudges.grudge(grudges.SHAPES[shape](nodes, random.Random(s))).values())


@pytest.mark.parametrize("spec, schedule", [("partition-ring", None), ("partition-ring+clock-bump", None),
                                            ("kill", "kill-one:2,partition-ring:3")])
def test_naming_a_shape_that_cuts_nothing_on_three_nodes_is_refused(spec, schedule):
    options = {"nodes": ["n1", "n2", "n3"], "nemesis_schedule": schedule}
    with pytest.raises(UnknownNemesis, match="partition-ring cuts no link on 3 nodes; it needs at least 4"):
        build_package(spec, options, 1)
    options["nodes"].append("n4")
    build_package(spec, options, 1)
