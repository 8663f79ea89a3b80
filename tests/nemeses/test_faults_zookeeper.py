"""Every fault on live Apache ZooKeeper servers (network namespaces): it does what it says, and healing undoes it.

Network and process faults run on a plain 3-node ensemble, as `harness run` starts it when no clock fault is
enabled. Clock faults need the server under libfaketime (as with `--nemesis clock`), where a JVM takes several
times longer to start; what they must show (the JVM's own clock moves, and moves back) needs one server, so they
run on a single one."""
from __future__ import annotations

import contextlib
import time
from typing import Iterator

import pytest
from kazoo.client import KazooClient

from checkers.history import INVOKE, Op
from harness.backends.netns import NetnsBackend
from harness.dbs.zookeeper import ZooKeeperDB
from nemeses import FaultNemesis, parse_faults
from nemesis_live import (LiveTest, answers, can_connect, chain_rules, faketime_spec, proc_state, reachability,
                          require_netns, shm_files)
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster
NODES = ["n1", "n2", "n3"]


@contextlib.contextmanager
def servers(tmp_path_factory: pytest.TempPathFactory, nodes: list[str], faketime: bool) -> Iterator[LiveTest]:
    require_netns()
    backend = NetnsBackend(state_dir=str(tmp_path_factory.mktemp("state")))
    # ZooKeeper's own timings, shortened so that the tests wait seconds rather than a minute; the faults under test
    # are the same. A follower notices a lost leader after syncLimit x tickTime (5 x 1 s); a server cut off
    # during an election backs off its vote notifications up to maxNotificationInterval (60 s by default, so a
    # healed node could sit out that long); and each connection attempt to a peer behind a DROP rule blocks the
    # election's sender for cnxTimeout (5 s by default).
    db = ZooKeeperDB(heap_mb=128, tick_time_ms=1000, init_limit=20,
                     jvm_opts=["-Dzookeeper.fastleader.maxNotificationInterval=1000", "-Dzookeeper.cnxTimeout=1000"])
    options = {"faketime": {"monotonic": False}} if faketime else {}
    live = LiveTest(backend, nodes, options, db=db)
    try:
        backend.create(nodes)
        for node in nodes:
            db.setup(live, node)
        for node in nodes:
            db.wait_ready(live, node, 240)
        yield live
    finally:
        try:
            for node in nodes:
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
        for node in test.nodes:  # the next test starts from serving servers (an ensemble with a leader)
            test.db.wait_ready(test, node, 240)
        if len(test.nodes) > 1:
            wait_for(lambda: test.db.leader(test) is not None, "a leader", 240)


def run(nemesis, test, f, value):
    return nemesis.invoke(test, Op(INVOKE, "nemesis", f, value))


def ctime_shift(test, node: str) -> float:
    """How far the znode ctime the server stamps (its wall clock) is from ours, in seconds."""
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


class TestNetworkAndProcessFaults:
    @pytest.fixture(scope="class")
    def test(self, tmp_path_factory):
        with servers(tmp_path_factory, NODES, faketime=False) as live:
            yield live

    def test_partition_one_cuts_tcp_both_ways_and_heal_restores_it(self, test, nemesis):
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

    def test_partition_leader_isolates_the_node_srvr_calls_leader(self, test, nemesis):
        wait_for(lambda: test.db.leader(test) is not None, "a leader", 240)
        leader = test.db.leader(test)
        done = run(nemesis, test, "start-partition", "partition-leader")
        assert done.value["leader"] == leader and len(done.value["grudge"][leader]) == 2
        for other in NODES:
            if other != leader:
                assert not can_connect(test, other, leader, test.db.client_port)
        # the majority elects a new leader without the isolated one
        wait_for(lambda: test.db.leader(test) not in (None, leader), "a new leader", 240)

    def test_bridge_shape_on_live_nodes_matches_its_grudge(self, test, nemesis):
        done = run(nemesis, test, "start-partition", "partition-bridge")
        grudge = done.value["grudge"]
        for (a, b), ok in reachability(test, test.db.client_port).items():
            assert ok == (b not in grudge[a]), (a, b, grudge)

    def test_packet_loss_installs_a_statistic_match_and_is_healed(self, test, nemesis):
        nemesis.partition.loss_fraction = 1.0  # a fraction of 1 is observable without statistics
        done = run(nemesis, test, "start-partition", "packet-loss")
        node, other = done.value["links"][0]
        assert "statistic" in chain_rules(test, node)
        assert not can_connect(test, other, node, test.db.client_port)
        run(nemesis, test, "stop-partition", "packet-loss")
        assert can_connect(test, other, node, test.db.client_port)

    def test_pause_stops_answering_and_resume_brings_it_back(self, test, nemesis):
        done = run(nemesis, test, "start-pause", "pause-one")
        [node] = done.value["paused"]
        assert proc_state(test, node) == "T"
        assert not answers(test, node)
        run(nemesis, test, "stop-pause", "pause-one")
        assert proc_state(test, node) != "T"
        wait_for(lambda: answers(test, node), "the node to answer again", 60)

    def test_kill_minority_kills_by_pid_and_stop_restarts(self, test, nemesis):
        pids = {n: test.db.pid(test, n) for n in NODES}
        done = run(nemesis, test, "start-kill", "kill-minority")
        [node] = done.value["killed"]
        assert not test.db.is_running(test, node) and not answers(test, node)
        assert all(test.db.pid(test, n) == pids[n] for n in NODES if n != node)
        healed = run(nemesis, test, "stop-kill", "kill-minority")
        assert list(healed.value["restarted"]) == [node]
        assert test.db.is_running(test, node) and test.db.pid(test, node) != pids[node]
        test.db.wait_ready(test, node, 240)  # (under load a JVM may need longer than the nemesis waits)

    def test_heal_all_undoes_every_kind_of_fault_at_once(self, test, nemesis):
        run(nemesis, test, "start-partition", "partition-halves")
        run(nemesis, test, "start-pause", "pause-one")
        run(nemesis, test, "start-kill", "kill-one")
        bumped = run(nemesis, test, "start-clock", "clock-bump").value["bumps"]
        # (These JVMs do not read their clock control files; the clock tests below show that one under
        # libfaketime does. Healing the clocks means writing real time back into every file that says otherwise.)
        assert bumped and all(faketime_spec(test, n) != "+0 x1" for n in bumped)
        nemesis.teardown(test)  # what the runner does at the end, whatever happened
        assert not any(chain_rules(test, n) for n in NODES)
        assert all(proc_state(test, n) not in (None, "T") for n in NODES)
        assert all(faketime_spec(test, n) in (None, "+0 x1") for n in NODES)  # None: never bumped, no file
        for node in NODES:
            test.db.wait_ready(test, node, 240)


class TestClockFaultsUnderLibfaketime:
    """Clock faults on one server that runs under libfaketime."""

    @pytest.fixture(scope="class")
    def test(self, tmp_path_factory):
        with servers(tmp_path_factory, ["n1"], faketime=True) as live:
            yield live

    def test_the_jvm_sees_a_bumped_clock_and_real_time_after_reset(self, test, nemesis):
        node = "n1"
        assert abs(ctime_shift(test, node)) < 5
        nemesis.clock._write(test, node, -3600.0, 1.0)  # bump its clock an hour back
        nemesis.clock.settle()
        assert ctime_shift(test, node) == pytest.approx(-3600, abs=5)
        run(nemesis, test, "stop-clock", "clock-bump")
        assert faketime_spec(test, node) == "+0 x1"
        assert abs(ctime_shift(test, node)) < 5

    def test_clock_skew_runs_the_clock_fast_without_a_jump(self, test, nemesis):
        node = "n1"
        nemesis.clock._write(test, node, 0.0, 1.0)
        nemesis.clock.settle()
        first = ctime_shift(test, node)
        # what clock-skew writes: the offset compensates the rate
        offset = nemesis.clock._elapsed(test, node) * (1.0 - 4.0)
        nemesis.clock._write(test, node, offset, 4.0)
        nemesis.clock.settle()
        right_after = ctime_shift(test, node)
        time.sleep(3)
        later = ctime_shift(test, node)
        assert abs(right_after - first) < 5          # no jump by (process age x 3), only up to the re-read delay
        assert later - right_after > 5               # 3 s of real time were ~12 s of fake time

    def test_clock_shapes_through_the_nemesis_record_what_they_did(self, test, nemesis):
        nemesis.clock.strobe_seconds = 3.0
        strobe = run(nemesis, test, "start-clock", "clock-strobe").value
        assert strobe["flips"] >= 3 and strobe["node"] == "n1"
        bump = run(nemesis, test, "start-clock", "clock-bump").value
        assert bump["bumps"] and all(1 <= abs(d) <= 120 for d in bump["bumps"].values())
        skew = run(nemesis, test, "start-clock", "clock-skew").value
        assert skew["rates"]
        healed = run(nemesis, test, "heal-all", None).value
        assert healed["clocks"]["reset"]
        assert faketime_spec(test, "n1") == "+0 x1"

    def test_a_killed_jvm_leaves_no_shared_memory_and_restarts_under_libfaketime(self, test, nemesis):
        pid = test.db.pid(test, "n1")
        assert shm_files(pid)  # libfaketime's shared memory, named after the JVM
        run(nemesis, test, "start-kill", "kill-all")
        assert not test.db.is_running(test, "n1") and shm_files(pid) == []  # SIGKILL leaves it; kill removes it
        healed = run(nemesis, test, "stop-kill", "kill-all").value
        new_pid = test.db.pid(test, "n1")
        assert healed["restarted"] == {"n1": "ready"} and new_pid != pid
        assert shm_files(new_pid)
