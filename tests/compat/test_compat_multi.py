"""multi (kazoo transactions): per-op results, check ops, and all-or-nothing rollback."""
from __future__ import annotations

import pytest
from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat

pytestmark = pytest.mark.cluster


def test_successful_multi_results_and_effects(zk):
    c = zk.client
    c.create("/m")
    c.create("/m/old", b"0")
    c.create("/m/gone")
    t = c.transaction()
    t.create("/m/new", b"n")
    t.set_data("/m/old", b"1", version=0)
    t.check("/m/old", 1)
    t.check("/m", -1)  # -1 matches any version
    t.delete("/m/gone", version=0)
    results = t.commit()
    assert results[0] == "/m/new"
    assert isinstance(results[1], ZnodeStat) and results[1].version == 1
    assert results[2:] == [True, True, True]
    assert c.get("/m/new")[0] == b"n"
    assert c.get("/m/old")[0] == b"1"
    assert c.exists("/m/gone") is None
    # One transaction, one zxid for every op in it.
    assert c.exists("/m/new").czxid == results[1].mzxid == c.exists("/m").pzxid


def test_failing_op_rolls_back_everything(zk):
    c = zk.client
    c.create("/r")
    c.create("/r/x", b"keep")
    before = c.exists("/r")
    t = c.transaction()
    t.create("/r/new", b"n")
    t.set_data("/r/x", b"lost", version=5)
    t.create("/r/other")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, BadVersionError, RuntimeInconsistency]
    assert c.exists("/r/new") is None and c.exists("/r/other") is None
    data, stat = c.get("/r/x")
    assert data == b"keep" and stat.version == 0
    after = c.exists("/r")
    assert (after.cversion, after.numChildren, after.pzxid) == (before.cversion, before.numChildren,
                                                                before.pzxid)


def test_failing_check_rolls_back(zk):
    c = zk.client
    c.create("/k", b"v")
    t = c.transaction()
    t.create("/k2")
    t.check("/k", 3)
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, BadVersionError]
    assert c.exists("/k2") is None


def test_check_on_missing_node(zk):
    t = zk.client.transaction()
    t.check("/absent", 0)
    t.create("/after")
    results = t.commit()
    assert [type(r) for r in results] == [NoNodeError, RuntimeInconsistency]
    assert zk.client.exists("/after") is None


def test_ops_see_earlier_ops_of_the_same_multi(zk):
    c = zk.client
    t = c.transaction()
    t.create("/tree")
    t.create("/tree/leaf", b"l")
    t.set_data("/tree/leaf", b"l2", version=0)
    t.delete("/tree/leaf")
    t.create("/tree/leaf", b"again")
    results = t.commit()
    assert results[:2] == ["/tree", "/tree/leaf"]
    assert results[2].version == 1
    assert results[3:] == [True, "/tree/leaf"]
    data, stat = c.get("/tree/leaf")
    assert data == b"again" and stat.version == 0


def test_conflicts_inside_a_multi(zk):
    c = zk.client
    t = c.transaction()
    t.create("/twice")
    t.create("/twice")
    assert [type(r) for r in t.commit()] == [RolledBackError, NodeExistsError]
    assert c.exists("/twice") is None

    c.create("/full/kid", makepath=True)
    t = c.transaction()
    t.delete("/full")
    assert [type(r) for r in t.commit()] == [NotEmptyError]
    assert c.exists("/full/kid") is not None


def test_sequential_and_ephemeral_creates_in_multi(zk):
    c = zk.client
    c.create("/sq")
    t = c.transaction()
    t.create("/sq/n-", sequence=True)
    t.create("/sq/e-", ephemeral=True, sequence=True)
    assert t.commit() == ["/sq/n-0000000000", "/sq/e-0000000001"]
    assert c.exists("/sq/e-0000000001").ephemeralOwner == c.client_id[0]


def test_rolled_back_multi_does_not_consume_sequence_numbers(zk):
    c = zk.client
    c.create("/rs")
    t = c.transaction()
    t.create("/rs/n-", sequence=True)
    t.check("/rs", 99)
    assert [type(r) for r in t.commit()] == [RolledBackError, BadVersionError]
    assert c.create("/rs/n-", sequence=True) == "/rs/n-0000000000"
