"""Fault nemeses: partitions, packet loss, process kills and pauses, clock faults — composable, scheduled, and
always healed. See docs/nemeses.md.

``build_package(spec, options, seed)`` turns ``--nemesis`` (a comma-separated list of faults and families,
e.g. ``partition,kill,clock`` or ``partition-ring,clock-skew``) into a ``NemesisPackage``: one
``FaultNemesis`` that performs the ops, a schedule (random choice among the enabled faults every
``--nemesis-interval`` s, each fault healed after the same interval; or the fixed ``--nemesis-schedule``), the
final ``heal-all`` op and the recovery pause. A composite ``a+b`` (e.g. ``partition-leader+clock-bump-back``) is
one fault whose parts, from different families, start together (in order) and stop together (in reverse). When clock faults are enabled it sets ``options["faketime"]`` so
the DB starts its servers under libfaketime.

History ops (process ``nemesis``): ``start-<family>`` with the shape as value, completed ``info`` with what was
done (the exact grudge, the nodes killed, the clock bumps...); ``stop-<family>``; ``heal-all`` at the end.
A composite fault is one such start op per part, one after the other, and later one stop op per part.
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
    "clock-bump": "clock", "clock-strobe": "clock", "clock-skew": "clock", "clock-bump-back": "clock",
}
# packet-loss is in the partition family for healing (same Net) but chosen only when named; so is clock-bump-back
# (a clock-bump whose jump is always backwards) in the clock family.
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
COMPOSITE = "+"


def _family_of(name: str) -> str:
    """The fault state (one Net, one process table, one clock state) a shape or family name acts on."""
    family = SHAPES[FAMILIES[name][0]] if name in FAMILIES else SHAPES[name]
    return "kill/pause" if family in ("kill", "pause") else family


def _unknown(name: str) -> UnknownNemesis:
    return UnknownNemesis(f"unknown nemesis {name!r}; choose none, or a comma-separated list of families "
                          f"({', '.join(FAMILIES)}) and faults ({', '.join(sorted(SHAPES))}), or composites "
                          "of them joined by + (e.g. partition-leader+clock-bump)")


def composite_parts(name: str, allowed: Any, what: str = "--nemesis") -> list[str]:
    """The parts of ``a+b`` (or ``[name]``): each in ``allowed``, no two of the same family, else UnknownNemesis."""
    parts = [p.strip() for p in name.split(COMPOSITE)]
    if len(parts) == 1:
        return parts
    seen: dict[str, str] = {}
    for part in parts:
        if not part:
            raise UnknownNemesis(f"{what}: {name!r}: empty part in a composite fault")
        if part not in allowed:
            raise _unknown(part) if what == "--nemesis" else UnknownNemesis(
                f"{what}: unknown fault {part!r} in {name!r}; faults are {', '.join(sorted(SHAPES))}")
        family = _family_of(part)
        if family in seen:
            raise UnknownNemesis(f"{what}: {name!r}: {seen[family]!r} and {part!r} are both {family} faults; the "
                                 "parts of a composite fault must be from different families (one network, one "
                                 "process table and one clock state per family)")
        seen[family] = part
    return parts


def parse_groups(spec: str) -> list[list[str]]:
    """One group of options per name in a ``--nemesis`` value (a family's shapes, one shape, or one composite
    ``a+b``, whose parts may be families); UnknownNemesis for anything unknown."""
    groups: list[list[str]] = []
    names = [p.strip() for p in spec.split(",") if p.strip()]
    if not names:
        raise UnknownNemesis("--nemesis is empty")
    for name in names:
        if COMPOSITE in name:
            parts = composite_parts(name, {**FAMILIES, **SHAPES})
            group = [COMPOSITE.join(parts)]
        elif name in FAMILIES:
            group = list(FAMILIES[name])
        elif name in SHAPES:
            group = [name]
        else:
            raise _unknown(name)
        if group not in groups:
            groups.append(group)
    return groups


def parse_faults(spec: str) -> list[str]:
    """Every shape a ``--nemesis`` value enables, in a stable order."""
    shapes: list[str] = []
    for group in parse_groups(spec):
        for option in group:
            for part in option.split(COMPOSITE):
                shapes += [s for s in FAMILIES.get(part, [part]) if s not in shapes]
    return shapes


def parse_schedule(spec: str, default_seconds: float) -> list[tuple[str, float]]:
    """``fault[:seconds],...`` -> [(fault, seconds active)]; a fault is a shape or a composite of shapes
    ``a+b`` (families are refused: a fixed schedule names exactly what happens)."""
    out = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, secs = part.partition(":")
        name = COMPOSITE.join(composite_parts(name.strip(), SHAPES, "--nemesis-schedule"))
        if name not in SHAPES and COMPOSITE not in name:
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
    (``partition-leader`` takes LEADER_SHARE of its group's turns; a family inside a composite picks a shape of
    that family the same way). With ``fixed``, the given (fault, seconds) list in order, cycling.
    A composite's parts start one after the other (one op each, no wait between them) and stop in reverse order.
    Deterministic: time arrives in ``ctx``.
    """

    def __init__(self, groups: list[list[str]], seed: int, interval: float,
                 fixed: list[tuple[str, float]] | None = None,
                 families: dict[str, list[str]] | None = None) -> None:
        self._groups = groups
        self._families = FAMILIES if families is None else families
        self._rng = random.Random(seed)
        self._interval = interval
        self._fixed = fixed
        self._step = 0
        self._next_at: float | None = None
        self._active: list[str] = []
        self._queued: list[Invocation] = []

    def next(self, ctx: Context) -> Result:
        if self._queued:
            return self._queued.pop(0)
        if self._next_at is None:
            self._next_at = ctx.time + self._interval
        if ctx.time < self._next_at:
            return Wait(self._next_at)
        if not self._active:
            if self._fixed:
                fault, seconds = self._fixed[self._step % len(self._fixed)]
                self._step += 1
                parts = fault.split(COMPOSITE)
            else:
                group, seconds = self._rng.choice(self._groups), self._interval
                if len(group) == 1 and COMPOSITE in group[0]:
                    parts = [self._pick(self._families.get(p, [p])) for p in group[0].split(COMPOSITE)]
                else:
                    parts = [self._pick(group)]
            self._active = parts
            self._next_at = ctx.time + seconds
            self._queued = [Invocation(f"start-{SHAPES[s]}", s) for s in parts]
        else:
            self._next_at = ctx.time + self._interval
            self._queued = [Invocation(f"stop-{SHAPES[s]}", s) for s in reversed(self._active)]
            self._active = []
        return self._queued.pop(0)

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
                # The parts of a composite overlap in time; a part started while a partition is on acts on
                # the nodes the partition cut off (partition-leader+clock-bump bumps the isolated leader).
                among = self.partition.cut_off if self.partition is not None and family != "partition" else None
                value = self._family(family).start(test, op.value, among=among or None)
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


def cuts_nothing(shape: str, node_count: int) -> bool:
    """A partition shape that leaves every link up on this many nodes (a ring on three nodes, anything on one)."""
    if SHAPES.get(shape) != "partition":
        return False
    if shape in grudges.SHAPES:
        return not grudges.cuts_something(grudges.SHAPES[shape], node_count)
    return node_count < 2


def fit_to_cluster(groups: list[list[str]], fixed: list[tuple[str, float]] | None,
                   node_count: int) -> tuple[list[list[str]], dict[str, list[str]]]:
    """The groups and families with the shapes that would cut nothing on ``node_count`` nodes left out of the
    random choice. A shape named on its own (or in a composite, or in a schedule), or a family with no shape
    left, is refused with UnknownNemesis: a fault that does nothing must not look like one that found no bug."""
    def refuse(name: str, shapes: list[str], what: str) -> UnknownNemesis:
        needed = min((n for n in range(2, 16) for shape in shapes if not cuts_nothing(shape, n)), default=None)
        return UnknownNemesis(f"{what}: {name} cuts no link on {node_count} node{'s' * (node_count != 1)}"
                              + (f"; it needs at least {needed} (--node-count)" if needed else ""))

    dead = {s for s in SHAPES if cuts_nothing(s, node_count)}  # each check builds graphs: once per shape
    families = {name: [s for s in shapes if s not in dead] for name, shapes in FAMILIES.items()}
    fitted = []
    for group in groups:
        if len(group) == 1:
            for part in group[0].split(COMPOSITE):
                if part in families and not families[part]:
                    raise refuse(part, FAMILIES[part], "--nemesis")
                if part in dead:
                    raise refuse(part, [part], "--nemesis")
            fitted.append(group)
        else:
            kept = [s for s in group if s not in dead]
            if not kept:
                family = next((f for f, shapes in FAMILIES.items() if shapes == group), group[0])
                raise refuse(family, group, "--nemesis")
            fitted.append(kept)
    for fault, _ in fixed or []:
        for part in fault.split(COMPOSITE):
            if part in dead:
                raise refuse(part, [part], "--nemesis-schedule")
    return fitted, families


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
        for fault, _ in fixed:
            shapes += [s for s in fault.split(COMPOSITE) if s not in shapes]
    families = None
    if options.get("nodes"):
        groups, families = fit_to_cluster(groups, fixed, len(options["nodes"]))
    if any(SHAPES[s] == "clock" for s in shapes):
        options["faketime"] = {"monotonic": bool(options.get("fake_monotonic"))}
    name = "+".join(p.strip() for p in spec.split(",") if p.strip())
    seeds = random.Random(seed)
    nemesis = FaultNemesis(name, shapes, seeds.getrandbits(63), options)
    schedule = FaultSchedule(groups, seeds.getrandbits(63), interval, fixed, families)
    return NemesisPackage(nemesis, generator=schedule, final=[Invocation("heal-all")],
                          recovery_seconds=DEFAULT_RECOVERY)
