"""Unique ids: no two ok operations returned the same id (e.g. sequential znode names).

Op shape: ``f="generate"`` (configurable), ok ``value=<id>`` -- with ZooKeeper, the path a sequential
create returned, e.g. ``"/ids/id-0000000012"``. ``fail`` and ``info`` ops return no id and are only counted.
An ok op with ``value=None`` is a broken history (an ok generate must say what it got).

Result: ``attempted_count``, ``acknowledged_count``, ``duplicated_count`` (ids returned more than once),
``duplicated`` = up to ``EXAMPLES`` of ``{"value": id, "ops": [ok op indexes]}``.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from checkers.checker import EXAMPLES, hashable, indexed
from checkers.history import INVOKE, OK, HistoryError, Op


class UniqueIdsChecker:
    def __init__(self, f: str = "generate", name: str = "unique-ids") -> None:
        self.f, self.name = f, name

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        seen: dict[Any, list[int]] = defaultdict(list)
        originals: dict[Any, Any] = {}
        attempted = 0
        for op in indexed(history):
            if op.f != self.f or not op.is_client:
                continue
            if op.type == INVOKE:
                attempted += 1
            elif op.type == OK:
                if op.value is None:
                    raise HistoryError(f"op {op.index}: an ok {self.f!r} must carry the id it got as its value")
                k = hashable(op.value)
                originals.setdefault(k, op.value)
                seen[k].append(op.index)
        dups = [{"value": originals[k], "ops": idxs} for k, idxs in seen.items() if len(idxs) > 1]
        dups.sort(key=lambda d: d["ops"][0])
        return {
            "valid": not dups,
            "attempted_count": attempted,
            "acknowledged_count": sum(len(v) for v in seen.values()),
            "duplicated_count": len(dups),
            "duplicated": dups[:EXAMPLES],
        }
