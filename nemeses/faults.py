"""The faults: network partitions and packet loss, process kills and pauses, clock faults.

Each fault family is one class with ``start(test, shape) -> dict`` (do the fault, say exactly what was done),
``stop(test) -> dict`` (undo this family's current fault) and ``heal(test) -> dict`` (undo everything of this
family, whatever state the run is in: used at the end of every run, also after errors and Ctrl-C). Everything
goes through the test's Remote/Net and its DB, so the same code works on every backend. Random choices come from
the ``random.Random`` given at construction, so a seed reproduces them (``partition-leader`` also depends on
which node leads at that moment).
"""
from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

import networkx as nx

from harness.dbs import faketime
from nemeses import grudges

log = logging.getLogger("zkjepsen.nemesis")


def _parallel(nodes: Iterable[str], fn: Callable[[str], Any]) -> dict[str, Any]:
    """``fn(node)`` for every node at once (a JVM restart takes seconds); raises the first error after all ran."""
    nodes = list(nodes)
    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = {n: pool.submit(fn, n) for n in nodes}
    errors = {n: f.exception() for n, f in futures.items() if f.exception() is not None}
    if errors:
        node, exc = next(iter(errors.items()))
        raise RuntimeError(f"{node}: {exc}") from exc
    return {n: f.result() for n, f in futures.items()}


def _targets(nodes: list[str], which: str, rng: random.Random, among: list[str] | None = None) -> list[str]:
    """``one`` random node, a random ``minority``, or ``all`` of them. With ``among`` (the nodes an overlapping
    partition cut off, in a composite fault), ``one`` and ``minority`` pick from those instead."""
    if among and which in ("one", "minority"):
        return [rng.choice(sorted(among))] if which == "one" else sorted(among)
    if which == "one":
        return [rng.choice(nodes)]
    if which == "minority":
        return sorted(rng.sample(nodes, max(1, grudges.minority_size(len(nodes)))))
    if which == "all":
        return list(nodes)
    raise ValueError(f"unknown target {which!r}")


class PartitionFaults:
    """Partitions (a shape from ``grudges.SHAPES`` or ``partition-leader``) and packet loss, through the
    backend's Net: iptables rules in each node's own namespace/container, never the control machine's."""

    def __init__(self, rng: random.Random, loss_fraction: float = 0.3) -> None:
        self.rng = rng
        self.loss_fraction = loss_fraction
        self.active = False
        self.cut_off: list[str] = []  # the smaller side of the current partition, what composites act on

    def _net(self, test: Any) -> Any:
        return test.backend.net()

    def start(self, test: Any, shape: str, among: list[str] | None = None) -> dict[str, Any]:
        nodes = list(test.nodes)
        if len(nodes) < 2:
            return {"shape": shape, "grudge": {}, "note": "one node: nothing to partition"}
        if shape == "packet-loss":
            return self._packet_loss(test, nodes)
        extra: dict[str, Any] = {}
        if shape == "partition-leader":
            leader = test.db.leader(test)
            if leader is None:
                leader = self.rng.choice(nodes)
                extra["note"] = "no leader known: isolated a random node"
            extra["leader"] = leader
            graph = grudges.isolate(nodes, leader)
        else:
            graph = grudges.SHAPES[shape](nodes, self.rng)
        grudge = grudges.grudge(graph)
        sides = sorted((sorted(c) for c in nx.connected_components(graph)), key=len)
        net = self._net(test)
        self.active = True
        self.cut_off = [extra["leader"]] if "leader" in extra else sides[0] if len(sides) > 1 else []
        for src, dropped in grudge.items():
            for dst in dropped:
                net.drop(src, dst)
        return {"shape": shape, "grudge": grudge, **extra}

    def _packet_loss(self, test: Any, nodes: list[str]) -> dict[str, Any]:
        node = self.rng.choice(nodes)
        net = self._net(test)
        self.active = True
        self.cut_off = [node]
        links = []
        for other in nodes:
            if other != node:
                net.drop_fraction(node, other, self.loss_fraction)
                net.drop_fraction(other, node, self.loss_fraction)
                links.append([node, other])
        return {"shape": "packet-loss", "fraction": self.loss_fraction, "links": links}

    def stop(self, test: Any) -> dict[str, Any]:
        return self.heal(test)

    def heal(self, test: Any) -> dict[str, Any]:
        self._net(test).heal()  # removes our chain on every node, remembered or not
        self.active = False
        self.cut_off = []
        return {"healed": "network"}


class ProcessFaults:
    """SIGKILL (then restart) or SIGSTOP (then SIGCONT) of servers, always by the PID in the DB's pid file."""

    def __init__(self, rng: random.Random, ready_timeout: float = 120.0) -> None:
        self.rng = rng
        self.ready_timeout = ready_timeout
        self.killed: set[str] = set()
        self.paused: set[str] = set()
        self._lock = threading.Lock()

    def start(self, test: Any, shape: str, among: list[str] | None = None) -> dict[str, Any]:
        action, _, which = shape.partition("-")
        nodes = _targets(list(test.nodes), which, self.rng, among)
        if action == "kill":
            with self._lock:
                self.killed |= set(nodes)
            _parallel(nodes, lambda n: test.db.kill(test, n))
            return {"shape": shape, "killed": nodes}
        if action == "pause":
            with self._lock:
                self.paused |= set(nodes)
            _parallel(nodes, lambda n: test.db.pause(test, n))
            return {"shape": shape, "paused": nodes}
        raise ValueError(f"unknown process fault {shape!r}")

    def stop(self, test: Any) -> dict[str, Any]:
        return self.heal(test)

    def _restart(self, test: Any, node: str) -> str:
        test.db.start(test, node)
        try:
            test.db.wait_ready(test, node, self.ready_timeout)
            return "ready"
        except Exception as exc:  # a node that cannot rejoin yet is the service's problem, not the heal's
            log.warning("%s did not become ready after restart: %s", node, exc)
            return "started, not ready"

    def heal(self, test: Any) -> dict[str, Any]:
        with self._lock:
            paused, self.paused = sorted(self.paused), set()
            self.killed = set()
        # Resume every node, not only those we remember: SIGCONT to a running process is harmless, and a
        # nemesis that lost track (an error mid-fault) must still leave nothing stopped.
        _parallel(test.nodes, lambda n: test.db.resume(test, n))
        down = [n for n in test.nodes if not test.db.is_running(test, n)]
        restarted = _parallel(down, lambda n: self._restart(test, n))
        return {"resumed": paused, "restarted": restarted}


class ClockFaults:
    """Clock faults on servers running under libfaketime (harness/dbs/faketime.py): the nemesis rewrites a
    node's control file, never the machine's clock.

    libfaketime computes fake = real + offset + (real - start) * (rate - 1), ``start`` being when the server
    process started. Changing the rate alone would therefore jump the clock by the elapsed time times the rate
    change; ``skew`` compensates the offset so the clock only starts running faster/slower, with no jump
    (to within the time the server takes to re-read the file, up to ``faketime.CACHE_SECONDS``, times the rate
    change).
    """

    def __init__(self, rng: random.Random, max_bump: float = 120.0, strobe_seconds: float = 5.0,
                 strobe_period: float = 0.2, rates: tuple[float, ...] = (0.5, 0.8, 1.25, 2.0)) -> None:
        self.rng = rng
        self.max_bump = max_bump
        self.strobe_seconds = strobe_seconds
        self.strobe_period = strobe_period
        self.rates = rates
        self.specs: dict[str, tuple[float, float]] = {}  # node -> (offset, rate) written

    def _file(self, test: Any, node: str) -> str:
        path = getattr(test.db, "faketime_file", None)
        if path is None:
            raise RuntimeError(f"DB {test.db.name} cannot run under libfaketime (no faketime_file); clock faults "
                               "need a DaemonDB-based DB")
        return path(test, node)

    def _write(self, test: Any, node: str, offset: float, rate: float) -> None:
        faketime.write_spec(test.remote(node), self._file(test, node), faketime.spec(offset, rate))
        self.specs[node] = (offset, rate)

    @staticmethod
    def settle() -> None:
        """Wait until servers have re-read their control files, so a fault reported done is in effect."""
        time.sleep(faketime.CACHE_SECONDS + 0.2)

    def _elapsed(self, test: Any, node: str) -> float:
        """Seconds since the node's server process started (libfaketime's ``start``), 0 if unknown."""
        pid = test.db.pid(test, node) if hasattr(test.db, "pid") else None
        if pid is None:
            return 0.0
        result = test.remote(node).run(["sh", "-c", f"cat /proc/uptime /proc/{int(pid)}/stat; getconf CLK_TCK"],
                                       check=False)
        lines = result.stdout.splitlines()
        try:
            uptime = float(lines[0].split()[0])
            ticks = int(lines[1].rpartition(")")[2].split()[19])
            return max(0.0, uptime - ticks / int(lines[2]))
        except (IndexError, ValueError):
            return 0.0

    def shift(self, test: Any, node: str) -> float:
        """How far (seconds) the node's fake clock is from real time now, by our own bookkeeping."""
        offset, rate = self.specs.get(node, (0.0, 1.0))
        return offset + self._elapsed(test, node) * (rate - 1) if rate != 1 else offset

    def start(self, test: Any, shape: str, among: list[str] | None = None) -> dict[str, Any]:
        nodes = list(test.nodes)
        if shape in ("clock-bump", "clock-bump-back"):
            targets = _targets(nodes, self.rng.choice(["one", "minority"]), self.rng, among)
            bumps = {}
            for node in targets:
                sign = -1 if shape == "clock-bump-back" else self.rng.choice([-1, 1])
                delta = round(self.rng.uniform(1.0, self.max_bump) * sign, 3)
                offset, rate = self.specs.get(node, (0.0, 1.0))
                self._write(test, node, offset + delta, rate)
                bumps[node] = delta
            self.settle()
            return {"shape": shape, "bumps": bumps}
        if shape == "clock-skew":
            targets = _targets(nodes, self.rng.choice(["one", "minority"]), self.rng, among)
            rates = {}
            for node in targets:
                rate = self.rng.choice(self.rates)
                offset, old_rate = self.specs.get(node, (0.0, 1.0))
                # keep the fake time continuous at the switch: offset' = offset + elapsed * (old - new)
                self._write(test, node, offset + self._elapsed(test, node) * (old_rate - rate), rate)
                rates[node] = rate
            self.settle()
            return {"shape": shape, "rates": rates}
        if shape == "clock-strobe":
            node = self.rng.choice(sorted(among) if among else nodes)
            delta = round(self.rng.uniform(1.0, self.max_bump) * self.rng.choice([-1, 1]), 3)
            offset, rate = self.specs.get(node, (0.0, 1.0))
            flips = 0
            deadline = time.monotonic() + self.strobe_seconds
            while time.monotonic() < deadline:
                self._write(test, node, offset + (delta if flips % 2 == 0 else 0.0), rate)
                flips += 1
                time.sleep(self.strobe_period)
            self._write(test, node, offset, rate)
            self.settle()
            return {"shape": shape, "node": node, "delta": delta, "flips": flips,
                    "period": self.strobe_period, "seconds": self.strobe_seconds}
        raise ValueError(f"unknown clock fault {shape!r}")

    def stop(self, test: Any) -> dict[str, Any]:
        return self.heal(test)

    def heal(self, test: Any) -> dict[str, Any]:
        # Every node, not only those we remember: real time is the only state we ever want left behind.
        def reset(node: str) -> None:
            remote = test.remote(node)
            path = self._file(test, node)
            if faketime.read_spec(remote, path) not in (None, faketime.REAL_TIME):
                faketime.write_spec(remote, path, faketime.REAL_TIME)
                return True
            return False
        if any(_parallel(test.nodes, reset).values()):
            self.settle()
        was = sorted(n for n, s in self.specs.items() if s != (0.0, 1.0))
        self.specs = {}
        return {"reset": was}
