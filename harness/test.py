"""The Test bundle: everything one run needs, built by ``harness run`` and passed to every part.

DBs, clients and nemeses get the Test and use only ``nodes``, ``options``, ``remote(node)``,
``address(node)`` and ``connect_string()`` from it (the same surface as ``harness.backends.base.Nodes``),
so they work with a bare ``Nodes`` too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends.base import Backend
from harness.dbs.base import DB
from harness.generators import Generator
from harness.nemesis import Nemesis
from harness.remote import Remote
from workloads import Workload


@dataclass
class Test:
    name: str
    nodes: list[str]
    backend: Backend
    db: DB
    workload: Workload
    nemesis: Nemesis
    generator: Generator
    checker: Any                       # checkers.checker.Checker: check(history, test_info) -> dict
    options: dict[str, Any] = field(default_factory=dict)   # everything from the command line
    store_dir: Path | None = None
    seed: int = 0
    # Set by the runner: ``record_event(process, f, value=None, key=None, node=None, **extra)`` appends an
    # invoke immediately followed by its ok (for things clients observe asynchronously: watch events,
    # sessions ending). None outside a run.
    record_event: Any = None

    def remote(self, node: str) -> Remote:
        return self.backend.remote(node)

    def address(self, node: str) -> str:
        return self.backend.address(node)

    def connect_string(self, nodes: list[str] | None = None) -> str:
        """``ip:port,ip:port`` for kazoo: the given nodes, or all of them."""
        port = self.db.client_port
        return ",".join(f"{self.address(n)}:{port}" for n in (nodes or self.nodes))

    @property
    def concurrency(self) -> int:
        return int(self.options.get("concurrency", len(self.nodes)))

    def info(self) -> dict[str, Any]:
        """What checkers get as ``test_info``: the options plus names, JSON-ready."""
        return {"name": self.name, "nodes": list(self.nodes), "seed": self.seed, "db": self.db.name,
                "workload": self.workload.name, "nemesis": self.nemesis.name,
                "concurrency": self.concurrency, "options": dict(self.options)}
