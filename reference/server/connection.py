"""One client connection: handshake, request dispatch, strictly FIFO replies, watch notifications.

Replies leave in request order. A read arriving while an earlier write of the same connection is still on its
way to disk waits in the queue and runs when it reaches the head, so it sees that write (read-your-writes, and
ZooKeeper's per-connection FIFO). Notifications are written the moment a change is applied, so they precede any
later reply that reflects the change.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import struct
import time
from collections import deque
from typing import Any

from reference import acl as aclmod
from reference import txn as txnmod
from reference.acl import KeeperError
from reference.codec import messages
from reference.codec.constants import Err, KeeperState, OpCode, Xid
from reference.codec.errors import DecodeError, FrameTooLarge, UnknownOpcode
from reference.codec.framing import FrameReader, is_four_letter_word
from reference.codec.records import (
    ACL, ClientInfo, ConnectResponse, Create2Response, CreateResponse, ErrorResponse, ExistsResponse, GetACLResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse, GetEphemeralsResponse,
    Id, MultiResponse, ReplyHeader, SetACLResponse, SetDataResponse, SetSASLResponse, Stat, SyncResponse,
    WatcherEvent, WhoAmIResponse,
)
from reference.server import fourletter
from reference.server.core import Server

log = logging.getLogger("reference.server")

_ZERO_PASSWD = bytes(16)
MAX_QUEUED = 1000   # per-connection requests waiting for the disk before we stop reading (cf. globalOutstandingLimit)
_encode_reply = messages.encode_reply

WRITE_OPS = frozenset((OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER, OpCode.CREATE_TTL, OpCode.DELETE,
                       OpCode.SET_DATA, OpCode.SET_ACL, OpCode.MULTI, OpCode.CHECK, OpCode.CLOSE_SESSION,
                       OpCode.RECONFIG))


def _acl_in(acl: list[ACL] | None) -> list[tuple[int, str, str]]:
    return [(a.perms, a.id.scheme, a.id.id) for a in acl or ()]


def _acl_out(acl: tuple) -> list[ACL]:
    return [ACL(p, Id(s, i)) for p, s, i in acl]


def _to_internal(op: int, rec: Any) -> Any:
    """Wire record -> the plain tuple txn.prepare takes."""
    if op in (OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER, OpCode.CREATE_TTL):
        return (rec.path, rec.data, _acl_in(rec.acl), rec.flags)
    if op == OpCode.DELETE:
        return (rec.path, rec.version)
    if op == OpCode.SET_DATA:
        return (rec.path, rec.data, rec.version)
    if op == OpCode.SET_ACL:
        return (rec.path, _acl_in(rec.acl), rec.version)
    if op == OpCode.CHECK:
        return (rec.path, rec.version)
    if op == OpCode.MULTI:
        return [(sub_op, _to_internal(sub_op, sub)) for sub_op, sub in rec.ops]
    return ()


def _result_record(op: int, payload: Any) -> Any:
    if op == OpCode.CREATE:
        return CreateResponse(payload[0])
    if op in (OpCode.CREATE2, OpCode.CREATE_CONTAINER, OpCode.CREATE_TTL):
        return Create2Response(payload[0], Stat(*payload[1]))
    if op == OpCode.SET_DATA:
        return SetDataResponse(Stat(*payload))
    if op == OpCode.SET_ACL:
        return SetACLResponse(Stat(*payload))
    return None


# Reads ZooKeeper also answers for "" (its data tree files the root under "" as well as "/").
_ROOT_ALIAS_OPS = frozenset((OpCode.GET_DATA, OpCode.EXISTS, OpCode.GET_CHILDREN, OpCode.GET_CHILDREN2,
                             OpCode.GET_ACL))


def _MULTI_READ_REFUSED(xid: int, zxid: int) -> bytes:
    """A refused multiRead: ReplyHeader(err -5) followed by the multi end marker {type -1, done, err -1}."""
    body = struct.pack(">iBi", -1, 1, -1)
    return struct.pack(">iiqi", 16 + len(body), xid, zxid, int(Err.MARSHALLING_ERROR)) + body


class _Slot:
    """A place in the reply queue: a finished reply, a write waiting for the disk, or a read not yet run."""
    __slots__ = ("frame", "read")

    def __init__(self, frame: bytes | None = None, read: tuple | None = None) -> None:
        self.frame = frame
        self.read = read


class Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.reader = FrameReader()
        self.session_id = 0
        self.timeout = 0
        self.connected = False          # handshake done
        self.handshaking = False        # ConnectRequest seen, session creation on its way
        self.early: list[bytes] = []    # frames that arrived during the handshake
        self.queue: deque[_Slot] = deque()
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.closing = False
        self.first = True
        self.head = bytearray()
        self.write_paused = False
        self.auth: tuple = ()
        self.peer = ("?", 0)
        self.received = 0
        self.sent = 0
        self.established = 0
        self.last_op: int | None = None
        self.last_cxid = 0
        self.last_zxid = 0

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        self.auth = (("ip", self.peer[0]),)
        self.established = int(time.time() * 1000)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.connections.discard(self)
        self.server.watches.remove_watcher(self)
        if self.session_id and self.server.session_conn.get(self.session_id) is self:
            del self.server.session_conn[self.session_id]
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if self.first:
            # A four-letter word may arrive split; decide once 4 bytes are in.
            self.head += data
            if len(self.head) < 4:
                return
            self.first = False
            data, self.head = bytes(self.head), bytearray()
            if is_four_letter_word(data[:4]):
                self._four_letter(data[:4])
                return
        try:
            frames = self.reader.feed(data)
        except FrameTooLarge as e:
            log.warning("closing %s:%d: %s", *self.peer, e)
            self.close()
            return
        for payload in frames:
            if self.closing:
                return
            self.received += 1
            self.server.stats["received"] += 1
            if self.connected:
                self._request(payload)
            elif self.handshaking:
                self.early.append(payload)
            else:
                self._connect(payload)

    # ---- flow control: a client that does not read, or floods us, stops being read ----

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport is not None and len(self.queue) < MAX_QUEUED // 2:
            self.transport.resume_reading()

    # ---- output ----

    def send(self, frame: bytes) -> None:
        self.out.append(frame)
        self.sent += 1
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        if self.out and self.transport is not None and not self.transport.is_closing():
            out = self.out
            self.out = []
            self.server.stats["sent"] += len(out)
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])

    def notify(self, frame: bytes) -> None:
        if not self.closing:
            self.send(frame)

    def close(self) -> None:
        """Flush what is queued for the client, then close."""
        if self.closing:
            return
        self.closing = True
        self.flush()
        if self.transport is not None:
            self.transport.close()

    def close_expired(self) -> None:
        self.close()

    # ---- four-letter words ----

    def _four_letter(self, word: bytes) -> None:
        text = fourletter.answer(self.server, word.decode("ascii"), self)
        assert self.transport is not None
        self.transport.write(text.encode("utf-8"))
        self.closing = True
        self.transport.close()

    # ---- handshake ----

    def _connect(self, payload: bytes) -> None:
        server = self.server
        if not server.serving():
            # Outside a working quorum we cannot create or revive sessions; the client tries another server.
            self.close()
            return
        try:
            req = messages.decode_connect_request(payload)
        except DecodeError as e:
            log.warning("closing %s:%d: bad ConnectRequest: %s", *self.peer, e)
            self.close()
            return
        if req.last_zxid_seen > server.tree.last_zxid:
            # The client has seen more than we have: it must find a more up-to-date server (notes T1).
            log.info("refusing %s:%d: client zxid 0x%x is ahead of ours 0x%x", *self.peer, req.last_zxid_seen,
                     server.tree.last_zxid)
            self.close()
            return
        old_client = req.read_only is None
        ro = None if old_client else False
        timeout = server.sessions.negotiate(req.timeout)
        sid = req.session_id
        if sid == 0:
            sid = server.sessions.new_id(server.wall_ms(), server.tree.sessions)
            server.sessions.add(sid, timeout, server.now_ms())
            self.handshaking = True
            passwd = server.sessions.password(sid)

            def created(_t: Any, _result: Any) -> None:
                self._established(sid, timeout, passwd, ro)

            server.submit(OpCode.CREATE_SESSION, (timeout,), sid, (), created, conn=self)
            return
        if not server.sessions.alive(sid) or not server.sessions.password_ok(sid, req.passwd or b""):
            self.send(messages.encode_connect_response(ConnectResponse(0, 0, 0, _ZERO_PASSWD, ro)))
            self.close()
            return
        server.sessions.touch(sid, server.now_ms(), timeout)
        old = server.session_conn.get(sid)
        if old is not None and old is not self:
            # The session moved here; ZooKeeper keeps the old socket around (SESSIONMOVED on writes), we close it.
            old.close()
        self._established(sid, timeout, req.passwd, ro)

    def _established(self, sid: int, timeout: int, passwd: bytes, ro: bool | None) -> None:
        if self.closing:
            return
        self.session_id = sid
        self.timeout = timeout
        self.connected = True
        self.handshaking = False
        self.server.session_conn[sid] = self
        self.send(messages.encode_connect_response(ConnectResponse(0, timeout, sid, passwd, ro)))
        early, self.early = self.early, []
        for payload in early:
            if self.closing:
                return
            self._request(payload)

    # ---- requests ----

    def _request(self, payload: bytes) -> None:
        server = self.server
        try:
            header, rec = messages.decode_request(payload)
        except UnknownOpcode as e:
            if e.opcode == OpCode.DELETE_CONTAINER:
                # Server-internal (what the container manager logs); a client sending it gets BadArguments.
                self._reply_now(_encode_reply(ReplyHeader(e.xid, server.tree.last_zxid, Err.BAD_ARGUMENTS)))
                return
            log.warning("closing %s:%d: unknown opcode %d", *self.peer, e.opcode)
            # Observed on ZooKeeper 3.8: {xid, zxid -1, UNIMPLEMENTED}, then the connection closes (notes T2).
            self._reply_now(_encode_reply(ReplyHeader(e.xid, -1, Err.UNIMPLEMENTED)))
            self.close()
            return
        except DecodeError as e:
            log.warning("closing %s:%d: undecodable request: %s", *self.peer, e)
            self.close()
            return
        xid, op = header.xid, header.type
        sid = self.session_id
        if not server.serving():
            # No leader known: answering from a possibly stale replica would be guessing (ConnectionLoss).
            self.close()
            return
        if not server.sessions.touch(sid, server.now_ms()):
            if self.queue and sid in server.sessions.closing:
                return      # our own closeSession is on its way; its reply ends the connection
            self._reply_now(_encode_reply(ReplyHeader(xid, server.tree.last_zxid, Err.SESSION_EXPIRED)))
            self.close()
            return
        if xid >= 0:
            self.last_cxid = xid
        self.last_op = op
        if op == OpCode.AUTH:
            self._auth(xid, rec)
            return
        if op == OpCode.CHECK:
            # check is only valid inside a multi; ZooKeeper 3.8 drops a connection that sends it alone, unanswered.
            log.info("closing %s:%d: check (13) outside a multi", *self.peer)
            self.close()
            return
        if op == OpCode.MULTI and any(sub_op not in txnmod.MULTI_WRITE_OPS for sub_op, _sub in rec.ops):
            # A read inside a multi is refused as a whole, header only, and the connection stays (as ZooKeeper).
            self._reply_now(_encode_reply(ReplyHeader(xid, server.tree.last_zxid, Err.MARSHALLING_ERROR)))
            return
        if op in WRITE_OPS:
            if op == OpCode.CLOSE_SESSION:
                server.sessions.mark_closing(sid)
            slot = _Slot()
            self.queue.append(slot)
            arrived = time.monotonic()

            def done(t: txnmod.Txn | None, result: Any) -> None:
                server.record_latency(time.monotonic() - arrived)
                slot.frame = self._write_reply(xid, op, rec, t, result)
                self._drain()
                if op == OpCode.CLOSE_SESSION:
                    self.close()

            server.submit(op, _to_internal(op, rec), sid, self.auth, done, conn=self)
            if len(self.queue) >= MAX_QUEUED and self.transport is not None:
                self.transport.pause_reading()
            return
        if op == OpCode.SYNC:
            slot = _Slot()
            self.queue.append(slot)

            def synced(_t: Any, _r: Any) -> None:
                slot.frame = _encode_reply(ReplyHeader(xid, server.tree.last_zxid, 0), SyncResponse(rec.path))
                self._drain()

            server.barrier(synced, conn=self)
            return
        if self.queue:
            self.queue.append(_Slot(read=(xid, op, rec)))
        else:
            self.send(self._read(xid, op, rec))

    def _reply_now(self, frame: bytes) -> None:
        if self.queue:
            self.queue.append(_Slot(frame=frame))
        else:
            self.send(frame)

    def _drain(self) -> None:
        q = self.queue
        while q:
            slot = q[0]
            if slot.frame is not None:
                q.popleft()
                self.send(slot.frame)
            elif slot.read is not None:
                q.popleft()
                self.send(self._read(*slot.read))
            else:
                break
        if len(q) < MAX_QUEUED // 2 and not self.write_paused and self.transport is not None and not self.closing:
            self.transport.resume_reading()

    def _write_reply(self, xid: int, op: int, rec: Any, t: txnmod.Txn | None, result: Any) -> bytes:
        assert t is not None
        self.last_zxid = t.zxid
        err, payload = result
        if err != 0:
            return _encode_reply(ReplyHeader(xid, t.zxid, err))
        if op == OpCode.MULTI:
            results = []
            for (sub_op, _sub), (kind, sub_err, sub_payload) in zip(rec.ops, payload):
                if kind == txnmod.ERROR:
                    results.append((-1, sub_err, None))
                else:
                    results.append((sub_op, 0, _result_record(sub_op, sub_payload)))
            return _encode_reply(ReplyHeader(xid, t.zxid, 0), MultiResponse(results))
        return _encode_reply(ReplyHeader(xid, t.zxid, 0), _result_record(op, payload))

    def _auth(self, xid: int, rec: Any) -> None:
        server = self.server
        try:
            ids = aclmod.authenticate(rec.scheme, rec.auth or b"", self.peer[0], server.config.super_digest)
        except KeeperError:
            log.info("auth failed for %s:%d (scheme %r); closing", *self.peer, rec.scheme)
            self._reply_now(_encode_reply(ReplyHeader(Xid.AUTH, 0, Err.AUTH_FAILED)))
            self.close()
            return
        self.auth = tuple(dict.fromkeys((*self.auth, *ids)))
        self._reply_now(_encode_reply(ReplyHeader(Xid.AUTH, 0, 0)))

    def _read(self, xid: int, op: int, rec: Any) -> bytes:
        """Run a read against the applied tree and encode its reply."""
        server = self.server
        tree = server.read_tree
        zxid = server.tree.last_zxid
        if getattr(rec, "path", None) == "" and op in _ROOT_ALIAS_OPS:
            rec = dataclasses.replace(rec, path="/")
        try:
            if op == OpCode.GET_DATA:
                data, stat = tree.get_data(rec.path, self.auth)
                if rec.watch:
                    server.watches.add_data(rec.path, self)
                return _encode_reply(ReplyHeader(xid, zxid, 0), GetDataResponse(data, Stat(*stat)))
            if op == OpCode.EXISTS:
                stat = tree.exists(rec.path)
                if rec.watch:
                    server.watches.add_data(rec.path, self)
                if stat is None:
                    return _encode_reply(ReplyHeader(xid, zxid, Err.NO_NODE))
                return _encode_reply(ReplyHeader(xid, zxid, 0), ExistsResponse(Stat(*stat)))
            if op == OpCode.PING:
                return _encode_reply(ReplyHeader(Xid.PING, zxid, 0))
            if op in (OpCode.GET_CHILDREN, OpCode.GET_CHILDREN2):
                children, stat = tree.get_children(rec.path, self.auth)
                if rec.watch:
                    server.watches.add_child(rec.path, self)
                if op == OpCode.GET_CHILDREN:
                    return _encode_reply(ReplyHeader(xid, zxid, 0), GetChildrenResponse(children))
                return _encode_reply(ReplyHeader(xid, zxid, 0), GetChildren2Response(children, Stat(*stat)))
            if op == OpCode.GET_ACL:
                acl, stat = tree.get_acl(rec.path, self.auth)
                return _encode_reply(ReplyHeader(xid, zxid, 0), GetACLResponse(_acl_out(acl), Stat(*stat)))
            if op in (OpCode.SET_WATCHES, OpCode.SET_WATCHES2):
                persistent = getattr(rec, "persistent_watches", ())
                recursive = getattr(rec, "persistent_recursive_watches", ())
                due = server.watches.set_watches(tree, rec.relative_zxid, self, rec.data_watches,
                                                 rec.exist_watches, rec.child_watches, persistent, recursive)
                for event_type, path in due:
                    self.send(messages.encode_notification(WatcherEvent(event_type, KeeperState.SYNC_CONNECTED, path)))
                return _encode_reply(ReplyHeader(Xid.SET_WATCHES, zxid, 0))
            if op == OpCode.ADD_WATCH:
                if rec.mode not in (0, 1):
                    raise KeeperError(Err.MARSHALLING_ERROR, rec.path)
                server.watches.add_persistent(rec.path, self, rec.mode)
                # ZooKeeper answers addWatch with an ErrorResponse(0) body, and its Java client reads one.
                return _encode_reply(ReplyHeader(xid, zxid, 0), ErrorResponse(0))
            if op in (OpCode.REMOVE_WATCHES, OpCode.CHECK_WATCHES) and rec.type not in (1, 2, 3):
                raise KeeperError(Err.MARSHALLING_ERROR, rec.path)   # no such watcher type
            if op == OpCode.REMOVE_WATCHES:
                if not server.watches.remove(rec.path, self, rec.type):
                    raise KeeperError(Err.NO_WATCHER, rec.path)
                return _encode_reply(ReplyHeader(xid, zxid, 0))
            if op == OpCode.CHECK_WATCHES:
                if not server.watches.has(rec.path, self, rec.type):
                    raise KeeperError(Err.NO_WATCHER, rec.path)
                return _encode_reply(ReplyHeader(xid, zxid, 0))
            if op == OpCode.GET_EPHEMERALS:
                paths = tree.get_ephemerals(self.session_id, rec.prefix_path)
                return _encode_reply(ReplyHeader(xid, zxid, 0), GetEphemeralsResponse(paths))
            if op == OpCode.GET_ALL_CHILDREN_NUMBER:
                n = tree.all_children_number(rec.path, self.auth)
                return _encode_reply(ReplyHeader(xid, zxid, 0), GetAllChildrenNumberResponse(n))
            if op == OpCode.WHO_AM_I:
                # ZooKeeper reports the user name, not the stored digest (AuthenticationProvider.getUserName).
                # In the order the identities were added, the connection's ip first (checked against ZooKeeper 3.8
                # by tests/compat/test_compat_wire.py::test_session_introspection_ops).
                ids = self.auth
                info = [ClientInfo(s, i.split(":", 1)[0] if s == "digest" else i) for s, i in ids]
                return _encode_reply(ReplyHeader(xid, zxid, 0), WhoAmIResponse(info))
            if op == OpCode.MULTI_READ:
                if any(sub_op not in (OpCode.GET_DATA, OpCode.GET_CHILDREN) for sub_op, _sub in rec.ops):
                    # Refused as a whole: the header's error, then only the multi's end marker.
                    return _MULTI_READ_REFUSED(xid, zxid)
                return _encode_reply(ReplyHeader(xid, zxid, 0), MultiResponse(self._multi_read(rec)))
            if op == OpCode.SASL:
                # Without SASL configured ZooKeeper 3.8 answers {xid, zxid 0, ok} with a null token (observed).
                return _encode_reply(ReplyHeader(xid, 0, 0), SetSASLResponse(None))
            raise KeeperError(Err.UNIMPLEMENTED)
        except KeeperError as e:
            return _encode_reply(ReplyHeader(xid, zxid, e.err))

    def _multi_read(self, rec: Any) -> list[tuple[int, int, Any]]:
        tree = self.server.tree
        results: list[tuple[int, int, Any]] = []
        for sub_op, sub in rec.ops:
            try:
                if sub_op == OpCode.GET_DATA:
                    data, stat = tree.get_data(sub.path, self.auth)
                    results.append((sub_op, 0, GetDataResponse(data, Stat(*stat))))
                elif sub_op == OpCode.GET_CHILDREN:
                    children, _stat = tree.get_children(sub.path, self.auth)
                    results.append((sub_op, 0, GetChildrenResponse(children)))
                else:
                    raise KeeperError(Err.BAD_ARGUMENTS)
            except KeeperError as e:
                results.append((-1, e.err, None))
        return results
