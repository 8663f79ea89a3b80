"""The one interface every checker has, and ``Compose`` to run several as one.

A checker is a pure function of a history: ``check(history, test_info) -> dict``. The dict always has
``"valid"``, one of ``True`` (no anomaly), ``False`` (an anomaly is proven; the dict says which, with op
indexes) or ``"unknown"`` (the history cannot decide, e.g. the final read never happened). Checkers are
conservative: an ``info`` operation (which may or may not have taken effect) never proves a violation.

A history a checker cannot interpret (a read whose value is not a list, say) raises ``HistoryError`` with
the op index; ``Compose`` turns that into an ``"unknown"`` result carrying the message, so one bad
checker input does not hide the other checkers' verdicts.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Literal, Mapping, Protocol, Sequence, Union, runtime_checkable

from checkers.history import HistoryError, Op

Validity = Union[bool, Literal["unknown"]]
UNKNOWN: Literal["unknown"] = "unknown"

# How many example anomalies a result lists in full; counts are always exact.
EXAMPLES = 20


@runtime_checkable
class Checker(Protocol):
    name: str

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        ...


def merge_valid(values: Iterable[Validity]) -> Validity:
    """False if any is False; else "unknown" if any is unknown; else True (also for no values)."""
    seen_unknown = False
    for v in values:
        if v is False:
            return False
        if v is not True:
            seen_unknown = True
    return UNKNOWN if seen_unknown else True


class Compose:
    """Runs several checkers over the same history; results keyed by checker name.

    ``{"valid": merged, "results": {name: result}, "invalid": [names], "unknown": [names]}``.
    """

    def __init__(self, checkers: Mapping[str, Checker] | Sequence[Checker], name: str = "compose") -> None:
        if isinstance(checkers, Mapping):
            self.checkers: dict[str, Checker] = dict(checkers)
        else:
            self.checkers = {}
            for c in checkers:
                if c.name in self.checkers:
                    raise ValueError(f"two checkers named {c.name!r}; pass a mapping to name them apart")
                self.checkers[c.name] = c
        self.name = name

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        results: dict[str, dict] = {}
        for name, checker in self.checkers.items():
            try:
                results[name] = checker.check(history, test_info)
            except HistoryError as exc:
                # A checker that cannot read this history has no verdict; the others still do.
                results[name] = {"valid": UNKNOWN, "error": str(exc)}
        valid = merge_valid(r.get("valid", UNKNOWN) for r in results.values())
        return {
            "valid": valid,
            "results": results,
            "invalid": [n for n, r in results.items() if r.get("valid") is False],
            "unknown": [n for n, r in results.items() if r.get("valid") not in (True, False)],
        }


def indexed(history: Sequence[Op]) -> list[Op]:
    """The history with ``index`` strictly increasing in list order, so checkers may compare indexes.

    Histories read from the store already are; hand-built or foreign ones get renumbered copies (the
    caller's ops are never modified).
    """
    last = -1
    for op in history:
        if op.index <= last:
            return [dataclasses.replace(op, index=i, extra=dict(op.extra)) for i, op in enumerate(history)]
        last = op.index
    return list(history)


def field_of(op: Op, name: str) -> Any:
    """A recorded field: ``op.extra[name]``, else ``op.value[name]`` when the value is a dict, else None."""
    if name in op.extra:
        return op.extra[name]
    if isinstance(op.value, dict):
        return op.value.get(name)
    return None


def hashable(value: Any) -> Any:
    """A value usable as a dict key: lists and dicts (as JSON decodes them) become a canonical string."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return value


def int_field(op: Op, name: str) -> int | None:
    """``field_of`` as an int, or None when absent; a present non-integer is a broken history."""
    v = field_of(op, name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise HistoryError(f"op {op.index}: {name!r} must be an integer, got {v!r}")
    return v
