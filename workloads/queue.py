"""queue: kazoo's Queue recipe (sequential znodes): nothing enqueued and acknowledged is lost or duplicated.

Ops (checkers/sets.py's ``QueueChecker`` shapes):
  - ``enqueue e``: ``Queue.put(e)`` (a sequential znode holding e); ok value = e.
  - ``dequeue``: ``Queue.get()``; ok value = the element, or None when the queue was empty.
  - ``drain`` (final, one worker): ``sync``, then ``Queue.get()`` until it returns None; ok value = the
    elements removed.
kazoo's ``Queue.get`` removes the lowest child it can delete; its retries on connection loss run through
kazoo's own retry helper, so a dequeue interrupted by a fault may remove an element without reporting it
(the checker counts ``info`` dequeues as possibly having removed one).
"""
from __future__ import annotations

import itertools
from typing import Any

from kazoo.recipe.queue import Queue

from checkers.history import Op
from harness.client import KazooClientBase, decode_int, encode
from harness.generators import Invocation, Mix, Seq
from workloads import Workload

BASE = "/jepsen/queue"


class QueueClient(KazooClientBase):
    read_fs = frozenset()  # a dequeue of an empty queue has no effect, but any dequeue may have had one

    def setup(self, test: Any) -> None:
        self.zk.ensure_path(BASE)

    def opened(self) -> None:
        self.queue = Queue(self.zk, BASE)

    def do(self, op: Op) -> Op:
        if op.f == "enqueue":
            self.queue.put(encode(op.value))
            return self.ok(op, op.value)
        if op.f == "dequeue":
            return self.ok(op, decode_int(self.queue.get()))
        if op.f == "drain":
            self.zk.sync(BASE)
            items = []
            while True:
                data = self.queue.get()
                if data is None:
                    return self.ok(op, items)
                items.append(decode_int(data))
        raise ValueError(f"queue: unknown op {op.f!r}")


class Enqueues:
    def __init__(self) -> None:
        self._n = itertools.count()

    def next(self, ctx: Any) -> Invocation:
        return Invocation("enqueue", next(self._n))


class Dequeues:
    def next(self, ctx: Any) -> Invocation:
        return Invocation("dequeue")


def make(options: dict[str, Any], seed: int) -> Workload:
    from checkers.sets import QueueChecker
    return Workload(
        name="queue",
        client=QueueClient(options),
        generator=Mix([Enqueues(), Dequeues()], seed),
        final=Seq([Invocation("drain", extra={"final": True})]),
        checker=QueueChecker(),
        description="kazoo Queue: enqueue/dequeue, final drain",
    )
