"""watch: writers update a config znode; watchers must see its versions in order, each notification before
the new data, and end at the final version.

Roles: worker threads 0, 3, 6, ... write, the others watch (so ``--concurrency`` must be at least 2).
Ops (checkers/watches.py's shapes; ``key`` = the znode's path):
  - ``write``: ``setData``; ok records ``version``.
  - ``watch-read``: if this watcher's watch is armed and has not fired, first wait up to ``watch_wait`` s
    for it; then ``getData(watch=...)``, which (re)arms the watch; ok records ``version``.
  - ``watch-event``: recorded by the watch callback (``{"type": "CHANGED"|...}``, kazoo's event names), and
    for session state changes (``suspended``, ``lost``) and for the close of a crashed process's session
    (``closed``), each of which drops the armed watch.
  - ``final-read``: after faults stop, one writer reads the final version (``sync`` + ``getData``); every
    watcher then does a final ``watch-read``.
All of a watcher's reads and events carry ``"watcher": "watcher-<thread>"`` (stable across the processes
a worker goes through) and ``"seq"``, a counter taken in the order replies and events were received.

Faithful order: kazoo reads events and replies off one connection on its connection thread, in the order
the server sent them (ZooKeeper sends a notification before any reply carrying the newer data), but hands
replies to the waiting thread and events to a callback thread, so the history's positions can invert them.
``seq`` is therefore taken on the connection thread: for an event when kazoo dispatches it (the client's
handler's ``dispatch_callback`` is wrapped), for a read's reply when kazoo registers the read's watcher
right after handing the reply over, before reading the next packet (registration hashes the watcher object;
``_Watch.__hash__`` takes the number).
"""
from __future__ import annotations

import itertools
import threading
from typing import Any

from kazoo.protocol.states import Callback, KazooState

from checkers.history import Op
from harness.client import KazooClientBase, encode
from harness.generators import EachThread, Invocation
from workloads import Workload

BASE = "/jepsen/watch"
PATH = f"{BASE}/config"

# Receipt order of watch-reads' replies and events, across every watcher and process (``seq``).
_RECEIPTS = itertools.count()


def is_writer(thread: Any) -> bool:
    return isinstance(thread, int) and thread % 3 == 0


class WatchClient(KazooClientBase):
    read_fs = frozenset({"watch-read", "final-read"})

    def setup(self, test: Any) -> None:
        self.zk.ensure_path(BASE)
        if self.zk.exists(PATH) is None:
            self.zk.create(PATH, b"0")

    def opened(self) -> None:
        # The watch armed by the latest watch-read; one object per read, so a late notification of an
        # older watch can never be mistaken for the current one.
        self.pending: _Watch | None = None
        dispatch = self.zk.handler.dispatch_callback

        def stamped(callback: Callback) -> Any:
            if isinstance(callback.func, _Watch):
                callback.func.event_seq = next(_RECEIPTS)
            return dispatch(callback)
        self.zk.handler.dispatch_callback = stamped
        self.zk.add_listener(self._state_changed)

    @property
    def watcher(self) -> str:
        return f"watcher-{self.process % self.test.concurrency}"

    def _record_event(self, kind: str, seq: int | None = None) -> None:
        if self.process is None or self.test is None or self.test.record_event is None:
            return
        self.test.record_event(f"events-{self.process}", "watch-event", {"type": kind}, key=PATH,
                               watcher=self.watcher, seq=next(_RECEIPTS) if seq is None else seq)

    def _state_changed(self, state: str) -> None:
        # On kazoo's connection thread, before any later reply is handed over: ordered correctly.
        if state in (KazooState.SUSPENDED, KazooState.LOST) and self.pending is not None:
            self._record_event(str(state).lower())

    def do(self, op: Op) -> Op:
        if op.f == "write":
            stat = self.zk.set(PATH, encode(op.value))
            return self.ok(op, op.value, version=stat.version)
        if op.f == "final-read":
            self.zk.sync(PATH)
            _, stat = self.zk.get(PATH)
            return self.ok(op, None, version=stat.version)
        if op.f == "watch-read":
            if self.pending is not None:
                self.pending.fired.wait(float(self.options.get("watch_wait") or 1.0))
            watch = _Watch(self)
            self.pending = watch
            _, stat = self.zk.get(PATH, watch=watch)
            # kazoo registers the watcher (taking reply_seq) just after waking us; wait for that.
            seq = watch.reply_seq if watch.registered.wait(5.0) else next(_RECEIPTS)
            return self.ok(op, None, version=stat.version, watcher=self.watcher, seq=seq)
        raise ValueError(f"watch: unknown op {op.f!r}")

    def close(self, test: Any) -> None:
        super().close(test)
        if self.pending is not None and not self.pending.fired.is_set():
            self._record_event("closed")


class _Watch:
    """The watcher one watch-read passes to getData (see the module docstring for the seq numbers)."""

    def __init__(self, client: WatchClient) -> None:
        self.client = client
        self.fired = threading.Event()
        self.registered = threading.Event()
        self.reply_seq: int | None = None
        self.event_seq: int | None = None

    def __hash__(self) -> int:
        if self.reply_seq is None:
            self.reply_seq = next(_RECEIPTS)
            self.registered.set()
        return id(self) >> 4

    def __eq__(self, other: object) -> bool:
        return self is other

    def __call__(self, event: Any) -> None:
        self.client._record_event(str(event.type), self.event_seq)
        self.fired.set()


class Writes:
    def __init__(self) -> None:
        self.n = itertools.count(1)

    def next(self, ctx: Any) -> Invocation:
        return Invocation("write", next(self.n), key=PATH)


class WatchReads:
    def next(self, ctx: Any) -> Invocation:
        return Invocation("watch-read", key=PATH)


def make(options: dict[str, Any], seed: int) -> Workload:
    from checkers.watches import WatchChecker
    if int(options.get("concurrency") or 0) < 2:
        raise ValueError("the watch workload needs --concurrency of at least 2 (writers and watchers)")

    def final(thread: Any, s: int) -> list[Invocation]:
        f = "final-read" if is_writer(thread) else "watch-read"
        return [Invocation(f, key=PATH, extra={"final": True})]
    return Workload(
        name="watch",
        client=WatchClient(options),
        generator=EachThread(lambda thread, s: Writes() if is_writer(thread) else WatchReads(), seed),
        final=EachThread(final, seed),
        checker=WatchChecker(),
        description="data watches on one znode: in order, notification before data, final version seen",
    )
