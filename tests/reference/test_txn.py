"""Transactions: serialization, deterministic replay on another tree, and validation against pending writes."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reference.acl import OPEN_ACL_UNSAFE
from reference.codec.constants import Err, OpCode
from reference.tree import Tree
from reference.txn import CLOSE_SESSION, ERROR, MULTI, Pending, Txn, apply, decode, encode, prepare

import pytest

OPEN = list(OPEN_ACL_UNSAFE)
NAMES = ["/a", "/b", "/a/x", "/a/y", "/b/q"]

request_strategy = st.one_of(
    st.tuples(st.just(OpCode.CREATE), st.tuples(st.sampled_from(NAMES), st.binary(max_size=4), st.just(OPEN),
                                                st.sampled_from([0, 1, 2, 3]))),
    st.tuples(st.just(OpCode.DELETE), st.tuples(st.sampled_from(NAMES), st.integers(-1, 1))),
    st.tuples(st.just(OpCode.SET_DATA), st.tuples(st.sampled_from(NAMES), st.binary(max_size=4),
                                                  st.integers(-1, 1))),
    st.tuples(st.just(OpCode.SET_ACL), st.tuples(st.sampled_from(NAMES), st.just([(31, "world", "anyone")]),
                                                 st.integers(-1, 1))),
    st.tuples(st.just(OpCode.MULTI), st.lists(st.one_of(
        st.tuples(st.just(OpCode.CREATE), st.tuples(st.sampled_from(NAMES), st.just(b""), st.just(OPEN),
                                                    st.sampled_from([0, 2]))),
        st.tuples(st.just(OpCode.DELETE), st.tuples(st.sampled_from(NAMES), st.just(-1))),
        st.tuples(st.just(OpCode.CHECK), st.tuples(st.sampled_from(NAMES), st.integers(-1, 1))),
    ), max_size=4)),
    st.tuples(st.just(OpCode.CLOSE_SESSION), st.just(())),
)


def sessions_txns(requests):
    """Requests with session ids: a session that closed is replaced by a fresh one."""
    out = [(OpCode.CREATE_SESSION, (4000,), 1)]
    sid = 1
    for op, req in requests:
        out.append((op, req, sid))
        if op == OpCode.CLOSE_SESSION:
            sid += 1
            out.append((OpCode.CREATE_SESSION, (4000,), sid))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(request_strategy, max_size=30))
def test_pipelined_prepare_equals_one_at_a_time(requests):
    """Validating against tree + already-ordered writes gives the same transactions as applying each first."""
    reqs = sessions_txns(requests)
    # one at a time
    t1 = Tree()
    p1 = Pending(t1)
    serial = []
    for z, (op, req, sid) in enumerate(reqs, 1):
        txn = prepare(p1, z, 5000, sid, (), op, req)
        serial.append((txn, apply(t1, txn)))
        p1.applied(z)
    # everything ordered first, then applied (a leader with a long queue of uncommitted writes)
    t2 = Tree()
    p2 = Pending(t2)
    ordered = [prepare(p2, z, 5000, sid, (), op, req) for z, (op, req, sid) in enumerate(reqs, 1)]
    assert ordered == [s[0] for s in serial]
    for txn, (_, (result, triggers)) in zip(ordered, serial):
        assert apply(t2, txn) == (result, triggers)
        p2.applied(txn.zxid)
    assert t1.dump() == t2.dump()
    assert p2.records == {}
    # a replica replays the decoded log and ends up identical
    t3 = Tree()
    for txn in ordered:
        apply(t3, decode(encode(txn)))
    assert t3.dump() == t1.dump()


def test_partial_application_interleaved():
    """Applying some of the ordered writes in between later prepares keeps the view consistent."""
    t = Tree()
    p = Pending(t)
    a = prepare(p, 1, 0, 9, (), OpCode.CREATE, ("/q", b"", OPEN, 0))
    b = prepare(p, 2, 0, 9, (), OpCode.CREATE, ("/q/n-", b"", OPEN, 2))
    apply(t, a)
    p.applied(1)
    c = prepare(p, 3, 0, 9, (), OpCode.CREATE, ("/q/n-", b"", OPEN, 2))
    assert (b.body[0], c.body[0]) == ("/q/n-0000000000", "/q/n-0000000001")
    d = prepare(p, 4, 0, 9, (), OpCode.DELETE, ("/q", -1))
    assert d.kind == ERROR and d.body == (Err.NOT_EMPTY,)


def test_close_session_resolves_pending_ephemerals():
    t = Tree()
    p = Pending(t)
    txns = [prepare(p, 1, 0, 7, (), OpCode.CREATE_SESSION, (4000,)),
            prepare(p, 2, 0, 7, (), OpCode.CREATE, ("/e", b"", OPEN, 1)),
            prepare(p, 3, 0, 7, (), OpCode.CLOSE_SESSION, ())]
    assert txns[2].kind == CLOSE_SESSION and txns[2].body == (7, ("/e",))
    # once the close is ordered, the ephemeral is gone for validation: its name is free again
    again = prepare(p, 4, 0, 8, (), OpCode.CREATE, ("/e", b"", OPEN, 0))
    assert again.kind != ERROR
    for txn in (*txns, again):
        apply(t, txn)
    assert t.nodes["/e"].ephemeral_owner == 0


def test_failed_multi_leaves_pending_untouched():
    t = Tree()
    p = Pending(t)
    m = prepare(p, 1, 0, 1, (), OpCode.MULTI, [(OpCode.CREATE, ("/x", b"", OPEN, 0)),
                                               (OpCode.DELETE, ("/nope", -1))])
    assert m.kind == MULTI and [s[0] for s in m.body] == [ERROR, ERROR]
    assert p.records == {}
    ok = prepare(p, 2, 0, 1, (), OpCode.CREATE, ("/x", b"", OPEN, 0))
    assert ok.kind != ERROR


def test_decode_rejects_garbage():
    with pytest.raises(ValueError):
        decode(b"\x00\x01garbage")
    with pytest.raises(ValueError):
        decode(encode(Txn(1, 2, 3, 4, ()))[:-2])


def test_apply_refuses_out_of_order():
    t = Tree()
    apply(t, Txn(5, 0, 0, ERROR, (Err.NO_NODE,)))
    with pytest.raises(ValueError):
        apply(t, Txn(5, 0, 0, ERROR, (Err.NO_NODE,)))


@settings(max_examples=150, deadline=None)
@given(st.lists(request_strategy, max_size=25), st.lists(request_strategy, min_size=1, max_size=5))
def test_observing_ordered_txns_validates_later_writes_the_same(first, later):
    """A new leader that only *observes* its log's unapplied entries validates new writes exactly like the leader
    that prepared those entries."""
    reqs = sessions_txns(first)
    t_leader, t_new = Tree(), Tree()
    p_leader, p_new = Pending(t_leader), Pending(t_new)
    ordered = [prepare(p_leader, z, 5000, sid, (), op, req) for z, (op, req, sid) in enumerate(reqs, 1)]
    for txn in ordered:
        p_new.observe(txn)
    z = len(ordered)
    sid = reqs[-1][2]
    for i, (op, req) in enumerate(later, 1):
        a = prepare(p_leader, z + i, 6000, sid, (), op, req)
        b = prepare(p_new, z + i, 6000, sid, (), op, req)
        assert a == b
