"""Set and queue checkers: nothing acknowledged is lost, nothing appears from nowhere or twice.

Set (``SetChecker``), op shapes the workload records:
  - ``f="add"``, ``value=<element>`` (any JSON value; elements should be unique per add).
  - ``f="read"``, ok ``value=[<element>, ...]`` (the whole set as read, e.g. the children of a znode).
  Final reads are the ok reads carrying ``"final": true`` (in ``extra``); if none is marked, the ok reads
  invoked after every ok/fail add had completed. Workloads should take the final read(s) after the last heal
  (and after a ``sync``, since ZooKeeper reads may be stale).
  In each final read:
  - lost: an element whose add completed ok before the read was invoked, and which the read lacks;
  - unexpected: an element with no ok/info add invoked before the read completed (never added, or every
    add of it failed -- ``fail`` means it certainly did not happen);
  - duplicated: an element listed more than once in one read;
  - recovered (not an anomaly): an element whose add was ``info`` and which a final read shows.
  No final read at all gives ``"unknown"``.

Queue (``QueueChecker``; e.g. kazoo's Queue over sequential znodes):
  - ``f="enqueue"``, ``value=<element>``;
  - ``f="dequeue"``, ok ``value=<element>``, or ``None`` when the queue was empty;
  - ``f="drain"``, ok ``value=[<element>, ...]`` (everything left, removed); the last one ends the test.
  - lost: an element whose enqueue was ok, not dequeued by any ok dequeue or drain, although a drain was
    invoked after the enqueue completed. Each ``info`` dequeue may have removed one element without our
    knowing, so lost elements are a proven anomaly only when there are more of them than info dequeues
    (an info drain may have removed any number); otherwise they are reported as ``unresolved``.
  - unexpected: a dequeued element with no ok/info enqueue invoked before the dequeue completed;
  - duplicated: an element dequeued more times than it was (possibly) enqueued;
  - recovered: an element whose enqueue was ``info`` and which was dequeued.
  With no ok drain, elements still in the queue cannot be judged: ``"unknown"`` unless every ok enqueue's
  element was dequeued.

Result counts are exact; the lists hold up to ``EXAMPLES`` entries each, with op indexes.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from checkers.checker import EXAMPLES, UNKNOWN, hashable, indexed
from checkers.history import FAIL, INFO, OK, HistoryError, Op, Pair, pairs


@dataclass(slots=True)
class _Adds:
    """What the history says about the adds (or enqueues) of each element."""
    ok_done: dict[Any, int]          # element -> index of its earliest ok completion
    possible_invoke: dict[Any, int]  # element -> index of its earliest ok/info invocation
    info: dict[Any, int]             # element -> index of an info add's invocation
    failed: dict[Any, list[int]]     # element -> indexes of fail completions
    possible_count: Counter          # element -> how many ok/info adds
    originals: dict[Any, Any]        # hashable key -> the element as recorded
    attempts: int


def _collect_adds(ps: list[Pair], f: str) -> _Adds:
    adds = _Adds({}, {}, {}, defaultdict(list), Counter(), {}, 0)
    for p in ps:
        if p.invoke.f != f:
            continue
        value = p.complete.value if p.complete is not None and p.complete.value is not None else p.invoke.value
        e = hashable(value)
        adds.originals.setdefault(e, value)
        adds.attempts += 1
        if p.type == FAIL:
            adds.failed[e].append(p.complete.index)
            continue
        adds.possible_count[e] += 1
        adds.possible_invoke[e] = min(adds.possible_invoke.get(e, p.invoke.index), p.invoke.index)
        if p.type == OK:
            adds.ok_done[e] = min(adds.ok_done.get(e, p.complete.index), p.complete.index)
        else:
            adds.info.setdefault(e, p.invoke.index)
    return adds


def _list_value(op: Op, what: str) -> list:
    if not isinstance(op.value, list):
        raise HistoryError(f"op {op.index}: an ok {what} must have a list value, got {op.value!r}")
    return op.value


class SetChecker:
    def __init__(self, add_f: str = "add", read_f: str = "read", name: str = "set") -> None:
        self.add_f, self.read_f, self.name = add_f, read_f, name

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        ps = pairs(indexed(history))
        adds = _collect_adds(ps, self.add_f)
        reads = [p for p in ps if p.invoke.f == self.read_f and p.type == OK]
        finals = [p for p in reads if p.complete.extra.get("final") or p.invoke.extra.get("final")]
        if not finals:
            settled = max((p.complete.index for p in ps
                           if p.invoke.f == self.add_f and p.type in (OK, FAIL)), default=-1)
            finals = [p for p in reads if p.invoke.index > settled]

        lost: dict[Any, dict] = {}
        unexpected: dict[Any, dict] = {}
        duplicated: dict[Any, dict] = {}
        recovered: dict[Any, dict] = {}
        for r in finals:
            counts = Counter(hashable(x) for x in _list_value(r.complete, "read"))
            for e, n in counts.items():
                if n > 1:
                    duplicated.setdefault(e, {"element": e, "read": r.complete.index, "count": n})
                invoked = adds.possible_invoke.get(e)
                if invoked is None or invoked > r.complete.index:
                    unexpected.setdefault(e, {"element": e, "read": r.complete.index,
                                              "failed_adds": adds.failed.get(e, [])})
                elif e in adds.info and e not in adds.ok_done:
                    recovered.setdefault(e, {"element": e, "add": adds.info[e], "read": r.complete.index})
            for e, done in adds.ok_done.items():
                if done < r.invoke.index and e not in counts:
                    lost.setdefault(e, {"element": e, "add": done, "read": r.complete.index})

        def listed(d: dict[Any, dict]) -> list[dict]:
            out = sorted(d.values(), key=lambda x: (x.get("add", -1), x.get("read", -1)))[:EXAMPLES]
            return [dict(x, element=adds.originals.get(x["element"], x["element"])) for x in out]

        if not finals:
            valid: Any = UNKNOWN
        else:
            valid = not (lost or unexpected or duplicated)
        result = {
            "valid": valid,
            "attempt_count": adds.attempts,
            "acknowledged_count": len(adds.ok_done),
            "final_reads": [r.complete.index for r in finals],
            "lost_count": len(lost), "lost": listed(lost),
            "unexpected_count": len(unexpected), "unexpected": listed(unexpected),
            "duplicated_count": len(duplicated), "duplicated": listed(duplicated),
            "recovered_count": len(recovered), "recovered": listed(recovered),
        }
        if not finals:
            result["error"] = f"no ok {self.read_f!r} after the last {self.add_f!r} completed"
        return result


class QueueChecker:
    def __init__(self, enqueue_f: str = "enqueue", dequeue_f: str = "dequeue", drain_f: str = "drain",
                 name: str = "queue") -> None:
        self.enqueue_f, self.dequeue_f, self.drain_f, self.name = enqueue_f, dequeue_f, drain_f, name

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        ps = pairs(indexed(history))
        enq = _collect_adds(ps, self.enqueue_f)

        # Every element taken out by an ok dequeue or drain, with the op that took it.
        taken: dict[Any, list[int]] = defaultdict(list)
        info_dequeues = 0
        info_drain = False
        last_drain_invoke = -1
        for p in ps:
            f = p.invoke.f
            if f == self.drain_f:
                if p.type == OK:
                    last_drain_invoke = max(last_drain_invoke, p.invoke.index)
                    for x in _list_value(p.complete, "drain"):
                        taken[hashable(x)].append(p.complete.index)
                elif p.type == INFO:
                    info_drain = True
            elif f == self.dequeue_f:
                if p.type == OK and p.complete.value is not None:
                    taken[hashable(p.complete.value)].append(p.complete.index)
                elif p.type == INFO:
                    info_dequeues += 1

        unexpected, duplicated, recovered = [], [], []
        for e, idxs in taken.items():
            first = min(idxs)
            invoked = enq.possible_invoke.get(e)
            if invoked is None or invoked > first:
                unexpected.append({"element": e, "dequeue": first, "failed_enqueues": enq.failed.get(e, [])})
            elif len(idxs) > enq.possible_count[e]:
                duplicated.append({"element": e, "dequeues": sorted(idxs)})
            if e in enq.info and e not in enq.ok_done:
                recovered.append({"element": e, "enqueue": enq.info[e], "dequeue": first})
        missing = [{"element": e, "enqueue": done} for e, done in enq.ok_done.items()
                   if e not in taken and done < last_drain_invoke]
        missing.sort(key=lambda x: x["enqueue"])
        budget = float("inf") if info_drain else info_dequeues
        lost, unresolved = (missing, []) if len(missing) > budget else ([], missing)

        def listed(xs: list[dict]) -> list[dict]:
            return [dict(x, element=enq.originals.get(x["element"], x["element"])) for x in xs[:EXAMPLES]]

        valid: Any = not (lost or unexpected or duplicated)
        undrained = [e for e in enq.ok_done if e not in taken]
        if valid and last_drain_invoke < 0 and undrained:
            valid = UNKNOWN  # without a final drain, elements still queued are not lost
        return {
            "valid": valid,
            "attempt_count": enq.attempts,
            "acknowledged_count": len(enq.ok_done),
            "dequeued_count": sum(len(v) for v in taken.values()),
            "drained": last_drain_invoke >= 0,
            "indeterminate_dequeues": info_dequeues,
            "lost_count": len(lost), "lost": listed(lost),
            "unresolved_count": len(unresolved), "unresolved": listed(unresolved),
            "unexpected_count": len(unexpected), "unexpected": listed(unexpected),
            "duplicated_count": len(duplicated), "duplicated": listed(duplicated),
            "recovered_count": len(recovered), "recovered": listed(recovered),
        }
