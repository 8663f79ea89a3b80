"""Every fault on a live 3-node Apache ZooKeeper ensemble (network namespaces): it does what it says, and
healing undoes it. One ensemble for the module; it runs under libfaketime, as with `--nemesis clock`."""
from __future__ import annotations

import time

import pytest
from kazoo.client import KazooClient

from checkers.history import INVOKE, Op
from harness.backends.netns import NetnsBackend
from harness.dbs.zookeeper import ZooKeeperDB
from nemeses import FaultNemesis, parse_faults
from nemesis_live import (LiveTest, answers, can_connect, chain_rules, faketime_spec, proc_state, reachability,
                          require_netns, shm_files, wait_for)

pytestmark = pytest.mark.cluster
NODES = ["n1", "n2", "n3"]


@pytest.fixture(scope="module")
def test(tmp_path_factory):
    require_netns()
    backend = NetnsBackend(state_dir=str(tmp_path_factory.mktemp("state")))
    db = ZooKeeperDB(heap_mb=128)
    live = LiveTest(backend, NODES, {"faketime": {"monotonic": False}}, db=db)
    try:
        backend.create(NODES)
        for node in NODES:
            db.setup(live, node)
        for node in NODES:
            db.wait_ready(live, node, 240)
        yield live
    finally:
        try:
            for node in NODES:
                db.teardown(live, node)
        finally:
            backend.destroy()


@pytest.fixture
def nemesis(test):
    nemesis = FaultNemesis("all", parse_faults("partition,packet-loss,kill,pause,clock"), 11, {})
    try:
        yield nemesis
    finally:
        nemesis.teardown(test)
        for node in NODES:  # the next test starts from a serving ensemble with a leader
            test.db.wait_ready(test, node, 240)
        wait_for("a leader", lambda: test.db.leader(test) is not None, 240)


def run(nemesis, test, f, value):
    return nemesis.invoke(test, Op(INVOKE, "nemesis", f, value))


def test_partition_one_cuts_tcp_both_ways_and_heal_restores_it(test, nemesis):
    port = test.db.client_port
    assert all(reachability(test, port).values())
    done = run(nemesis, test, "start-partition", "partition-one")
    grudge = done.value["grudge"]
    lonely = next(n for n, dropped in grudge.items() if len(dropped) == 2)
    others = [n for n in NODES if n != lonely]
    assert grudge == {lonely: others, others[0]: [lonely], others[1]: [lonely]}
    for other in others:
        assert not can_connect(test, lonely, other, port)
        assert not can_connect(test, other, lonely, port)
    assert can_connect(test, others[0], others[1], port) and can_connect(test, others[1], others[0], port)
    run(nemesis, test, "stop-partition", "partition-one")
    assert all(reachability(test, port).values())
    assert not any(chain_rules(test, n) for n in NODES)


def test_partition_leader_isolates_the_node_srvr_calls_leader(test, nemesis):
    wait_for("a leader", lambda: test.db.leader(test) is not None, 240)
    leader = test.db.leader(test)
    done = run(nemesis, test, "start-partition", "partition-leader")
    assert done.value["leader"] == leader and len(done.value["grudge"][leader]) == 2
    for other in NODES:
        if other != leader:
            assert not can_connect(test, other, leader, test.db.client_port)
    # the majority elects a new leader without the isolated one
    wait_for("a new leader", lambda: test.db.leader(test) not in (None, leader), 240)


def test_bridge_shape_on_live_nodes_matches_its_grudge(test, nemesis):
    done = run(nemesis, test, "start-partition", "partition-bridge")
    grudge = done.value["grudge"]
    for (a, b), ok in reachability(test, test.db.client_port).items():
        assert ok == (b not in grudge[a]), (a, b, grudge)


def test_packet_loss_installs_a_statistic_match_and_is_healed(test, nemesis):
    nemesis.partition.loss_fraction = 1.0  # a fraction of 1 is observable without statistics
    done = run(nemesis, test, "start-partition", "packet-loss")
    node, other = done.value["links"][0]
    assert "statistic" in chain_rules(test, node)
    assert not can_connect(test, other, node, test.db.client_port)
    run(nemesis, test, "stop-partition", "packet-loss")
    assert can_connect(test, other, node, test.db.client_port)


def test_pause_stops_answering_and_resume_brings_it_back(test, nemesis):
    done = run(nemesis, test, "start-pause", "pause-one")
    [node] = done.value["paused"]
    assert proc_state(test, node) == "T"
    assert not answers(test, node)
    run(nemesis, test, "stop-pause", "pause-one")
    assert proc_state(test, node) != "T"
    wait_for("answers again", lambda: answers(test, node))


def test_kill_minority_kills_by_pid_and_stop_restarts(test, nemesis):
    pids = {n: test.db.pid(test, n) for n in NODES}
    done = run(nemesis, test, "start-kill", "kill-minority")
    [node] = done.value["killed"]
    assert not test.db.is_running(test, node) and not answers(test, node)
    assert shm_files(pids[node]) == []  # libfaketime's shared memory of the killed JVM is gone too
    assert all(test.db.pid(test, n) == pids[n] for n in NODES if n != node)
    healed = run(nemesis, test, "stop-kill", "kill-minority")
    assert list(healed.value["restarted"]) == [node]
    assert test.db.is_running(test, node) and test.db.pid(test, node) != pids[node]
    test.db.wait_ready(test, node, 240)  # (under load a JVM may need longer than the nemesis waits)


def ctime_shift(test, node: str) -> float:
    """How far the znode ctime the ensemble stamps (the leader's wall clock) is from ours, in seconds."""
    client = KazooClient(hosts=f"{test.address(node)}:{test.db.client_port}", timeout=20)
    client.start(timeout=30)
    try:
        path = client.create("/clock-", b"", sequence=True)
        before = time.time()
        stat = client.exists(path)
        return stat.ctime / 1000 - before
    finally:
        client.stop()
        client.close()


def test_the_jvm_sees_a_bumped_clock_and_real_time_after_reset(test, nemesis):
    wait_for("a leader", lambda: test.db.leader(test) is not None)
    leader = test.db.leader(test)
    assert abs(ctime_shift(test, leader)) < 5
    nemesis.clock._write(test, leader, -3600.0, 1.0)  # bump the leader an hour back
    nemesis.clock.settle()
    assert ctime_shift(test, leader) == pytest.approx(-3600, abs=5)
    run(nemesis, test, "stop-clock", "clock-bump")
    assert faketime_spec(test, leader) == "+0 x1"
    assert abs(ctime_shift(test, leader)) < 5


def test_clock_skew_runs_the_clock_fast_without_a_jump(test, nemesis):
    wait_for("a leader", lambda: test.db.leader(test) is not None)
    leader = test.db.leader(test)
    nemesis.clock._write(test, leader, 0.0, 1.0)
    nemesis.clock.settle()
    first = ctime_shift(test, leader)
    # what clock-skew writes, aimed at the leader (whose clock stamps ctime): offset compensates the rate
    offset = nemesis.clock._elapsed(test, leader) * (1.0 - 4.0)
    nemesis.clock._write(test, leader, offset, 4.0)
    nemesis.clock.settle()
    right_after = ctime_shift(test, leader)
    time.sleep(3)
    later = ctime_shift(test, leader)
    assert abs(right_after - first) < 5          # no jump by (process age x 3), only up to the re-read delay
    assert later - right_after > 5               # 3 s of real time were ~12 s of fake time


def test_clock_shapes_through_the_nemesis_record_what_they_did(test, nemesis):
    nemesis.clock.strobe_seconds = 3.0
    strobe = run(nemesis, test, "start-clock", "clock-strobe").value
    assert strobe["flips"] >= 3 and strobe["node"] in NODES
    bump = run(nemesis, test, "start-clock", "clock-bump").value
    assert bump["bumps"] and all(1 <= abs(d) <= 120 for d in bump["bumps"].values())
    skew = run(nemesis, test, "start-clock", "clock-skew").value
    assert skew["rates"]
    healed = run(nemesis, test, "heal-all", None).value
    assert healed["clocks"]["reset"]
    assert all(faketime_spec(test, n) == "+0 x1" for n in NODES)


def test_heal_all_undoes_every_kind_of_fault_at_once(test, nemesis):
    run(nemesis, test, "start-partition", "partition-halves")
    run(nemesis, test, "start-pause", "pause-one")
    run(nemesis, test, "start-kill", "kill-one")
    run(nemesis, test, "start-clock", "clock-bump")
    nemesis.teardown(test)  # what the runner does at the end, whatever happened
    assert not any(chain_rules(test, n) for n in NODES)
    assert all(proc_state(test, n) not in (None, "T") for n in NODES)
    assert all(faketime_spec(test, n) == "+0 x1" for n in NODES)
    for node in NODES:
        test.db.wait_ready(test, node, 240)
