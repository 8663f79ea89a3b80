"""Linearizability checking: a Wing–Gong/Lowe depth-first search, with the pruning that makes it cheap in practice.

Semantics (Jepsen's): an ``ok`` op took effect once between its invocation and its completion; a ``fail`` op never
took effect and is dropped (unless the format made it an observation, see checkers/models.py); an ``info`` op (or
one never completed) may take effect at any point after its invocation, or never: its return is at +infinity and
the search may leave it out. Crashed reads constrain nothing and are dropped by the model.

The search (per independent key):
- *P-compositionality*: the model's ``partition`` splits the history (our JSONL ``key`` field, jepsen.independent
  keys, a multi-register's connected registers) and every part is checked alone, in parallel processes when big.
- *Segments*: the history is cut wherever no completed op is open (every op invoked so far has returned, apart
  from crashed ones). Segments are searched one after another; what crosses a cut is a *configuration*
  (model state, crashed ops not yet linearized). Each segment's search is the classic WGL loop over a doubly
  linked list of call/return entries (lift/unlift), with its own small bitsets, and yields the configurations
  in which it can finish; the next segment starts from those, lazily and depth-first, so a valid history is
  accepted as soon as one linearization is found.
- *Dominance instead of plain memoisation*: leaving a crashed op unlinearized is never worse than having
  linearized it (it may still happen later, or never), so a node (linearized set L, state s) is pruned when a
  visited node (L', s) has the same completed ops and a subset of L's crashed ops. The same rule prunes
  configurations at cuts.
- *Memo keys stay small*: completed ops are numbered in call order and get linearized roughly in that order, so
  the set done is "all below the first open one" plus a short window: the key is (that index, the window,
  state), not a bitset over the whole segment; the path keeps one bitset, not one per frame.
- *Candidate order*: completed ops first (in call order), crashed ops last and only one of several identical
  crashed ops (the earliest invoked can stand for the others). A read-only op (the model says which) that fits
  the current state is linearized at once and alone: any linearization could be reordered to do so.
- *Lookahead*: the model's optional ``hopeless(state, blocking op, candidates)`` drops a branch in which the op
  that must go next cannot fit whatever the available ops do (a register read of a value no pending op
  writes, a kv get whose value does not extend the current string, an acquire with no release to come).
  ``impossible`` finds ops that can never take effect at all (a read of a value nothing wrote before it
  returned): the key is invalid without a long search.
- The model's ``reduce`` rewrites the problem first (a register drops crashed writes of values nobody reads,
  or merges those values into one; kv marks the gets no put overlaps, for the lookahead).
- *Keys in rounds*: one invalid key decides, so every key first gets a small budget, then the undecided ones
  a budget 8x larger, and so on: a hard valid key cannot hide an easy counterexample in another.
- *Budget*: a deadline and a cap on live memoised configurations (long states weigh more; parallel workers
  share it); past either the verdict is ``"unknown"``, never a hang and never all the memory.

On an invalid history the result carries a counterexample: the longest linearization found (history indexes in
linearization order), the op that could not be linearized after it, the model states possible at that point, and
the ops concurrent with it.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator

from checkers.history import INFO, Op, Pair, pairs as make_pairs
from checkers.models import outcome

INF = float("inf")
DEFAULT_MAX_CONFIGS = 2_000_000  # live memoised configurations (~150-200 bytes each; long states count more),
# per key when keys are checked one after another, shared by the workers when in parallel
PARALLEL_MIN_OPS = 5_000  # below this, starting processes costs more than it saves
ROUND_START_CONFIGS = 5_000  # first per-key cap when several keys compete (see _run_rounds)
ROUND_GROWTH = 8
IMPOSSIBLE_SEARCH_CONFIGS = 50_000  # search budget, for a counterexample, when an op can never take effect
MAX_REPORTED_STATES = 20


class BudgetExceeded(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class KeyOp:
    """One op of a key's sub-history as the search sees it."""
    call: float  # position of the invocation in the history
    ret: float  # position of the completion; INF for a crashed op
    mop: Any  # the model op
    index: int  # history index of the invocation
    info: bool  # crashed (may happen or not)
    read_only: bool = False  # never changes the state (the model says so)


class _Entry:
    __slots__ = ("call", "bit", "op", "info", "read_only", "match", "prev", "next")

    def __init__(self, call: bool, op: KeyOp | None = None) -> None:
        self.call = call
        self.op = op
        self.info = op.info if op is not None else False
        self.read_only = op.read_only if op is not None else False
        self.bit = 0
        self.match: _Entry | None = None
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _lift(e: _Entry) -> None:
    e.prev.next = e.next
    if e.next is not None:
        e.next.prev = e.prev
    m = e.match
    if m is not None:
        m.prev.next = m.next
        if m.next is not None:
            m.next.prev = m.prev


def _unlift(e: _Entry) -> None:
    m = e.match
    if m is not None:
        m.prev.next = m
        if m.next is not None:
            m.next.prev = m
    e.prev.next = e
    if e.next is not None:
        e.next.prev = e


class _Budget:
    __slots__ = ("deadline", "max_configs", "live", "explored", "ticks")

    def __init__(self, deadline: float, max_configs: int) -> None:
        self.deadline = deadline  # time.monotonic() value: the same clock in forked workers
        self.max_configs = max_configs
        self.live = 0
        self.explored = 0
        self.ticks = 0

    def add(self, n: int = 1) -> None:
        self.live += n
        self.explored += n
        if self.live > self.max_configs:
            raise BudgetExceeded(f"memory limit: more than {self.max_configs} configurations")
        self.ticks += n
        if self.ticks >= 2048:
            self.ticks = 0
            if time.monotonic() > self.deadline:
                raise BudgetExceeded("time limit")


class _Best:
    """The deepest dead end seen: material for the counterexample."""
    __slots__ = ("depth", "path", "states", "blocking", "candidates")

    def __init__(self) -> None:
        self.depth = -1
        self.path: list[int] = []
        self.states: list[Any] = []
        self.blocking: KeyOp | None = None
        self.candidates: list[int] = []


class _KeySearch:
    def __init__(self, ops: list[KeyOp], model: Any, init: Any, budget: _Budget) -> None:
        self.model = model
        self.init = init
        self.budget = budget
        self.best = _Best()
        self.path: list[int] = []  # history indexes in linearization order, shared by the nested segment searches
        self.ops = sorted(ops, key=lambda o: o.call)
        infos = [o for o in self.ops if o.info]
        self.info_bit = {id(o): 1 << i for i, o in enumerate(infos)}
        # Cut before an op invoked after every earlier completed op returned; a segment needs a completed op.
        self.segments: list[list[KeyOp]] = []
        max_ret = -INF
        has_done = False
        for o in self.ops:
            if not self.segments or (o.call > max_ret and has_done):
                self.segments.append([])
                has_done = False
            self.segments[-1].append(o)
            if not o.info:
                has_done = True
                max_ret = max(max_ret, o.ret)
        self.infos = infos  # in invocation order: bit i of a pending mask is self.infos[i]
        self.base_depth: list[int] = []
        d = 0
        for seg in self.segments:
            self.base_depth.append(d)
            d += sum(1 for o in seg if not o.info)

    # --------------------------------------------------------------------------------------------- outer search
    def run(self) -> bool:
        if not self.segments:
            return True
        seen: list[dict[Any, list[int]]] = [dict() for _ in self.segments]
        stack: list[Iterator[tuple[Any, int]]] = [self._segment(0, self.init, 0)]
        seen[0][self.init] = [0]
        nseg = len(self.segments)
        while stack:
            cfg = next(stack[-1], None)
            if cfg is None:
                stack.pop()
                continue
            k = len(stack)
            if k == nseg:
                return True
            state, pending = cfg
            lst = seen[k].setdefault(state, [])
            # Already started from (state, P') with P' ⊇ pending: that one had at least as much freedom and failed.
            if any(pending & ~p == 0 for p in lst):
                continue
            lst.append(pending)
            self.budget.add()
            stack.append(self._segment(k, state, pending))
        return False

    # ------------------------------------------------------------------------------------------ one segment
    def _segment(self, k: int, state0: Any, pending: int) -> Iterator[tuple[Any, int]]:
        """Yield every undominated configuration in which segment k can end, starting from (state0, pending)."""
        seg = self.segments[k]
        info_bit = self.info_bit
        carried = []  # crashed ops invoked in earlier segments and not linearized yet
        p = pending
        while p:
            low = p & -p
            carried.append(self.infos[low.bit_length() - 1])
            p ^= low
        head = _Entry(True)
        events: list[tuple[float, int, _Entry]] = []
        entries: list[_Entry] = []
        tail_returns: list[_Entry] = []
        carried_ids = {id(o) for o in carried}
        n_done = n_crashed = 0
        for o in carried + seg:  # in call order
            c = _Entry(True, o)
            r = _Entry(False, o)
            c.match = r
            # Completed ops and crashed ops are numbered apart: completed ones get linearized roughly in call
            # order, so the set of them done is a prefix plus a short window, which keeps memo keys small.
            if o.info:
                c.bit = 1 << n_crashed
                n_crashed += 1
                tail_returns.append(r)
            else:
                c.bit = 1 << n_done
                n_done += 1
                events.append((o.ret, 1, r))
            entries.append(c)
            events.append((-INF if id(o) in carried_ids else o.call, 0, c))
        events.sort(key=lambda t: (t[0], t[1]))
        prev = head
        for _, _, e in events:
            prev.next = e
            e.prev = prev
            prev = e
        for r in tail_returns:
            prev.next = r
            r.prev = prev
            prev = r
        has_infos = n_crashed != 0
        step = self.model.step
        hopeless = getattr(self.model, "hopeless", None)
        budget = self.budget
        best = self.best
        path = self.path
        base = self.base_depth[k]
        seg_infos_global = [(e.bit, info_bit[id(e.op)]) for e in entries if e.info]
        pending_out_base = pending
        for o in carried:
            pending_out_base &= ~info_bit[id(o)]
        sized = isinstance(state0, (str, bytes, tuple, frozenset))
        visited_set: set[tuple[int, int, Any]] = set()
        visited_dom: dict[tuple[int, int, Any], list[int]] = {}
        live = 0

        def end_config(crashed_bits: int, state: Any) -> tuple[Any, int]:
            out = pending_out_base
            for lb, gb in seg_infos_global:
                if not crashed_bits & lb:
                    out |= gb
            return state, out

        def candidates(state: Any) -> tuple[list[_Entry], _Entry | None]:
            done: list[_Entry] = []
            crashed: list[_Entry] = []
            seen_mops: set = set()
            e = head.next
            while e is not None and e.call:
                if e.info:
                    if e.op.mop not in seen_mops:  # identical crashed ops: the earliest invoked stands for all
                        seen_mops.add(e.op.mop)
                        crashed.append(e)
                elif e.read_only and step(state, e.op.mop):
                    # A read that fits now goes now, alone: in any linearization from here it could be moved
                    # to this point (everything that had to precede it already did, and it changes nothing).
                    first = e
                    while first is not None and first.call:
                        first = first.next
                    return [e], first
                else:
                    done.append(e)
                e = e.next
            if hopeless is not None and e is not None and hopeless(state, e.op.mop, [c.op.mop for c in done],
                                                                  [c.op.mop for c in crashed]):
                return [], e
            return done + crashed, e

        try:
            if n_done == 0:
                budget.add()
                live += 1
                yield end_config(0, state0)
                return
            cur_done = 0  # bits of the completed ops linearized on the current path
            cur_crashed = 0  # bits of the crashed ops linearized on the current path
            cands, blocking = candidates(state0)
            # frame: [state, ndone, cands, ci, nexts, ni, lifted entry, blocking entry]
            frames: list[list[Any]] = [[state0, 0, cands, 0, (), 0, None, blocking]]
            while frames:
                fr = frames[-1]
                child = None
                while True:
                    nexts = fr[4]
                    if fr[5] < len(nexts):
                        ns = nexts[fr[5]]
                        fr[5] += 1
                        e = fr[2][fr[3] - 1]
                        if e.info:
                            nd, nc = cur_done, cur_crashed | e.bit
                        else:
                            nd, nc = cur_done | e.bit, cur_crashed
                        low = (nd + 1) & ~nd  # the first completed op not linearized: all below it are
                        shift = low.bit_length() - 1
                        key = (shift, nd >> shift, ns)
                        if has_infos:
                            lst = visited_dom.get(key)
                            if lst is None:
                                visited_dom[key] = [nc]
                            elif any(x & ~nc == 0 for x in lst):
                                continue
                            else:
                                lst.append(nc)
                        else:
                            if key in visited_set:
                                continue
                            visited_set.add(key)
                        cost = 1 + (len(ns) >> 6) if sized else 1  # long strings/tuples cost more memory
                        live += cost
                        budget.add(cost)
                        child = (e, ns, nd, nc)
                        break
                    if fr[3] < len(fr[2]):
                        e = fr[2][fr[3]]
                        fr[3] += 1
                        fr[4] = step(fr[0], e.op.mop)
                        fr[5] = 0
                        continue
                    break
                if child is None:
                    depth = base + fr[1]
                    if depth >= best.depth and fr[7] is not None:
                        self._dead_end(depth, fr)
                    frames.pop()
                    e = fr[6]
                    if e is not None:
                        _unlift(e)
                        path.pop()
                        if e.info:
                            cur_crashed ^= e.bit
                        else:
                            cur_done ^= e.bit
                    continue
                e, ns, nd, nc = child
                _lift(e)
                path.append(e.op.index)
                ndone = fr[1] + (0 if e.info else 1)
                if ndone == n_done:
                    yield end_config(nc, ns)
                    _unlift(e)
                    path.pop()
                    continue
                cur_done, cur_crashed = nd, nc
                cands, blocking = candidates(ns)
                frames.append([ns, ndone, cands, 0, (), 0, e, blocking])
        finally:
            budget.live -= live

    def _dead_end(self, depth: int, fr: list[Any]) -> None:
        best = self.best
        blocking: KeyOp = fr[7].op
        if depth > best.depth:
            best.depth = depth
            best.path = list(self.path)
            best.states = [fr[0]]
            best.blocking = blocking
            best.candidates = [e.op.index for e in fr[2]]
        elif blocking is best.blocking and len(best.states) < MAX_REPORTED_STATES and fr[0] not in best.states:
            best.states.append(fr[0])


# ------------------------------------------------------------------------------------------------- driver

def _key_ops(model: Any, group: list[Pair], position: dict[int, int]) -> tuple[list[KeyOp], int]:
    mops: list[Any] = []
    infos: list[bool] = []
    intervals: list[tuple[float, float]] = []
    for p in group:
        mops.append(model.prepare(p))
        info = outcome(p) == INFO
        infos.append(info)
        intervals.append((position[id(p.invoke)], INF if info else position[id(p.complete)]))
    mops = model.reduce(mops, infos, intervals)
    out: list[KeyOp] = []
    read_only = getattr(model, "read_only", None)
    for p, m, info, (call, ret) in zip(group, mops, infos, intervals):
        if m is None:
            continue
        out.append(KeyOp(call, ret, m, p.invoke.index, info, bool(read_only and not info and read_only(m))))
    return out, len(group) - len(out)


def _describe_op(model: Any, pair: Pair | None, kop: KeyOp | None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if pair is not None:
        d.update(index=pair.invoke.index, complete_index=pair.complete.index if pair.complete else None,
                 process=pair.invoke.process, f=pair.invoke.f, type=pair.type,
                 value=pair.complete.value if pair.complete is not None and pair.type == "ok" else pair.invoke.value)
    if kop is not None:
        d["op"] = model.describe(kop.mop)
    return d


def _state_for_report(model: Any, state: Any) -> Any:
    describe = getattr(model, "describe_state", None)
    s = describe(state) if describe else state
    return s if isinstance(s, (int, float, str, bool, type(None), list, dict)) else repr(s)


def check_key(model: Any, key: Any, kops: list[KeyOp], deadline: float = INF,
              max_configs: int = DEFAULT_MAX_CONFIGS) -> dict[str, Any]:
    """Check one independent sub-history (already turned into KeyOps). Returns a per-key result dict.

    ``deadline`` is a ``time.monotonic()`` value after which the verdict is "unknown".
    """
    t0 = time.monotonic()
    init = model.initial(key)
    # An op that can never take effect (e.g. a read of a value nothing wrote before it returned) makes the key
    # invalid without a search; the search still runs on a small budget for a better counterexample.
    find_impossible = getattr(model, "impossible", None)
    impossible = find_impossible(init, [(o.call, o.ret, o.mop, o.info) for o in kops]) if find_impossible else []
    budget = _Budget(deadline, min(max_configs, IMPOSSIBLE_SEARCH_CONFIGS) if impossible else max_configs)
    search = _KeySearch(kops, model, init, budget)
    res: dict[str, Any] = {"ops": len(kops), "segments": len(search.segments)}
    try:
        ok = search.run()
        res["valid"] = ok
    except BudgetExceeded as exc:
        res["valid"] = "unknown"
        res["reason"] = exc.reason
    res["configs"] = budget.explored
    if impossible:
        res["impossible_ops"] = [kops[i].index for i in impossible]
        if res["valid"] is not False:  # the search gave up (it cannot succeed): report the impossible op
            res.pop("reason", None)
            res["valid"] = False
            first = min(impossible, key=lambda i: kops[i].ret)
            res["_best"] = {"path": [], "states": [], "blocking": kops[first].index, "candidates": [],
                            "impossible": True}
    res["elapsed_s"] = round(time.monotonic() - t0, 6)
    if res["valid"] is False and "_best" not in res:
        best = search.best
        b = best.blocking
        res["_best"] = {"path": best.path, "states": best.states, "blocking": b.index if b else None,
                        "candidates": best.candidates}
    return res


def _check_key_job(args: tuple) -> tuple[Any, dict[str, Any]]:
    model, key, kops, deadline, max_configs = args
    return key, check_key(model, key, kops, deadline, max_configs)


def _worker(conn: Any) -> None:
    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send(_check_key_job(job))


def _in_processes(jobs: list[tuple], nproc: int) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Run jobs in ``nproc`` forked workers, each fed through its own pipe; yield results as they come.

    Not multiprocessing.Pool: terminating a Pool while its task queue is busy can deadlock (a killed worker may
    hold the shared queue's lock), and stopping early, once a key is invalid, is the normal case here. Private
    pipes have no shared lock; closing this generator kills the workers.
    """
    ctx = multiprocessing.get_context("fork")
    workers: list[tuple[Any, Any]] = []
    todo = list(jobs)
    busy: dict[Any, tuple[Any, tuple]] = {}  # pipe -> (process, job)
    try:
        for _ in range(min(nproc, len(jobs))):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child,), daemon=True)
            proc.start()
            child.close()
            workers.append((proc, parent))
            job = todo.pop(0)
            parent.send(job)
            busy[parent] = (proc, job)
        while busy:
            for conn in multiprocessing.connection.wait(list(busy)):
                proc, job = busy.pop(conn)
                try:
                    key, res = conn.recv()
                except (EOFError, OSError):  # the worker died (killed, out of memory): that key is undecided
                    proc.join(1)
                    key, res = job[1], {"ops": len(job[2]), "valid": "unknown", "configs": 0,
                                        "reason": f"checker process died (exit code {proc.exitcode})"}
                    yield key, res
                    continue
                if todo:
                    nxt = todo.pop(0)
                    conn.send(nxt)
                    busy[conn] = (proc, nxt)
                yield key, res
    finally:
        for proc, conn in workers:
            if proc.is_alive():
                proc.kill()
            proc.join()
            conn.close()


def _run_rounds(jobs: list[tuple], max_configs: int, nproc: int) -> dict[Any, dict[str, Any]]:
    """Check every key, with growing configuration caps, until one is invalid or all are decided.

    One invalid key decides the verdict, and which key that is cannot be known in advance, so no key may use
    the whole budget before every other has had a cheap try: a key that is hard to prove valid must not hide an
    easy counterexample in another key.
    """
    results: dict[Any, dict[str, Any]] = {}
    pending = list(jobs)
    cap = min(ROUND_START_CONFIGS, max_configs)
    while pending:
        final = cap >= max_configs
        # with several workers the memory budget is shared: each gets its part
        round_jobs = [(j[0], j[1], j[2], j[3], max(1, cap // nproc)) for j in pending]
        it = _in_processes(round_jobs, nproc) if nproc > 1 else map(_check_key_job, round_jobs)
        retry = set()
        try:
            for key, res in it:
                if res["valid"] == "unknown" and not final and res.get("reason", "").startswith("memory"):
                    retry.add(key)
                    continue
                results[key] = res
                if res["valid"] is False:
                    return results  # decided; the other keys need not be checked
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        pending = [j for j in pending if j[1] in retry]
        cap = min(cap * ROUND_GROWTH, max_configs)
    return results


def check(history: list[Op], model: Any, time_limit: float | None = 60.0, max_configs: int = DEFAULT_MAX_CONFIGS,
          processes: int | None = None) -> dict[str, Any]:
    """Is ``history`` linearizable with respect to ``model``?

    Returns {"valid": True | False | "unknown", "model", "keys", "per_key", "counterexample", "elapsed_s", ...}.
    ``processes``: worker processes for multi-key histories (None = one per CPU when the history is big enough
    to pay for them, 1 = none).
    Raises HistoryError for a history that breaks the invoke/complete discipline, ModelError for ops the model
    does not know.
    """
    t0 = time.monotonic()
    deadline = t0 + time_limit if time_limit else INF
    position = {id(op): i for i, op in enumerate(history)}
    all_pairs = make_pairs(history)
    groups = model.partition(all_pairs) if all_pairs else {}
    jobs = []
    dropped = 0
    by_key_pairs: dict[Any, dict[int, Pair]] = {}
    for key, group in groups.items():
        kops, n_dropped = _key_ops(model, group, position)
        dropped += n_dropped
        by_key_pairs[key] = {p.invoke.index: p for p in group}
        jobs.append((model, key, kops, deadline, max_configs))
    jobs.sort(key=lambda j: -len(j[2]))  # biggest first, so the parallel tail is short
    total_ops = sum(len(j[2]) for j in jobs)
    nproc = processes if processes is not None else (os.cpu_count() or 1)
    parallel = nproc > 1 and len(jobs) > 1 and (total_ops >= PARALLEL_MIN_OPS or processes is not None)
    results = _run_rounds(jobs, max_configs, min(nproc, len(jobs)) if parallel else 1)
    verdicts = [r["valid"] for r in results.values()]
    if any(v is False for v in verdicts):
        valid: bool | str = False
    elif len(results) < len(jobs) or any(v == "unknown" for v in verdicts):
        valid = "unknown"
    else:
        valid = True
    counterexample = None
    kops_by_key = {j[1]: j[2] for j in jobs}
    for key, res in results.items():
        best = res.pop("_best", None)
        if best is not None and counterexample is None:
            counterexample = _counterexample(model, key, best, by_key_pairs[key], kops_by_key[key])
    per_key = {_key_name(k): r for k, r in results.items()}
    out: dict[str, Any] = {
        "valid": valid,
        "model": model.name,
        "ops": len(all_pairs),
        "checked_ops": total_ops,
        "dropped_ops": dropped,
        "keys": len(jobs),
        "per_key": per_key,
        "configs": sum(r.get("configs", 0) for r in results.values()),
        "counterexample": counterexample,
        "elapsed_s": round(time.monotonic() - t0, 6),
    }
    reasons = sorted({r["reason"] for r in results.values() if "reason" in r})
    if reasons:
        out["reason"] = "; ".join(reasons)
    return out


def _key_name(key: Any) -> str:
    if key is None:
        return "all"
    if isinstance(key, tuple) and len(key) == 2 and key[0] == "registers":
        return ",".join(str(r) for r in key[1]) or "all"
    return str(key)


def _counterexample(model: Any, key: Any, best: dict[str, Any], pairs_by_index: dict[int, Pair],
                    kops: list[KeyOp]) -> dict[str, Any]:
    kop_by_index = {o.index: o for o in kops}
    b = best["blocking"]
    blocking = kop_by_index.get(b)
    concurrent: list[int] = []
    if blocking is not None:
        concurrent = sorted(o.index for o in kops
                            if o.index != b and o.call < blocking.ret and o.ret > blocking.call)
    return {
        "key": _key_name(key),
        "op": _describe_op(model, pairs_by_index.get(b), blocking),
        "linearized": best["path"],
        "linearized_ops": [_describe_op(model, pairs_by_index.get(i), kop_by_index.get(i)) for i in best["path"][-10:]],
        "states": [_state_for_report(model, s) for s in best["states"]],
        "candidates": best["candidates"],
        "concurrent": concurrent,
        "concurrent_ops": [_describe_op(model, pairs_by_index.get(i), kop_by_index.get(i)) for i in concurrent[:50]],
        "message": ("no linearization" if blocking is None else
                    f"op {b} ({model.describe(blocking.mop)}) can never take effect: nothing before its "
                    f"completion produces what it needs" if best.get("impossible") else
                    f"op {b} ({model.describe(blocking.mop)}) cannot be linearized after the "
                    f"{len(best['path'])} ops linearized before it"),
    }



class LinearizableChecker:
    """The checker interface (checkers/checker.py) around ``check``: ``check(history, test_info) -> dict``."""
    name = "linearizable"

    def __init__(self, model: Any, time_limit: float | None = 60.0, max_configs: int = DEFAULT_MAX_CONFIGS,
                 processes: int | None = None) -> None:
        self.model = model
        self.time_limit = time_limit
        self.max_configs = max_configs
        self.processes = processes

    def check(self, history: list[Op], test_info: dict | None = None) -> dict[str, Any]:
        return check(history, self.model, self.time_limit, self.max_configs, self.processes)
