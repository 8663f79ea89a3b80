"""Session order checker: ZooKeeper's per-session guarantees."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from checkers.checker import UNKNOWN
from checkers.history import HistoryError, Op, index_history
from checkers.session_order import SessionOrderChecker


def h(*ops: tuple) -> list[Op]:
    """(type, process, f, key, extra) tuples -> indexed history."""
    return index_history([Op(type=t, process=p, f=f, key=k, time=i, extra=dict(x))
                          for i, (t, p, f, k, x) in enumerate(ops)])


def rw(p, f, k, **fields) -> list[tuple]:
    return [("invoke", p, f, k, {}), ("ok", p, f, k, fields)]


def test_fresh_session_reads_are_valid() -> None:
    r = SessionOrderChecker().check(h(
        *rw(0, "write", "/a", version=1, mzxid=10),
        *rw(0, "read", "/a", version=1, mzxid=10),
        *rw(1, "read", "/a", version=0, mzxid=3),   # another session may be stale
        *rw(1, "read", "/a", version=1, mzxid=10)))
    assert r["valid"] is True and r["judged_count"] == 4 and r["sessions"] == 2


def test_read_going_back_is_monotonic_reads() -> None:
    r = SessionOrderChecker().check(h(
        *rw(1, "read", "/a", version=2, mzxid=12),
        *rw(1, "read", "/a", version=1, mzxid=10)))
    assert r["valid"] is False
    assert r["anomaly_kinds"] == {"monotonic-reads": 2}
    assert r["anomalies"][0] == {"kind": "monotonic-reads", "session": 1, "key": "/a", "field": "version",
                                 "op": 3, "value": 1, "earlier_op": 1, "earlier_value": 2}


def test_missing_own_write_is_read_your_writes() -> None:
    r = SessionOrderChecker().check(h(
        *rw(0, "write", "/a", version=3),
        *rw(0, "read", "/a", version=2)))
    assert r["valid"] is False
    assert r["anomalies"] == [{"kind": "read-your-writes", "session": 0, "key": "/a", "field": "version",
                               "op": 3, "value": 2, "earlier_op": 1, "earlier_value": 3}]


def test_writes_out_of_issue_order_across_keys() -> None:
    r = SessionOrderChecker().check(h(
        *rw(0, "write", "/a", mzxid=20),
        *rw(0, "write", "/b", mzxid=15)))
    assert r["valid"] is False
    assert r["anomalies"] == [{"kind": "write-order", "session": 0, "key": "/b", "field": "mzxid",
                               "op": 3, "value": 15, "earlier_op": 1, "earlier_value": 20}]


def test_write_not_after_what_was_read() -> None:
    r = SessionOrderChecker().check(h(*rw(0, "read", "/a", version=4), *rw(0, "cas", "/a", version=4)))
    assert [a["kind"] for a in r["anomalies"]] == ["writes-follow-reads"]


def test_reply_zxid_going_back_across_keys() -> None:
    r = SessionOrderChecker().check(h(*rw(0, "read", "/a", zxid=30), *rw(0, "read", "/b", zxid=29),
                                      *rw(0, "read", "/b", zxid=29)))
    assert r["anomaly_kinds"] == {"zxid-order": 2}


def test_session_field_groups_processes_and_value_dict_is_read() -> None:
    hist = index_history([
        Op("invoke", 0, "write", key="/a"), Op("ok", 0, "write", key="/a", value={"version": 5},
                                               extra={"session": "0x1"}),
        Op("invoke", 1, "read", key="/a"), Op("ok", 1, "read", key="/a", value={"version": 4, "data": "x"},
                                              extra={"session": "0x1"}),
        Op("invoke", 2, "read", key="/a"), Op("ok", 2, "read", key="/a", value={"version": 4},
                                              extra={"session": "0x2"})])
    r = SessionOrderChecker().check(hist)
    assert r["anomaly_count"] == 1 and r["anomalies"][0]["session"] == "0x1"
    assert r["anomalies"][0]["kind"] == "read-your-writes"


def test_overlapping_ops_are_not_ordered_and_fail_info_not_judged() -> None:
    r = SessionOrderChecker().check(h(
        ("invoke", 0, "read", "/a", {"session": "s"}), ("invoke", 1, "read", "/a", {"session": "s"}),
        ("ok", 0, "read", "/a", {"session": "s", "version": 5}),
        ("ok", 1, "read", "/a", {"session": "s", "version": 4}),
        ("invoke", 2, "write", "/a", {}), ("info", 2, "write", "/a", {"version": 9}),
        ("invoke", 3, "write", "/a", {}), ("fail", 3, "write", "/a", {"version": 9})))
    assert r["valid"] is True


def test_nothing_recorded_is_unknown_and_bad_field_is_an_error() -> None:
    r = SessionOrderChecker().check(h(*rw(0, "read", "/a")))
    assert r["valid"] == UNKNOWN and "no ok read or write recorded" in r["error"]
    with pytest.raises(HistoryError, match="op 1: 'version' must be an integer"):
        SessionOrderChecker().check(h(*rw(0, "read", "/a", version="3")))


# --- generated: a ZooKeeper-like simulation (leader log, lagging followers, sessions pinned to a follower
# that has caught up with everything the session saw) only produces valid histories.

KEYS = ("/a", "/b")


@st.composite
def zk_runs(draw):
    log: list[tuple[str, int]] = []  # zxid i+1 wrote (key, new version)
    applied = [0, 0, 0]               # each follower's applied prefix of the log
    seen = {s: 0 for s in range(3)}   # the last zxid each session saw
    server = {s: s for s in range(3)}
    ops: list[tuple] = []

    def state(prefix: int, key: str) -> tuple[int, int]:
        version, mzxid = 0, 0
        for z, (k, v) in enumerate(log[:prefix], 1):
            if k == key:
                version, mzxid = v, z
        return version, mzxid

    for _ in range(draw(st.integers(1, 40))):
        action = draw(st.sampled_from(["read", "read", "write", "catchup", "move"]))
        s = draw(st.integers(0, 2))
        if action == "catchup":
            f = draw(st.integers(0, 2))
            applied[f] = draw(st.integers(applied[f], len(log)))
        elif action == "move":
            choices = [f for f in range(3) if applied[f] >= seen[s]]  # the server refuses others
            server[s] = draw(st.sampled_from(choices))
        elif action == "write":
            key = draw(st.sampled_from(KEYS))
            version = state(len(log), key)[0] + 1
            log.append((key, version))
            z = len(log)
            applied[server[s]] = max(applied[server[s]], z)  # the reply comes after the follower applied it
            seen[s] = max(seen[s], z)
            ops += rw(s, "write", key, version=version, mzxid=z, zxid=z)
        else:
            key = draw(st.sampled_from(KEYS))
            prefix = applied[server[s]]
            version, mzxid = state(prefix, key)
            seen[s] = max(seen[s], prefix)
            ops += rw(s, "read", key, version=version, mzxid=mzxid, zxid=prefix)
    return ops


@settings(max_examples=100, deadline=None)
@given(zk_runs())
def test_simulated_zookeeper_sessions_are_valid(ops) -> None:
    r = SessionOrderChecker().check(h(*ops))
    assert r["valid"] in (True, UNKNOWN) and r["anomaly_count"] == 0


@settings(max_examples=100, deadline=None)
@given(zk_runs(), st.data())
def test_a_read_going_back_in_its_session_is_caught(ops, data) -> None:
    # Pick a read whose session earlier saw a newer version of the same key; serve it older data.
    candidates = []
    for i in range(1, len(ops), 2):
        _, p, f, key, x = ops[i]
        if f != "read":
            continue
        best = max((ops[j][4]["version"] for j in range(1, i, 2) if ops[j][1] == p and ops[j][3] == key),
                   default=0)
        if best > 0:
            candidates.append((i, best))
    if not candidates:
        return
    i, best = data.draw(st.sampled_from(candidates))
    _, p, f, key, x = ops[i]
    ops[i] = ("ok", p, f, key, dict(x, version=best - 1))
    r = SessionOrderChecker().check(h(*ops))
    assert r["valid"] is False
    assert any(a["op"] == i and a["field"] == "version" for a in r["anomalies"])
