"""Sessions: close, real server-side expiry, re-attaching with id and password, refusals, timeout negotiation."""
from __future__ import annotations

import pytest
from kazoo.protocol.states import EventType, KazooState
from kazoo.retry import KazooRetry

from tests.compat.helpers import EventLog, StateLog, raw_connect
from tests.compat.proxy import CuttableProxy

pytestmark = pytest.mark.cluster

# Below ZooKeeper's minimum (2 x tickTime = 4 s), so the server picks its shortest timeout.
SHORT_TIMEOUT_S = 1.0
FAST_RETRY = dict(max_tries=-1, delay=0.05, backoff=1, max_jitter=0.0)


def test_ephemerals_go_when_the_session_closes(zk):
    owner = zk.connect()
    owner.create("/e1", b"x", ephemeral=True)
    seq = owner.create("/e-", ephemeral=True, sequence=True)
    log = EventLog()
    assert zk.client.exists("/e1", watch=log) is not None
    owner.stop()
    assert [(e.type, e.path) for e in log.wait(1)] == [(EventType.DELETED, "/e1")]
    assert zk.client.exists("/e1") is None
    assert zk.client.exists(seq) is None


def test_closed_session_cannot_be_resumed(zk):
    owner = zk.connect()
    session_id, password = owner.client_id
    owner.stop()
    reply = raw_connect(zk.port, 10000, session_id, password)
    assert (reply.timeout_ms, reply.session_id) == (0, 0)
    assert reply.closed_after


def test_session_expires_when_the_client_goes_silent(zk):
    with CuttableProxy(zk.port) as proxy:
        owner = zk.connect(proxy.address + zk.chroot, timeout=SHORT_TIMEOUT_S,
                           connection_retry=KazooRetry(**FAST_RETRY))
        # Same short timeout but still connected: only its pings keep it alive while it idles.
        keeper = zk.connect(timeout=SHORT_TIMEOUT_S)
        keeper.create("/kept-alive", ephemeral=True)
        states = StateLog(owner)
        old_session, old_password = owner.client_id
        owner.create("/mortal", ephemeral=True)
        deleted, children = EventLog(), EventLog()
        assert zk.client.exists("/mortal", watch=deleted) is not None
        zk.client.get_children("/", watch=children)
        before = zk.client.exists("/")

        proxy.cut()  # the server hears nothing more from this session, and it was never closed
        assert [(e.type, e.path) for e in deleted.wait(1, timeout=60)] == [(EventType.DELETED, "/mortal")]
        assert [(e.type, e.path) for e in children.wait(1)] == [(EventType.CHILD, "/")]
        assert zk.client.exists("/mortal") is None
        after = zk.client.exists("/")
        assert after.cversion == before.cversion + 1 and after.pzxid > before.pzxid
        assert keeper.exists("/kept-alive").ephemeralOwner == keeper.client_id[0]
        states.wait(KazooState.SUSPENDED)
        refused = raw_connect(zk.port, 10000, old_session, old_password)
        assert (refused.timeout_ms, refused.session_id) == (0, 0)

        proxy.restore()  # coming back after expiry: the server says Expired, kazoo starts a new session
        states.wait(KazooState.LOST)
        states.wait(KazooState.CONNECTED)  # the log began after the first connection
        assert states.states[:2] == [KazooState.SUSPENDED, KazooState.LOST]
        assert owner.client_id[0] != old_session


def test_reattach_with_id_and_password_keeps_session_and_ephemerals(zk):
    with CuttableProxy(zk.port) as proxy:
        first = zk.connect(proxy.address + zk.chroot, connection_retry=KazooRetry(**FAST_RETRY))
        first.create("/kept", b"k", ephemeral=True)
        session_id, password = first.client_id
        proxy.cut()

        second = zk.connect(client_id=(session_id, password))
        assert second.client_id[0] == session_id
        stat = second.exists("/kept")
        assert stat is not None and stat.ephemeralOwner == session_id
        second.create("/also-mine", ephemeral=True)
        assert zk.client.exists("/also-mine").ephemeralOwner == session_id

        second.stop()  # closing the re-attached session removes every ephemeral of it
        assert zk.client.exists("/kept") is None
        assert zk.client.exists("/also-mine") is None
        first.stop()


def test_wrong_password_is_refused(zk):
    owner = zk.client
    owner.create("/guarded", ephemeral=True)
    session_id, password = owner.client_id
    wrong = bytes(b ^ 0xFF for b in password)

    reply = raw_connect(zk.port, 10000, session_id, wrong)
    assert (reply.timeout_ms, reply.session_id) == (0, 0)
    assert reply.closed_after

    # kazoo treats the refusal as an expired session and starts a fresh one.
    intruder = zk.connect(client_id=(session_id, wrong))
    assert intruder.client_id[0] != session_id
    assert intruder.exists("/guarded").ephemeralOwner == session_id
    # The real owner is unaffected.
    owner.set("/guarded", b"still mine")
    assert owner.get("/guarded")[0] == b"still mine"


def test_unknown_session_id_is_refused(zk):
    reply = raw_connect(zk.port, 10000, session_id=0x7EADBEEF00000001, password=b"\1" * 16)
    assert (reply.timeout_ms, reply.session_id) == (0, 0)


def test_session_timeout_is_clamped_to_two_and_twenty_ticks(zk):
    """tickTime 2000: asked 1 ms -> 4000 ms, asked 600 s -> 40000 ms, asked 10 s -> 10 s (notes T1)."""
    low = raw_connect(zk.port, 1)
    high = raw_connect(zk.port, 600000)
    mid = raw_connect(zk.port, 10000)
    assert (low.timeout_ms, high.timeout_ms, mid.timeout_ms) == (4000, 40000, 10000)
    for reply in (low, high, mid):
        assert reply.session_id != 0 and len(reply.password) == 16
    assert len({low.session_id, high.session_id, mid.session_id}) == 3
