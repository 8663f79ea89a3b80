"""Mutex / leader election checker."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from checkers.history import Op, index_history
from checkers.mutex import MutexChecker


def h(*ops: tuple) -> list[Op]:
    """(type, process, f[, key]) tuples -> indexed history, time = 10 * index."""
    return index_history([Op(type=t[0], process=t[1], f=t[2], key=t[3] if len(t) > 3 else None, time=10 * i)
                          for i, t in enumerate(ops)])


def test_handoff_is_valid() -> None:
    r = MutexChecker().check(h(
        ("invoke", 0, "acquire"), ("invoke", 1, "acquire"), ("ok", 0, "acquire"),
        ("invoke", 0, "release"), ("ok", 1, "acquire"),  # granted to 1 while 0's release is in flight
        ("ok", 0, "release"), ("invoke", 1, "release"), ("ok", 1, "release")))
    assert r == {"valid": True, "holds": 2, "indeterminate_acquires": [], "indeterminate_count": 0,
                 "violation_count": 0, "violations": []}


def test_two_holders_are_reported() -> None:
    r = MutexChecker().check(h(
        ("invoke", 0, "acquire"), ("ok", 0, "acquire"),
        ("invoke", 1, "acquire"), ("ok", 1, "acquire"),
        ("invoke", 0, "release"), ("ok", 0, "release")))
    assert r["valid"] is False
    assert r["violations"] == [{"key": None, "holders": [
        {"process": 0, "acquired": 1, "released": 4, "acquired_time": 10, "released_time": 40},
        {"process": 1, "acquired": 3, "released": None, "acquired_time": 30, "released_time": None}]}]


def test_info_acquire_cannot_prove_a_violation() -> None:
    r = MutexChecker().check(h(
        ("invoke", 0, "acquire"), ("info", 0, "acquire"),
        ("invoke", 1, "acquire"), ("ok", 1, "acquire")))
    assert r["valid"] is True and r["indeterminate_acquires"] == [0]


def test_failed_acquire_holds_nothing_and_keys_are_independent() -> None:
    r = MutexChecker().check(h(
        ("invoke", 0, "acquire", "/l1"), ("ok", 0, "acquire", "/l1"),
        ("invoke", 1, "acquire", "/l1"), ("fail", 1, "acquire", "/l1"),
        ("invoke", 1, "acquire", "/l2"), ("ok", 1, "acquire", "/l2"),
        ("invoke", 2, "acquire", "/l2"), ("ok", 2, "acquire", "/l2")))
    assert r["valid"] is False and r["violation_count"] == 1 and r["violations"][0]["key"] == "/l2"


def test_release_invoke_ends_the_hold_even_if_it_times_out() -> None:
    r = MutexChecker().check(h(
        ("invoke", 0, "acquire"), ("ok", 0, "acquire"),
        ("invoke", 0, "release"), ("info", 0, "release"),
        ("invoke", 1, "acquire"), ("ok", 1, "acquire")))
    assert r["valid"] is True


def test_release_on_behalf_of_the_holder() -> None:
    hist = h(("invoke", 0, "acquire"), ("ok", 0, "acquire"),
             ("invoke", "events-0", "release"), ("ok", "events-0", "release"),
             ("invoke", 1, "acquire"), ("ok", 1, "acquire"))
    assert MutexChecker().check(hist)["valid"] is False  # events-0 held nothing: 0 still holds
    hist[2].extra["holder"] = 0
    assert MutexChecker().check(hist)["valid"] is True


def test_leader_election_shape() -> None:
    leader = MutexChecker(acquire_f="elect", release_f="resign", name="leader")
    ok = h(("invoke", 0, "elect"), ("invoke", 1, "elect"), ("ok", 0, "elect"),
           ("invoke", 0, "resign"), ("ok", 0, "resign"), ("ok", 1, "elect"))
    assert leader.check(ok)["valid"] is True
    two = h(("invoke", 0, "elect"), ("invoke", 1, "elect"), ("ok", 0, "elect"), ("ok", 1, "elect"))
    r = leader.check(two)
    assert r["valid"] is False and [x["process"] for x in r["violations"][0]["holders"]] == [0, 1]


# --- generated: a correct lock service never yields a violation; one double grant always does.

@st.composite
def lock_runs(draw, double_grant: bool = False):
    n = 4
    state = {p: "idle" for p in range(n)}
    pid = {p: p for p in range(n)}  # a crashed worker comes back under a new process id
    holder = None                   # who the service thinks holds the lock
    ops: list[tuple] = []
    injected = False
    for step in range(draw(st.integers(5, 60))):
        p = draw(st.integers(0, n - 1))
        s = state[p]
        if double_grant and not injected and holder is not None and state[holder] == "holding" \
                and s == "waiting" and p != holder:
            ops.append(("ok", pid[p], "acquire"))  # the bug: granted while someone holds it
            state[p], injected = "holding", True
        elif s == "idle":
            ops.append(("invoke", pid[p], "acquire"))
            state[p] = "waiting"
        elif s == "waiting" and holder is None:
            holder, state[p] = p, "granted"
        elif s == "granted":
            if draw(st.integers(0, 5)) == 0:  # the reply is lost: info, and the worker restarts
                ops.append(("info", pid[p], "acquire"))
                pid[p] += n
                state[p] = "crashed-holding"
            else:
                ops.append(("ok", pid[p], "acquire"))
                state[p] = "holding"
        elif s == "crashed-holding":  # its session expires and the lock is freed
            holder, state[p] = None, "idle"
        elif s == "holding":
            ops.append(("invoke", pid[p], "release"))
            state[p] = "releasing"
        elif s == "releasing":
            if holder == p:
                holder = None
            ops.append(("ok", pid[p], "release"))
            state[p] = "idle"
    return ops, injected


@settings(max_examples=100, deadline=None)
@given(lock_runs())
def test_correct_lock_is_valid(run) -> None:
    ops, _ = run
    assert MutexChecker().check(h(*ops))["valid"] is True


@settings(max_examples=100, deadline=None)
@given(lock_runs(double_grant=True))
def test_double_grant_is_caught(run) -> None:
    ops, injected = run
    if injected:
        assert MutexChecker().check(h(*ops))["valid"] is False
