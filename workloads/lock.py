"""lock: kazoo's Lock recipe; no two processes may hold the lock at once.

Ops (checkers/mutex.py's shapes; ``key`` = None, one lock):
  - ``acquire``: ``Lock.acquire(timeout=lock_wait)``; ok when held; fail when it timed out (kazoo then
    removes its contender znode, so it certainly does not hold the lock); info when unknown.
  - ``release``: ``Lock.release()``; invoked when the process stops relying on the lock, and also recorded
    (as an event) when the client learns its session was lost while holding it, since the lock znode
    is then gone and others may take it.
Each worker alternates acquire and release. Holding the lock is a ZooKeeper *lease*: a holder cut off until
its session expires loses the lock without knowing until it hears of the loss; the checker reports
overlaps the workload could not rule out.
"""
from __future__ import annotations

from typing import Any

from kazoo.exceptions import LockTimeout
from kazoo.protocol.states import KazooState
from kazoo.recipe.lock import Lock

from checkers.history import Op
from harness.client import KazooClientBase
from harness.generators import EachThread, Invocation
from workloads import Workload

BASE = "/jepsen/lock"


class LockClient(KazooClientBase):
    read_fs = frozenset()
    acquire_f, release_f = "acquire", "release"

    def setup(self, test: Any) -> None:
        self.zk.ensure_path(BASE)

    def opened(self) -> None:
        self.lock = Lock(self.zk, BASE)
        self.holding = False
        self.zk.add_listener(self._state_changed)

    def _state_changed(self, state: str) -> None:
        # Called on kazoo's connection thread. LOST = the session expired: the lock znode is gone.
        if state == KazooState.LOST and self.holding:
            self.holding = False
            if self.test is not None and self.test.record_event is not None:
                self.test.record_event(f"events-{self.process}", self.release_f, None, holder=self.process,
                                      cause="session-lost")

    def do(self, op: Op) -> Op:
        if op.f == self.acquire_f:
            wait = float(self.options.get("lock_wait") or 1.0)
            try:
                got = self.lock.acquire(timeout=wait)
            except LockTimeout:
                got = False
            if not got:
                return self.fail(op, error="timeout")
            self.holding = True
            return self.ok(op)
        if op.f == self.release_f:
            self.holding = False
            self.lock.release()
            return self.ok(op)
        raise ValueError(f"lock: unknown op {op.f!r}")


def alternate(first: str, second: str) -> Any:
    """Each worker: first, second, first, second, ..."""
    class Alternate:
        def __init__(self) -> None:
            self.n = 0

        def next(self, ctx: Any) -> Invocation:
            self.n += 1
            return Invocation(first if self.n % 2 else second)
    return EachThread(lambda thread, seed: Alternate(), 0)


def make(options: dict[str, Any], seed: int) -> Workload:
    from checkers.mutex import MutexChecker
    return Workload(
        name="lock",
        client=LockClient(options),
        generator=alternate("acquire", "release"),
        checker=MutexChecker(),
        description="kazoo Lock: acquire/release, mutual exclusion",
    )
