"""Session table decisions with time passed in, and the watch registry's firing rules."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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


watch_ops = st.lists(st.one_of(
    st.tuples(st.sampled_from(["data", "child", "persistent", "recursive"]), st.sampled_from(["/a", "/a/b", "/"]),
              st.sampled_from(["w1", "w2"])),
    st.tuples(st.just("fire"), st.sampled_from([CREATED, DELETED, CHANGED, CHILDREN]),
              st.sampled_from(["/a", "/a/b", "/"])),
    st.tuples(st.just("drop"), st.sampled_from(["w1", "w2"])),
    st.tuples(st.just("remove"), st.sampled_from(["/a", "/a/b"]), st.sampled_from(["w1", "w2"]), st.integers(1, 5)),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(watch_ops)
def test_registry_matches_a_naive_model(ops):
    reg = WatchRegistry()
    model: set[tuple[str, str, str]] = set()     # (kind, path, watcher)
    kinds_for = {1: {"child"}, 2: {"data"}, 3: {"child", "data", "persistent", "recursive"}, 4: {"persistent"},
                 5: {"recursive"}}
    for op in ops:
        if op[0] in ("data", "child", "persistent", "recursive"):
            kind, path, w = op
            if kind == "data":
                reg.add_data(path, w)
            elif kind == "child":
                reg.add_child(path, w)
            else:
                reg.add_persistent(path, w, PERSISTENT_RECURSIVE if kind == "recursive" else PERSISTENT)
            model.add(op)
        elif op[0] == "fire":
            _, etype, path = op
            expected = set()
            for kind, p, w in list(model):
                hit = ((kind == "data" and p == path and etype in (CREATED, CHANGED, DELETED))
                       or (kind == "child" and p == path and etype in (CHILDREN, DELETED))
                       or (kind == "persistent" and p == path)
                       or (kind == "recursive" and etype != CHILDREN
                           and (p == "/" or path == p or path.startswith(p + "/"))))
                if hit:
                    expected.add(w)
                    if kind in ("data", "child"):
                        model.discard((kind, p, w))
            fired = reg.trigger(etype, path)
            assert len(fired) == len({w for w, _ in fired})          # one event per watcher
            assert {w for w, _ in fired} == expected
        elif op[0] == "drop":
            reg.remove_watcher(op[1])
            model = {m for m in model if m[2] != op[1]}
        else:
            _, path, w, kind = op
            want = any(m[1] == path and m[2] == w and m[0] in kinds_for[kind] for m in model)
            assert reg.remove(path, w, kind) == want
            model = {m for m in model if not (m[1] == path and m[2] == w and m[0] in kinds_for[kind])}
    tables = {"data": reg.data, "child": reg.child, "persistent": reg.persistent, "recursive": reg.recursive}
    assert {(k, p, w) for k, t in tables.items() for p, ws in t.items() for w in ws} == model
    assert all(ws for t in tables.values() for ws in t.values())      # no empty sets left behind
    index = {"data": 0, "child": 1, "persistent": 2, "recursive": 3}
    owned: dict[str, set] = {}
    for k, p, w in model:
        owned.setdefault(w, set()).add((index[k], p))
    assert reg._owned == owned       # the per-watcher index never drifts from the tables
