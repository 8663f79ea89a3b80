"""membership: kazoo's Party recipe (ephemeral znodes); the final view lists exactly the live members.

Ops (checkers/membership.py's shapes; the member id is the process number, so join/leave need no value):
  - ``join``: ``Party.join()`` (an ephemeral znode); ``leave``: ``Party.leave()``;
  - ``view``: ``sync`` then the party's member list; the final one (``"final": true``) after faults stop;
  - ``end-session`` (value = the member id): recorded, under a process ``events-<process>`` of its own, when
    a worker closes its session (after an ``info``, or at the end) -- its ephemeral znodes are gone once the
    close returns -- and when kazoo reports the session LOST (expired: the server deleted them).
"""
from __future__ import annotations

import random
from typing import Any

from kazoo.protocol.states import KazooState
from kazoo.recipe.party import Party

from checkers.history import Op
from harness.client import KazooClientBase
from harness.generators import EachThread, Invocation, Seq
from workloads import Workload

BASE = "/jepsen/party"


def member_id(process: Any) -> str:
    """The identifier in the party's znode: the process number as text."""
    return str(process)


class MembershipClient(KazooClientBase):
    read_fs = frozenset({"view"})

    def setup(self, test: Any) -> None:
        self.zk.ensure_path(BASE)

    def opened(self) -> None:
        self.party: Party | None = None
        self.may_be_member = False
        self.ended = False
        self.zk.add_listener(self._state_changed)

    def _state_changed(self, state: str) -> None:
        # LOST: the session expired, so the server has deleted its ephemeral member znode.
        if state == KazooState.LOST:
            self._end_session("session-lost")

    def _end_session(self, cause: str) -> None:
        if self.may_be_member and not self.ended and self.test is not None and self.test.record_event is not None:
            self.ended = True
            # A process of its own: the member's own op may be open right now.
            self.test.record_event(f"events-{self.process}", "end-session", self.process, cause=cause)

    def _party(self) -> Party:
        if self.party is None:
            self.party = Party(self.zk, BASE, identifier=member_id(self.process))
        return self.party

    def do(self, op: Op) -> Op:
        if op.f == "join":
            self.may_be_member, self.ended = True, False
            self._party().join()
            return self.ok(op)
        if op.f == "leave":
            self._party().leave()
            return self.ok(op)
        if op.f == "view":
            self.zk.sync(BASE)
            return self.ok(op, sorted((int(m) if m.isdigit() else m for m in self._party()), key=str))
        raise ValueError(f"membership: unknown op {op.f!r}")

    def close(self, test: Any) -> None:
        super().close(test)  # closeSession: the server deletes this session's ephemerals
        self._end_session("closed")


class Churn:
    """Each worker: join, then leave or view at random, rejoining after a leave."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.member = False

    def next(self, ctx: Any) -> Invocation:
        if not self.member:
            self.member = True
            return Invocation("join")
        if self.rng.random() < 0.5:
            return Invocation("view")
        self.member = False
        return Invocation("leave")


def make(options: dict[str, Any], seed: int) -> Workload:
    from checkers.membership import MembershipChecker
    return Workload(
        name="membership",
        client=MembershipClient(options),
        generator=EachThread(lambda thread, s: Churn(s), seed),
        final=Seq([Invocation("view", extra={"final": True})]),
        checker=MembershipChecker(),
        description="kazoo Party: join/leave/view; final view = live members",
    )
