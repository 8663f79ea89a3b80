"""Sequential specifications ("models") that the linearizability checker searches against.

A model turns each operation of a history into a small hashable *model op* (``prepare``), then says which states
may follow a state when that op takes effect (``step``; empty = impossible; several = the model is
nondeterministic). States are hashable so that the search can memoise (linearized set, state) pairs.

How completions map to model ops (Jepsen's semantics):
- ``ok``: the op happened with the recorded result.
- ``fail``: the op certainly did not happen and is dropped, unless the completion carries ``extra["observed"]``
  (porcupine-etcd's failed cas: the compare happened and saw another value), which is an observation.
- ``info`` (or no completion): the op may have happened at any time after its invocation, or never. The model op
  is built from the invocation, and reads are dropped since their result is unknown.

``prepare`` returns ``None`` for ops that constrain nothing; it raises ``ModelError`` for ops the model does not
know (a clear error instead of a wrong verdict).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Protocol, Sequence

from checkers.history import FAIL, INFO, OK, Op, Pair

State = Hashable
MOp = Hashable


class ModelError(ValueError):
    """An operation the model cannot interpret (unknown :f, malformed value)."""


def freeze(value: Any) -> Hashable:
    """A hashable version of a JSON/EDN value (lists -> tuples, dicts -> sorted item tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((k, freeze(v)) for k, v in value.items()), key=repr))
    if isinstance(value, set):
        return frozenset(freeze(v) for v in value)
    return value


def outcome(pair: Pair) -> str:
    """``ok`` / ``info`` / ``fail`` (a failed op that was not observed) / ``observed-fail``."""
    c = pair.complete
    if c is None or c.type == INFO:
        return INFO
    if c.type == FAIL:
        return "observed-fail" if c.extra.get("observed") else FAIL
    return OK


class Model(Protocol):
    name: str

    def initial(self, key: Any = None) -> State:
        """The starting state (of one key's sub-history when the history is split by key)."""

    def prepare(self, pair: Pair) -> MOp | None:
        """The model op for one invocation/completion, or None when it constrains nothing."""

    def step(self, state: State, mop: MOp) -> Sequence[State]:
        """States that may follow ``state`` when ``mop`` takes effect; empty when it cannot."""

    def partition(self, pairs: list[Pair]) -> dict[Any, list[Pair]]:
        """Split into independent sub-histories (P-compositionality); one group when the model cannot split."""

    def describe(self, mop: MOp) -> str:
        """A short human form of a model op, e.g. ``cas(1->2)``."""

    def reduce(self, mops: list[MOp | None], infos: list[bool],
               intervals: list[tuple[float, float]] | None = None) -> list[MOp | None]:
        """A smaller equivalent problem (may rewrite or drop ops); identity when there is nothing to gain.
        ``intervals`` are the ops' (invocation, completion) positions, completion +inf for crashed ops."""

    def hopeless(self, state: State, blocking: MOp, candidates: list[MOp], crashed: list[MOp]) -> bool:
        """Optional (a model may lack it): True when ``blocking`` — the op that must be linearized before any op
        invoked after it returned — cannot take effect from ``state`` whatever subset of ``candidates`` and
        ``crashed`` (the only ops that may go before it) goes first. Prunes a branch early; never required."""

    def read_only(self, mop: MOp) -> bool:
        """True when ``step`` never changes the state for this op, from any state (it may only be refused).
        The search then linearizes it as soon as it fits, without trying alternatives."""


def partition_by_op_key(pairs: list[Pair]) -> dict[Any, list[Pair]]:
    groups: dict[Any, list[Pair]] = {}
    for p in pairs:
        groups.setdefault(freeze(p.invoke.key), []).append(p)
    return groups


class _Base:
    name = "model"

    def partition(self, pairs: list[Pair]) -> dict[Any, list[Pair]]:
        return partition_by_op_key(pairs)

    def describe(self, mop: MOp) -> str:
        return f"{mop[0]}({', '.join(repr(v) for v in mop[1:])})" if isinstance(mop, tuple) else repr(mop)

    def describe_state(self, state: State) -> Any:
        return state

    def reduce(self, mops: list[MOp | None], infos: list[bool],
               intervals: list[tuple[float, float]] | None = None) -> list[MOp | None]:
        return mops

    def read_only(self, mop: MOp) -> bool:
        return False

    def _unknown(self, pair: Pair) -> ModelError:
        return ModelError(f"op {pair.invoke.index}: model {self.name} has no operation {pair.invoke.f!r}")


class _Unread:
    """Stands for every register value no operation can ever observe (see RegisterModel.reduce)."""
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unread>"

    def __reduce__(self) -> str:
        return "UNREAD"


UNREAD = _Unread()


@dataclass
class RegisterModel(_Base):
    """A read/write register, with compare-and-set when ``cas`` is true (``cas-register``).

    Ops: ``read`` (value = what was read), ``write`` (value), ``cas`` (value ``[old new]``).
    Model ops: ("r", v) ("w", v) ("cas", old, new) ("!cas", old) — the last one an observed failed compare.
    """
    init: Any = None
    cas: bool = True
    # Knossos's convention: an ok read of nil says nothing (the client did not learn the value). Porcupine's etcd
    # logs instead read nil from a register that starts as nil, so this is chosen per format.
    nil_read_matches_any: bool = False

    @property
    def name(self) -> str:  # type: ignore[override]
        return "cas-register" if self.cas else "register"

    def initial(self, key: Any = None) -> State:
        return freeze(self.init)

    def prepare(self, pair: Pair) -> MOp | None:
        f = pair.invoke.f
        kind = outcome(pair)
        if kind == FAIL:
            return None
        value = pair.complete.value if (kind == OK and pair.complete is not None) else pair.invoke.value
        if f == "read":
            if kind != OK or (value is None and self.nil_read_matches_any):
                return None
            return ("r", freeze(value))
        if f == "write":
            return ("w", freeze(value))
        if f == "cas" and self.cas:
            if not (isinstance(value, (list, tuple)) and len(value) == 2):
                raise ModelError(f"op {pair.invoke.index}: cas value must be [old new], got {value!r}")
            old, new = freeze(value[0]), freeze(value[1])
            return ("!cas", old) if kind == "observed-fail" else ("cas", old, new)
        raise self._unknown(pair)

    def step(self, state: State, mop: MOp) -> Sequence[State]:
        k = mop[0]
        if k == "r":
            return (state,) if state == mop[1] else ()
        if k == "w":
            return (mop[1],)
        if k == "cas":
            return (mop[2],) if state == mop[1] else ()
        return (state,) if state != mop[1] else ()  # "!cas"

    def read_only(self, mop: MOp) -> bool:
        return mop[0] in ("r", "!cas")

    def impossible(self, init: State, ops: list[tuple[float, float, MOp, bool]]) -> list[int]:
        """Completed reads and compare-and-sets that need a value no other op produces before they return
        (and that the register did not start with): they can never take effect."""
        producers: dict[Any, list[float]] = {}
        for call, _, m, _ in ops:
            if m[0] == "w" or m[0] == "cas":
                producers.setdefault(m[-1], []).append(call)
        for calls in producers.values():
            calls.sort()
        out = []
        for i, (call, ret, m, info) in enumerate(ops):
            if info or m[0] not in ("r", "cas"):
                continue
            need = m[1]
            if need == init:
                continue
            before = bisect.bisect_left(producers.get(need, []), ret)
            # a cas from v to v produces v only once it found v: it does not count for itself
            own = 1 if m[0] == "cas" and m[2] == need else 0
            if before - own <= 0:
                out.append(i)
        return out

    def hopeless(self, state: State, blocking: MOp, candidates: list[MOp], crashed: list[MOp]) -> bool:
        if blocking[0] == "r" or blocking[0] == "cas":
            need = blocking[1]  # the value it must find
            if state == need:
                return False
            for m in candidates:
                if m[-1] == need and m[0] in ("w", "cas"):
                    return False
            for m in crashed:
                if m[-1] == need and m[0] in ("w", "cas"):
                    return False
            return True
        return False

    def describe(self, mop: MOp) -> str:
        k = mop[0]
        if k == "r":
            return f"read {mop[1]!r}"
        if k == "w":
            return f"write {mop[1]!r}"
        if k == "cas":
            return f"cas {mop[1]!r}->{mop[2]!r}"
        return f"failed cas from {mop[1]!r}"

    def reduce(self, mops: list[MOp | None], infos: list[bool],
               intervals: list[tuple[float, float]] | None = None) -> list[MOp | None]:
        """Crashed ops that leave a value nobody can observe: drop them, or make them all alike.

        Only equality with read values and cas expectations is ever tested, so values that are never read nor
        expected behave identically (a failed compare only needs "not old", which they all satisfy): crashed
        writes of them become writes of one UNREAD value, and identical crashed ops are cheap for the search.
        Without observed failed compares such a crashed op can be dropped altogether: the state it leaves enables
        nothing another state would not (reads and successful cas cannot match it).
        """
        observed = set()
        negative = False
        for m in mops:
            if m is None:
                continue
            if m[0] in ("r", "cas"):
                observed.add(m[1])
            elif m[0] == "!cas":
                negative = True
        out: list[MOp | None] = []
        for m, info in zip(mops, infos):
            # Completed ops keep their values so that counterexamples show real states.
            if m is not None and info:
                if m[0] == "w" and m[1] not in observed:
                    m = None if not negative else ("w", UNREAD)
                elif m[0] == "cas" and m[2] not in observed:
                    m = None if not negative else ("cas", m[1], UNREAD)
            out.append(m)
        return out



@dataclass
class KVModel(_Base):
    """Porcupine's key-value store: ``get``/``put``/``append`` on string values, every key starting as ``""``.

    Split by the op's ``key``; within one key the state is the string.
    """
    init: Any = ""
    name = "kv"

    def initial(self, key: Any = None) -> State:
        if isinstance(self.init, dict):
            return self.init.get(key, "")
        return "" if self.init is None else self.init

    def prepare(self, pair: Pair) -> MOp | None:
        kind = outcome(pair)
        if kind == FAIL:
            return None
        f = pair.invoke.f
        if f in ("get", "read"):
            return ("get", pair.complete.value) if kind == OK else None
        if f in ("put", "write"):
            return ("put", pair.invoke.value)
        if f == "append":
            return ("append", pair.invoke.value)
        raise self._unknown(pair)

    def step(self, state: State, mop: MOp) -> Sequence[State]:
        k = mop[0]
        if k == "get":
            return (state,) if state == mop[1] else ()
        if k == "put":
            return (mop[1],)
        return (state + mop[1],)

    def read_only(self, mop: MOp) -> bool:
        return mop[0] == "get"

    def reduce(self, mops: list[MOp | None], infos: list[bool],
               intervals: list[tuple[float, float]] | None = None) -> list[MOp | None]:
        """Mark the gets no put overlaps in time: ("get", v, True).

        While such a get is pending, no put can come before it (earlier puts were linearized before it became
        possible, later ones cannot precede it), so the string can only grow until it is linearized: the state
        must be a prefix of what it read, which lets the search drop a wrong order of appends at once.
        """
        if intervals is None:
            return mops
        puts = sorted(iv for m, iv in zip(mops, intervals) if m is not None and m[0] == "put")
        put_calls = [c for c, _ in puts]
        latest_ret: list[float] = []  # latest completion among the puts invoked so far
        for _, r in puts:
            latest_ret.append(max(r, latest_ret[-1]) if latest_ret else r)
        out: list[MOp | None] = []
        for m, (call, ret) in zip(mops, intervals):
            if m is not None and m[0] == "get" and isinstance(m[1], str):
                n = bisect.bisect_left(put_calls, ret)  # puts invoked before the get returned
                if n == 0 or latest_ret[n - 1] <= call:  # ...none of which was still open when it was invoked
                    m = ("get", m[1], True)
            out.append(m)
        return out

    def hopeless(self, state: State, blocking: MOp, candidates: list[MOp], crashed: list[MOp]) -> bool:
        if not isinstance(state, str):
            return False
        # Without a put available, the string only grows: a get must find the present state as its prefix.
        if blocking[0] == "get" and isinstance(blocking[1], str) and not blocking[1].startswith(state) \
                and not any(m[0] == "put" for m in candidates) and not any(m[0] == "put" for m in crashed):
            return True
        # The same for every pending get that no put overlaps, wherever it will go (see reduce).
        for m in candidates:
            if len(m) == 3 and not m[1].startswith(state):
                return True
        return False

    def describe(self, mop: MOp) -> str:
        return f"{mop[0]} {mop[1]!r}"


@dataclass
class MultiRegisterModel(_Base):
    """Several registers changed together by ``:txn`` ops, ``value = [[:read k v] [:write k v] ...]``.

    Also accepts plain ``read``/``write`` ops on ``Op.key``. The state of a group is a sorted tuple of
    (register, value); registers not in ``init`` start as nil. Independent registers are checked apart: ops are
    grouped into connected components of the registers they touch (a txn over x and y joins x's and y's groups).
    """
    init: Any = None
    name = "multi-register"

    def _init_map(self) -> dict[Any, Any]:
        return dict(self.init) if isinstance(self.init, dict) else {}

    def initial(self, key: Any = None) -> State:
        m = self._init_map()
        keys = key if isinstance(key, tuple) and key and key[0] == "registers" else None
        regs = keys[1] if keys else tuple(sorted(m, key=repr))
        return tuple((r, freeze(m.get(r, self.init if not isinstance(self.init, dict) else None)))
                     for r in sorted(regs, key=repr))

    def _micro(self, pair: Pair) -> list[tuple[str, Any, Any]]:
        inv = pair.invoke
        if inv.f == "txn":
            val = pair.complete.value if (pair.complete is not None and pair.complete.type == OK) else inv.value
            if not isinstance(val, (list, tuple)):
                raise ModelError(f"op {inv.index}: txn value must be a list of [f k v], got {val!r}")
            out = []
            for mo in val:
                if not (isinstance(mo, (list, tuple)) and len(mo) == 3 and mo[0] in ("read", "write", "r", "w")):
                    raise ModelError(f"op {inv.index}: txn micro-op must be [:read|:write k v], got {mo!r}")
                out.append(("r" if mo[0] in ("read", "r") else "w", freeze(mo[1]), freeze(mo[2])))
            return out
        if inv.f in ("read", "write") and inv.key is not None:
            val = pair.complete.value if (inv.f == "read" and pair.complete is not None) else inv.value
            return [("r" if inv.f == "read" else "w", freeze(inv.key), freeze(val))]
        raise self._unknown(pair)

    def partition(self, pairs: list[Pair]) -> dict[Any, list[Pair]]:
        parent: dict[Any, Any] = {}

        def find(x: Any) -> Any:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        touched = []
        for p in pairs:
            regs = [k for _, k, _ in self._micro(p)]
            touched.append(regs)
            for r in regs[1:]:
                parent[find(regs[0])] = find(r)
            for r in regs:
                find(r)
        groups: dict[Any, list[Pair]] = {}
        members: dict[Any, set] = {}
        for p, regs in zip(pairs, touched):
            root = find(regs[0]) if regs else None
            groups.setdefault(root, []).append(p)
        for r in parent:
            members.setdefault(find(r), set()).add(r)
        return {("registers", tuple(sorted(members.get(root, ()), key=repr))): ps for root, ps in groups.items()}

    def prepare(self, pair: Pair) -> MOp | None:
        kind = outcome(pair)
        micro = self._micro(pair)
        if kind == FAIL:
            return None
        if kind != OK:  # crashed: its reads saw something unknown, only its writes may matter
            micro = [m for m in micro if m[0] == "w"]
            if not micro:
                return None
        return ("txn", tuple(micro))

    def step(self, state: State, mop: MOp) -> Sequence[State]:
        regs = dict(state)
        for f, k, v in mop[1]:
            if f == "r":
                if regs.get(k) != v:
                    return ()
            else:
                regs[k] = v
        return (tuple(regs.items()),)  # insertion order stays the initial state's, so equal states are equal tuples

    def read_only(self, mop: MOp) -> bool:
        return all(f == "r" for f, _, _ in mop[1])

    def describe(self, mop: MOp) -> str:
        return "txn[" + " ".join(f"{f}:{k}={v!r}" for f, k, v in mop[1]) + "]"

    def describe_state(self, state: State) -> Any:
        return {str(k): v for k, v in state}


@dataclass
class SetModel(_Base):
    """A set: ``add`` v, and ``read`` returning the whole set."""
    init: Any = None
    name = "set"

    def initial(self, key: Any = None) -> State:
        return frozenset(freeze(v) for v in (self.init or ()))

    def prepare(self, pair: Pair) -> MOp | None:
        kind = outcome(pair)
        if kind == FAIL:
            return None
        f = pair.invoke.f
        if f == "add":
            return ("add", freeze(pair.invoke.value))
        if f == "read":
            if kind != OK:
                return None
            v = pair.complete.value
            if not isinstance(v, (list, tuple, set, frozenset)):
                raise ModelError(f"op {pair.invoke.index}: set read must return a collection, got {v!r}")
            return ("read", frozenset(freeze(x) for x in v))
        raise self._unknown(pair)

    def step(self, state: State, mop: MOp) -> Sequence[State]:
        if mop[0] == "add":
            return (state | {mop[1]},)
        return (state,) if state == mop[1] else ()

    def read_only(self, mop: MOp) -> bool:
        return mop[0] == "read"

    def describe_state(self, state: State) -> Any:
        return sorted(state, key=repr)


@dataclass
class FifoQueueModel(_Base):
    """A FIFO queue: ``enqueue`` v; ``dequeue`` returns the head (``nil`` when the queue was empty)."""
    init: Any = None
    name = "fifo-queue"

    def initial(self, key: Any = None) -> State:
        return tuple(freeze(v) for v in (self.init or ()))

    def prepare(self, pair: Pair) -> MOp | None:
        kind = outcome(pair)
        if kind == FAIL:
            return None
        f = pair.invoke.f
        if f == "enqueue":
            return ("enq", freeze(pair.invoke.value))
        if f == "dequeue":
            if kind != OK:
                return ("deq?",)  # crashed dequeue: may have removed the head, whatever it was
            return ("deq", freeze(pair.complete.value))
        raise self._unknown(pair)

    def step(self, state: State, mop: MOp) -> Sequence[State]:
        k = mop[0]
        if k == "enq":
            return (state + (mop[1],),)
        if k == "deq":
            if not state:
                return ((),) if mop[1] is None else ()
            return (state[1:],) if state[0] == mop[1] else ()
        return (state[1:],) if state else ()

    def describe_state(self, state: State) -> Any:
        return list(state)


@dataclass
class MutexModel(_Base):
    """One lock: ``acquire`` succeeds only when free, ``release`` only when held."""
    init: Any = None
    name = "mutex"

    def initial(self, key: Any = None) -> State:
        return bool(self.init)

    def prepare(self, pair: Pair) -> MOp | None:
        kind = outcome(pair)
        if kind == FAIL:
            return None
        if pair.invoke.f in ("acquire", "release"):
            return (pair.invoke.f,)
        raise self._unknown(pair)

    def step(self, state: State, mop: MOp) -> Sequence[State]:
        if mop[0] == "acquire":
            return (True,) if not state else ()
        return (False,) if state else ()

    def hopeless(self, state: State, blocking: MOp, candidates: list[MOp], crashed: list[MOp]) -> bool:
        # The blocking op needs the other kind of op first; none is available.
        if (blocking[0] == "acquire") != bool(state):
            return False
        other = "release" if blocking[0] == "acquire" else "acquire"
        return not any(m[0] == other for m in candidates) and not any(m[0] == other for m in crashed)

    def describe(self, mop: MOp) -> str:
        return mop[0]

    def describe_state(self, state: State) -> Any:
        return "held" if state else "free"


MODELS = ("cas-register", "register", "kv", "multi-register", "set", "fifo-queue", "mutex")


def make_model(name: str, initial: Any = None, nil_read_matches_any: bool = False) -> Any:
    """A model by its CLI name, starting from ``initial`` (already converted from EDN).

    ``nil_read_matches_any``: registers treat an ok read of nil as unknown (Knossos's EDN histories).
    """
    if name == "cas-register":
        return RegisterModel(initial, cas=True, nil_read_matches_any=nil_read_matches_any)
    if name == "register":
        return RegisterModel(initial, cas=False, nil_read_matches_any=nil_read_matches_any)
    if name == "kv":
        return KVModel("" if initial is None else initial)
    if name == "multi-register":
        return MultiRegisterModel(initial)
    if name == "set":
        return SetModel(initial)
    if name == "fifo-queue":
        return FifoQueueModel(initial)
    if name == "mutex":
        return MutexModel(initial)
    raise ValueError(f"unknown model {name!r} (one of {', '.join(MODELS)})")


def default_model_for(ops: Iterable[Op]) -> str:
    """Guess the model from the ops' :f names (the CLI's default when --model is not given)."""
    fs = {op.f for op in ops if op.is_client}
    if fs & {"get", "put", "append"}:
        return "kv"
    if "txn" in fs:
        return "multi-register"
    if fs & {"acquire", "release"}:
        return "mutex"
    if fs & {"enqueue", "dequeue"}:
        return "fifo-queue"
    if "add" in fs:
        return "set"
    return "cas-register"
