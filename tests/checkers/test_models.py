"""Models: how completions become model ops, and the sequential specifications themselves."""
from __future__ import annotations

import pytest

from checkers.history import FAIL, INFO, INVOKE, OK, Op, Pair
from checkers.models import (UNREAD, ModelError, default_model_for, make_model, MODELS)


def pair(f: str, inv_value: object, typ: str | None, done_value: object = None, **extra: object) -> Pair:
    inv = Op(INVOKE, 0, f, inv_value, index=0)
    done = None if typ is None else Op(typ, 0, f, done_value if done_value is not None else inv_value, index=1,
                                       extra=dict(extra))
    return Pair(inv, done)


def test_register_prepare_follows_jepsen_semantics() -> None:
    m = make_model("cas-register", 0)
    assert m.prepare(pair("read", None, OK, 3)) == ("r", 3)
    assert m.prepare(pair("read", None, INFO)) is None  # crashed reads constrain nothing
    assert m.prepare(pair("read", None, None)) is None
    assert m.prepare(pair("write", 2, FAIL)) is None  # failed: never happened
    assert m.prepare(pair("write", 2, INFO)) == ("w", 2)
    assert m.prepare(pair("cas", [1, 2], OK)) == ("cas", 1, 2)
    assert m.prepare(pair("cas", [1, 2], FAIL)) is None
    assert m.prepare(pair("cas", [1, 2], FAIL, observed=True)) == ("!cas", 1)  # porcupine-etcd
    with pytest.raises(ModelError, match="op 0"):
        m.prepare(pair("cas", 5, OK))
    with pytest.raises(ModelError, match="no operation 'incr'"):
        m.prepare(pair("incr", 1, OK))
    with pytest.raises(ModelError):
        make_model("register").prepare(pair("cas", [1, 2], OK))
    knossos = make_model("cas-register", 0, nil_read_matches_any=True)
    assert knossos.prepare(pair("read", None, OK, None)) is None


def test_register_steps() -> None:
    m = make_model("cas-register", None)
    assert m.initial() is None
    assert m.step(None, ("r", None)) == (None,)
    assert m.step(1, ("r", 2)) == ()
    assert m.step(1, ("w", 2)) == (2,)
    assert m.step(1, ("cas", 1, 3)) == (3,)
    assert m.step(2, ("cas", 1, 3)) == ()
    assert m.step(2, ("!cas", 1)) == (2,)
    assert m.step(1, ("!cas", 1)) == ()
    assert m.read_only(("r", 1)) and not m.read_only(("w", 1))


def test_register_reduce_merges_unread_values() -> None:
    m = make_model("cas-register", 0)
    mops = [("r", 1), ("w", 7), ("w", 1), ("cas", 1, 9), ("w", 8)]
    infos = [False, True, True, True, False]
    # crashed writes of values nobody reads are dropped; completed ones keep their values
    assert m.reduce(mops, infos) == [("r", 1), None, ("w", 1), None, ("w", 8)]
    with_neg = mops + [("!cas", 3)]
    assert m.reduce(with_neg, infos + [False])[:4] == [("r", 1), ("w", UNREAD), ("w", 1), ("cas", 1, UNREAD)]


def test_kv() -> None:
    m = make_model("kv")
    assert m.initial("k") == ""
    assert m.step("ab", ("append", "c")) == ("abc",)
    assert m.step("ab", ("get", "ab")) == ("ab",)
    assert m.step("ab", ("get", "a")) == ()
    assert m.step("ab", ("put", "z")) == ("z",)
    assert m.prepare(pair("get", None, INFO)) is None
    assert m.hopeless("ab", ("get", "xy"), [("append", "x")], []) is True
    assert m.hopeless("ab", ("get", "xy"), [("put", "x")], []) is False
    assert m.hopeless("ab", ("get", "abc"), [], []) is False


def test_multi_register_txn_and_partition() -> None:
    m = make_model("multi-register", {"x": 0, "y": 0})
    p1 = pair("txn", [["read", "x", None], ["write", "y", 2]], OK, [["read", "x", 0], ["write", "y", 2]])
    p2 = pair("txn", [["write", "z", 1]], OK)
    groups = m.partition([p1, p2])
    assert sorted(groups) == [("registers", ("x", "y")), ("registers", ("z",))]
    s0 = m.initial(("registers", ("x", "y")))
    assert s0 == (("x", 0), ("y", 0))
    mop = m.prepare(p1)
    assert m.step(s0, mop) == ((("x", 0), ("y", 2)),)
    assert m.step((("x", 1), ("y", 0)), mop) == ()
    crashed = m.prepare(pair("txn", [["read", "x", None], ["write", "y", 2]], INFO))
    assert crashed == ("txn", (("w", "y", 2),))  # its read is unknown
    assert m.prepare(pair("txn", [["read", "x", None]], INFO)) is None
    with pytest.raises(ModelError):
        m.prepare(pair("txn", [["incr", "x", 1]], OK))


def test_set_queue_mutex() -> None:
    s = make_model("set")
    st0 = s.initial()
    st1 = s.step(st0, s.prepare(pair("add", 1, OK)))[0]
    assert s.step(st1, s.prepare(pair("read", None, OK, [1]))) == (st1,)
    assert s.step(st1, s.prepare(pair("read", None, OK, [1, 2]))) == ()
    q = make_model("fifo-queue")
    q1 = q.step(q.initial(), ("enq", 1))[0]
    q2 = q.step(q1, ("enq", 2))[0]
    assert q.step(q2, ("deq", 1)) == ((2,),)
    assert q.step(q2, ("deq", 2)) == ()
    assert q.step((), ("deq", None)) == ((),)
    assert q.step(q2, ("deq?",)) == ((2,),) and q.step((), ("deq?",)) == ()
    m = make_model("mutex")
    assert m.step(False, ("acquire",)) == (True,)
    assert m.step(True, ("acquire",)) == ()
    assert m.step(True, ("release",)) == (False,)
    assert m.prepare(pair("release", None, FAIL)) is None


def test_make_model_and_guess() -> None:
    for name in MODELS:
        assert make_model(name).name == name
    with pytest.raises(ValueError):
        make_model("stack")
    assert default_model_for([Op(INVOKE, 0, "append", "x")]) == "kv"
    assert default_model_for([Op(INVOKE, 0, "txn", [])]) == "multi-register"
    assert default_model_for([Op(INVOKE, 0, "acquire")]) == "mutex"
    assert default_model_for([Op(INVOKE, 0, "cas", [1, 2])]) == "cas-register"


def test_states_are_hashable() -> None:
    for name in MODELS:
        m = make_model(name)
        hash(m.initial(None))


def test_lookahead_prunes_only_what_cannot_work() -> None:
    m = make_model("mutex")
    assert m.hopeless(True, ("acquire",), [], []) is True
    assert m.hopeless(True, ("acquire",), [], [("release",)]) is False
    assert m.hopeless(False, ("acquire",), [], []) is False
    r = make_model("cas-register", 0)
    assert r.hopeless(1, ("r", 2), [("w", 3)], []) is True
    assert r.hopeless(1, ("r", 2), [("cas", 1, 2)], []) is False
    assert r.hopeless(1, ("cas", 2, 0), [], [("w", 2)]) is False
    assert r.hopeless(1, ("w", 2), [], []) is False
