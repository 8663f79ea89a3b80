"""register: many independent compare-and-set registers, one znode each, checked for linearizability.

Ops (the shapes of checkers/models.py's ``cas-register``; ``key`` = the register number):
  - ``read``: ok value = the integer read, or None when the znode does not exist yet (the initial value);
  - ``write v``: ``setData`` (or ``create`` the first time); ok value = v;
  - ``read`` with ``"final": true``: after the faults are healed, every worker reads every key still in use,
    always after ``sync`` (whatever ``--read-mode``): each node must serve again, and the last acknowledged
    write of each key must be there;
  - ``cas [old, new]``: ``getData`` then ``setData(new, version=<the version read>)``. ZooKeeper versions
    name exactly one value each, so the conditional setData succeeds only if the register still holds the
    value read, i.e. ``old``: a linearizable compare-and-set at the setData. A different value read, or
    BadVersion, is ``fail`` (nothing written).
Ok ops also record ``version`` and ``mzxid`` (the znode's Stat) and ``session`` (the kazoo session id) for
the session-order checker, and reads record ``read_mode``.

``--read-mode``:
  - ``sync`` (the default): every read is ``sync`` then ``getData``. ZooKeeper documents sync+read as the
    way to read the latest committed value, so every op in the history must be linearizable.
  - ``local``: plain ``getData``, served by whichever server the session is connected to. ZooKeeper
    promises only sequential consistency for those: a follower may lag. So linearizability is checked on
    the writes and compare-and-sets alone (local reads are dropped from that check; cas still reads
    locally, but its setData is version-conditional, so a stale read can only make it fail), and every op
    including local reads is checked for ZooKeeper's per-session guarantees (monotonic reads,
    read-your-writes, write order) by checkers/session_order.py.
"""
from __future__ import annotations

import random
from typing import Any

from kazoo.exceptions import NodeExistsError as NodeExists
from kazoo.exceptions import NoNodeError as NoNode

from checkers.history import Op
from harness.client import KazooClientBase, complete_exception, decode_int, encode
from harness.generators import EachThread, Independent, Invocation
from workloads import Workload

BASE = "/jepsen/register"
READ_MODES = ("sync", "local")
VALUES = 5  # a small value domain makes compare-and-sets succeed often enough to matter


class RegisterClient(KazooClientBase):
    read_fs = frozenset({"read"})

    def setup(self, test: Any) -> None:
        self.zk.ensure_path(BASE)

    def path(self, key: Any) -> str:
        return f"{BASE}/{key}"

    def _stat(self, stat: Any) -> dict[str, Any]:
        return {"version": stat.version, "mzxid": stat.mzxid, "session": self.session_id}

    def do(self, op: Op) -> Op:
        path = self.path(op.key)
        mode = "sync" if op.extra.get("final") else self.options.get("read_mode", "sync")
        if op.f == "read":
            if mode == "sync":
                self.zk.sync(BASE)
            try:
                data, stat = self.zk.get(path)
            except NoNode:
                return self.ok(op, None, read_mode=mode, session=self.session_id)
            return self.ok(op, decode_int(data), read_mode=mode, **self._stat(stat))
        if op.f == "write":
            try:
                stat = self.zk.set(path, encode(op.value))
            except NoNode:
                try:
                    _, stat = self.zk.create(path, encode(op.value), include_data=True)
                    return self.ok(op, op.value, **self._stat(stat))
                except NodeExists:
                    stat = self.zk.set(path, encode(op.value))
            return self.ok(op, op.value, **self._stat(stat))
        if op.f == "cas":
            old, new = op.value
            try:
                data, stat = self.zk.get(path)
            except NoNode:
                return self.fail(op, op.value, error="no-node")
            except Exception as exc:  # only the read was sent: nothing can have been written
                return complete_exception(op, exc, is_read=True)
            if decode_int(data) != old:
                return self.fail(op, op.value, error="mismatch")
            stat = self.zk.set(path, encode(new), version=stat.version)
            return self.ok(op, op.value, **self._stat(stat))
        raise ValueError(f"register: unknown op {op.f!r}")


def generator(seed: int, active_keys: int, ops_per_key: int) -> Any:
    def read(rng: random.Random, key: int) -> Invocation:
        return Invocation("read", None, key)

    def write(rng: random.Random, key: int) -> Invocation:
        return Invocation("write", rng.randrange(VALUES), key)

    def cas(rng: random.Random, key: int) -> Invocation:
        return Invocation("cas", [rng.randrange(VALUES), rng.randrange(VALUES)], key)

    rng = random.Random(seed)

    def op(r: random.Random, key: int) -> Invocation:
        return r.choices([read, write, cas], [2, 1, 1])[0](r, key)

    return Independent(op, rng.getrandbits(63), active=active_keys, ops_per_key=ops_per_key)


class RegisterChecker:
    """Linearizability per key (of every op, or without local reads) plus per-session order."""
    name = "register"

    def __init__(self, read_mode: str) -> None:
        self.read_mode = read_mode

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        from checkers.checker import Compose
        from checkers.session_order import SessionOrderChecker
        lin = LinearizableRegister(drop_local_reads=self.read_mode == "local")
        return Compose({"linearizable": lin, "session-order": SessionOrderChecker()},
                       name=self.name).check(history, test_info)


class LinearizableRegister:
    name = "linearizable"

    def __init__(self, drop_local_reads: bool) -> None:
        self.drop_local_reads = drop_local_reads

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        from checkers import linearizable
        from checkers.models import make_model
        ops = history
        dropped = 0
        if self.drop_local_reads:
            ops, dropped = _without_local_reads(history)
        result = linearizable.check(ops, make_model("cas-register"))
        if self.drop_local_reads:
            result = dict(result)
            result["local_reads_excluded"] = dropped
        return result


def _without_local_reads(history: list[Op]) -> tuple[list[Op], int]:
    """The history minus every read pair whose completion says it was a local read (invoke and completion
    of a process are adjacent in that process's order, so drop the invoke that precedes a dropped completion)."""
    open_read: dict[Any, int] = {}
    drop: set[int] = set()
    for i, op in enumerate(history):
        if not op.is_client or op.f != "read":
            continue
        if op.type == "invoke":
            open_read[op.process] = i
        else:
            j = open_read.pop(op.process, None)
            if op.extra.get("read_mode") == "local":
                drop.add(i)
                if j is not None:
                    drop.add(j)
    return [op for i, op in enumerate(history) if i not in drop], len(drop) // 2


def make(options: dict[str, Any], seed: int) -> Workload:
    mode = options.get("read_mode") or "sync"
    if mode not in READ_MODES:
        raise ValueError(f"--read-mode must be one of {', '.join(READ_MODES)}, got {mode!r}")
    options["read_mode"] = mode
    concurrency = int(options.get("concurrency") or 5)
    active = int(options.get("key_count") or max(1, concurrency // 2))
    per_key = int(options.get("ops_per_key") or 150)
    main = generator(seed, active, per_key)
    # Built when the first worker reaches the final phase, so it sees the keys the run ended with.
    final = EachThread(lambda thread, s: [Invocation("read", None, key, extra={"final": True})
                                          for key in main.active_keys()], seed)
    return Workload(
        name="register",
        client=RegisterClient(options),
        generator=main,
        final=final,
        checker=RegisterChecker(mode),
        description=f"cas registers over independent keys, {mode} reads",
    )
