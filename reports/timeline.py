"""The full run timeline's data: every client op, columnar and compact, for the page's canvas to draw.

Lanes are processes grouped by the node their client talked to; times are integers in 0.1 ms so 100,000
ops stay a few megabytes. A fault band lists the nodes its value names, so their lanes can be shaded darker.
With ``concurrency`` given (and integer processes), a lane is a worker thread rather than a process: a worker
goes on as process p + concurrency after an indeterminate op, and its processes never overlap, so one lane per
worker keeps a run with many crashes compact; each op still carries its process. ``marks`` are the ops an anomaly names: the canvas outlines them and puts a tick
on its ruler so they can be found when zoomed out.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from checkers.history import Pair
from reports.html import compact

TICK_NS = 100_000  # 0.1 ms
TYPE_CODE = {"ok": 0, "fail": 1, "info": 2}


def _named_nodes(value: Any, nodes: set[str]) -> list[str]:
    """The nodes a fault's value names (e.g. the one killed): their lanes are shaded darker."""
    words = set(re.findall(r"[A-Za-z0-9_.:-]+", compact(value, 2000)))
    return sorted(n for n in nodes if n in words)


def _sequential_per_worker(pairs: Sequence[Pair], concurrency: int) -> bool:
    """True when no two ops of one worker (process mod concurrency) overlap: they can share a lane."""
    busy_until: dict[int, float] = {}
    for p in pairs:
        w = p.invoke.process % concurrency
        if busy_until.get(w, -1) > p.invoke.time:
            return False
        busy_until[w] = p.complete.time if p.complete is not None else float("inf")
    return True


def _proc_key(p: Any) -> tuple:
    return (0, p, "") if isinstance(p, int) else (1, 0, str(p))


def timeline_data(pairs: Sequence[Pair], bands: Sequence[dict], events: Sequence[dict], end_ns: int,
                  marks: set[int], concurrency: int | None = None) -> dict[str, Any]:
    by_worker = bool(concurrency) and concurrency > 0 and all(
        isinstance(p.invoke.process, int) and not isinstance(p.invoke.process, bool) for p in pairs)

    if by_worker and not _sequential_per_worker(pairs, concurrency):
        by_worker = False  # not the harness's p + concurrency numbering: one lane per process

    def lane_key(proc: Any) -> Any:
        return proc % concurrency if by_worker else proc

    node_of: dict[Any, str] = {}
    for p in pairs:
        k = lane_key(p.invoke.process)
        if k not in node_of or (not node_of[k] and p.invoke.node):
            node_of[k] = p.invoke.node or ""
    lanes = sorted(node_of, key=lambda k: (node_of[k], _proc_key(k)))
    lane_index = {k: i for i, k in enumerate(lanes)}
    proc_col: list[Any] = []
    fs: list[str] = []
    f_index: dict[str, int] = {}
    lane_col, t0_col, dur_col, ty_col, f_col, ix_col, val_col = [], [], [], [], [], [], []
    for p in pairs:
        inv, comp = p.invoke, p.complete
        fi = f_index.get(inv.f)
        if fi is None:
            fi = f_index[inv.f] = len(fs)
            fs.append(inv.f)
        t0 = inv.time // TICK_NS
        lane_col.append(lane_index[lane_key(inv.process)])
        proc_col.append(inv.process)
        t0_col.append(t0)
        dur_col.append(-1 if comp is None else max(comp.time // TICK_NS - t0, 0))
        ty_col.append(TYPE_CODE.get(p.type, 2))
        f_col.append(fi)
        ix_col.append(inv.index)
        v = compact(inv.value, 40) if inv.value is not None else ""
        if comp is not None and comp.value is not None and comp.value != inv.value:
            v += "→" + compact(comp.value, 40)
        if comp is not None and comp.error is not None:
            v += " (" + compact(comp.error, 40) + ")"
        val_col.append(v)
    return {
        "tick_s": TICK_NS / 1e9,
        "end": end_ns // TICK_NS + 1,
        "lane_kind": "worker" if by_worker else "process",
        "lanes": [{"p": str(k), "node": node_of[k]} for k in lanes],
        "p": proc_col,
        "fs": fs,
        "lane": lane_col, "t0": t0_col, "dur": dur_col, "ty": ty_col, "f": f_col, "ix": ix_col, "v": val_col,
        "bands": [{"name": compact(b.get("name"), 40), "value": compact(b.get("value"), 160),
                   "nodes": _named_nodes(b.get("value"), set(node_of.values()) - {""}),
                   "t0": int((b.get("start_s") or 0) * 1e9) // TICK_NS,
                   "t1": int((b.get("stop_s") if b.get("stop_s") is not None else end_ns / 1e9) * 1e9) // TICK_NS}
                  for b in bands],
        "events": [{"f": compact(e.get("f"), 40), "value": compact(e.get("value"), 160),
                    "t": int((e.get("time_s") or 0) * 1e9) // TICK_NS} for e in events],
        "marks": sorted(marks),
    }
