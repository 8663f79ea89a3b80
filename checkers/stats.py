"""Outcome counts per operation kind; a kind that was invoked but never succeeded fails the test.

Jepsen's stats semantics: ``valid`` is False exactly when some ``f`` has no ok at all (the workload, or the
system, never managed that operation -- usually a broken client or a cluster that never came up). Only
client ops are counted; an invocation that never completed counts as ``info``. ``ignore_fs`` leaves out
kinds that are expected to have no ok (e.g. a final drain that may find nothing).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from checkers.checker import indexed
from checkers.history import FAIL, INFO, OK, Op, pairs


def _counts(c: Counter) -> dict[str, int]:
    return {"count": c[OK] + c[FAIL] + c[INFO], "ok_count": c[OK], "fail_count": c[FAIL], "info_count": c[INFO]}


class StatsChecker:
    def __init__(self, ignore_fs: tuple[str, ...] = (), name: str = "stats") -> None:
        self.ignore_fs, self.name = tuple(ignore_fs), name

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        by_f: dict[str, Counter] = defaultdict(Counter)
        total: Counter = Counter()
        for p in pairs(indexed(history)):
            by_f[p.invoke.f][p.type] += 1
            total[p.type] += 1
        per_f: dict[str, Any] = {}
        for f in sorted(by_f, key=str):
            d = _counts(by_f[f])
            d["valid"] = d["ok_count"] > 0 or f in self.ignore_fs
            per_f[f] = d
        return {"valid": all(d["valid"] for d in per_f.values()), **_counts(total), "by_f": per_f,
                "never_ok": [f for f, d in per_f.items() if not d["valid"]]}
