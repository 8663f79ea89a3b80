"""Wire-level details kazoo does not expose: frame layouts, reply headers, notifications, and the cases in
which the server answers and then closes the connection (notes T1-T3, T8)."""
from __future__ import annotations

import struct

import pytest

from tests.compat.rawclient import OPEN_ACL, RawSession, boolean, buffer, int32, int64, ustring

pytestmark = pytest.mark.cluster

CREATE, DELETE, EXISTS, GET_DATA, SET_DATA, GET_CHILDREN = 1, 2, 3, 4, 5, 8
PING, CHECK, MULTI, MULTI_READ, AUTH, CLOSE = 11, 13, 14, 22, 100, -11
STAT_SIZE = 68


def create_body(path: str, data: bytes = b"", flags: int = 0) -> bytes:
    return ustring(path) + buffer(data) + OPEN_ACL + int32(flags)


def multi_header(op: int, done: bool, err: int) -> bytes:
    return int32(op) + boolean(done) + int32(err)


def multi_body(*ops: tuple[int, bytes]) -> bytes:
    return b"".join(multi_header(op, False, -1) + body for op, body in ops) + multi_header(-1, True, -1)


@pytest.fixture
def raw(zk):
    with RawSession(zk.port) as session:
        session.connect()
        yield session


def test_connect_response_layout(zk):
    with RawSession(zk.port) as session:
        body = session.connect(timeout_ms=10000)
        version, timeout, session_id, pw_len = struct.unpack_from(">iiqi", body)
        assert (version, timeout, pw_len, len(body)) == (0, 10000, 16, 37)
        assert session_id != 0 and body[-1:] == b"\0"
    with RawSession(zk.port) as old_client:
        # A client that sends no readOnly byte gets none back.
        assert len(old_client.connect(read_only_byte=False)) == 36


def test_error_replies_carry_no_body(zk, raw):
    missing = zk.chroot + "/missing"
    for opcode in (GET_DATA, EXISTS):
        reply = raw.call(1 if opcode == GET_DATA else 2, opcode, ustring(missing) + boolean(False))
        assert (reply.err, reply.frame_length) == (-101, 16)
    zk.client.create("/present", b"abc")
    reply = raw.call(3, GET_DATA, ustring(zk.chroot + "/present") + boolean(False))
    assert reply.err == 0 and reply.body[:7] == buffer(b"abc") and len(reply.body) == 7 + STAT_SIZE
    assert reply.xid == 3 and reply.zxid > 0


def test_replies_echo_xids_in_order(zk, raw):
    path = zk.chroot + "/x"
    raw.send(7, CREATE, create_body(path, b"1"))
    raw.send(8, SET_DATA, ustring(path) + buffer(b"2") + int32(-1))
    raw.send(9, GET_DATA, ustring(path) + boolean(False))
    replies = [raw.read_reply() for _ in range(3)]
    assert [(r.xid, r.err) for r in replies] == [(7, 0), (8, 0), (9, 0)]
    assert replies[0].body == ustring(path)
    assert replies[2].body[:5] == buffer(b"2")
    assert replies[0].zxid < replies[1].zxid == replies[2].zxid


def test_ping(raw):
    reply = raw.call(-2, PING)
    assert (reply.xid, reply.err, reply.body) == (-2, 0, b"")


def test_notification_frame(zk, raw):
    path = zk.chroot + "/watched"
    zk.client.create("/watched", b"a")
    assert raw.call(1, GET_DATA, ustring(path) + boolean(True)).err == 0
    zk.client.set("/watched", b"b")
    event = raw.read_reply()
    # ZooKeeper 3.8.0 puts zxid -1 in a notification's header (notes T3).
    assert (event.xid, event.zxid, event.err) == (-1, -1, 0)
    assert event.body == int32(3) + int32(3) + ustring(path)  # NodeDataChanged, SyncConnected


def test_successful_multi_layout(zk, raw):
    base = zk.chroot
    zk.client.create("/old", b"o")
    reply = raw.call(1, MULTI, multi_body(
        (CREATE, create_body(base + "/new", b"n")),
        (SET_DATA, ustring(base + "/old") + buffer(b"p") + int32(0)),
        (CHECK, ustring(base + "/old") + int32(1)),
        (DELETE, ustring(base + "/new") + int32(0)),
    ))
    assert reply.err == 0
    body = reply.body
    expected_create = multi_header(CREATE, False, 0) + ustring(base + "/new")
    assert body.startswith(expected_create)
    rest = body[len(expected_create):]
    assert rest[:9] == multi_header(SET_DATA, False, 0)
    rest = rest[9 + STAT_SIZE:]
    assert rest == multi_header(CHECK, False, 0) + multi_header(DELETE, False, 0) + multi_header(-1, True, -1)


def test_failed_multi_layout(zk, raw):
    """The header says OK; every result becomes an error record: 0 before the failing op, its code at it,
    -2 (RuntimeInconsistency) after it (notes T8)."""
    base = zk.chroot
    zk.client.create("/v", b"v")
    reply = raw.call(1, MULTI, multi_body(
        (CREATE, create_body(base + "/a")),
        (SET_DATA, ustring(base + "/v") + buffer(b"x") + int32(5)),
        (CREATE, create_body(base + "/b")),
    ))
    assert reply.err == 0
    assert reply.body == (multi_header(-1, False, 0) + int32(0)
                          + multi_header(-1, False, -103) + int32(-103)
                          + multi_header(-1, False, -2) + int32(-2)
                          + multi_header(-1, True, -1))


def test_multi_read(zk, raw):
    zk.client.create("/r", b"data")
    reply = raw.call(1, MULTI_READ, multi_body(
        (GET_DATA, ustring(zk.chroot + "/r") + boolean(False)),
        (GET_DATA, ustring(zk.chroot + "/none") + boolean(False)),
    ))
    assert reply.err == 0
    first = multi_header(GET_DATA, False, 0) + buffer(b"data")
    assert reply.body.startswith(first)
    assert reply.body[len(first) + STAT_SIZE:] == (multi_header(-1, False, -101) + int32(-101)
                                                   + multi_header(-1, True, -1))


def test_close_session_answers_then_closes(zk):
    with RawSession(zk.port) as session:
        session.connect()
        reply = session.call(5, CLOSE)
        assert (reply.xid, reply.err, reply.body) == (5, 0, b"")
        assert session.closed_by_server()


def test_unknown_opcode_is_unimplemented_then_closed(zk, raw):
    reply = raw.call(1, 9999)
    assert (reply.xid, reply.err) == (1, -6)
    assert raw.closed_by_server()


def test_unknown_auth_scheme_fails_then_closes(raw):
    reply = raw.call(-4, AUTH, int32(0) + ustring("no-such-scheme") + buffer(b"x"))
    assert (reply.xid, reply.err) == (-4, -115)
    assert raw.closed_by_server()


def test_client_ahead_of_the_server_is_dropped(zk):
    """A client that has seen a later zxid than the server has must not be served (single system image)."""
    with RawSession(zk.port) as session:
        with pytest.raises(ConnectionError):
            session.connect(last_zxid=0x7FFFFFFF00000000)



def drain_events(raw: RawSession) -> list[tuple[int, int, bytes]]:
    """Send a ping and return the (type, state, path) of every notification that arrives before its reply.

    The server answers a connection in order, and a write's notifications go out when it is applied, so the
    ping's reply comes after every event caused by writes that completed before the ping was sent.
    """
    raw.send(-2, PING)
    events = []
    while True:
        reply = raw.read_reply()
        assert reply is not None, "server closed the connection"
        if reply.xid == -2:
            return events
        assert reply.xid == -1, f"unexpected reply {reply}"
        kind, state = struct.unpack_from(">ii", reply.body)
        events.append((kind, state, reply.body[8:]))


def test_one_notification_per_path_and_event_even_with_several_watches(zk, raw):
    """ZooKeeper keeps one watch per (connection, path, kind): three data watches give one NodeDataChanged,
    and a data plus a child watch give one NodeDeleted."""
    path = zk.chroot + "/multi-watched"
    zk.client.create("/multi-watched")
    assert raw.call(1, GET_DATA, ustring(path) + boolean(True)).err == 0
    assert raw.call(2, EXISTS, ustring(path) + boolean(True)).err == 0
    assert raw.call(3, GET_DATA, ustring(path) + boolean(True)).err == 0
    zk.client.set("/multi-watched", b"x")
    assert drain_events(raw) == [(3, 3, ustring(path))]

    assert raw.call(4, GET_DATA, ustring(path) + boolean(True)).err == 0
    assert raw.call(5, GET_CHILDREN, ustring(path) + boolean(True)).err == 0
    zk.client.delete("/multi-watched")
    assert drain_events(raw) == [(2, 3, ustring(path))]
    zk.client.create("/multi-watched")  # no watch is left to fire
    assert drain_events(raw) == []


def string_vector(paths: list[str]) -> bytes:
    return int32(len(paths)) + b"".join(ustring(p) for p in paths)


def test_set_watches_after_reconnect(zk):
    """The Java client re-registers its watches on a new connection with SetWatches (xid -8, opcode 101);
    the server fires at once for every watched node that changed after relativeZxid (notes §1)."""
    changed, missing, steady = (zk.chroot + p for p in ("/sw-changed", "/sw-missing", "/sw-steady"))
    zk.client.create("/sw-changed", b"0")
    zk.client.create("/sw-steady", b"0")
    with RawSession(zk.port) as first:
        first.connect()
        session_id, password = first.session_id, first.password
        seen = first.call(1, GET_DATA, ustring(changed) + boolean(True)).zxid
    zk.client.set("/sw-changed", b"1")  # while the session has no connection

    with RawSession(zk.port) as second:
        second.connect(session_id=session_id, password=password, last_zxid=seen)
        assert second.session_id == session_id
        second.send(-8, 101, int64(seen) + string_vector([changed, steady]) + string_vector([missing])
                    + string_vector([]))
        events = []
        while True:
            reply = second.read_reply()
            assert reply is not None, "server closed the connection after SetWatches"
            if reply.xid == -8:
                assert (reply.err, reply.body) == (0, b"")
                break
            events.append(struct.unpack_from(">ii", reply.body) + (reply.body[8:],))
        events += drain_events(second)
        assert events == [(3, 3, ustring(changed))]
        zk.client.create("/sw-missing")
        zk.client.set("/sw-steady", b"1")
        assert drain_events(second) == [(1, 3, ustring(missing)), (3, 3, ustring(steady))]


ADD_WATCH, REMOVE_WATCHES, GET_EPHEMERALS, GET_ALL_CHILDREN_NUMBER, WHO_AM_I = 106, 18, 103, 104, 107


def test_persistent_and_recursive_watches(zk, raw):
    """addWatch (kazoo 2.11 has no call for it): a persistent watch stays after firing and sees its node's
    data, child-list and existence changes; a recursive one sees creates, changes and deletes below it but no
    NodeChildrenChanged."""
    persistent, recursive = zk.chroot + "/pw", zk.chroot + "/rw"
    zk.client.create("/pw", b"0")
    zk.client.create("/rw", b"0")
    for xid, path, mode in ((1, persistent, 0), (2, recursive, 1)):
        reply = raw.call(xid, ADD_WATCH, ustring(path) + int32(mode))
        assert (reply.err, reply.body) == (0, int32(0))  # the body is an ErrorResponse{0}
    c = zk.client
    c.set("/pw", b"1")
    c.set("/pw", b"2")
    c.create("/pw/kid")
    c.set("/pw/kid", b"x")  # below a non-recursive watch: nothing
    c.create("/rw/a")
    c.create("/rw/a/b")
    c.set("/rw/a/b", b"x")
    c.delete("/rw/a/b")
    c.set("/rw", b"y")
    assert [(kind, path) for kind, _, path in drain_events(raw)] == [
        (3, ustring(persistent)), (3, ustring(persistent)), (4, ustring(persistent)),
        (1, ustring(recursive + "/a")), (1, ustring(recursive + "/a/b")), (3, ustring(recursive + "/a/b")),
        (2, ustring(recursive + "/a/b")), (3, ustring(recursive)),
    ]


def test_remove_watches(zk, raw):
    path = zk.chroot + "/rm"
    zk.client.create("/rm")
    assert raw.call(1, GET_DATA, ustring(path) + boolean(True)).err == 0
    assert raw.call(2, REMOVE_WATCHES, ustring(path) + int32(2)).err == 0  # 2 = data watches
    assert raw.call(3, REMOVE_WATCHES, ustring(path) + int32(2)).err == -121  # NoWatcher
    zk.client.set("/rm", b"x")
    assert drain_events(raw) == []


def test_session_introspection_ops(zk, raw):
    """getEphemerals, getAllChildrenNumber and whoAmI, as zkCli.sh uses them."""
    base = zk.chroot
    zk.client.create("/in/a/b", makepath=True)
    assert raw.call(1, CREATE, create_body(base + "/in/e1", flags=1)).err == 0
    assert raw.call(2, CREATE, create_body(base + "/e2", flags=1)).err == 0
    mine = raw.call(3, GET_EPHEMERALS, ustring(base + "/in"))
    assert (mine.err, mine.body) == (0, int32(1) + ustring(base + "/in/e1"))
    everything = raw.call(4, GET_EPHEMERALS, ustring(base))
    assert everything.err == 0
    count, = struct.unpack_from(">i", everything.body)
    assert count == 2
    assert {ustring(base + "/in/e1"), ustring(base + "/e2")} == _split_strings(everything.body[4:], 2)
    total = raw.call(5, GET_ALL_CHILDREN_NUMBER, ustring(base + "/in"))
    assert (total.err, total.body) == (0, int32(3))
    who = raw.call(6, WHO_AM_I)
    assert (who.err, who.body) == (0, int32(1) + ustring("ip") + ustring("127.0.0.1"))
    assert raw.call(-4, AUTH, int32(0) + ustring("digest") + buffer(b"u:p")).err == 0
    who = raw.call(7, WHO_AM_I)
    # In the order the identities were added: the connection's ip first.
    assert who.body == int32(2) + ustring("ip") + ustring("127.0.0.1") + ustring("digest") + ustring("u")


def _split_strings(data: bytes, count: int) -> set[bytes]:
    out, offset = set(), 0
    for _ in range(count):
        (length,) = struct.unpack_from(">i", data, offset)
        out.add(data[offset:offset + 4 + length])
        offset += 4 + length
    assert offset == len(data)
    return out


def test_check_outside_multi_closes_the_connection(zk):
    """check (opcode 13) is only valid inside a multi; ZooKeeper 3.8 drops a connection that sends it alone,
    without a reply. (It answers nothing more on that session and closes the connection when the session
    expires, hence the shortest session timeout the server grants: 2 ticks.)"""
    zk.client.create("/chk")
    with RawSession(zk.port) as raw:
        raw.connect(timeout_ms=1)
        raw.send(1, CHECK, ustring(zk.chroot + "/chk") + int32(0))
        assert raw.read_reply() is None


def test_read_op_in_multi_and_write_op_in_multi_read_are_marshalling_errors(zk, raw):
    """Mixing kinds is refused as a whole with MarshallingError (-5) in the reply header: a multi with a
    getData gets no body, a multiRead with a create gets only the end marker; the connection stays."""
    zk.client.create("/mix")
    in_multi = raw.call(1, MULTI, multi_body((GET_DATA, ustring(zk.chroot + "/mix") + boolean(False))))
    assert (in_multi.err, in_multi.body) == (-5, b"")
    in_multi_read = raw.call(2, MULTI_READ, multi_body((CREATE, create_body(zk.chroot + "/mix2"))))
    assert (in_multi_read.err, in_multi_read.body) == (-5, multi_header(-1, True, -1))
    assert zk.client.exists("/mix2") is None
    assert raw.call(3, EXISTS, ustring(zk.chroot + "/mix") + boolean(False)).err == 0


CREATE_CONTAINER, DELETE_CONTAINER, GET_CHILDREN2 = 19, 20, 12


def test_empty_path_reads_as_the_root(zk, raw):
    """ZooKeeper's data tree also files the root under "", so reads of "" answer for "/"."""
    root = raw.call(1, EXISTS, ustring("/") + boolean(False))
    empty = raw.call(2, EXISTS, ustring("") + boolean(False))
    assert (empty.err, empty.body) == (0, root.body)
    listing = raw.call(3, GET_CHILDREN2, ustring("") + boolean(False))
    assert listing.err == 0 and listing.body == raw.call(4, GET_CHILDREN2, ustring("/") + boolean(False)).body


def test_create_container_takes_the_mode_from_its_flags(zk, raw):
    """createContainer (19) is a create2 whose mode still comes from the flags: flags 2 gives a sequential
    name, flags 1 an ephemeral node."""
    base = zk.chroot
    zk.client.create("/cc")
    seq = raw.call(1, CREATE_CONTAINER, create_body(base + "/cc/s-", flags=2))
    assert seq.err == 0 and seq.body.startswith(ustring(base + "/cc/s-0000000000"))
    eph = raw.call(2, CREATE_CONTAINER, create_body(base + "/cc/e", flags=1))
    assert eph.err == 0 and eph.body.startswith(ustring(base + "/cc/e"))


def test_malformed_watch_requests_are_marshalling_errors(zk, raw):
    zk.client.create("/mw")
    path = ustring(zk.chroot + "/mw")
    assert raw.call(1, REMOVE_WATCHES, path + int32(9)).err == -5  # no watcher type 9
    assert raw.call(2, ADD_WATCH, path + int32(7)).err == -5  # no mode 7
    assert raw.call(3, EXISTS, path + boolean(False)).err == 0  # the connection stays


def test_delete_container_is_server_internal(zk, raw):
    """deleteContainer (20) is what the container manager logs; a client sending it gets BadArguments."""
    zk.client.create("/dc")
    assert raw.call(1, DELETE_CONTAINER, ustring(zk.chroot + "/dc")).err == -8
    assert zk.client.exists("/dc") is not None


def test_notification_opcode_from_a_client_is_unimplemented(raw):
    reply = raw.call(1, 0)
    assert (reply.xid, reply.err) == (1, -6)
