"""election: kazoo's Election recipe; never two leaders at once.

Ops (checkers/mutex.py's shapes with ``f="elect"``/``"resign"``):
  - ``elect``: ``Election.run(func)`` on a helper thread; ok once ``func`` is running (this process is
    leader); if it is not leader within ``elect_wait`` seconds the candidacy is cancelled and the op fails
    (kazoo removes the contender znode); info when unknown.
  - ``resign``: ``func`` returns, so kazoo gives up the leadership; invoked when the process stops acting
    as leader. Also recorded as an event when the session is lost while leading.
"""
from __future__ import annotations

import threading
from typing import Any

from kazoo.protocol.states import KazooState
from kazoo.recipe.election import Election

from checkers.history import Op
from harness.client import KazooClientBase
from workloads import Workload
from workloads.lock import alternate

BASE = "/jepsen/election"


class ElectionClient(KazooClientBase):
    read_fs = frozenset()

    def setup(self, test: Any) -> None:
        self.zk.ensure_path(BASE)

    def opened(self) -> None:
        self.leading = False
        self.runner: threading.Thread | None = None
        self.elected = threading.Event()
        self.resign = threading.Event()
        self.zk.add_listener(self._state_changed)

    def _state_changed(self, state: str) -> None:
        if state == KazooState.LOST and self.leading:
            self.leading = False
            if self.test is not None and self.test.record_event is not None:
                self.test.record_event(f"events-{self.process}", "resign", None, holder=self.process,
                                      cause="session-lost")

    def _lead(self) -> None:
        self.elected.set()
        self.resign.wait()

    def do(self, op: Op) -> Op:
        if op.f == "elect":
            self.elected.clear()
            self.resign.clear()
            election = Election(self.zk, BASE, identifier=str(self.process))
            self.election = election
            self.runner = threading.Thread(target=self._run, args=(election,), daemon=True,
                                           name=f"election-{self.process}")
            self.runner.start()
            if not self.elected.wait(float(self.options.get("elect_wait") or 1.0)):
                election.cancel()
                self.runner.join(5.0)
                if not self.elected.is_set():
                    if self.runner.is_alive():
                        return self.info(op, error="cancel-timeout")
                    return self.fail(op, error="not-elected")
            self.leading = True
            return self.ok(op)
        if op.f == "resign":
            self.leading = False
            self.resign.set()
            if self.runner is not None:
                self.runner.join(5.0)
            return self.ok(op)
        raise ValueError(f"election: unknown op {op.f!r}")

    def _run(self, election: Election) -> None:
        try:
            election.run(self._lead)
        except Exception:  # connection loss while campaigning: the elect op reports it by timing out
            pass

    def close(self, test: Any) -> None:
        self.resign.set()
        super().close(test)


def make(options: dict[str, Any], seed: int) -> Workload:
    from checkers.mutex import MutexChecker
    return Workload(
        name="election",
        client=ElectionClient(options),
        generator=alternate("elect", "resign"),
        checker=MutexChecker(acquire_f="elect", release_f="resign", name="leader"),
        description="kazoo Election: never two leaders at once",
    )
