"""The seeded bugs that only faults expose (reference/bugs.py): each is invisible in a calm run and caught by one
workload + nemesis pair — `harness run` exits 1 and names the anomaly. Plus cheap unit checks of the mechanism
behind each bug (the consensus core's read index, the log's held-back writes)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from nemesis_live import require_netns
from reference.consensus.core import Config, HardState, Role
from reference.consensus.messages import Entry
from reference.consensus.simulation import QUIET, Cluster, InvariantViolation
from reference.replication.raftlog import RaftLog

REPO = Path(__file__).resolve().parents[2]
CALM = replace(QUIET, propose=0.0, read=0.0)
CFG = Config(election_ticks=10, heartbeat_ticks=2)


# ---------------------------------------------------------------- units: the mechanisms, without processes

def _isolated_old_leader(config: Config, seed: int = 4):
    """A 3-node simulated cluster whose first leader is cut off while the majority elects and commits anew."""
    c = Cluster(3, seed=seed, faults=CALM, config=config)
    old = c._await(400, c._stable_leader, "no stable leader")
    c._await(100, lambda: old if old.commit == old.last_index else None, "first leader's entry not committed")
    c.isolate(old.id)
    new = c._await(400, lambda: next((n for n in c.leader_nodes() if n.id != old.id), None), "no new leader")
    assert c.propose_at(new.id, b"won=1") is not None
    c._await(100, lambda: new if new.commit == new.last_index else None, "new write not committed")
    return c, old


def _ask_read(c: Cluster, node, ctx: bytes) -> None:
    assert node.read_index(ctx)
    c.reads[ctx] = len(c.committed)   # the simulation fails a read answered below what was committed by now


def test_lost_quorum_leader_core_answers_a_stale_read_index_while_cut_off():
    c, old = _isolated_old_leader(replace(CFG, check_quorum=False, read_index="commit"))
    assert old.role is Role.LEADER   # no check-quorum: it never noticed
    _ask_read(c, old, b"stale")
    with pytest.raises(InvariantViolation, match="committed before it was asked"):
        c.run(10)


@pytest.mark.parametrize("check_quorum", [True, False])
def test_quorum_confirmed_reads_never_answer_from_a_cut_off_leader(check_quorum):
    c, old = _isolated_old_leader(replace(CFG, check_quorum=check_quorum))
    asked = old.role is Role.LEADER and old.read_index(b"r")
    if asked:
        c.reads[b"r"] = len(c.committed)
    c.run(100)   # the read waits for a quorum that never answers, or is dropped when the leader steps down
    assert not asked or b"r" in c.reads   # (an answer would have been checked, and failed, in run)
    assert old.role is not Role.LEADER if check_quorum else old.role is Role.LEADER


def test_ack_before_quorum_core_reads_its_own_log_end_at_once():
    c, old = _isolated_old_leader(replace(CFG, check_quorum=False, read_index="log"))
    index = c.propose_at(old.id, b"lost=1")
    assert old.read_index(b"mine")
    rd = old.ready()
    assert [(r.index, r.ctx) for r in rd.read_states] == [(index, b"mine")]   # beyond anything committed
    assert old.commit < index


def test_wall_clock_lease_core_answers_from_a_cut_off_leader_while_its_clock_says_the_lease_holds():
    # The simulation never calls set_clock: the leader's clock stands still, the extreme of a clock set back.
    c, old = _isolated_old_leader(replace(CFG, read_index="lease", lease_seconds=0.5))
    assert old.role is Role.LEADER   # check-quorum waived while the lease holds
    _ask_read(c, old, b"stale")
    with pytest.raises(InvariantViolation, match="committed before it was asked"):
        c.run(10)


def test_wall_clock_lease_core_ends_the_lease_when_the_clock_moves_on():
    c, old = _isolated_old_leader(replace(CFG, read_index="lease", lease_seconds=0.5))
    old.set_clock(0.6)   # honest time since the quorum last answered: the lease is over
    assert old.read_index(b"r")
    assert old.ready().read_states == []   # waits for a quorum round instead
    for _ in range(CFG.election_ticks):
        old.tick()
    assert old.role is not Role.LEADER


def test_read_index_setting_is_checked():
    with pytest.raises(ValueError, match="read_index"):
        Config(read_index="lease-ish")


def _crash_image(log: RaftLog, where: Path) -> Path:
    """What a SIGKILL would leave: the files as they are now (the OS keeps what was written)."""
    shutil.copytree(log.dir, where, ignore=shutil.ignore_patterns("lock"))
    return where


def _recovered(where: Path):
    log = RaftLog(where)
    try:
        return log.recover()
    finally:
        log.close()


@pytest.mark.parametrize("lazy", [None, 3600.0])
def test_ack_before_log_keeps_persisted_records_in_memory(tmp_path, lazy):
    log = RaftLog(tmp_path / "d", lazy_flush_s=lazy)
    log.recover()
    try:
        log.persist(HardState(2, 1, 0), None, [Entry(2, 1, b"a"), Entry(2, 2, b"b")])
        crashed = _recovered(_crash_image(log, tmp_path / "crash"))
        if lazy is None:
            assert [e.data for e in crashed.entries] == [b"a", b"b"] and crashed.hard_state.term == 2
        else:   # persist returned, yet a crash now loses everything it reported durable
            assert crashed.entries == [] and crashed.hard_state == HardState()
    finally:
        log.close()
    assert [e.data for e in _recovered(tmp_path / "d").entries] == [b"a", b"b"]   # a clean close writes all


def test_ack_before_log_writes_records_once_they_are_old_enough(tmp_path):
    log = RaftLog(tmp_path / "d", lazy_flush_s=0.0)
    log.recover()
    try:
        log.persist(HardState(1, 1, 0), None, [Entry(1, 1, b"a")])
        assert [e.data for e in _recovered(_crash_image(log, tmp_path / "crash")).entries] == [b"a"]
    finally:
        log.close()


# ---------------------------------------------------------------- live: harness run catches each bug

def _harness(tmp_path: Path, *args: str, timeout: float = 300) -> tuple[int, str, dict]:
    require_netns()
    env = dict(os.environ, ZKJEPSEN_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--store", str(tmp_path / "store"),
                             "--no-progress", "--db", "reference", "--node-count", "3", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(2)   # SIGINT: let it tear down what it made
        out, _ = proc.communicate(timeout=120)
    results = json.loads((tmp_path / "store" / "latest" / "results.json").read_text())
    return proc.returncode, out, results


def _workload(results: dict) -> dict:
    return results["results"]["workload"]["results"]


# bug -> (arguments of a run that catches it, what the workload's checker must report). lost-quorum-leader needs
# enough reads on the cut-off leader after the majority has written, from clients not stuck on a write there
# (docs/nemeses.md): with 10 clients per node at --rate 10 a CI run here missed it once; 20 per node at --rate 20
# caught it 8 times in 8.
CATCHES = {
    "ack-before-log": ["--workload", "set", "--nemesis", "kill-all", "--nemesis-schedule", "kill-all:1",
                       "--nemesis-interval", "4", "--time-limit", "9", "--recovery-time", "5", "--seed", "11"],
    "ack-before-quorum": ["--workload", "register", "--nemesis", "partition-leader", "--nemesis-schedule",
                          "partition-leader:5", "--nemesis-interval", "3", "--time-limit", "9", "--recovery-time", "3",
                          "--seed", "12"],
    "lost-quorum-leader": ["--workload", "register", "--nemesis", "partition-leader", "--nemesis-schedule",
                           "partition-leader:8", "--nemesis-interval", "2", "--concurrency", "20n", "--rate", "20",
                           "--time-limit", "11", "--recovery-time", "3", "--seed", "13"],
}


# wall-clock-lease: the leader cut off and its wall clock set back (by 13.3 s with this seed) while it is. Not in
# CATCHES: one such run catches it only about 4 times in 5 (docs/nemeses.md), too few for a test; what is tested
# live is that the lease is safe with honest clocks. The catching run is this with
# partition-leader+clock-bump-back in place of partition-leader.
WALL_CLOCK_LEASE_PARTITION_ONLY = [
    "--workload", "register", "--nemesis", "partition-leader", "--nemesis-schedule", "partition-leader:8",
    "--nemesis-interval", "2", "--concurrency", "10n", "--rate", "20", "--client-nodes", "all", "--time-limit", "11",
    "--recovery-time", "3", "--seed", "13"]


@pytest.mark.cluster
@pytest.mark.parametrize("bug", sorted(CATCHES))
def test_harness_catches_the_bug_under_its_fault(tmp_path, bug):
    code, out, results = _harness(tmp_path, "--bug", bug, *CATCHES[bug])
    assert code == 1, out[-4000:]
    assert results["valid"] is False and "INVALID" in out
    w = _workload(results)
    if CATCHES[bug][CATCHES[bug].index("--workload") + 1] == "set":
        assert w["set"]["valid"] is False and w["set"]["lost_count"] > 0, w["set"]
    else:
        assert w["linearizable"]["valid"] is False and w["linearizable"]["counterexample"], w["linearizable"]
    run = (tmp_path / "store" / "latest").resolve()
    logs = "".join(p.read_text(errors="replace") for p in (run / "nodes").rglob("*.log"))
    assert f"INJECTED BUG {bug}" in logs


@pytest.mark.cluster
@pytest.mark.parametrize("bug", sorted(CATCHES))
def test_the_bug_stays_hidden_without_faults(tmp_path, bug):
    args, keep = [], CATCHES[bug]
    for flag, value in zip(keep[::2], keep[1::2]):
        if flag not in ("--nemesis", "--nemesis-schedule", "--nemesis-interval"):
            args += [flag, value]
    code, out, results = _harness(tmp_path, "--bug", bug, "--nemesis", "none", *args)
    assert code == 0, out[-4000:]
    assert results["valid"] is True


@pytest.mark.cluster
def test_a_wall_clock_lease_is_safe_under_a_partition_alone(tmp_path):
    """Without a clock fault the lease (half an election timeout) ends before a new leader can be elected."""
    code, out, results = _harness(tmp_path, "--bug", "wall-clock-lease", *WALL_CLOCK_LEASE_PARTITION_ONLY)
    assert code == 0, out[-4000:]
    assert results["valid"] is True
    history = (tmp_path / "store" / "latest" / "history.jsonl").read_text()
    assert '"f":"start-partition"' in history and '"f":"start-clock"' not in history


def test_an_unknown_bug_name_is_a_bad_argument(tmp_path):
    env = dict(os.environ, ZKJEPSEN_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--store", str(tmp_path / "store"), "--db",
                           "reference", "--bug", "stale-read"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 254
    assert "unknown --bug 'stale-read'" in proc.stderr and "stale-reads" in proc.stderr
