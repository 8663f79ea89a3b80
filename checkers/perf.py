"""Performance data for plots: latency quantiles, throughput over time, and the nemesis's fault bands.

Never a verdict: ``valid`` is always True. Times in the result are seconds (``*_s``) from the start of the
test and latencies milliseconds (``*_ms``); the history's ``time`` is in nanoseconds.

  - ``latency``: for completed client ops (ok, fail and info completions; an op that never completed has
    no latency), ``{count, p50_ms, p95_ms, p99_ms, max_ms, mean_ms}`` overall, ``by_f`` and ``by_type``.
    Quantiles are nearest-rank on the sorted latencies.
  - ``points``: ``[{time_s (invoke), latency_ms, f, type}]`` for a latency scatter plot, at most
    ``max_points`` of them (evenly sampled, ``points_sampled`` says so).
  - ``throughput``: completions per second in ``bucket_s`` buckets (by completion time), every bucket from
    0 to the end listed: ``{"buckets": [{t_s, ok, fail, info}], "by_f": {f: [same]}}``, values in ops/s.
  - ``nemesis``: ``bands`` = ``[{name, start_s, stop_s, start_op, stop_op, value, open}]`` pairing the
    nemesis process's ``start-X``/``stop-X`` ops (``start``/``stop`` alone give the name "nemesis").
    A band runs from the first op of its start (the invoke: the fault may begin then) to the last op of
    its stop (the completion: it is surely over then); one never stopped runs to the end, ``open: true``.
    Other nemesis ops are ``events``: ``[{f, time_s, type, value, op}]``.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from checkers.checker import indexed
from checkers.history import FAIL, INFO, OK, Op, pairs

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of an ascending list (q in (0, 1])."""
    if not sorted_values:
        raise ValueError("quantile of no values")
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def latency_summary(latencies_ns: list[int]) -> dict[str, Any]:
    xs = sorted(latencies_ns)
    if not xs:
        return {"count": 0}
    ms = [x / NS_PER_MS for x in xs]
    return {"count": len(xs), "p50_ms": quantile(ms, 0.5), "p95_ms": quantile(ms, 0.95),
            "p99_ms": quantile(ms, 0.99), "max_ms": ms[-1], "mean_ms": sum(ms) / len(ms)}


def _nemesis_name(f: str, prefix: str) -> str | None:
    if f == prefix:
        return "nemesis"
    if f.startswith(prefix + "-") and len(f) > len(prefix) + 1:
        return f[len(prefix) + 1:]
    return None


def nemesis_bands(history: list[Op], end_ns: int) -> dict[str, list[dict]]:
    bands: list[dict] = []
    running: dict[str, dict] = {}   # name -> band whose stop has not been seen
    stopping: dict[str, dict] = {}  # name -> band whose stop was seen (its completion may follow)
    events: list[dict] = []
    for op in history:
        if op.is_client:
            continue
        start, stop = _nemesis_name(op.f, "start"), _nemesis_name(op.f, "stop")
        if start is not None:
            stopping.pop(start, None)
            if start not in running:
                band = {"name": start, "start_s": op.time / NS_PER_S, "stop_s": None, "start_op": op.index,
                        "stop_op": None, "value": op.value, "open": True}
                running[start] = band
                bands.append(band)
        elif stop is not None:
            band = running.pop(stop, None) or stopping.get(stop)
            if band is not None:
                band.update(stop_s=op.time / NS_PER_S, stop_op=op.index, open=False)
                stopping[stop] = band
        else:
            events.append({"f": op.f, "time_s": op.time / NS_PER_S, "type": op.type, "value": op.value,
                           "op": op.index})
    for band in running.values():
        band["stop_s"] = end_ns / NS_PER_S
    return {"bands": bands, "events": events}


class PerfChecker:
    def __init__(self, bucket_s: float = 1.0, max_points: int = 20_000, name: str = "perf") -> None:
        if bucket_s <= 0:
            raise ValueError(f"bucket_s must be positive, got {bucket_s}")
        self.bucket_s, self.max_points, self.name = bucket_s, max_points, name

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        history = indexed(history)
        end_ns = max((op.time for op in history), default=0)
        done = [p for p in pairs(history) if p.complete is not None]

        overall: list[int] = []
        by_f: dict[str, list[int]] = defaultdict(list)
        by_type: dict[str, list[int]] = defaultdict(list)
        points = []
        bucket_ns = self.bucket_s * NS_PER_S
        counts: Counter = Counter()           # (bucket, type)
        counts_f: Counter = Counter()         # (f, bucket, type)
        for p in done:
            lat = p.complete.time - p.invoke.time
            overall.append(lat)
            by_f[p.invoke.f].append(lat)
            by_type[p.type].append(lat)
            points.append({"time_s": p.invoke.time / NS_PER_S, "latency_ms": lat / NS_PER_MS,
                           "f": p.invoke.f, "type": p.type})
            b = int(p.complete.time // bucket_ns)
            counts[(b, p.type)] += 1
            counts_f[(p.invoke.f, b, p.type)] += 1

        sampled = len(points) > self.max_points
        if sampled:
            stride = len(points) / self.max_points
            points = [points[int(i * stride)] for i in range(self.max_points)]

        n_buckets = int(end_ns // bucket_ns) + 1 if done else 0

        def series(get) -> list[dict]:
            return [{"t_s": b * self.bucket_s, **{t: get(b, t) / self.bucket_s for t in (OK, FAIL, INFO)}}
                    for b in range(n_buckets)]

        return {
            "valid": True,
            "latency": {
                "overall": latency_summary(overall),
                "by_f": {f: latency_summary(v) for f, v in sorted(by_f.items())},
                "by_type": {t: latency_summary(v) for t, v in sorted(by_type.items())},
            },
            "points": points,
            "points_sampled": sampled,
            "throughput": {
                "bucket_s": self.bucket_s,
                "buckets": series(lambda b, t: counts[(b, t)]),
                "by_f": {f: series(lambda b, t, f=f: counts_f[(f, b, t)]) for f in sorted(by_f)},
            },
            "nemesis": nemesis_bands(history, end_ns),
            "history_end_s": end_ns / NS_PER_S,
        }
