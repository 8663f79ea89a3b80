"""History checkers. ``CHECKERS`` names every non-linearizability checker: name -> factory(**options).

Factories import their module when called, so importing ``checkers.history`` stays light.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable


def _lazy(module: str, cls: str, **defaults: Any) -> Callable[..., Any]:
    def factory(**options: Any) -> Any:
        return getattr(importlib.import_module(module), cls)(**{**defaults, **options})
    factory.__name__ = f"make_{cls}"
    factory.__doc__ = f"{module}.{cls}({', '.join(f'{k}={v!r}' for k, v in defaults.items())})"
    return factory


CHECKERS: dict[str, Callable[..., Any]] = {
    "set": _lazy("checkers.sets", "SetChecker"),
    "queue": _lazy("checkers.sets", "QueueChecker"),
    "unique-ids": _lazy("checkers.unique_ids", "UniqueIdsChecker"),
    "session-order": _lazy("checkers.session_order", "SessionOrderChecker"),
    "mutex": _lazy("checkers.mutex", "MutexChecker"),
    "leader": _lazy("checkers.mutex", "MutexChecker", acquire_f="elect", release_f="resign", name="leader"),
    "watches": _lazy("checkers.watches", "WatchChecker"),
    "membership": _lazy("checkers.membership", "MembershipChecker"),
    "stats": _lazy("checkers.stats", "StatsChecker"),
    "perf": _lazy("checkers.perf", "PerfChecker"),
}


def make_checker(name: str, **options: Any) -> Any:
    """A checker by registry name; an unknown name or option is a ValueError that lists what exists."""
    factory = CHECKERS.get(name)
    if factory is None:
        raise ValueError(f"unknown checker {name!r}; known: {', '.join(sorted(CHECKERS))}")
    try:
        return factory(**options)
    except TypeError as exc:
        raise ValueError(f"checker {name!r}: bad options {sorted(options)}: {exc}") from None
