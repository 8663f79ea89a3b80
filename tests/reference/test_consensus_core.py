"""Targeted scenarios for the consensus core, driven through the deterministic simulation (no sockets, no clocks)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from reference.consensus.core import Config, HardState, Node, PersistentState, Role
from reference.consensus.messages import (
    Append, AppendResp, Entry, EntryKind, Heartbeat, InstallSnapshot, Snapshot, Vote, VoteResp,
)
from reference.consensus.simulation import QUIET, Cluster, InvariantViolation

CALM = replace(QUIET, propose=0.0, read=0.0)
CFG = Config(election_ticks=10, heartbeat_ticks=2)


def settle(c: Cluster, steps: int = 400) -> Node:
    return c._await(steps, c._stable_leader, "no stable leader")


def run_until(c: Cluster, cond, steps: int = 400) -> None:
    for _ in range(steps):
        c.step()
        if cond():
            return
    raise AssertionError("condition not reached")


# ---------------------------------------------------------------- basics

def test_single_node_elects_itself_commits_and_reads() -> None:
    c = Cluster(1, seed=1, faults=CALM, config=CFG)
    leader = settle(c)
    idx = c.propose_at(leader.id, b"a=1")
    assert idx is not None
    assert leader.read_index(b"r1")
    rd = leader.ready()
    assert [e.data for e in rd.committed_entries if e.kind is EntryKind.NORMAL] == [b"a=1"]
    assert [(r.index, r.ctx) for r in rd.read_states] == [(idx, b"r1")]


def test_three_nodes_replicate_and_apply_the_same_history() -> None:
    c = Cluster(3, seed=2, faults=CALM, config=CFG)
    leader = settle(c)
    for k in range(20):
        assert c.propose_at(leader.id, b"k%d=%d" % (k % 3, k)) is not None
    run_until(c, lambda: all(a.index == leader.last_index for a in c.apps.values()))
    assert len({a.state() for a in c.apps.values()}) == 1
    assert c.apps[leader.id].app.data == {b"k0": b"18", b"k1": b"19", b"k2": b"17"}
    assert c.propose_at(next(i for i in c.ids if i != leader.id), b"x=1") is None  # followers refuse


def test_vote_is_persisted_in_the_same_ready_as_the_grant() -> None:
    node = Node(2, [1, 2, 3], config=CFG)
    node.step(Vote(1, 2, 5, 0, 0))
    rd = node.ready()
    assert rd.hard_state == HardState(term=5, vote=1, commit=0)
    assert rd.messages == [VoteResp(2, 1, 5, True)]
    node.step(Vote(3, 2, 5, 0, 0))  # same term, already voted for 1
    assert node.ready().messages == [VoteResp(2, 3, 5, False)]


def test_restart_from_persisted_state_keeps_vote_and_log() -> None:
    entries = [Entry(1, 1, b"a=1"), Entry(2, 2, b"b=2")]
    node = Node(1, [1, 2, 3], state=PersistentState(HardState(2, 3, 1), None, entries), config=CFG)
    assert (node.term, node.vote, node.commit, node.last_index, node.last_term) == (2, 3, 1, 2, 2)
    assert [e.index for e in node.ready().committed_entries] == [1]
    with pytest.raises(ValueError, match="not contiguous"):
        Node(1, [1, 2, 3], state=PersistentState(HardState(2), None, [Entry(1, 1), Entry(1, 3)]))
    with pytest.raises(ValueError, match="not among the voters"):
        Node(4, [1, 2, 3])


def test_whole_cluster_crash_and_restart_keeps_committed_entries() -> None:
    c = Cluster(3, seed=3, faults=CALM, config=CFG)
    leader = settle(c)
    for k in range(10):
        c.propose_at(leader.id, b"k=%d" % k)
    run_until(c, lambda: leader.commit == leader.last_index)
    committed = len(c.committed)
    for i in c.ids:
        c.crash(i)
    for i in c.ids:
        c.restart(i)
    c.heal_and_settle()
    assert c.apps[1].app.data[b"k"] == b"9" and len(c.committed) > committed


# ---------------------------------------------------------------- leadership safety mechanisms

def test_check_quorum_partitioned_leader_steps_down_and_cannot_commit() -> None:
    c = Cluster(3, seed=4, faults=CALM, config=CFG)
    old = settle(c)
    c.isolate(old.id)
    idx = c.propose_at(old.id, b"lost=1")
    assert idx is not None
    run_until(c, lambda: old.role is not Role.LEADER, steps=3 * CFG.election_ticks)
    # The majority elects a new leader, which commits new writes; the isolated proposal never commits.
    new = c._await(200, lambda: next((n for n in c.leader_nodes() if n.id != old.id), None), "no new leader")
    assert new.term > old.term or old.role is not Role.LEADER
    c.propose_at(new.id, b"won=1")
    c.heal_and_settle()
    assert all(a.app.data.get(b"won") == b"1" and b"lost" not in a.app.data for a in c.apps.values())


@pytest.mark.parametrize("pre_vote", [True, False])
def test_pre_vote_keeps_a_rejoining_node_from_disrupting_the_leader(pre_vote: bool) -> None:
    c = Cluster(3, seed=5, faults=CALM, config=replace(CFG, pre_vote=pre_vote))
    leader = settle(c)
    term = leader.term
    loner = next(i for i in c.ids if i != leader.id)
    c.isolate(loner)
    c.run(20 * CFG.election_ticks)  # many election timeouts alone
    c.set_partition(set())
    c.run(10 * CFG.election_ticks)
    if pre_vote:
        assert c.nodes[loner].term == term, "pre-vote must not let an isolated node raise its term"
        assert c.nodes[leader.id] is leader and leader.role is Role.LEADER and leader.term == term
    else:
        # Without pre-vote the loner's inflated term deposes the healthy leader: what pre-vote exists to prevent.
        assert max(n.term for n in c.nodes.values()) > term + 5


def test_leader_lease_ignores_vote_requests_while_a_leader_is_heard() -> None:
    node = Node(2, [1, 2, 3], config=CFG)
    node.step(Heartbeat(1, 2, 3, 0))
    node.ready()
    node.step(Vote(3, 2, 4, 10, 3))
    assert node.term == 3 and node.ready().messages == []


# ---------------------------------------------------------------- log repair

def test_follower_conflict_truncates_and_refusal_hints_skip_whole_terms() -> None:
    log = [Entry(1, 1), Entry(1, 2)] + [Entry(2, i) for i in range(3, 9)]
    f = Node(2, [1, 2, 3], state=PersistentState(HardState(2, None, 2), None, log), config=CFG)
    # The leader of term 4 has entries of term 3 from index 3: the follower refuses and points below term 2.
    f.step(Append(1, 2, 4, 8, 3, (), 2))
    (resp,) = f.ready().messages
    assert resp == AppendResp(2, 1, 4, 8, False, 8, 2)
    f.step(Append(1, 2, 4, 2, 1, (Entry(3, 3, b"x"), Entry(3, 4, b"y")), 4))
    rd = f.ready()
    assert [(e.term, e.index) for e in rd.entries] == [(3, 3), (3, 4)]
    assert f.last_index == 4 and f.commit == 4
    assert rd.messages == [AppendResp(2, 1, 4, 4)]


def test_divergent_logs_converge_to_the_elected_leaders_log() -> None:
    c = Cluster(3, seed=6, faults=CALM, config=replace(CFG, max_append_entries=2))
    logs = {
        1: [Entry(1, 1, b"a=1"), Entry(1, 2, b"a=2")] + [Entry(2, i, b"two=%d" % i) for i in range(3, 9)],
        2: [Entry(1, 1, b"a=1"), Entry(1, 2, b"a=2"), Entry(3, 3, b"three=3"), Entry(3, 4, b"three=4")],
        3: [Entry(1, 1, b"a=1"), Entry(1, 2, b"a=2")] + [Entry(3, i, b"three=%d" % i) for i in range(3, 7)],
    }
    for i, log in logs.items():
        c.crash(i)
        c.disks[i].entries = log
        c.disks[i].hard = HardState(3, None, 0)
        c.restart(i)
    c.heal_and_settle()
    leader = c.leader_nodes()[0]
    assert leader.id in (2, 3)  # node 1's last term (2) is too old to win
    full = [n.entries_between(1, n.last_index) for n in c.nodes.values()]
    assert full[0] == full[1] == full[2]
    assert not any(e.term == 2 for e in full[0])


# ---------------------------------------------------------------- snapshots

def test_wiped_follower_catches_up_by_snapshot() -> None:
    faults = replace(CALM, compact_every=20)
    c = Cluster(3, seed=7, faults=faults, config=CFG)
    leader = settle(c)
    for k in range(100):
        c.propose_at(leader.id, b"k%d=%d" % (k % 7, k))
    run_until(c, lambda: all(a.index >= 100 for a in c.apps.values()))
    victim = next(i for i in c.ids if i != leader.id)
    assert leader.first_index > 1, "leader must have compacted"
    before = c.stats["snapshots_installed"]
    c.wipe(victim)
    assert c.nodes[victim].last_index == 0
    c.propose_at(leader.id, b"after=wipe")
    c.heal_and_settle()
    assert c.stats["snapshots_installed"] > before
    assert c.apps[victim].state() == c.apps[leader.id].state()


def test_lagging_follower_catches_up_by_snapshot_after_restart() -> None:
    c = Cluster(3, seed=8, faults=replace(CALM, compact_every=10), config=CFG)
    leader = settle(c)
    lagger = next(i for i in c.ids if i != leader.id)
    c.crash(lagger)
    for k in range(60):
        c.propose_at(leader.id, b"k=%d" % k)
        c.step()
    assert leader.first_index > c.disks[lagger].hard.commit + 1
    before = c.stats["snapshots_installed"]
    c.heal_and_settle()
    assert c.stats["snapshots_installed"] > before and c.apps[lagger].app.data[b"k"] == b"59"


def test_install_snapshot_replaces_a_conflicting_log_and_is_handed_out_first() -> None:
    f = Node(2, [1, 2, 3], state=PersistentState(HardState(2), None, [Entry(1, 1), Entry(2, 2)]), config=CFG)
    snap = Snapshot(5, 3, b"state")
    f.step(InstallSnapshot(1, 2, 3, snap))
    rd = f.ready()
    assert rd.snapshot == snap and rd.entries == [] and rd.committed_entries == []
    assert rd.hard_state == HardState(3, None, 5)
    assert rd.messages == [AppendResp(2, 1, 3, 5)]
    assert (f.first_index, f.last_index, f.applied) == (6, 5, 5)


# ---------------------------------------------------------------- reads, batching, pipelining

def test_read_index_on_leader_and_follower() -> None:
    c = Cluster(3, seed=9, faults=CALM, config=CFG)
    leader = settle(c)
    c.propose_at(leader.id, b"a=1")
    follower = next(i for i in c.ids if i != leader.id)
    c.reads[b"lr"] = c.reads[b"fr"] = len(c.committed)  # let the simulation check the answers
    assert leader.read_index(b"lr") and c.nodes[follower].read_index(b"fr")
    run_until(c, lambda: not c.reads)
    assert c.stats["reads_answered"] == 2


def test_read_asked_before_the_new_leaders_noop_commits_waits_for_it() -> None:
    c = Cluster(3, seed=13, faults=CALM, config=CFG)
    run_until(c, lambda: bool(c.leader_nodes()))
    leader = c.leader_nodes()[0]
    assert leader.commit < leader.last_index  # the no-op of its term is not committed yet
    noop = leader.last_index
    assert leader.read_index(b"early")
    answers = []
    for _ in range(50):
        for i in c.up():
            if i != leader.id:
                c._process_ready(i)
        rd = leader.ready()
        for m in rd.messages:
            c._send(m)
        answers += rd.read_states
        c.now += 1
        c._deliver_due()
        if answers:
            break
    assert [(r.index, r.ctx) for r in answers] == [(noop, b"early")]


def test_isolated_leader_never_answers_reads_and_reports_them_dropped() -> None:
    c = Cluster(3, seed=10, faults=CALM, config=CFG)
    old = settle(c)
    c.isolate(old.id)
    assert old.read_index(b"stale?")
    dropped = []
    for _ in range(3 * CFG.election_ticks):
        old.tick()
        rd = old.ready()
        assert rd.read_states == []
        dropped += rd.dropped_reads
    assert old.role is not Role.LEADER and dropped == [b"stale?"]


def test_batches_are_split_and_pipelined_without_waiting_for_acks() -> None:
    cfg = replace(CFG, max_append_entries=100, max_inflight=8)
    c = Cluster(3, seed=11, faults=CALM, config=cfg)
    leader = settle(c)
    run_until(c, lambda: all(p.state.name == "REPLICATE" for p in leader._progress.values()))
    leader.propose_batch([b"k=%d" % k for k in range(1000)])
    appends = [m for m in leader.ready().messages if isinstance(m, Append)]
    per_peer = {p: [m for m in appends if m.dst == p] for p in leader.peers}
    for msgs in per_peer.values():
        # Eight Appends of 100 entries go out at once; the rest waits for acknowledgements.
        assert [len(m.entries) for m in msgs] == [100] * 8
    run_until(c, lambda: all(a.index == leader.last_index for a in c.apps.values()))


def test_byte_limit_splits_appends() -> None:
    node = Node(1, [1], config=replace(CFG, max_append_bytes=1000))
    node.tick()
    while node.role is not Role.LEADER:
        node.tick()
    assert node.propose_batch([b"x" * 400] * 5) is not None
    assert len(node._batch_from(2)) == 2


def test_bad_input_is_refused_clearly() -> None:
    node = Node(1, [1, 2, 3], config=CFG)
    with pytest.raises(ValueError, match="stepped into node 1"):
        node.step(VoteResp(2, 3, 1, True))
    with pytest.raises(ValueError, match="heartbeat_ticks"):
        Config(election_ticks=2, heartbeat_ticks=2)
    with pytest.raises(ValueError, match="only 0 applied"):
        node.compact(1, b"")


# ---------------------------------------------------------------- the checker has teeth

class CommitsEarlierTermsByCounting(Node):
    """Broken on purpose: commits entries of earlier terms by counting replicas (Raft's figure 8 bug)."""

    def _may_commit_at(self, index: int) -> bool:
        return True


def figure_8(node_class: type[Node]) -> Cluster:
    """Replay Raft's figure 8 with five servers; returns the cluster after the would-be overwrite."""
    cfg = replace(CFG, max_append_entries=1)
    c = Cluster(5, seed=12, faults=CALM, config=cfg, node_class=node_class)
    e1 = Entry(1, 1, b"a=1")
    logs = {1: [e1, Entry(2, 2, b"b=2")], 2: [e1, Entry(2, 2, b"b=2")], 3: [e1], 4: [e1],
            5: [e1, Entry(3, 2, b"c=3")]}  # 5 led term 3 and crashed before replicating its entry
    for i, log in logs.items():
        c.crash(i)
        c.disks[i].entries = log
        c.disks[i].hard = HardState(3, None, 0)
    for i in (1, 2, 3, 4):
        c.restart(i)
    # Node 2 stays mute so that node 1 (not 2) wins term 4 with the votes of 3 and 4.
    c.set_partition({(2, j) for j in c.ids if j != 2})
    run_until(c, lambda: c.nodes[1].role is Role.LEADER)
    s1 = c.nodes[1]
    assert s1.term == 4
    # Node 4 hears nothing more from 1; node 3 gets the term-2 entry but not the leader's no-op after it.
    c.set_partition({(1, 4)})
    run_until(c, lambda: c.nodes[3].term_at(2) == 2)
    c.set_partition({(1, 4), (1, 3)})
    run_until(c, lambda: s1._progress[3].match == 2 and s1._progress[2].match == 3)
    c.run(3)
    assert s1.commit == (2 if node_class is CommitsEarlierTermsByCounting else 0)
    # 1 and 2 crash; 5 returns and, its last term (3) beating 3's and 4's, wins term 5 and overwrites index 2.
    c.crash(1)
    c.crash(2)
    c.restart(5)
    c.set_partition(set())
    run_until(c, lambda: c.nodes[5].role is Role.LEADER, steps=1000)
    return c


def test_figure_8_correct_core_never_commits_the_earlier_term_entry() -> None:
    c = figure_8(Node)
    c.heal_and_settle()
    assert all(n.term_at(2) == 3 for n in c.nodes.values())  # the uncommitted entry was rightly replaced


def test_figure_8_is_caught_when_the_core_commits_by_counting() -> None:
    with pytest.raises(InvariantViolation, match="lacks entry 2 committed in term 4"):
        figure_8(CommitsEarlierTermsByCounting)
