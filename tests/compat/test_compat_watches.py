"""Watches: which call sets which watch, which write fires it, one-shot delivery, and the ordering guarantee
"a client sees a watch event for a znode before it sees the new data for that znode"."""
from __future__ import annotations

import threading

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import EventType, KeeperState, WatchedEvent
from kazoo.security import OPEN_ACL_UNSAFE

from tests.compat.helpers import EventLog

pytestmark = pytest.mark.cluster


def flush_watches(client: KazooClient, path: str = "/flush-sentinel") -> None:
    """Return once every notification the server sent before now has been delivered to its callback.

    The server sends a client's notifications in order on one connection, and kazoo runs watch callbacks in
    order on one thread; so when a watch set now fires, every earlier event has been handed over. That makes
    "no further event arrived" checkable without sleeping.
    """
    sentinel = EventLog()
    if client.exists(path, watch=sentinel) is None:
        client.create(path)
    else:
        client.delete(path)
    sentinel.wait(1)


def kinds(events: list[WatchedEvent]) -> list[tuple[str, str]]:
    return [(e.type, e.path) for e in events]


def test_data_watch_fires_once_on_change(zk):
    c = zk.client
    c.create("/w", b"0")
    log = EventLog()
    c.get("/w", watch=log)
    c.set("/w", b"1")
    (event,) = log.wait(1)
    assert (event.type, event.path, event.state) == (EventType.CHANGED, "/w", KeeperState.CONNECTED)
    c.set("/w", b"2")
    c.delete("/w")
    flush_watches(c)
    assert len(log.events) == 1


def test_data_watch_fires_on_delete(zk):
    c = zk.client
    c.create("/wd")
    log = EventLog()
    c.get("/wd", watch=log)
    c.delete("/wd")
    assert kinds(log.wait(1)) == [(EventType.DELETED, "/wd")]


def test_exists_watch_on_missing_node_fires_on_create(zk):
    c = zk.client
    log = EventLog()
    assert c.exists("/later", watch=log) is None
    c.create("/later")
    assert kinds(log.wait(1)) == [(EventType.CREATED, "/later")]


def test_exists_watch_on_existing_node(zk):
    c = zk.client
    c.create("/ex")
    changed, deleted = EventLog(), EventLog()
    c.exists("/ex", watch=changed)
    c.set("/ex", b"x")
    assert kinds(changed.wait(1)) == [(EventType.CHANGED, "/ex")]
    c.exists("/ex", watch=deleted)
    c.delete("/ex")
    assert kinds(deleted.wait(1)) == [(EventType.DELETED, "/ex")]


def test_child_watch(zk):
    c = zk.client
    c.create("/par")
    c.create("/par/a")
    log = EventLog()
    assert c.get_children("/par", watch=log) == ["a"]
    c.set("/par/a", b"not a membership change")
    c.set("/par", b"nor is this")
    flush_watches(c)
    assert log.events == []
    c.create("/par/b")
    assert kinds(log.wait(1)) == [(EventType.CHILD, "/par")]
    c.create("/par/c")
    flush_watches(c)
    assert len(log.events) == 1

    again = EventLog()
    c.get_children("/par", watch=again, include_data=True)
    c.delete("/par/a")
    assert kinds(again.wait(1)) == [(EventType.CHILD, "/par")]


def test_deleting_a_watched_parent_fires_deleted_on_its_child_watch(zk):
    c = zk.client
    c.create("/gone")
    log = EventLog()
    c.get_children("/gone", watch=log)
    c.delete("/gone")
    assert kinds(log.wait(1)) == [(EventType.DELETED, "/gone")]


def test_watch_fires_for_another_clients_write(zk):
    c = zk.client
    other = zk.connect()
    c.create("/shared", b"0")
    log = EventLog()
    c.get("/shared", watch=log)
    other.set("/shared", b"1")
    assert kinds(log.wait(1)) == [(EventType.CHANGED, "/shared")]


def test_multi_fires_watches(zk):
    c = zk.client
    c.create("/mw")
    c.create("/mw/x", b"0")
    child, data = EventLog(), EventLog()
    c.get_children("/mw", watch=child)
    c.get("/mw/x", watch=data)
    t = c.transaction()
    t.set_data("/mw/x", b"1")
    t.create("/mw/y")
    t.commit()
    assert kinds(data.wait(1)) == [(EventType.CHANGED, "/mw/x")]
    assert kinds(child.wait(1)) == [(EventType.CHILD, "/mw")]


class ArrivalRecorder:
    """Records watch notifications on kazoo's connection thread, at the moment each is read off the socket.

    kazoo runs watch callbacks on a separate thread, so a callback may run after a later read has already
    returned even though the notification came first on the wire. The connection thread hands every
    notification to handler.dispatch_callback before it reads the next reply, so recording there captures
    arrival order: any notification in this list when a read returns arrived before that read's reply.
    """

    def __init__(self, client: KazooClient) -> None:
        self.arrived: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        handler = client.handler
        original = handler.dispatch_callback

        def dispatch(callback):  # runs on the connection thread
            if callback.type == "watch":
                (event,) = callback.args
                with self._lock:
                    self.arrived.append((event.type, event.path))
            return original(callback)

        handler.dispatch_callback = dispatch

    def snapshot(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.arrived)


def test_notification_arrives_before_the_read_that_sees_the_change(zk):
    reader = zk.connect()
    writer = zk.connect()
    reader.create("/ord")
    reader.create("/ord/data", b"old")
    recorder = ArrivalRecorder(reader)
    reader.get("/ord/data", watch=lambda e: None)
    assert reader.exists("/ord/new", watch=lambda e: None) is None
    reader.get_children("/ord", watch=lambda e: None)

    writer.set("/ord/data", b"new")
    writer.create("/ord/new")

    data, _ = reader.get("/ord/data")
    seen_at_return = recorder.snapshot()
    # The writer's calls returned before the read was sent, so a standalone server must show the new data.
    assert data == b"new"
    assert seen_at_return == [
        (EventType.CHANGED, "/ord/data"),
        (EventType.CREATED, "/ord/new"),
        (EventType.CHILD, "/ord"),
    ]


def test_failed_writes_and_acl_changes_fire_nothing(zk):
    from kazoo.exceptions import BadVersionError, NodeExistsError

    c = zk.client
    c.create("/quiet", b"q")
    c.create("/quiet/kid")
    data, children = EventLog(), EventLog()
    c.get("/quiet", watch=data)
    c.get_children("/quiet", watch=children)
    with pytest.raises(BadVersionError):
        c.set("/quiet", b"x", version=9)
    with pytest.raises(NodeExistsError):
        c.create("/quiet/kid")
    t = c.transaction()
    t.set_data("/quiet", b"y")
    t.create("/quiet/other")
    t.check("/quiet", 42)
    t.commit()
    c.set_acls("/quiet", OPEN_ACL_UNSAFE)  # setACL fires no data watch in ZooKeeper
    c.sync("/quiet")
    flush_watches(c)
    assert data.events == [] and children.events == []
    c.set("/quiet", b"now")
    assert kinds(data.wait(1)) == [(EventType.CHANGED, "/quiet")]
