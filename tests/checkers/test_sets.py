"""Set and queue checkers: hand-written histories with known anomalies, and generated ones."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from checkers.checker import UNKNOWN
from checkers.history import Op, index_history
from checkers.sets import QueueChecker, SetChecker


def h(*ops: tuple) -> list[Op]:
    """(type, process, f, value[, extra]) tuples -> an indexed history, 1 ms apart."""
    out = []
    for i, t in enumerate(ops):
        extra = t[4] if len(t) > 4 else {}
        out.append(Op(type=t[0], process=t[1], f=t[2], value=t[3], time=i * 1_000_000, extra=dict(extra)))
    return index_history(out)


def test_all_acknowledged_adds_read_is_valid() -> None:
    r = SetChecker().check(h(
        ("invoke", 0, "add", 1), ("ok", 0, "add", 1),
        ("invoke", 1, "add", 2), ("ok", 1, "add", 2),
        ("invoke", 0, "read", None), ("ok", 0, "read", [2, 1])))
    assert r["valid"] is True
    assert r["final_reads"] == [5]
    assert (r["attempt_count"], r["acknowledged_count"], r["lost_count"]) == (2, 2, 0)


def test_lost_add_is_reported_with_its_ops() -> None:
    r = SetChecker().check(h(
        ("invoke", 0, "add", 1), ("ok", 0, "add", 1),
        ("invoke", 1, "add", 2), ("ok", 1, "add", 2),
        ("invoke", 0, "read", None), ("ok", 0, "read", [1])))
    assert r["valid"] is False
    assert r["lost_count"] == 1
    assert r["lost"] == [{"element": 2, "add": 3, "read": 5}]


def test_unexpected_duplicated_and_recovered() -> None:
    r = SetChecker().check(h(
        ("invoke", 0, "add", 1), ("ok", 0, "add", 1),
        ("invoke", 1, "add", 2), ("fail", 1, "add", 2),
        ("invoke", 2, "add", 3), ("info", 2, "add", 3),
        ("invoke", 0, "read", None), ("ok", 0, "read", [1, 1, 2, 3, 9])))
    assert r["valid"] is False
    assert r["duplicated"] == [{"element": 1, "read": 7, "count": 2}]
    assert r["unexpected_count"] == 2
    assert {u["element"]: u["failed_adds"] for u in r["unexpected"]} == {2: [3], 9: []}
    assert r["recovered"] == [{"element": 3, "add": 4, "read": 7}]
    assert r["lost_count"] == 0


def test_info_add_missing_is_not_lost() -> None:
    r = SetChecker().check(h(
        ("invoke", 2, "add", 3), ("info", 2, "add", 3),
        ("invoke", 0, "read", None), ("ok", 0, "read", [])))
    assert r["valid"] is True and r["recovered_count"] == 0


def test_only_final_reads_count_and_marked_final_wins() -> None:
    # The early read misses the add (stale reads are allowed); the later marked final read is judged.
    hist = h(
        ("invoke", 0, "add", 1), ("ok", 0, "add", 1),
        ("invoke", 1, "read", None), ("ok", 1, "read", []),
        ("invoke", 1, "read", None), ("ok", 1, "read", [1], {"final": True}))
    assert SetChecker().check(hist)["valid"] is True
    hist[3].extra["final"] = True  # now the stale read claims to be final: the add is lost
    r = SetChecker().check(hist)
    assert r["valid"] is False and r["lost"] == [{"element": 1, "add": 1, "read": 3}]


def test_read_concurrent_with_add_is_not_final() -> None:
    r = SetChecker().check(h(
        ("invoke", 0, "add", 1), ("invoke", 1, "read", None), ("ok", 1, "read", []), ("ok", 0, "add", 1)))
    assert r["valid"] == UNKNOWN and r["final_reads"] == [] and "error" in r


def test_no_read_is_unknown() -> None:
    assert SetChecker().check(h(("invoke", 0, "add", 1), ("ok", 0, "add", 1)))["valid"] == UNKNOWN


def test_non_list_read_is_a_clear_error() -> None:
    import pytest
    from checkers.history import HistoryError
    with pytest.raises(HistoryError, match="op 1: an ok read must have a list value"):
        SetChecker().check(h(("invoke", 0, "read", None), ("ok", 0, "read", 5)))


def test_elements_may_be_json_values() -> None:
    r = SetChecker().check(h(
        ("invoke", 0, "add", [1, "a"]), ("ok", 0, "add", [1, "a"]),
        ("invoke", 0, "read", None), ("ok", 0, "read", [])))
    assert r["lost"] == [{"element": [1, "a"], "add": 1, "read": 3}]


# --- generated: a correct concurrent set never fails; dropping one acknowledged element always does.

@st.composite
def set_runs(draw):
    """A correct simulated set: adds by 3 processes interleaved, some failing, some indeterminate."""
    n = draw(st.integers(1, 30))
    outcomes = draw(st.lists(st.sampled_from(["ok", "ok", "ok", "fail", "info"]), min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))
    ops: list[tuple] = []
    present: list[int] = []
    proc = {p: p for p in range(3)}
    for k, e in enumerate(order):
        p = k % 3
        ops.append(("invoke", proc[p], "add", e))
        o = outcomes[e]
        if o == "ok":
            present.append(e)
        elif o == "info":
            if draw(st.booleans()):
                present.append(e)
            proc[p] += 3  # a process that saw info is gone; the worker goes on under a new id
        ops.append((o, proc[p] if o != "info" else proc[p] - 3, "add", e))
    shuffled = draw(st.permutations(present))
    ops.append(("invoke", 99, "read", None))
    ops.append(("ok", 99, "read", list(shuffled)))
    return ops, outcomes


@settings(max_examples=100, deadline=None)
@given(set_runs())
def test_correct_set_is_valid(run) -> None:
    ops, _ = run
    assert SetChecker().check(h(*ops))["valid"] is True


@settings(max_examples=100, deadline=None)
@given(set_runs(), st.data())
def test_dropping_an_acknowledged_element_is_caught(run, data) -> None:
    ops, outcomes = run
    read = ops[-1][3]
    acked = [e for e in read if outcomes[e] == "ok"]
    if not acked:
        return
    victim = data.draw(st.sampled_from(acked))
    ops[-1] = ("ok", 99, "read", [e for e in read if e != victim])
    r = SetChecker().check(h(*ops))
    assert r["valid"] is False
    assert [x["element"] for x in r["lost"]] == [victim]


# --- queue

def test_queue_valid_with_dequeues_and_drain() -> None:
    r = QueueChecker().check(h(
        ("invoke", 0, "enqueue", "a"), ("ok", 0, "enqueue", "a"),
        ("invoke", 0, "enqueue", "b"), ("ok", 0, "enqueue", "b"),
        ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", "a"),
        ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", None),
        ("invoke", 1, "drain", None), ("ok", 1, "drain", ["b"])))
    assert r["valid"] is True and r["dequeued_count"] == 2


def test_queue_lost_duplicated_unexpected() -> None:
    r = QueueChecker().check(h(
        ("invoke", 0, "enqueue", "a"), ("ok", 0, "enqueue", "a"),
        ("invoke", 0, "enqueue", "b"), ("ok", 0, "enqueue", "b"),
        ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", "a"),
        ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", "a"),
        ("invoke", 1, "drain", None), ("ok", 1, "drain", ["z"])))
    assert r["valid"] is False
    assert r["duplicated"] == [{"element": "a", "dequeues": [5, 7]}]
    assert r["unexpected"] == [{"element": "z", "dequeue": 9, "failed_enqueues": []}]
    assert r["lost"] == [{"element": "b", "enqueue": 3}]


def test_queue_info_dequeue_may_explain_one_missing_element() -> None:
    base = [("invoke", 0, "enqueue", "a"), ("ok", 0, "enqueue", "a"),
            ("invoke", 0, "enqueue", "b"), ("ok", 0, "enqueue", "b"),
            ("invoke", 1, "dequeue", None), ("info", 1, "dequeue", None)]
    r = QueueChecker().check(h(*base, ("invoke", 2, "drain", None), ("ok", 2, "drain", ["b"])))
    assert r["valid"] is True and r["unresolved"] == [{"element": "a", "enqueue": 1}]
    r = QueueChecker().check(h(*base, ("invoke", 2, "drain", None), ("ok", 2, "drain", [])))
    assert r["valid"] is False and r["lost_count"] == 2


def test_queue_recovered_and_undrained_unknown() -> None:
    r = QueueChecker().check(h(
        ("invoke", 0, "enqueue", "a"), ("info", 0, "enqueue", "a"),
        ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", "a")))
    assert r["valid"] is True and r["recovered"] == [{"element": "a", "enqueue": 0, "dequeue": 3}]
    r = QueueChecker().check(h(("invoke", 0, "enqueue", "a"), ("ok", 0, "enqueue", "a")))
    assert r["valid"] == UNKNOWN
