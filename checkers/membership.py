"""Group membership (kazoo Party, ephemeral znodes): the final view lists exactly the live members.

Op shapes:
  - ``f="join"``, ``value=<member id>`` (the identifier the party lists; ``None`` means the process):
    ok once the member's ephemeral znode exists.
  - ``f="leave"``, ``value=<member id>``: ok once the member left (its znode deleted).
  - ``f="end-session"``, ``value=<member id>``: the member's session ended (the client closed it, or the
    workload learnt it expired -- kazoo's LOST state); ok means certainly ended. Same effect as leave.
  - ``f="view"``, ok ``value=[<member id>, ...]``: the party's members as read. Final views are the ok
    views marked ``"final": true`` (in ``extra``), else the ok views invoked after every ok/fail
    join/leave/end-session completed. Take them after the last heal, once session timeouts have passed
    (an expired session's ephemerals vanish only when the cluster expires it).

For each final view, a member's state is built from the joins/leaves invoked before the view: an ok join
makes it *in*, an ok leave or end-session makes it *out*, a fail changes nothing, and an ``info`` op (or
one still running when the view was invoked) makes an in member (leave) or an out member (join) *maybe*.
  - missing: an *in* member absent from the view;
  - unexpected: an *out* member in the view (never joined, its joins failed, or it left);
  - duplicated: a member listed twice in one view.
*Maybe* members may be listed or not. No final view gives ``"unknown"``.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from checkers.checker import EXAMPLES, UNKNOWN, hashable, indexed
from checkers.history import FAIL, OK, HistoryError, Op, Pair, pairs

JOIN, LEAVES = "join", ("leave", "end-session")
IN, OUT, MAYBE = "in", "out", "maybe"


def _member(p: Pair) -> Any:
    v = p.invoke.value
    return hashable(v if v is not None else p.invoke.process)


class MembershipChecker:
    def __init__(self, name: str = "membership") -> None:
        self.name = name

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        ps = pairs(indexed(history))
        changes = [p for p in ps if p.invoke.f == JOIN or p.invoke.f in LEAVES]
        views = [p for p in ps if p.invoke.f == "view" and p.type == OK]
        finals = [p for p in views if p.complete.extra.get("final") or p.invoke.extra.get("final")]
        if not finals:
            settled = max((p.complete.index for p in changes if p.type in (OK, FAIL)), default=-1)
            finals = [p for p in views if p.invoke.index > settled]

        missing, unexpected, duplicated = [], [], []
        for view in finals:
            if not isinstance(view.complete.value, list):
                raise HistoryError(f"op {view.complete.index}: an ok view must have a list value, "
                                   f"got {view.complete.value!r}")
            state: dict[Any, tuple[str, int]] = {}  # member -> (state, index of the op that decided it)
            for p in changes:
                if p.invoke.index > view.invoke.index:
                    break
                m = _member(p)
                now = state.get(m, (OUT, -1))[0]
                settled = p.type in (OK, FAIL) and p.complete.index < view.invoke.index
                if settled and p.type == FAIL:
                    continue
                joining = p.invoke.f == JOIN
                if settled:
                    state[m] = ((IN if joining else OUT), p.complete.index)
                elif (joining and now == OUT) or (not joining and now == IN):
                    state[m] = (MAYBE, p.invoke.index)
            listed = Counter(hashable(x) for x in view.complete.value)
            vi = view.complete.index
            for m, n in listed.items():
                if n > 1:
                    duplicated.append({"member": m, "view": vi, "count": n})
                s, by = state.get(m, (OUT, -1))
                if s == OUT:
                    unexpected.append({"member": m, "view": vi, "last_op": by if by >= 0 else None})
            for m, (s, by) in state.items():
                if s == IN and m not in listed:
                    missing.append({"member": m, "view": vi, "joined": by})

        result: dict[str, Any] = {
            "valid": UNKNOWN if not finals else not (missing or unexpected or duplicated),
            "final_views": [v.complete.index for v in finals],
            "missing_count": len(missing), "missing": missing[:EXAMPLES],
            "unexpected_count": len(unexpected), "unexpected": unexpected[:EXAMPLES],
            "duplicated_count": len(duplicated), "duplicated": duplicated[:EXAMPLES],
        }
        if not finals:
            result["error"] = "no ok view after the last join/leave completed"
        return result
