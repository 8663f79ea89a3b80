"""Workloads: what the clients do during a run and how the result is judged.

Each workload is a module here with ``make(options, seed) -> Workload``: the client template (a
``harness.client.Client``), the main-phase operation generator (infinite; the runner adds the rate and the
time limit), the final operations run after faults stop (e.g. one final read per worker), and the checker.
``WORKLOADS`` names them for ``harness run --workload``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

WORKLOADS: dict[str, str] = {
    "register": "workloads.register",
    "set": "workloads.set",
    "queue": "workloads.queue",
    "lock": "workloads.lock",
    "election": "workloads.election",
    "membership": "workloads.membership",
    "watch": "workloads.watch",
}


@dataclass
class Workload:
    name: str
    client: Any          # harness.client.Client template; the runner opens one per worker process
    generator: Any       # harness.generators GenLike: main-phase client ops
    checker: Any         # checkers.checker.Checker
    final: Any = None    # GenLike: client ops after faults stop (final reads), or None
    description: str = ""


class UnknownWorkload(LookupError):
    pass


def make_workload(name: str, options: dict[str, Any], seed: int) -> Workload:
    if name not in WORKLOADS:
        raise UnknownWorkload(f"unknown workload {name!r}; choose one of {', '.join(WORKLOADS)}")
    module = importlib.import_module(WORKLOADS[name])
    return module.make(dict(options), seed)
