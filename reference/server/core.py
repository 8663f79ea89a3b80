"""The standalone server's state machine driver: ordering writes, group-committing them, applying, expiring sessions.

Every write is validated against tree + pending writes (txn.prepare) the moment it arrives, so writes are ordered
by arrival; transactions accumulate in a batch that one background thread appends and fsyncs in one go (group
commit); when the fsync returns, the batch is applied in order, watches fire and the waiting connections are told.
Reads never wait for the disk: they see exactly the applied (durable) state.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from reference import txn as txnmod
from reference.codec.constants import KeeperState, OpCode
from reference.codec.messages import encode_notification
from reference.codec.records import WatcherEvent
from reference.bugs import BUGS, STALE_READ_LAG
from reference.sessions import SessionTracker
from reference.storage import Storage, encode_record
from reference.tree import CONTAINER_OWNER, Tree
from reference.watches import WatchRegistry

log = logging.getLogger("reference.server")

VERSION = "3.8.0-zkjepsen-reference, built on 1970-01-01 00:00 UTC"

Waiter = Callable[[txnmod.Txn | None, Any], None]


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 2181
    data_dir: str = "data"
    tick_ms: int = 2000
    snapshot_every: int = 100_000
    min_session_timeout_ms: int | None = None
    max_session_timeout_ms: int | None = None
    super_digest: str | None = None
    server_id: int = 1
    container_check_ms: int = 60_000
    max_connections: int = 0     # 0 = unlimited
    bugs: tuple[str, ...] = ()   # injected faults, see reference/bugs.py


class Server:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.storage = Storage(config.data_dir, config.snapshot_every)
        self.tree, replayed = self.storage.recover()
        log.info("recovered zxid 0x%x (%d transactions replayed, %d sessions)", self.tree.last_zxid, replayed,
                 len(self.tree.sessions))
        self.pending = txnmod.Pending(self.tree)
        # Reads normally see the applied tree; the stale-reads bug points them at a lagging copy instead.
        self.read_tree = self.tree
        self._stale_queue: deque[txnmod.Txn] = deque()
        if "stale-reads" in config.bugs:
            log.warning("INJECTED BUG stale-reads: %s", BUGS["stale-reads"])
            self.read_tree = Tree.load(self.tree.dump())
        self.next_zxid = self.tree.last_zxid + 1
        self.sessions = SessionTracker(self.storage.secret(), config.tick_ms, config.server_id,
                                       config.min_session_timeout_ms, config.max_session_timeout_ms)
        self.sessions.restore(self.tree.sessions, self.now_ms())
        self.watches = WatchRegistry()
        self.session_conn: dict[int, Any] = {}        # session id -> the connection currently attached
        self.connections: set[Any] = set()
        self._batch: list[tuple[txnmod.Txn | None, Waiter | None]] = []
        self._batch_bytes: list[bytes] = []
        self._flushing = False
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal")
        self._snap_exec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot")
        self._snapshotting = False
        self.started = time.monotonic()
        self.stats = {"received": 0, "sent": 0, "lat_min": 0, "lat_max": 0, "lat_sum": 0.0, "lat_n": 0}
        self.failed = False
        self._tick_handle: asyncio.TimerHandle | None = None
        self._last_container_check = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_requested = asyncio.Event()

    # ---- clocks (the only place the server reads time) ----

    def now_ms(self) -> int:
        """Monotonic milliseconds for session liveness."""
        return int(time.monotonic() * 1000)

    @staticmethod
    def wall_ms() -> int:
        return int(time.time() * 1000)

    def fatal(self, why: str) -> None:
        """Stop serving: state on disk is the truth, a restart recovers from it."""
        log.critical("%s; stopping", why)
        self.failed = True
        self.stop_requested.set()

    def record_latency(self, seconds: float) -> None:
        """Write latency (arrival to reply) in whole ms, for srvr/stat/mntr like ZooKeeper's ServerStats."""
        ms = int(seconds * 1000)
        s = self.stats
        if s["lat_n"] == 0 or ms < s["lat_min"]:
            s["lat_min"] = ms
        if ms > s["lat_max"]:
            s["lat_max"] = ms
        s["lat_sum"] += ms
        s["lat_n"] += 1

    # ---- the write path ----

    def serving(self) -> bool:
        """A standalone server is always its own quorum."""
        return True

    def mode(self) -> str | None:
        return "standalone"

    def epoch(self) -> int:
        return self.tree.last_zxid >> 32

    def outstanding(self) -> int:
        return len(self._batch)

    def submit(self, op: int, req: Any, session: int, auth: tuple, waiter: Waiter | None,
               conn: Any = None) -> txnmod.Txn:
        """Order a write now; `waiter(txn, result)` runs once it is durable and applied."""
        zxid = self.next_zxid
        self.next_zxid += 1
        t = txnmod.prepare(self.pending, zxid, self.wall_ms(), session, auth, op, req)
        self._batch.append((t, waiter))
        self._batch_bytes.append(encode_record(txnmod.encode(t)))
        self._kick()
        return t

    def barrier(self, waiter: Waiter, conn: Any = None) -> None:
        """Run `waiter(None, None)` after every write ordered so far is applied (sync)."""
        if not self._batch and not self._flushing:
            waiter(None, None)
            return
        self._batch.append((None, waiter))
        self._kick()

    def _kick(self) -> None:
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._batch and not self.failed:
                batch, data = self._batch, b"".join(self._batch_bytes)
                self._batch, self._batch_bytes = [], []
                if data:
                    await loop.run_in_executor(self._disk, self.storage.write_and_sync, data)
                self._apply_batch(batch)
        except OSError as e:
            # A write-ahead log we cannot write is fatal: acknowledging anything now could lose it.
            self.fatal(f"write-ahead log failed: {e}")
        except Exception:
            log.critical("applying a transaction failed", exc_info=True)
            self.fatal("applying a transaction failed")
        finally:
            self._flushing = False

    def _apply_batch(self, batch: list[tuple[txnmod.Txn | None, Waiter | None]]) -> None:
        tree = self.tree
        applied = 0
        touched: list[Any] = []
        for t, waiter in batch:
            if t is None:
                if waiter is not None:
                    waiter(None, None)
                continue
            result, triggers = txnmod.apply(tree, t)
            applied += 1
            if self.read_tree is not tree:
                self._lag_reads(t)
            self.pending.applied(t.zxid)
            if triggers:
                self._fire(triggers)
            if t.kind == txnmod.CLOSE_SESSION:
                sid = t.body[0]
                self.sessions.remove(sid)
                conn = self.session_conn.get(sid)
                if conn is not None and waiter is None:
                    conn.close_expired()
            if waiter is not None:
                waiter(t, result)
        if applied and self.storage.note_applied(applied) and not self._snapshotting:
            self._snapshot()

    def _lag_reads(self, t: txnmod.Txn) -> None:
        self._stale_queue.append(t)
        while len(self._stale_queue) > STALE_READ_LAG:
            txnmod.apply(self.read_tree, self._stale_queue.popleft())

    def _fire(self, triggers: list[tuple[int, str]]) -> None:
        for event_type, path in triggers:
            fired = self.watches.trigger(event_type, path)
            if fired:
                frame = encode_notification(WatcherEvent(event_type, KeeperState.SYNC_CONNECTED, path))
                for conn, _ev in fired:
                    conn.notify(frame)

    def _snapshot(self) -> None:
        """Roll the log and write the snapshot off the loop; old files go once the snapshot is durable."""
        zxid = self.tree.last_zxid
        self.storage.roll(zxid)
        dumped = self.tree.dump()
        self._snapshotting = True

        def done(fut: "asyncio.Future[None]") -> None:
            self._snapshotting = False
            if fut.exception() is not None:
                log.error("snapshot at 0x%x failed: %s", zxid, fut.exception())
            else:
                log.info("snapshot at zxid 0x%x written", zxid)

        asyncio.get_running_loop().run_in_executor(self._snap_exec, self.storage.write_snapshot, dumped, zxid) \
            .add_done_callback(done)

    # ---- sessions ----

    def tick(self) -> None:
        now = self.now_ms()
        for sid in self.sessions.expired(now):
            log.info("session 0x%x expired", sid)
            self.sessions.mark_closing(sid)
            conn = self.session_conn.get(sid)
            if conn is not None:
                conn.close_expired()
            self.submit(OpCode.CLOSE_SESSION, (), sid, (), None)
        mono = time.monotonic()
        if mono - self._last_container_check >= self.config.container_check_ms / 1000:
            self._last_container_check = mono
            self._check_containers()

    def _check_containers(self) -> None:
        """Delete empty containers that once had children (ZooKeeper's ContainerManager)."""
        for path in list(self.tree.containers):
            node = self.tree.nodes.get(path)
            if node is not None and node.ephemeral_owner == CONTAINER_OWNER and not node.children and node.seq > 0:
                self.submit(OpCode.DELETE_CONTAINER, (path,), 0, (), None)

    def start_ticking(self) -> None:
        loop = asyncio.get_running_loop()
        interval = max(self.config.tick_ms / 2, 10) / 1000

        def run() -> None:
            try:
                self.tick()
            finally:
                self._tick_handle = loop.call_later(interval, run)

        self._tick_handle = loop.call_later(interval, run)

    # ---- shutdown ----

    async def drain(self) -> None:
        """Wait for the in-flight batch so everything acknowledged or ordered is on disk."""
        while (self._flushing or self._batch) and not self.failed:
            await asyncio.sleep(0.01)

    def close(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        self._disk.shutdown(wait=True)
        self._snap_exec.shutdown(wait=True)
        self.storage.close()

    def data_dir_size(self) -> int:
        total = 0
        for entry in os.scandir(self.storage.dir):
            if entry.is_file():
                total += entry.stat().st_size
        return total
