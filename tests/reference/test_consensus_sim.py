"""Deterministic simulation of 3 or 5 consensus cores under network faults, crashes and restarts.

Hypothesis picks the cluster size, core limits, fault rates and the seed that drives every random choice of the
schedule; `Cluster` checks the invariants continuously (see reference/consensus/simulation.py) and
`heal_and_settle` checks liveness and convergence once the faults stop. A failing example prints its parameters;
`Cluster(n, seed, faults, config).run(steps)` replays it exactly.

Longer soak: CONSENSUS_SOAK_EXAMPLES=500 python3 -m pytest --timeout=0 tests/reference/test_consensus_sim.py -m slow
"""
from __future__ import annotations

import marshal
import os
from typing import Hashable

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from reference.consensus.core import Config, Node
from reference import txn
from reference.acl import OPEN_ACL_UNSAFE
from reference.consensus.simulation import Cluster, Faults, InvariantViolation
from reference.tree import Tree

faults = st.builds(
    Faults,
    drop=st.floats(0, 0.3),
    duplicate=st.floats(0, 0.1),
    max_delay=st.integers(0, 5),
    tick_skip=st.floats(0, 0.3),
    crash=st.floats(0, 0.03),
    crash_mid_ready=st.floats(0, 0.5),
    crash_leader=st.floats(0, 0.7),
    restart=st.floats(0.01, 0.2),
    partition=st.floats(0, 0.03),
    propose=st.floats(0.1, 0.9),
    read=st.floats(0, 0.1),
    compact_every=st.sampled_from([0, 8, 50, 300]),
)
# (entries per Append, Appends in flight): large batches with pipelining, small ones, and one entry at a time.
limits = st.sampled_from([(4096, 64), (3, 4), (1, 1)])


def simulate(n: int, seed: int, f: Faults, limit: tuple[int, int], steps: int) -> Cluster:
    config = Config(election_ticks=10, heartbeat_ticks=2, max_append_entries=limit[0], max_inflight=limit[1])
    c = Cluster(n, seed, f, config)
    c.run(steps)
    c.heal_and_settle()
    return c


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.sampled_from([3, 5]), seed=st.integers(0, 2**32 - 1), f=faults, limit=limits,
       steps=st.integers(2000, 4000))
def test_random_schedules_keep_every_invariant(n: int, seed: int, f: Faults, limit: tuple[int, int],
                                               steps: int) -> None:
    simulate(n, seed, f, limit, steps)


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("CONSENSUS_SOAK_EXAMPLES", "15")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(n=st.sampled_from([3, 5]), seed=st.integers(0, 2**32 - 1), f=faults, limit=limits,
       steps=st.integers(5000, 10000))
def test_soak(n: int, seed: int, f: Faults, limit: tuple[int, int], steps: int) -> None:
    simulate(n, seed, f, limit, steps)


class DataTreeStore:
    """The replicated data tree as the simulated state machine: `name=value` entries become create-or-setData
    transactions applied through reference.txn, so "state machines equal" means "data trees equal"."""

    def __init__(self) -> None:
        self.tree = Tree()

    def apply(self, data: bytes) -> None:
        name, _, value = data.partition(b"=")
        path = "/" + name.decode()
        zxid = self.tree.last_zxid + 1
        if path in self.tree.nodes:
            t = txn.Txn(zxid, zxid, 0, txn.SET_DATA, (path, value))
        else:
            t = txn.Txn(zxid, zxid, 0, txn.CREATE, (path, value, OPEN_ACL_UNSAFE, 0))
        txn.apply(self.tree, t)

    def snapshot(self) -> bytes:
        return marshal.dumps(self.tree.dump(), txn.WIRE_FORMAT)

    def restore(self, blob: bytes) -> None:
        self.tree = Tree.load(marshal.loads(blob))

    def state(self) -> Hashable:
        return self.tree.digest()


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.sampled_from([3, 5]), seed=st.integers(0, 2**32 - 1), f=faults, limit=limits,
       steps=st.integers(1000, 2500))
def test_random_schedules_leave_equal_data_trees(n: int, seed: int, f: Faults, limit: tuple[int, int],
                                                 steps: int) -> None:
    config = Config(election_ticks=10, heartbeat_ticks=2, max_append_entries=limit[0], max_inflight=limit[1])
    c = Cluster(n, seed, f, config, app_factory=DataTreeStore)
    c.run(steps)
    c.heal_and_settle()
    trees = [c.apps[i].app.tree for i in c.ids]
    assert all(t.dump() == trees[0].dump() for t in trees)


HARSH = Faults(drop=0.15, duplicate=0.05, max_delay=4, tick_skip=0.2, crash=0.02, crash_mid_ready=0.3,
               crash_leader=0.5, restart=0.05, partition=0.02, propose=0.6, read=0.1, compact_every=40)


def test_the_simulation_exercises_every_mechanism() -> None:
    """Guard against a vacuous simulation: faults really happen and every recovery path really runs."""
    c = simulate(5, 2024, HARSH, (4096, 64), 4000)
    s = c.stats
    assert s["elections"] >= 5 and s["crashes"] >= 20 and s["dropped"] >= 1000
    assert s["snapshots_installed"] >= 1 and s["compactions"] >= 10 and s["reads_answered"] >= 50
    assert len(c.committed) >= 1000 and len(c.acked) >= 500


class VotesWithoutCheckingLogs(Node):
    """Broken on purpose: grants votes to candidates whose logs are behind."""

    def _log_ok_for_vote(self, m, up_to_date: bool) -> bool:
        return True


class AnswersReadsWithoutConfirmingLeadership(Node):
    """Broken on purpose: a leader answers read_index from its own commit index, without a heartbeat round."""

    def _leader_read(self, ctx: bytes, origin: int) -> None:
        self._answer_read(origin, self.commit, ctx)


@pytest.mark.parametrize("broken", [VotesWithoutCheckingLogs, AnswersReadsWithoutConfirmingLeadership])
def test_the_checker_catches_broken_cores(broken: type[Node]) -> None:
    caught = []
    for seed in range(10):
        c = Cluster(5, seed, HARSH, Config(election_ticks=10, heartbeat_ticks=2), node_class=broken)
        try:
            c.run(3000)
            c.heal_and_settle()
        except InvariantViolation as e:
            caught.append(str(e))
    assert len(caught) >= 3, caught
