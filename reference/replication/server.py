"""ReplicatedServer: the ZooKeeper server shell on top of the consensus core.

Writes: a connection calls `submit`; on the leader the request is validated against tree + already-ordered
writes (txn.prepare on a `Pending` view) and proposed as one log entry; on a follower it is forwarded to the
leader over the peer link. Each entry carries (origin server, origin incarnation, request id, transaction), so
every server applies the same transactions in log order and only the origin answers its client, after applying.
A server's forwarded requests travel in order on one TCP link, so each session's writes keep their FIFO order,
and a connection's replies leave in request order (connection.py), so a client sees its own writes.

Reads are answered from the local applied tree. `sync` takes a read index from the leader (the core's ReadIndex:
the leader's commit index, confirmed by a heartbeat round with a quorum) and answers once this server has applied
up to it, so sync + read is linearizable: the read sees every write acknowledged before the sync began.

When the leader changes (or the link to it breaks) every request still waiting is failed by closing its
connection (the client sees ConnectionLoss and reconnects); it may or may not have been committed, as with
ZooKeeper. A server that knows no leader serves nothing: new connections and requests are refused.

Sessions: creating/closing/expiring are transactions. Every server keeps a local liveness table; followers
report which sessions they heard from to the leader each tick; only the leader expires sessions, by its own
clock, and a new leader first gives every session a full timeout.
"""
from __future__ import annotations

import asyncio
import logging
import marshal
import os
import random
import struct
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reference import txn as txnmod
from reference.bugs import BUGS, LAZY_LOG_FLUSH_S, STALE_READ_LAG
from reference.codec.constants import KeeperState, OpCode
from reference.codec.messages import encode_notification
from reference.codec.records import WatcherEvent
from reference.consensus import messages as cmsg
from reference.consensus.core import Config as RaftConfig, Node, Role
from reference.consensus.messages import EntryKind, Snapshot
from reference.replication import transport as tp
from reference.replication.config import EnsembleConfig
from reference.replication.raftlog import RaftLog
from reference.server.core import ServerConfig, VERSION  # noqa: F401  (VERSION re-exported for fourletter)
from reference.sessions import SessionTracker
from reference.tree import CONTAINER_OWNER, Tree
from reference.watches import WatchRegistry

log = logging.getLogger("reference.cluster")

_MARSHAL = 4
_CTX = struct.Struct(">Q")
REQUEST_TIMEOUT_S = 15.0   # a request not answered by then is failed (its connection closed); a backstop only


def _raft_settings(bugs: tuple[str, ...]) -> dict[str, Any]:
    """Consensus settings the seeded bugs (reference/bugs.py) change; none without them."""
    if "ack-before-quorum" in bugs:
        return {"check_quorum": False, "read_index": "log"}
    if "lost-quorum-leader" in bugs:
        return {"check_quorum": False, "read_index": "commit"}
    if "wall-clock-lease" in bugs:
        return {"read_index": "lease"}
    return {}


def _plain(value: Any) -> Any:
    """Requests hold IntEnum opcodes, which marshal refuses; the wire form wants plain ints."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


class _ClusterSessions(SessionTracker):
    """The local liveness table; remembers which sessions were heard from since the last report to the leader."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heard: set[int] = set()

    def touch(self, session_id: int, now_ms: int, timeout_ms: int | None = None) -> bool:
        ok = super().touch(session_id, now_ms, timeout_ms)
        if ok:
            self.heard.add(session_id)
        return ok


class _Waiter:
    __slots__ = ("callback", "conn", "deadline")

    def __init__(self, callback: Any, conn: Any, deadline: float) -> None:
        self.callback = callback
        self.conn = conn
        self.deadline = deadline


class ReplicatedServer:
    def __init__(self, config: ServerConfig, ensemble: EnsembleConfig, my_id: int) -> None:
        self.config = config
        self.ensemble = ensemble
        self.id = my_id
        for bug in config.bugs:
            log.warning("INJECTED BUG %s: %s", bug, BUGS[bug])
        self.raftlog = RaftLog(config.data_dir,
                               lazy_flush_s=LAZY_LOG_FLUSH_S if "ack-before-log" in config.bugs else None)
        state = self.raftlog.recover()
        if state.snapshot is not None:
            self.tree = Tree.load(marshal.loads(state.snapshot.data))
            self.applied_index = state.snapshot.index
        else:
            self.tree = Tree()
            self.applied_index = 0
        self.snap_index = self.applied_index
        self.snap_count = ensemble.int_setting("snapCount", 10_000)
        self.raft_tick_s = ensemble.int_setting("raftTickMs", 100) / 1000
        election_ticks = ensemble.int_setting("electionTicks", 10)
        # wall-clock-lease: a lease of half the shortest election timeout, measured on time.time() (which
        # libfaketime clock faults move), handed to the core before everything it does.
        self._wall_lease = "wall-clock-lease" in config.bugs
        self.node = Node(my_id, ensemble.members, state=state,
                         config=RaftConfig(election_ticks=election_ticks,
                                           lease_seconds=election_ticks * self.raft_tick_s / 2,
                                           **_raft_settings(config.bugs)),
                         seed=random.SystemRandom().randrange(1 << 30))
        # ack-before-quorum: the leader applies (and so answers) entries as soon as they are in its own log.
        self._apply_own_log = "ack-before-quorum" in config.bugs
        log.info("server %d recovered: term %d, log %d..%d, commit %d, snapshot at %d", my_id, self.node.term,
                 self.node.first_index, self.node.last_index, self.node.commit, self.snap_index)
        self.pending = txnmod.Pending(self.tree)
        # Reads see the applied tree; the stale-reads bug (reference/bugs.py) points them at a lagging copy.
        self._stale_queue: deque[txnmod.Txn] = deque()
        self.read_tree = self.tree
        if "stale-reads" in config.bugs:
            self.read_tree = Tree.load(self.tree.dump())
        self.sessions = _ClusterSessions(ensemble.secret(), config.tick_ms, my_id,
                                         config.min_session_timeout_ms, config.max_session_timeout_ms)
        self.sessions.restore(self.tree.sessions, self.now_ms())
        self.watches = WatchRegistry()
        self.session_conn: dict[int, Any] = {}
        self.connections: set[Any] = set()
        self.stats = {"received": 0, "sent": 0, "lat_min": 0, "lat_max": 0, "lat_sum": 0.0, "lat_n": 0}
        self.started = time.monotonic()
        self.failed = False
        self.stop_requested = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        # Request ids restart at 0 with every process; the incarnation keeps an old process's entries, replayed
        # from the log after a restart, from answering this process's waiters.
        self.incarnation = random.SystemRandom().randrange(1 << 62)
        self._next_rid = 0
        self.waiters: dict[int, _Waiter] = {}
        self.syncs: dict[bytes, _Waiter] = {}
        self._sync_seq = 0
        self._ready_syncs: list[tuple[int, bytes]] = []     # (index, ctx): confirmed, waiting to be applied
        self._counter = 0                                   # low 32 bits of the zxids this leader assigns
        self._seen: tuple[Role, int | None, int] = (self.node.role, self.node.leader, self.node.term)
        self._was_serving = False
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raftlog")
        self._running_ready = False
        self._tick_handle: asyncio.TimerHandle | None = None
        self._last_container_check = time.monotonic()
        peers = {m.id: (m.host, m.peer_port) for m in ensemble.members.values() if m.id != my_id}
        me = ensemble.members[my_id]
        self.transport = tp.Transport(my_id, peers, (me.host, me.peer_port), self._on_peer_message,
                                      self._on_link_change)

    # ---- what connections and four-letter words ask ----

    def now_ms(self) -> int:
        return int(time.monotonic() * 1000)

    @staticmethod
    def wall_ms() -> int:
        return int(time.time() * 1000)

    def serving(self) -> bool:
        leader = self.node.leader
        if leader is None:
            return False
        return leader == self.id or self.transport.connected(leader)

    def mode(self) -> str | None:
        if not self.serving():
            return None
        return "leader" if self.node.role is Role.LEADER else "follower"

    def epoch(self) -> int:
        return self.node.term

    def outstanding(self) -> int:
        return len(self.waiters) + len(self.syncs)

    def record_latency(self, seconds: float) -> None:
        ms = int(seconds * 1000)
        s = self.stats
        if s["lat_n"] == 0 or ms < s["lat_min"]:
            s["lat_min"] = ms
        if ms > s["lat_max"]:
            s["lat_max"] = ms
        s["lat_sum"] += ms
        s["lat_n"] += 1

    def data_dir_size(self) -> int:
        return self.raftlog.size()

    def fatal(self, why: str) -> None:
        log.critical("%s; stopping", why)
        self.failed = True
        self.stop_requested.set()

    # ---- the write path ----

    def submit(self, op: int, req: Any, session: int, auth: tuple, waiter: Any, conn: Any = None) -> None:
        """Order a write through the leader; `waiter(txn, result)` runs once this server has applied it. If it
        cannot be ordered (no leader, leadership lost, link broken) the connection is closed instead."""
        rid = self._next_rid
        self._next_rid += 1
        if waiter is not None:
            self.waiters[rid] = _Waiter(waiter, conn, time.monotonic() + REQUEST_TIMEOUT_S)
        node = self.node
        if node.role is Role.LEADER:
            self._order(self.id, self.incarnation, rid, op, req, session, tuple(auth))
            return
        payload = marshal.dumps((self.incarnation, rid, int(op), _plain(req), session, _plain(tuple(auth))),
                                _MARSHAL)
        if node.leader is None or not self.transport.send(node.leader, tp.FORWARD, payload):
            self._fail(rid)

    def barrier(self, waiter: Any, conn: Any = None) -> None:
        """sync: run `waiter(None, None)` once this server has applied everything committed when the leader
        handled the request (a read index confirmed by a quorum)."""
        self._sync_seq += 1
        ctx = _CTX.pack(self._sync_seq)
        self.syncs[ctx] = _Waiter(waiter, conn, time.monotonic() + REQUEST_TIMEOUT_S)
        if self._wall_lease:
            self.node.set_clock(time.time())
        if not self.node.read_index(ctx):
            self._fail_sync(ctx)
            return
        self.kick()

    def _order(self, origin: int, inc: int, rid: int, op: int, req: Any, session: int, auth: tuple) -> bool:
        node = self.node
        if node.role is not Role.LEADER:
            return False
        self._counter += 1
        zxid = (node.term << 32) | self._counter
        t = txnmod.prepare(self.pending, zxid, self.wall_ms(), session, auth, op, req)
        node.propose(marshal.dumps((origin, inc, rid, txnmod.encode(t)), _MARSHAL))
        self.kick()
        return True

    def _fail(self, rid: int) -> None:
        w = self.waiters.pop(rid, None)
        if w is not None and w.conn is not None:
            w.conn.close()

    def _fail_sync(self, ctx: bytes) -> None:
        w = self.syncs.pop(ctx, None)
        if w is not None and w.conn is not None:
            w.conn.close()

    def _fail_all(self, why: str) -> None:
        if self.waiters or self.syncs:
            log.info("failing %d waiting requests: %s", len(self.waiters) + len(self.syncs), why)
        for rid in list(self.waiters):
            self._fail(rid)
        for ctx in list(self.syncs):
            self._fail_sync(ctx)
        self._ready_syncs.clear()

    # ---- peers ----

    def _on_peer_message(self, peer: int, channel: int, payload: bytes) -> None:
        if channel == tp.CONSENSUS:
            try:
                m = cmsg.decode(payload)
            except cmsg.DecodeError as e:
                log.warning("bad consensus message from server %d: %s", peer, e)
                return
            if m.dst != self.id:
                return
            if self._wall_lease:
                self.node.set_clock(time.time())
            self.node.step(m)
            self.kick()
            self._check_role()
        elif channel == tp.FORWARD:
            inc, rid, op, req, session, auth = marshal.loads(payload)
            if session:
                self.sessions.touch(session, self.now_ms())
            if not self._order(peer, inc, rid, op, req, session, auth):
                self.transport.send(peer, tp.FORWARD_FAIL, marshal.dumps((inc, rid), _MARSHAL))
        elif channel == tp.FORWARD_FAIL:
            inc, rid = marshal.loads(payload)
            if inc == self.incarnation:
                self._fail(rid)
        elif channel == tp.TOUCH:
            if self.node.role is Role.LEADER:
                now = self.now_ms()
                for sid in marshal.loads(payload):
                    self.sessions.touch(sid, now)
        else:
            log.warning("unknown peer channel %d from server %d", channel, peer)

    def _on_link_change(self, peer: int) -> None:
        if peer == self.node.leader and not self.transport.connected(peer):
            # Forwarded requests may have been lost with the link.
            self._fail_all(f"link to leader {peer} lost")
        self._check_role()

    # ---- the Ready loop ----

    def kick(self) -> None:
        if not self._running_ready and not self.failed and self.loop is not None:
            self._running_ready = True
            self.loop.create_task(self._ready_loop())

    async def _ready_loop(self) -> None:
        loop = asyncio.get_running_loop()
        node = self.node
        try:
            while node.has_ready() and not self.failed:
                rd = node.ready()
                if self.raftlog.needs_sync(rd.hard_state, rd.snapshot, rd.entries):
                    await loop.run_in_executor(self._disk, self.raftlog.persist, rd.hard_state, rd.snapshot,
                                               rd.entries)
                elif rd.hard_state is not None:   # only the commit index moved: no fsync, no thread hop
                    self.raftlog.persist(rd.hard_state, None, [])
                for m in rd.messages:
                    self.transport.send(m.dst, tp.CONSENSUS, cmsg.encode(m))
                if rd.snapshot is not None:
                    self._install(rd.snapshot)
                if rd.committed_entries:
                    self._apply(rd.committed_entries)
                if self._apply_own_log and node.role is Role.LEADER and self.raftlog.entries:
                    # Everything in our own (persisted) log, committed or not.
                    self._apply(node.entries_between(self.applied_index + 1, self.raftlog.entries[-1].index))
                for rs in rd.read_states:
                    if rs.ctx in self.syncs:
                        self._ready_syncs.append((rs.index, rs.ctx))
                for ctx in rd.dropped_reads:
                    self._fail_sync(ctx)
                self._answer_syncs()
                self._check_role()
                if self.applied_index - self.snap_index >= self.snap_count and self.applied_index <= node.applied:
                    await self._compact()   # (never a state with uncommitted entries, which ack-before-quorum has)
        except OSError as e:
            self.fatal(f"consensus log failed: {e}")
        except Exception:
            log.critical("processing a Ready failed", exc_info=True)
            self.fatal("processing a Ready failed")
        finally:
            self._running_ready = False

    def _apply(self, entries: list) -> None:
        tree = self.tree
        now = self.now_ms()
        for e in entries:
            if e.index <= self.applied_index:
                continue   # applied already, from the log (ack-before-quorum), or by a rewind meanwhile
            self.applied_index = e.index
            if e.kind == EntryKind.NOOP or not e.data:
                continue
            origin, inc, rid, tb = marshal.loads(e.data)
            t = txnmod.decode(tb)
            if t.zxid <= tree.last_zxid:
                log.error("entry %d holds zxid 0x%x, not after 0x%x; skipped", e.index, t.zxid, tree.last_zxid)
                continue
            result, triggers = txnmod.apply(tree, t)
            if self.read_tree is not tree:
                self._stale_queue.append(t)
                while len(self._stale_queue) > STALE_READ_LAG:
                    txnmod.apply(self.read_tree, self._stale_queue.popleft())
            self.pending.applied(t.zxid)
            if triggers:
                self._fire(triggers)
            waiter = self.waiters.pop(rid, None) if origin == self.id and inc == self.incarnation else None
            if t.kind == txnmod.CREATE_SESSION:
                sid, timeout = t.body
                if sid not in self.sessions.deadline:
                    self.sessions.add(sid, timeout, now)
            elif t.kind == txnmod.CLOSE_SESSION:
                sid = t.body[0]
                self.sessions.remove(sid)
                conn = self.session_conn.get(sid)
                if conn is not None and waiter is None:
                    conn.close_expired()
            if waiter is not None:
                waiter.callback(t, result)

    def _fire(self, triggers: list[tuple[int, str]]) -> None:
        for event_type, path in triggers:
            fired = self.watches.trigger(event_type, path)
            if fired:
                frame = encode_notification(WatcherEvent(event_type, KeeperState.SYNC_CONNECTED, path))
                for conn, _ev in fired:
                    conn.notify(frame)

    def _install(self, snap: Snapshot) -> None:
        """The leader sent its state: replace ours. Watches cannot be replayed against a replaced tree, so the
        clients here reconnect (and re-register them with setWatches, which fires what they missed)."""
        log.info("installing snapshot at index %d (term %d)", snap.index, snap.term)
        self.tree = Tree.load(marshal.loads(snap.data))
        self.read_tree = self.tree if "stale-reads" not in self.config.bugs else Tree.load(self.tree.dump())
        self._stale_queue.clear()
        self.pending = txnmod.Pending(self.tree)
        self.applied_index = self.snap_index = snap.index
        now = self.now_ms()
        for sid in list(self.sessions.deadline):
            if sid not in self.tree.sessions:
                self.sessions.remove(sid)
        for sid, timeout in self.tree.sessions.items():
            if sid not in self.sessions.deadline:
                self.sessions.add(sid, timeout, now)
        for conn in list(self.connections):
            conn.close()

    def _rewind(self) -> None:
        """ack-before-quorum, after losing leadership: the tree holds entries of our own log that may never
        commit. Rebuild it from the committed log (the core's snapshot plus its committed entries); clients here
        reconnect, as after installing a snapshot."""
        node = self.node
        snap = node.snapshot
        tree = Tree.load(marshal.loads(snap.data)) if snap is not None else Tree()
        for e in node.entries_between(snap.index + 1 if snap is not None else 1, node.applied):
            if e.kind == EntryKind.NORMAL and e.data:
                t = txnmod.decode(marshal.loads(e.data)[3])
                if t.zxid > tree.last_zxid:
                    txnmod.apply(tree, t)
        log.warning("INJECTED BUG ack-before-quorum: no longer leader, with entries %d..%d applied but not "
                    "known to be committed; state rebuilt up to %d", node.applied + 1, self.applied_index,
                    node.applied)
        self.tree = tree
        self.read_tree = tree if "stale-reads" not in self.config.bugs else Tree.load(tree.dump())
        self._stale_queue.clear()
        self.pending = txnmod.Pending(tree)
        self.applied_index = node.applied
        now = self.now_ms()
        for sid in list(self.sessions.deadline):
            if sid not in tree.sessions:
                self.sessions.remove(sid)
        for sid, timeout in tree.sessions.items():
            if sid not in self.sessions.deadline:
                self.sessions.add(sid, timeout, now)
        for conn in list(self.connections):
            conn.close()

    async def _compact(self) -> None:
        index = self.applied_index
        term = self.node.term_at(index)
        if term is None:
            return
        data = marshal.dumps(self.tree.dump(), _MARSHAL)
        snap = Snapshot(index, term, data)
        await asyncio.get_running_loop().run_in_executor(self._disk, self.raftlog.compact, snap)
        try:
            self.node.compact(index, data)
        except ValueError as e:   # a snapshot from the leader overtook ours
            log.info("compaction at %d skipped: %s", index, e)
            return
        self.snap_index = index
        log.info("snapshot at index %d (zxid 0x%x) written; log compacted", index, self.tree.last_zxid)

    def _answer_syncs(self) -> None:
        if not self._ready_syncs:
            return
        keep = []
        for index, ctx in self._ready_syncs:
            if index <= self.applied_index:
                w = self.syncs.pop(ctx, None)
                if w is not None:
                    w.callback(None, None)
            else:
                keep.append((index, ctx))
        self._ready_syncs = keep

    # ---- roles ----

    def _check_role(self) -> None:
        node = self.node
        seen = (node.role, node.leader, node.term)
        if seen != self._seen:
            old_role, old_leader, _old_term = self._seen
            self._seen = seen
            log.info("server %d: %s in term %d, leader %s", self.id, node.role.value, node.term, node.leader)
            if old_role is Role.LEADER or old_leader != node.leader:
                self._fail_all(f"leader changed from {old_leader} to {node.leader}")
            if self._apply_own_log and node.role is not Role.LEADER and self.applied_index > node.applied:
                self._rewind()
            self.pending = txnmod.Pending(self.tree)
            if node.role is Role.LEADER:
                self._become_leader()
        serving = self.serving()
        if serving != self._was_serving:
            self._was_serving = serving
            log.info("server %d %s", self.id, "serving" if serving else "not serving (no quorum/leader known)")
            if not serving:
                for conn in list(self.connections):
                    conn.close()

    def _become_leader(self) -> None:
        self._counter = 0
        # Entries ordered by earlier leaders and not yet applied here still constrain new writes.
        for e in self.node.entries_between(self.applied_index + 1, self.node.last_index):
            if e.kind == EntryKind.NORMAL and e.data:
                self.pending.observe(txnmod.decode(marshal.loads(e.data)[3]))
        # Our liveness table is second-hand; every session gets a full timeout to show up here.
        now = self.now_ms()
        for sid, timeout in self.tree.sessions.items():
            self.sessions.add(sid, timeout, now)

    # ---- time ----

    def tick(self) -> None:
        node = self.node
        self.raftlog.flush_due()   # only ack-before-log holds records back
        if self._wall_lease:
            node.set_clock(time.time())
        node.tick()
        self._check_role()
        now_mono = time.monotonic()
        if node.role is Role.LEADER:
            now = self.now_ms()
            for sid in self.sessions.expired(now):
                if sid not in self.tree.sessions:
                    self.sessions.remove(sid)   # a creation that never committed
                    continue
                log.info("session 0x%x expired", sid)
                self.sessions.mark_closing(sid)
                self.submit(OpCode.CLOSE_SESSION, (), sid, (), None)
            if now_mono - self._last_container_check >= self.config.container_check_ms / 1000:
                self._last_container_check = now_mono
                for path in list(self.tree.containers):
                    n = self.tree.nodes.get(path)
                    if n is not None and n.ephemeral_owner == CONTAINER_OWNER and not n.children and n.seq > 0:
                        self.submit(OpCode.DELETE_CONTAINER, (path,), 0, (), None)
            self.sessions.heard.clear()
        elif node.leader is not None and self.sessions.heard:
            heard = sorted(self.sessions.heard)
            self.sessions.heard.clear()
            self.transport.send(node.leader, tp.TOUCH, marshal.dumps(heard, _MARSHAL))
        for rid, w in list(self.waiters.items()):
            if w.deadline < now_mono:
                self._fail(rid)
        for ctx, w in list(self.syncs.items()):
            if w.deadline < now_mono:
                self._fail_sync(ctx)
        self.kick()

    def start_ticking(self) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                self.tick()
            except Exception:
                log.critical("tick failed", exc_info=True)
                self.fatal("tick failed")
            finally:
                self._tick_handle = loop.call_later(self.raft_tick_s, run)

        self._tick_handle = loop.call_later(self.raft_tick_s, run)

    async def drain(self) -> None:
        while self._running_ready and not self.failed:
            await asyncio.sleep(0.01)

    def close(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        self._disk.shutdown(wait=True)
        self.raftlog.close()


async def serve_cluster(config: ServerConfig, ensemble: EnsembleConfig, my_id: int) -> int:
    import signal

    from reference.server.connection import Connection

    server = ReplicatedServer(config, ensemble, my_id)
    loop = asyncio.get_running_loop()
    server.loop = loop
    await server.transport.start()
    listener = await loop.create_server(lambda: Connection(server), config.host, config.port,
                                        reuse_address=True, backlog=1024)
    log.info("server %d: clients on %s:%d, peers on %s, data in %s", my_id, config.host, config.port,
             server.transport.listen, config.data_dir)
    stop = server.stop_requested
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    server.start_ticking()
    server.kick()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        listener.close()
        for conn in list(server.connections):
            conn.close()
        await server.drain()
        await server.transport.close()
        server.close()
        log.info("stopped at zxid 0x%x (index %d)", server.tree.last_zxid, server.applied_index)
    return 1 if server.failed else 0
