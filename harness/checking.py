"""Judging a run's history: the workload's checker plus the run-wide ones, into results.json's shape.

``check_history`` is used both at the end of ``harness run`` and by ``harness check --run`` (through
``harness.store.recheck_run``), so a stored run is always re-judged exactly as it was judged first.
"""
from __future__ import annotations

import importlib
import logging
import time
import traceback
from typing import Any

from checkers.checker import UNKNOWN, Compose
from checkers.history import Op
from workloads import make_workload

log = logging.getLogger("harness.checking")

# Run-wide checkers, if present: (module, class) -> result name.
_GENERAL = {"stats": ("checkers.stats", "StatsChecker"), "perf": ("checkers.perf", "PerfChecker")}


def general_checkers() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (module_name, cls) in _GENERAL.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        factory = getattr(module, cls, None)
        if factory is not None:
            out[name] = factory()
    return out


def check_with(checker: Any, history: list[Op], test_info: dict[str, Any]) -> dict[str, Any]:
    """Run the workload's checker and the general ones; a checker that crashes gives "unknown" with the
    error instead of losing every other verdict."""
    checkers = {"workload": checker, **general_checkers()}
    t0 = time.monotonic()
    results: dict[str, Any] = {}
    for name, c in checkers.items():
        try:
            results[name] = Compose({name: c}).check(history, test_info)["results"][name]
        except Exception as exc:  # a checker bug must not cost the run its other results
            log.error("checker %s crashed: %s", name, traceback.format_exc())
            results[name] = {"valid": UNKNOWN, "error": f"checker crashed: {type(exc).__name__}: {exc}"}
    # Stats and perf describe the run; only the workload's checker decides validity.
    valid = results["workload"].get("valid", UNKNOWN)
    if valid not in (True, False):
        valid = UNKNOWN
    return {"valid": valid, "checker": getattr(checker, "name", type(checker).__name__),
            "check_seconds": round(time.monotonic() - t0, 3), "results": results}


def check_history(workload: str, options: dict[str, Any], seed: int, history: list[Op],
                  test_info: dict[str, Any]) -> dict[str, Any]:
    wl = make_workload(workload, dict(options), seed)
    return check_with(wl.checker, history, test_info)
