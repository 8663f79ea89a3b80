"""Mutual exclusion: no two processes hold the same lock at once. Also "never two leaders at once".

Op shapes (lock, the defaults):
  - ``f="acquire"``: invoke when the process asks for the lock; ok once it holds it (kazoo
    ``Lock.acquire()`` returned True); fail if it certainly did not get it (e.g. a timeout that
    cancelled the request); info if unknown.
  - ``f="release"``: invoke when the process stops relying on the lock -- when it calls
    ``Lock.release()``, and also when it learns its session was lost (the lock znode may be gone); its
    completion does not matter.
  - ``key``: the lock's name/path (None for a single lock); locks with different keys are independent.
  - A release recorded on another process's behalf (say, a session-lost event recorded under a process
    of its own, so as not to overlap an op the holder has open) names the holder: ``"holder": <process>``
    in ``extra``.
Leader election uses the same shapes with ``f="elect"`` (ok = this process became leader, e.g. kazoo
``Election.run`` called its function) and ``f="resign"`` (invoke = it stops acting as leader):
``MutexChecker(acquire_f="elect", release_f="resign", name="leader")``.

A process certainly holds the lock from its acquire's ok until its next release's invoke (or the end of
the history). Two such intervals of different processes that overlap (by history position) are a
violation. This is conservative: the lock was granted somewhere between acquire invoke and ok, and may
be let go anywhere after the release invoke, so only the certain part of each hold is compared. An
``info`` acquire may have left the lock held (until the process's session ends) but cannot prove a
violation; such acquires are listed as ``indeterminate_acquires`` and ignored otherwise.

Note ZooKeeper locks are leases: a holder partitioned until its session expires loses the lock without
knowing, and another process may then acquire it. If the workload records the release only when it
learns of the loss, this checker reports that overlap -- a real hazard for users of the lock.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from checkers.checker import EXAMPLES, hashable, indexed
from checkers.history import INFO, INVOKE, OK, Op, pairs


@dataclass(slots=True)
class Hold:
    process: Any
    acquired: int            # index of the acquire's ok
    acquired_time: int
    released: int | None     # index of the release's invoke; None: held to the end of the history
    released_time: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"process": self.process, "acquired": self.acquired, "released": self.released,
                "acquired_time": self.acquired_time, "released_time": self.released_time}


class MutexChecker:
    def __init__(self, acquire_f: str = "acquire", release_f: str = "release", name: str = "mutex") -> None:
        self.acquire_f, self.release_f, self.name = acquire_f, release_f, name

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        history = indexed(history)
        indeterminate = [p.invoke.index for p in pairs(history)
                         if p.invoke.f == self.acquire_f and p.type == INFO]
        holds: dict[Any, list[Hold]] = defaultdict(list)  # key -> holds in order of acquisition
        open_holds: dict[tuple[Any, Any], Hold] = {}      # (key, process) -> its current hold
        for op in history:
            if not op.is_client:
                continue
            k = hashable(op.key)
            if op.f == self.acquire_f and op.type == OK and (k, op.process) not in open_holds:
                hold = Hold(op.process, op.index, op.time, None, None)
                open_holds[(k, op.process)] = hold
                holds[k].append(hold)
            elif op.f == self.release_f and op.type == INVOKE:
                hold = open_holds.pop((k, op.extra.get("holder", op.process)), None)
                if hold is not None:
                    hold.released, hold.released_time = op.index, op.time

        violations: list[dict] = []
        for k, hs in holds.items():
            active: list[Hold] = []
            for h in hs:  # already sorted by acquisition
                active = [a for a in active if a.released is None or a.released > h.acquired]
                for a in active:
                    if a.process != h.process:
                        violations.append({"key": k, "holders": [a.to_dict(), h.to_dict()]})
                active.append(h)
        return {
            "valid": not violations,
            "holds": sum(len(hs) for hs in holds.values()),
            "indeterminate_acquires": indeterminate[:EXAMPLES],
            "indeterminate_count": len(indeterminate),
            "violation_count": len(violations),
            "violations": violations[:EXAMPLES],
        }
