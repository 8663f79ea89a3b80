"""Unique ids checker."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from checkers.history import HistoryError, Op, index_history
from checkers.unique_ids import UniqueIdsChecker


def h(*ops: tuple) -> list[Op]:
    return index_history([Op(type=t, process=p, f=f, value=v, time=i) for i, (t, p, f, v) in enumerate(ops)])


def test_distinct_ids_are_valid() -> None:
    r = UniqueIdsChecker().check(h(
        ("invoke", 0, "generate", None), ("invoke", 1, "generate", None),
        ("ok", 1, "generate", "/ids/id-0000000000"), ("ok", 0, "generate", "/ids/id-0000000001"),
        ("invoke", 0, "generate", None), ("fail", 0, "generate", None),
        ("invoke", 0, "generate", None), ("info", 0, "generate", None)))
    assert r == {"valid": True, "attempted_count": 4, "acknowledged_count": 2,
                 "duplicated_count": 0, "duplicated": []}


def test_repeated_id_is_reported_with_both_ops() -> None:
    r = UniqueIdsChecker().check(h(
        ("invoke", 0, "generate", None), ("ok", 0, "generate", "/ids/id-0000000007"),
        ("invoke", 1, "generate", None), ("ok", 1, "generate", "/ids/id-0000000008"),
        ("invoke", 2, "generate", None), ("ok", 2, "generate", "/ids/id-0000000007")))
    assert r["valid"] is False
    assert r["duplicated"] == [{"value": "/ids/id-0000000007", "ops": [1, 5]}]


def test_other_fs_are_ignored_and_f_is_configurable() -> None:
    hist = h(("invoke", 0, "create", None), ("ok", 0, "create", 1),
             ("invoke", 0, "create", None), ("ok", 0, "create", 1))
    assert UniqueIdsChecker().check(hist)["valid"] is True
    assert UniqueIdsChecker(f="create").check(hist)["duplicated"] == [{"value": 1, "ops": [1, 3]}]


def test_ok_without_value_is_a_clear_error() -> None:
    with pytest.raises(HistoryError, match="op 1: an ok 'generate' must carry the id"):
        UniqueIdsChecker().check(h(("invoke", 0, "generate", None), ("ok", 0, "generate", None)))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 60), st.data())
def test_sequence_counter_is_valid_and_any_repeat_is_caught(n: int, data) -> None:
    # A correct sequence counter hands out 0..n-1 to 4 interleaved processes.
    ops = []
    for i in range(n):
        ops += [("invoke", i % 4, "generate", None), ("ok", i % 4, "generate", f"/ids/id-{i:010d}")]
    assert UniqueIdsChecker().check(h(*ops))["valid"] is True
    if n < 2:
        return
    a, b = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True)))
    ops[2 * b + 1] = ("ok", b % 4, "generate", f"/ids/id-{a:010d}")
    r = UniqueIdsChecker().check(h(*ops))
    assert r["duplicated"] == [{"value": f"/ids/id-{a:010d}", "ops": [2 * a + 1, 2 * b + 1]}]
