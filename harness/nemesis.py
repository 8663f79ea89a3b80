"""The ``Nemesis`` protocol (something that injects faults) and how a nemesis is chosen by name.

A nemesis runs on its own thread (process ``"nemesis"`` in the history) and gets ops from the run's
generator like any worker:

``setup(test)``        prepare (e.g. learn the nodes); faults are not active yet.
``invoke(test, op) -> Op``
    perform the fault op (``f`` e.g. ``"start-partition"``, ``"stop-partition"``) and return its completion,
    normally ``info`` with a ``value`` describing what was done (Jepsen's convention for nemesis ops).
``teardown(test)``     undo every fault (heal), whatever state the run ended in.

``NemesisPackage`` bundles a nemesis with its schedule: ``generator`` (fault ops during the main phase)
and ``final`` (the ops that heal everything before the final phase). ``--nemesis none`` is ``NoopNemesis``
with no schedule. The fault nemeses live in ``nemeses/`` (a later issue) and register in ``NEMESES``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from checkers.history import INFO, Op
from harness.generators import GenLike, Invocation


class Nemesis(Protocol):
    name: str

    def setup(self, test: Any) -> None: ...

    def invoke(self, test: Any, op: Op) -> Op: ...

    def teardown(self, test: Any) -> None: ...


class NoopNemesis:
    """No faults. Any op it is given completes as ``info`` having done nothing."""
    name = "none"

    def setup(self, test: Any) -> None:
        pass

    def invoke(self, test: Any, op: Op) -> Op:
        return dataclasses.replace(op, type=INFO, value="no faults", index=-1, time=0)

    def teardown(self, test: Any) -> None:
        pass


@dataclass
class NemesisPackage:
    nemesis: Nemesis
    generator: GenLike = None                 # fault ops during the main phase (nemesis thread only)
    final: list[Invocation] | None = None     # heal ops run before the final phase
    recovery_seconds: float = 0.0             # pause after healing before final reads


def _none(options: dict[str, Any], seed: int) -> NemesisPackage:
    return NemesisPackage(NoopNemesis())


# name -> factory(options, seed). Fault nemeses add themselves here when they land.
NEMESES: dict[str, Callable[[dict[str, Any], int], NemesisPackage]] = {"none": _none}


class UnknownNemesis(LookupError):
    pass


def resolve_nemesis(name: str, options: dict[str, Any], seed: int) -> NemesisPackage:
    try:
        factory = NEMESES[name]
    except KeyError:
        # Fault nemeses (lists like `partition,kill,clock`, families, single shapes) live in nemeses/,
        # which imports this module: hence the late import.
        import nemeses
        build_package = getattr(nemeses, "build_package", None)
        if build_package is None:
            raise UnknownNemesis(f"unknown nemesis {name!r}; choose one of {', '.join(sorted(NEMESES))}") from None
        return build_package(name, options, seed)
    return factory(options, seed)
