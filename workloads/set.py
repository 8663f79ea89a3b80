"""set: clients add unique elements as sequential znodes; the final read must hold every acknowledged one.

Ops (checkers/sets.py's shapes):
  - ``add e``: ``create("/jepsen/set/e<e>-", sequence=True)``; ok value = e, with ``path`` (the znode
    created) and ``seq`` (its sequence number). ``info`` when the create may have happened.
  - ``read`` (final, one per worker, ``"final": true``): ``sync`` then ``getChildren``; ok value = the
    elements, parsed from the child names.
Checks: no acknowledged add lost, no element from nowhere or listed twice (``SetChecker``), and no sequence
number handed out twice (``UniqueIdsChecker`` over the acknowledged creates' paths).
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from checkers.history import OK, Op
from harness.client import KazooClientBase, sequence_number
from harness.generators import EachThread, Invocation
from workloads import Workload

BASE = "/jepsen/set"


class SetClient(KazooClientBase):
    read_fs = frozenset({"read"})

    def setup(self, test: Any) -> None:
        self.zk.ensure_path(BASE)

    def do(self, op: Op) -> Op:
        if op.f == "add":
            path = self.zk.create(f"{BASE}/e{op.value}-", b"", sequence=True)
            return self.ok(op, op.value, path=path, seq=sequence_number(path))
        if op.f == "read":
            self.zk.sync(BASE)
            children = self.zk.get_children(BASE)
            return self.ok(op, sorted(int(c[1:].rsplit("-", 1)[0]) for c in children))
        raise ValueError(f"set: unknown op {op.f!r}")


class Adds:
    """``add 0``, ``add 1``, ... : every element is added once."""

    def __init__(self) -> None:
        self._n = itertools.count()

    def next(self, ctx: Any) -> Invocation:
        return Invocation("add", next(self._n))


class UniqueSequenceNumbers:
    """The set's acknowledged creates as ``generate`` ops for checkers/unique_ids.py: each created path
    (hence sequence number) must be handed out once."""
    name = "unique-sequence-numbers"

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        from checkers.unique_ids import UniqueIdsChecker
        ops = [dataclasses.replace(op, f="generate", value=op.extra.get("path") if op.type == OK else op.value,
                                   extra={})
               for op in history if op.is_client and op.f == "add"]
        return UniqueIdsChecker().check(ops, test_info)


def make(options: dict[str, Any], seed: int) -> Workload:
    from checkers.checker import Compose
    from checkers.sets import SetChecker
    final = EachThread(lambda thread, s: [Invocation("read", extra={"final": True})], seed)
    return Workload(
        name="set",
        client=SetClient(options),
        generator=Adds(),
        final=final,
        checker=Compose({"set": SetChecker(), "unique-ids": UniqueSequenceNumbers()}, name="set"),
        description="unique adds as sequential znodes; final read after sync",
    )
