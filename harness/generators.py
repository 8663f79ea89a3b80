"""Generators: what operation each worker does next, and when.

A generator is an object with ``next(ctx) -> Invocation | Wait | None``. The runner asks it for the next
operation whenever a worker (a thread number 0..n-1, or ``"nemesis"``) is free:

- an ``Invocation`` (f, value, key) is performed now by that worker;
- ``Wait(until)`` means nothing for this worker before time ``until`` (seconds since the test started),
  or, with ``until=None``, nothing until some other worker has made progress (e.g. a phase barrier);
- ``None`` means this generator has nothing more for this worker, ever.

Generators are deterministic: they never read a clock or do I/O (time arrives in ``ctx``) and every random
choice comes from a ``random.Random`` seeded at construction. The sequence of invocations a generator hands
out therefore depends only on its seed and the sequence of requests, so ``--seed`` reproduces a schedule.
They are stateful objects, built fresh for each run; the runner serialises calls to ``next``.

The ideas follow Jepsen's generators (mix, stagger, time-limit, phases, each-thread, nemesis vs clients) in
plain Python objects rather than its immutable update protocol: a worker only asks when it is idle, which is
all ``phases`` needs to know to make a barrier.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence, Union

NEMESIS_THREAD = "nemesis"
Thread = Union[int, str]


@dataclass(frozen=True, slots=True)
class Invocation:
    """An operation template: the runner adds process, node, time and index when it invokes it."""
    f: str
    value: Any = None
    key: Any = None
    extra: dict[str, Any] = field(default_factory=dict)  # recorded on the op (e.g. {"final": True})


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing for this worker before ``until`` (seconds since start); None = until others progress."""
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Context:
    time: float                  # seconds since the test started
    thread: Thread               # the worker asking
    threads: tuple[Thread, ...]  # every worker this generator serves (client threads and "nemesis")


Result = Union[Invocation, Wait, None]


class Generator(Protocol):
    def next(self, ctx: Context) -> Result: ...


GenLike = Union[Generator, Invocation, Sequence[Invocation], None]


def lift(g: GenLike) -> Generator:
    """A generator from a generator, one Invocation, or a list of Invocations (handed out in order)."""
    if g is None:
        return Seq([])
    if isinstance(g, Invocation):
        return Seq([g])
    if isinstance(g, (list, tuple)):
        return Seq(list(g))
    if hasattr(g, "next"):
        return g  # type: ignore[return-value]
    raise TypeError(f"not a generator: {g!r}")


def _earliest(a: Result, b: Result) -> Result:
    """Of two Waits (or Nones), the one the worker should wake for first."""
    if a is None:
        return b
    if b is None:
        return a
    assert isinstance(a, Wait) and isinstance(b, Wait)
    if a.until is None:
        return b
    if b.until is None:
        return a
    return a if a.until <= b.until else b


class Seq:
    """The given invocations in order, to whichever worker asks; then done."""

    def __init__(self, items: Iterable[Invocation]) -> None:
        self._items: Iterator[Invocation] = iter(items)

    def next(self, ctx: Context) -> Result:
        return next(self._items, None)


class Repeat:
    """``make(rng)`` invoked forever: an infinite source of invocations from one seeded random stream."""

    def __init__(self, make: Callable[[random.Random], Invocation], seed: int) -> None:
        self._make = make
        self._rng = random.Random(seed)

    def next(self, ctx: Context) -> Result:
        return self._make(self._rng)


class Mix:
    """A random choice among generators (weighted) for each request; exhausted ones drop out."""

    def __init__(self, gens: Sequence[GenLike], seed: int, weights: Sequence[float] | None = None) -> None:
        self._gens = [lift(g) for g in gens]
        self._weights = list(weights) if weights is not None else [1.0] * len(self._gens)
        if len(self._weights) != len(self._gens):
            raise ValueError("mix: one weight per generator")
        self._rng = random.Random(seed)

    def next(self, ctx: Context) -> Result:
        live = list(range(len(self._gens)))
        waiting: Result = None
        while live:
            i = self._rng.choices(live, [self._weights[j] for j in live])[0]
            r = self._gens[i].next(ctx)
            if isinstance(r, Invocation):
                return r
            live.remove(i)
            if r is None:
                self._gens[i] = Seq([])
            else:
                waiting = _earliest(waiting, r)
        return waiting


class Independent:
    """Operations over many independent keys (Jepsen's independent generator, simplified): ``active`` keys
    are in use at a time, each gets ``ops_per_key`` operations made by ``make(rng, key)``, then is retired
    and the next key (0, 1, 2, ...) takes its place. Small per-key histories keep checking tractable."""

    def __init__(self, make: Callable[[random.Random, int], Invocation], seed: int, *, active: int = 4,
                 ops_per_key: int = 200) -> None:
        if active < 1 or ops_per_key < 1:
            raise ValueError("independent: active and ops_per_key must be >= 1")
        self._make = make
        self._rng = random.Random(seed)
        self._ops_per_key = ops_per_key
        self._left = {k: ops_per_key for k in range(active)}
        self._next_key = active

    def active_keys(self) -> list[int]:
        """The keys in use now (after the run: the ones whose histories are still open)."""
        return sorted(self._left)

    def next(self, ctx: Context) -> Result:
        key = self._rng.choice(sorted(self._left))
        self._left[key] -= 1
        if self._left[key] == 0:
            del self._left[key]
            self._left[self._next_key] = self._ops_per_key
            self._next_key += 1
        return self._make(self._rng, key)


class Limit:
    """At most ``n`` invocations in total (across workers)."""

    def __init__(self, n: int, gen: GenLike) -> None:
        self._left = n
        self._gen = lift(gen)

    def next(self, ctx: Context) -> Result:
        if self._left <= 0:
            return None
        r = self._gen.next(ctx)
        if isinstance(r, Invocation):
            self._left -= 1
        return r


class TimeLimit:
    """Invocations from ``gen`` until ``seconds`` after the first request; then done."""

    def __init__(self, seconds: float, gen: GenLike) -> None:
        self._seconds = seconds
        self._gen = lift(gen)
        self._deadline: float | None = None

    def next(self, ctx: Context) -> Result:
        if self._deadline is None:
            self._deadline = ctx.time + self._seconds
        if ctx.time >= self._deadline:
            return None
        r = self._gen.next(ctx)
        if isinstance(r, Wait) and (r.until is None or r.until > self._deadline):
            return Wait(self._deadline)  # wake in time to notice the end
        return r


class Stagger:
    """Invocations spaced by random gaps averaging ``interval`` seconds, across all workers together.

    With ``fixed=True`` the gap is exactly ``interval`` (a fixed rate). A generator behind schedule does not
    burst to catch up: a late invocation moves the schedule forward.
    """

    def __init__(self, interval: float, gen: GenLike, seed: int, fixed: bool = False) -> None:
        if interval < 0:
            raise ValueError("stagger interval must be >= 0")
        self._interval = interval
        self._gen = lift(gen)
        self._rng = random.Random(seed)
        self._fixed = fixed
        self._next_at: float | None = None

    def next(self, ctx: Context) -> Result:
        if self._next_at is None:
            self._next_at = ctx.time
        if ctx.time < self._next_at:
            return Wait(self._next_at)
        r = self._gen.next(ctx)
        if isinstance(r, Invocation):
            gap = self._interval if self._fixed else self._rng.uniform(0, 2 * self._interval)
            self._next_at = max(self._next_at, ctx.time - self._interval) + gap
        return r


def rate(ops_per_second: float, gen: GenLike, seed: int) -> Generator:
    """About ``ops_per_second`` invocations per second in total; 0 or less means as fast as workers go."""
    if ops_per_second <= 0:
        return lift(gen)
    return Stagger(1.0 / ops_per_second, gen, seed)


class Sleep:
    """Nothing, for ``seconds`` after the first request; then done (a pause between phases)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._until: float | None = None

    def next(self, ctx: Context) -> Result:
        if self._until is None:
            self._until = ctx.time + self._seconds
        if ctx.time >= self._until:
            return None
        return Wait(self._until)


class OnThreads:
    """``gen`` for the workers ``accept(thread)`` says yes to; the others are done with it at once."""

    def __init__(self, accept: Callable[[Thread], bool], gen: GenLike) -> None:
        self._accept = accept
        self._gen = lift(gen)

    def next(self, ctx: Context) -> Result:
        if not self._accept(ctx.thread):
            return None
        return self._gen.next(ctx)


def clients(gen: GenLike) -> Generator:
    return OnThreads(lambda t: t != NEMESIS_THREAD, gen)


def nemesis(gen: GenLike) -> Generator:
    return OnThreads(lambda t: t == NEMESIS_THREAD, gen)


class EachThread:
    """Every worker gets its own copy: ``make(thread, seed)`` is called the first time a worker asks."""

    def __init__(self, make: Callable[[Thread, int], GenLike], seed: int) -> None:
        self._make = make
        self._seed = seed
        self._copies: dict[Thread, Generator] = {}

    def next(self, ctx: Context) -> Result:
        g = self._copies.get(ctx.thread)
        if g is None:
            # A per-thread seed independent of which thread asks first keeps copies reproducible.
            sub = random.Random(f"{self._seed}/{ctx.thread}").getrandbits(63)
            g = self._copies[ctx.thread] = lift(self._make(ctx.thread, sub))
        return g.next(ctx)


class Any_:
    """Several generators at once: each request goes to the first that has an invocation for the worker."""

    def __init__(self, *gens: GenLike) -> None:
        self._gens = [lift(g) for g in gens]
        self._done: set[tuple[int, Thread]] = set()

    def next(self, ctx: Context) -> Result:
        waiting: Result = None
        for i, g in enumerate(self._gens):
            if (i, ctx.thread) in self._done:
                continue
            r = g.next(ctx)
            if isinstance(r, Invocation):
                return r
            if r is None:
                self._done.add((i, ctx.thread))
            else:
                waiting = _earliest(waiting, r)
        return waiting


def concurrently(*gens: GenLike) -> Generator:
    """Run client and nemesis generators side by side (e.g. ``concurrently(clients(a), nemesis(b))``)."""
    return Any_(*gens)


class Phases:
    """Generators one after another, with a barrier: phase i+1 starts for anyone only when every worker
    has asked phase i and been told it is done (a worker asks only when idle, so none is still busy with
    an operation of phase i)."""

    def __init__(self, *gens: GenLike) -> None:
        self._gens = [lift(g) for g in gens]
        self._phase = 0
        self._finished: set[Thread] = set()

    @property
    def phase(self) -> int:
        return self._phase

    def next(self, ctx: Context) -> Result:
        while self._phase < len(self._gens):
            if ctx.thread in self._finished:
                return Wait(None)
            r = self._gens[self._phase].next(ctx)
            if r is not None:
                return r
            self._finished.add(ctx.thread)
            if not set(ctx.threads) <= self._finished:
                return Wait(None)
            self._phase += 1
            self._finished = set()
        return None


def standard_run(*, client_ops: GenLike, nemesis_ops: GenLike, time_limit: float, final_ops: GenLike = None,
                 heal: GenLike = None, recovery_seconds: float = 0.0) -> Phases:
    """The shape of a whole run: client ops with faults for ``time_limit`` seconds, then the nemesis's
    ``heal`` ops, a pause of ``recovery_seconds`` for the service to recover, then the final ops (e.g. one
    final read per worker) with no faults.
    """
    main = TimeLimit(time_limit, concurrently(clients(client_ops), nemesis(nemesis_ops)))
    stages: list[GenLike] = [main]
    if heal is not None:
        stages.append(nemesis(heal))
    if recovery_seconds > 0:
        stages.append(Sleep(recovery_seconds))
    if final_ops is not None:
        stages.append(clients(final_ops))
    return Phases(*stages)


def schedule(gen: Generator, threads: Sequence[Thread], *, step: float = 0.01,
             max_ops: int = 10_000, max_time: float = 3600.0) -> list[tuple[float, Thread, Invocation]]:
    """Drive ``gen`` with a simulated clock and instantly-completing workers, asking round robin; returns
    (time, thread, invocation) in order. For tests and for `--dry-run` style previews of a schedule."""
    out: list[tuple[float, Thread, Invocation]] = []
    now = 0.0
    done: set[Thread] = set()
    threads = tuple(threads)
    while len(out) < max_ops and now <= max_time and len(done) < len(threads):
        progressed = False
        wake: float | None = None
        for t in threads:
            if t in done:
                continue
            r = gen.next(Context(now, t, threads))
            if isinstance(r, Invocation):
                out.append((now, t, r))
                progressed = True
            elif r is None:
                done.add(t)
                progressed = True
            elif r.until is not None:
                wake = r.until if wake is None else min(wake, r.until)
        if not progressed:
            now = max(now + step, wake) if wake is not None else now + step
    return out
