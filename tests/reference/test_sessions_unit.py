"""Session table decisions with time passed in, and the watch registry's firing rules."""
from __future__ import annotations

from reference.codec.constants import EventType
from reference.sessions import SessionTracker
from reference.tree import Tree
from reference.watches import PERSISTENT, PERSISTENT_RECURSIVE, WatchRegistry

CREATED, DELETED, CHANGED, CHILDREN = (int(EventType.NODE_CREATED), int(EventType.NODE_DELETED),
                                       int(EventType.NODE_DATA_CHANGED), int(EventType.NODE_CHILDREN_CHANGED))


def test_timeout_is_clamped_to_2_and_20_ticks():
    s = SessionTracker(b"k", tick_ms=2000)
    assert (s.negotiate(1), s.negotiate(10000), s.negotiate(600000)) == (4000, 10000, 40000)


def test_password_is_derived_from_id_and_secret():
    a = SessionTracker(b"secret", 2000)
    b = SessionTracker(b"secret", 2000)
    c = SessionTracker(b"other", 2000)
    sid = a.new_id(1_700_000_000_000, {})
    assert len(a.password(sid)) == 16
    assert b.password_ok(sid, a.password(sid))       # any server with the secret can validate
    assert not c.password_ok(sid, a.password(sid))
    assert not a.password_ok(sid, bytes(16))


def test_ids_carry_the_server_id_and_are_unique():
    s = SessionTracker(b"k", 2000, server_id=1)
    ids = {s.new_id(1_700_000_000_000, {}) for _ in range(100)}
    assert len(ids) == 100
    assert all(i >> 56 == 1 for i in ids)
    taken = {s.new_id(5, {}) + 1: 4000}
    assert s.new_id(5, taken) not in taken


def test_expiry_touch_and_close():
    s = SessionTracker(b"k", 2000)
    s.add(1, 4000, now_ms=0)
    s.add(2, 10000, now_ms=0)
    assert s.expired(3999) == []
    assert s.touch(1, 3000)
    assert s.expired(6000) == []
    assert s.expired(7000) == [1]
    s.mark_closing(1)
    assert s.expired(7000) == []            # already being closed
    assert not s.touch(1, 7000)             # and refuses further requests
    assert s.expired(20000) == [2]
    s.remove(1)
    assert not s.alive(1) and s.alive(2)


def test_restore_gives_every_session_a_full_timeout():
    s = SessionTracker(b"k", 2000)
    s.restore({7: 4000, 8: 6000}, now_ms=100)
    assert s.expired(4099) == [] and s.expired(4100) == [7] and s.expired(6100) == [7, 8]


def test_watches_are_one_shot_and_deduplicated():
    w = WatchRegistry()
    w.add_data("/a", "c1")
    w.add_data("/a", "c1")          # getData and exists on the same node: one event
    w.add_child("/a", "c1")
    w.add_child("/a", "c2")
    fired = w.trigger(DELETED, "/a")
    assert sorted(fired) == [("c1", (DELETED, "/a")), ("c2", (DELETED, "/a"))]
    assert w.trigger(DELETED, "/a") == []
    w.add_data("/b", "c1")
    assert w.trigger(CHILDREN, "/b") == []     # child changes do not fire data watches
    assert w.trigger(CHANGED, "/b") == [("c1", (CHANGED, "/b"))]


def test_persistent_and_recursive_watches_stay():
    w = WatchRegistry()
    w.add_persistent("/p", "c", PERSISTENT)
    w.add_persistent("/r", "d", PERSISTENT_RECURSIVE)
    for _ in range(2):
        assert w.trigger(CHANGED, "/p") == [("c", (CHANGED, "/p"))]
        assert w.trigger(CREATED, "/r/x/y") == [("d", (CREATED, "/r/x/y"))]
    assert w.trigger(CHILDREN, "/r") == []    # recursive watches do not get NodeChildrenChanged
    w.remove_watcher("c")
    assert w.trigger(CHANGED, "/p") == []


def test_set_watches_fires_for_changes_after_relative_zxid():
    t = Tree()
    t.create("/a", b"", (), 0, zxid=5, time=0)
    t.create("/b", b"", (), 0, zxid=9, time=0)
    t.last_zxid = 9
    w = WatchRegistry()
    due = w.set_watches(t, 6, "c", data=["/a", "/b", "/gone"], exist=["/a", "/new"], child=["/a", "/"])
    assert sorted(due) == sorted([(CHANGED, "/b"), (DELETED, "/gone"), (CREATED, "/a"), (CHILDREN, "/")])
    assert w.data == {"/a": {"c"}, "/new": {"c"}} and w.child == {"/a": {"c"}}
