"""Membership checker (party / ephemeral znodes)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from checkers.checker import UNKNOWN
from checkers.history import HistoryError, Op, index_history
from checkers.membership import MembershipChecker


def h(*ops: tuple) -> list[Op]:
    """(type, process, f, value[, extra]) -> indexed history."""
    return index_history([Op(t[0], t[1], t[2], value=t[3], extra=dict(t[4]) if len(t) > 4 else {})
                          for t in ops])


def view(members: list, final: bool = False) -> list[tuple]:
    x = {"final": True} if final else {}
    return [("invoke", "v", "view", None), ("ok", "v", "view", members, x)]


def test_live_members_match() -> None:
    r = MembershipChecker().check(h(
        ("invoke", 0, "join", "a"), ("ok", 0, "join", "a"),
        ("invoke", 1, "join", "b"), ("ok", 1, "join", "b"),
        ("invoke", 2, "join", "c"), ("fail", 2, "join", "c"),
        ("invoke", 1, "leave", "b"), ("ok", 1, "leave", "b"),
        *view(["a"])))
    assert r["valid"] is True and r["final_views"] == [9]


def test_missing_unexpected_duplicated() -> None:
    r = MembershipChecker().check(h(
        ("invoke", 0, "join", "a"), ("ok", 0, "join", "a"),
        ("invoke", 1, "join", "b"), ("ok", 1, "join", "b"),
        ("invoke", 1, "end-session", "b"), ("ok", 1, "end-session", "b"),
        *view(["b", "z", "z"])))
    assert r["valid"] is False
    assert r["missing"] == [{"member": "a", "view": 7, "joined": 1}]
    assert r["unexpected"] == [{"member": "b", "view": 7, "last_op": 5},
                               {"member": "z", "view": 7, "last_op": None}]
    assert r["duplicated"] == [{"member": "z", "view": 7, "count": 2}]


def test_indeterminate_ops_allow_either() -> None:
    base = [("invoke", 0, "join", "a"), ("info", 0, "join", "a"),
            ("invoke", 1, "join", "b"), ("ok", 1, "join", "b"),
            ("invoke", 1, "leave", "b"), ("info", 1, "leave", "b")]
    for listed in ([], ["a"], ["b"], ["a", "b"]):
        assert MembershipChecker().check(h(*base, *view(listed)))["valid"] is True


def test_member_defaults_to_process_and_marked_final_view() -> None:
    hist = h(("invoke", 7, "join", None), ("ok", 7, "join", None),
             *view([]),  # not marked final: not judged, since a later view is marked
             *view([7], final=True))
    r = MembershipChecker().check(hist)
    assert r["valid"] is True and r["final_views"] == [5]
    hist[3].extra["final"] = True
    r = MembershipChecker().check(hist)
    assert r["valid"] is False and r["missing"] == [{"member": 7, "view": 3, "joined": 1}]


def test_no_view_is_unknown_and_bad_view_is_an_error() -> None:
    assert MembershipChecker().check(h(("invoke", 0, "join", "a"), ("ok", 0, "join", "a")))["valid"] == UNKNOWN
    with pytest.raises(HistoryError, match="op 1: an ok view must have a list value"):
        MembershipChecker().check(h(("invoke", "v", "view", None), ("ok", "v", "view", "a")))


@st.composite
def party_runs(draw):
    """A correct party: members join and leave one op at a time; some ops indeterminate."""
    live: set[str] = set()
    surely_in: set[str] = set()  # last op that was not a fail: an ok join
    ops: list[tuple] = []
    for i in range(draw(st.integers(0, 30))):
        m = draw(st.sampled_from("abcdef"))
        f = "join" if m not in live else draw(st.sampled_from(["leave", "end-session"]))
        outcome = draw(st.sampled_from(["ok", "ok", "fail", "info"]))
        ops.append(("invoke", i, f, m))
        ops.append((outcome, i, f, m))
        if outcome == "ok" or (outcome == "info" and draw(st.booleans())):
            live.add(m) if f == "join" else live.discard(m)
        if outcome == "ok" and f == "join":
            surely_in.add(m)
        elif outcome != "fail":
            surely_in.discard(m)
    listed = draw(st.permutations(sorted(live)))
    return ops + view(list(listed)), surely_in


@settings(max_examples=100, deadline=None)
@given(party_runs())
def test_correct_party_is_valid(run) -> None:
    ops, _ = run
    assert MembershipChecker().check(h(*ops))["valid"] is True


@settings(max_examples=100, deadline=None)
@given(party_runs())
def test_a_member_never_added_listed_is_caught(run) -> None:
    ops, _ = run
    *rest, last = ops
    r = MembershipChecker().check(h(*rest, (*last[:3], last[3] + ["ghost"])))
    assert r["valid"] is False and [u["member"] for u in r["unexpected"]] == ["ghost"]


@settings(max_examples=100, deadline=None)
@given(party_runs(), st.data())
def test_a_live_member_left_out_is_caught(run, data) -> None:
    ops, surely_in = run
    if not surely_in:
        return
    gone = data.draw(st.sampled_from(sorted(surely_in)))
    *rest, last = ops
    r = MembershipChecker().check(h(*rest, (*last[:3], [m for m in last[3] if m != gone])))
    assert r["valid"] is False and [x["member"] for x in r["missing"]] == [gone]
