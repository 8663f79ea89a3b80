"""Fault nemeses: partitions, packet loss, process kills and pauses, clock faults — composable, scheduled, and
always healed. See docs/nemeses.md.

``build_package(spec, options, seed)`` turns ``--nemesis`` (a comma-separated list of faults and families,
e.g. ``partition,kill,clock`` or ``partition-ring,clock-skew``) into a ``NemesisPackage``: one
``FaultNemesis`` that performs the ops, a schedule (random choice among the enabled faults every
``--nemesis-interval`` s, each fault healed after the same interval; or the fixed ``--nemesis-schedule``), the
final ``heal-all`` op and the recovery pause. When clock faults are enabled it sets ``options["faketime"]`` so
the DB starts its servers under libfaketime.

History ops (process ``nemesis``): ``start-<family>`` with the shape as value, completed ``info`` with what was
done (the exact grudge, the nodes killed, the clock bumps...); ``stop-<family>``; ``heal-all`` at the end.
"""
from __future__ import annotations

import dataclasses
import random
import threading
from typing import Any

from checkers.history import INFO, Op
from harness.generators import Context, Invocation, Result, Wait
from harness.nemesis import NemesisPackage, UnknownNemesis
from nemeses import faults, grudges

# shape -> family. A family's name on the command line means a random choice among its shapes.
SHAPES: dict[str, str] = {
    **{name: "partition" for name in grudges.SHAPES},
    "partition-leader": "partition",
    "packet-loss": "partition",
    "kill-one": "kill", "kill-minority": "kill", "kill-all": "kill",
    "pause-one": "pause", "pause-minority": "pause", "pause-all": "pause",
    "clock-bump": "clock", "clock-strobe": "clock", "clock-skew": "clock",
}
# packet-loss is in the partition family for healing (same Net) but chosen only when named.
FAMILIES: dict[str, list[str]] = {
    "partition": sorted(s for s, f in SHAPES.items() if f == "partition" and s != "packet-loss"),
    "packet-loss": ["packet-loss"],
    "kill": ["kill-one", "kill-minority", "kill-all"],
    "pause": ["pause-one", "pause-minority", "pause-all"],
    "clock": ["clock-bump", "clock-strobe", "clock-skew"],
}
# Leader-based services go wrong most often when their leader is cut off, and with a uniform choice only one
# partition in three (on three nodes) happens to isolate it; so a group holding partition-leader picks it half
# the time and shares the other half among its other shapes.
LEADER_SHARE = 0.5
DEFAULT_INTERVAL = 5.0
DEFAULT_RECOVERY = 10.0


def parse_groups(spec: str) -> list[list[str]]:
    """One group of shapes per name in a ``--nemesis`` value (a family's shapes, or one shape);
    UnknownNemesis for anything unknown."""
    groups: list[list[str]] = []
    names = [p.strip() for p in spec.split(",") if p.strip()]
    if not names:
        raise UnknownNemesis("--nemesis is empty")
    for name in names:
        if name in FAMILIES:
            group = list(FAMILIES[name])
        elif name in SHAPES:
            group = [name]
        else:
            raise UnknownNemesis(f"unknown nemesis {name!r}; choose none, or a comma-separated list of "
                                 f"families ({', '.join(FAMILIES)}) and faults ({', '.join(sorted(SHAPES))})")
        if group not in groups:
            groups.append(group)
    return groups


def parse_faults(spec: str) -> list[str]:
    """Every shape a ``--nemesis`` value enables, in a stable order."""
    shapes: list[str] = []
    for group in parse_groups(spec):
        shapes += [s for s in group if s not in shapes]
    return shapes


def parse_schedule(spec: str, default_seconds: float) -> list[tuple[str, float]]:
    """``shape[:seconds],...`` -> [(shape, seconds active)]."""
    out = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, secs = part.partition(":")
        if name not in SHAPES:
            raise UnknownNemesis(f"--nemesis-schedule: unknown fault {name!r}; faults are {', '.join(sorted(SHAPES))}")
        try:
            seconds = float(secs) if secs else default_seconds
        except ValueError:
            raise UnknownNemesis(f"--nemesis-schedule: {part!r}: seconds must be a number") from None
        if seconds < 0:
            raise UnknownNemesis(f"--nemesis-schedule: {part!r}: seconds must be >= 0")
        out.append((name, seconds))
    if not out:
        raise UnknownNemesis("--nemesis-schedule is empty")
    return out


class FaultSchedule:
    """Nemesis-thread generator: wait ``interval``, start a fault, wait its duration, stop it, repeat.

    Faults are a seeded random choice (each active ``interval`` s): first one of ``groups`` (what was named
    on the command line: ``partition,kill`` gives partitions and kills equal shares), then a shape in it
    (``partition-leader`` takes LEADER_SHARE of its group's turns). With
    ``fixed``, the given (shape, seconds) list in order, cycling. Deterministic: time arrives in ``ctx``.
    """

    def __init__(self, groups: list[list[str]], seed: int, interval: float,
                 fixed: list[tuple[str, float]] | None = None) -> None:
        self._groups = groups
        self._rng = random.Random(seed)
        self._interval = interval
        self._fixed = fixed
        self._step = 0
        self._next_at: float | None = None
        self._active: str | None = None

    def next(self, ctx: Context) -> Result:
        if self._next_at is None:
            self._next_at = ctx.time + self._interval
        if ctx.time < self._next_at:
            return Wait(self._next_at)
        if self._active is None:
            if self._fixed:
                shape, seconds = self._fixed[self._step % len(self._fixed)]
                self._step += 1
            else:
                shape, seconds = self._pick(self._rng.choice(self._groups)), self._interval
            self._active = shape
            self._next_at = ctx.time + seconds
            return Invocation(f"start-{SHAPES[shape]}", shape)
        shape, self._active = self._active, None
        self._next_at = ctx.time + self._interval
        return Invocation(f"stop-{SHAPES[shape]}", shape)

    def _pick(self, group: list[str]) -> str:
        if "partition-leader" in group and len(group) > 1:
            if self._rng.random() < LEADER_SHARE:
                return "partition-leader"
            return self._rng.choice([s for s in group if s != "partition-leader"])
        return self._rng.choice(group)


class FaultNemesis:
    """Performs ``start-*``/``stop-*``/``heal-all`` ops with the fault families it was built with."""

    def __init__(self, name: str, shapes: list[str], seed: int, options: dict[str, Any]) -> None:
        self.name = name
        self.shapes = shapes
        rng = random.Random(seed)
        families = {SHAPES[s] for s in shapes}
        self.partition = (faults.PartitionFaults(random.Random(rng.getrandbits(63)),
                                                 float(options.get("packet_loss_fraction") or 0.3))
                          if "partition" in families else None)
        self.process = (faults.ProcessFaults(random.Random(rng.getrandbits(63)))
                        if families & {"kill", "pause"} else None)
        self.clock = (faults.ClockFaults(random.Random(rng.getrandbits(63)))
                      if "clock" in families else None)
        self._lock = threading.Lock()  # invoke (nemesis thread) and teardown (main thread) never interleave

    def _family(self, name: str) -> Any:
        family = {"partition": self.partition, "kill": self.process, "pause": self.process,
                  "clock": self.clock}.get(name)
        if family is None:
            raise ValueError(f"{name} faults are not enabled in this nemesis ({self.name})")
        return family

    def setup(self, test: Any) -> None:
        self.heal(test)  # a clean start, e.g. after a crashed run that shared nothing with us

    def invoke(self, test: Any, op: Op) -> Op:
        action, _, family = op.f.partition("-")
        with self._lock:
            if op.f == "heal-all":
                value: Any = self.heal(test)
            elif action == "start":
                value = self._family(family).start(test, op.value)
            elif action == "stop":
                value = {"shape": op.value, **self._family(family).stop(test)}
            else:
                raise ValueError(f"unknown nemesis op {op.f!r}")
        return dataclasses.replace(op, type=INFO, value=value)

    def heal(self, test: Any) -> dict[str, Any]:
        """Undo every fault of every enabled family; tries them all, then raises the first error."""
        done: dict[str, Any] = {}
        errors = []
        for name, family in (("network", self.partition), ("processes", self.process), ("clocks", self.clock)):
            if family is None:
                continue
            try:
                done[name] = family.heal(test)
            except Exception as exc:
                errors.append(f"healing {name}: {exc}")
        if errors:
            raise RuntimeError("; ".join(errors))
        return done

    def teardown(self, test: Any) -> None:
        with self._lock:
            self.heal(test)


def build_package(spec: str, options: dict[str, Any], seed: int) -> NemesisPackage:
    """The nemesis, schedule and final heal for ``--nemesis spec`` (see the module docstring)."""
    groups = parse_groups(spec)
    shapes = parse_faults(spec)
    interval = options.get("nemesis_interval")
    interval = DEFAULT_INTERVAL if interval is None else float(interval)
    if interval <= 0:
        raise UnknownNemesis("--nemesis-interval must be positive")
    fixed = None
    if options.get("nemesis_schedule"):
        fixed = parse_schedule(options["nemesis_schedule"], interval)
        shapes += [s for s, _ in fixed if s not in shapes]
    if any(SHAPES[s] == "clock" for s in shapes):
        options["faketime"] = {"monotonic": bool(options.get("fake_monotonic"))}
    name = "+".join(p.strip() for p in spec.split(",") if p.strip())
    seeds = random.Random(seed)
    nemesis = FaultNemesis(name, shapes, seeds.getrandbits(63), options)
    schedule = FaultSchedule(groups, seeds.getrandbits(63), interval, fixed)
    return NemesisPackage(nemesis, generator=schedule, final=[Invocation("heal-all")],
                          recovery_seconds=DEFAULT_RECOVERY)
