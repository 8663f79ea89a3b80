"""The full run timeline's data: every client op, columnar and compact, for the page's canvas to draw.

Lanes are processes grouped by the node their client talked to; times are integers in 0.1 ms so 100,000
ops stay a few megabytes. A fault band lists the nodes its value names, so their lanes can be shaded darker. ``marks`` are the ops an anomaly names: the canvas outlines them and puts a tick
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


def _proc_key(p: Any) -> tuple:
    return (0, p, "") if isinstance(p, int) else (1, 0, str(p))


def timeline_data(pairs: Sequence[Pair], bands: Sequence[dict], events: Sequence[dict], end_ns: int,
                  marks: set[int]) -> dict[str, Any]:
    node_of: dict[Any, str] = {}
    for p in pairs:
        if p.invoke.process not in node_of or (not node_of[p.invoke.process] and p.invoke.node):
            node_of[p.invoke.process] = p.invoke.node or ""
    lanes = sorted(node_of, key=lambda proc: (node_of[proc], _proc_key(proc)))
    lane_index = {proc: i for i, proc in enumerate(lanes)}
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
        lane_col.append(lane_index[inv.process])
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
        "lanes": [{"p": str(proc), "node": node_of[proc]} for proc in lanes],
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
