"""Small op timelines as inline SVG: one lane per process, each op a bar from invocation to completion.

Used for the counterexample (the star of an invalid register run) and for overlapping lock holders. The
caller chooses the ops (the few around an anomaly, never the whole run) and gives each a role, which sets
its colour: ``bad`` (cannot be linearized / the offending op), ``linearized`` (with its position in the
longest linearization found), ``concurrent`` (overlaps the bad op), ``context`` (nearby, for orientation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from reports.html import compact, esc

ROLE_STYLE = {
    "bad": ("#d32f2f", "#ffffff"),
    "linearized": ("#43a047", "#ffffff"),
    "concurrent": ("#1e88e5", "#ffffff"),
    "hold": ("#8e24aa", "#ffffff"),
    "context": ("#cfd8dc", "#263238"),
}
ROLE_NAMES = {"bad": "cannot be linearized", "linearized": "linearized (order)", "concurrent": "concurrent with it",
              "context": "other ops nearby", "hold": "holds the lock"}
WIDTH, GUTTER, LANE_H, BAR_H, AXIS_H, BAND_LABEL_H = 1100, 120, 34, 22, 26, 16
CHAR_W = 6.7  # px per character of the 11px monospace bar labels


@dataclass
class Bar:
    index: int               # history index of the invocation
    process: Any
    node: str | None
    label: str               # e.g. "read → 3"
    t0: float                # seconds
    t1: float | None         # seconds; None = never completed / indeterminate (drawn to the window's end)
    type: str                # ok / fail / info
    role: str = "context"
    order: int | None = None  # position in the linearization, for linearized ops
    detail: str = ""         # tooltip text


def op_label(f: str, invoke_value: Any, complete_value: Any, type_: str, limit: int = 24) -> str:
    """How an op reads in a bar: ``write 3``, ``read → 3``, ``cas 1→2``, ``add 7 ✗``."""
    if f == "cas" and isinstance(invoke_value, list) and len(invoke_value) == 2:
        s = f"cas {compact(invoke_value[0], limit // 2)}→{compact(invoke_value[1], limit // 2)}"
    elif invoke_value is None and complete_value is not None and type_ == "ok":
        s = f"{f} → {compact(complete_value, limit)}"
    elif invoke_value is not None:
        s = f"{f} {compact(invoke_value, limit)}"
        if type_ == "ok" and complete_value is not None and complete_value != invoke_value:
            s += f" → {compact(complete_value, limit)}"
    else:
        s = f
    if type_ == "fail":
        s += " ✗"
    elif type_ == "info":
        s += " ?"
    return s


def ticks(t0: float, t1: float, n: int = 8) -> list[float]:
    span = max(t1 - t0, 1e-9)
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = (int(t0 / step) + (0 if t0 % step == 0 else 1)) * step
    out, t = [], first
    while t <= t1 + 1e-12:
        out.append(round(t, 12))
        t += step
    return out


def tick_label(t: float, span: float) -> str:
    if span < 0.01:
        return f"{t * 1000:.2f} ms"
    if span < 1:
        return f"{t * 1000:.0f} ms" if t < 10 else f"{t:.3f} s"
    return f"{t:.2f} s" if span < 20 else f"{t:.0f} s"


def lanes_svg(bars: Sequence[Bar], bands: Sequence[dict[str, Any]] = (), window: tuple[float, float] | None = None,
              title: str = "") -> str:
    if not bars:
        return ""
    lane_keys: list[tuple[str, str]] = []
    for b in sorted(bars, key=lambda b: (str(b.node or ""), _proc_sort(b.process))):
        k = (str(b.node or ""), str(b.process))
        if k not in lane_keys:
            lane_keys.append(k)
    lane_of = {k: i for i, k in enumerate(lane_keys)}
    if window is None:
        lo = min(b.t0 for b in bars)
        hi = max([b.t1 for b in bars if b.t1 is not None] + [b.t0 for b in bars])
        pad = max((hi - lo) * 0.06, 1e-4)
        window = (max(0.0, lo - pad), hi + pad)
    w0, w1 = window
    span = max(w1 - w0, 1e-9)
    plot_w = WIDTH - GUTTER - 10
    top = AXIS_H + (BAND_LABEL_H if bands else 0)
    height = top + LANE_H * len(lane_keys) + 8

    def x(t: float) -> float:
        return GUTTER + (min(max(t, w0), w1) - w0) / span * plot_w

    out = [f'<svg class="lanes" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
           f'xmlns="http://www.w3.org/2000/svg" aria-label="{esc(title or "op timeline")}">']
    # lane backgrounds and labels
    for i, (node, proc) in enumerate(lane_keys):
        y = top + i * LANE_H
        out.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{LANE_H}" fill="{"#f7f9fa" if i % 2 else "#ffffff"}" pointer-events="none"/>')
        label = f"p{proc}" + (f" · {node}" if node else "")
        out.append(f'<text x="8" y="{y + LANE_H / 2 + 4:.1f}" class="lane-label">{esc(label)}</text>')
    # fault bands behind the ops
    for band in bands:
        b0, b1 = band.get("start_s") or 0.0, band.get("stop_s")
        b1 = w1 if b1 is None else b1
        if b1 < w0 or b0 > w1:
            continue
        bx0, bx1 = x(b0), x(b1)
        tip = f"fault {band.get('name')}: {compact(band.get('value'), 200)} ({b0:.3f}–{b1:.3f} s)"
        out.append(f'<g class="band"><title>{esc(tip)}</title>'
                   f'<rect x="{bx0:.1f}" y="{AXIS_H}" width="{max(bx1 - bx0, 2):.1f}" '
                   f'height="{height - AXIS_H}" fill="#ffcc80" fill-opacity="0.35"/>'
                   f'<text x="{bx0 + 3:.1f}" y="{AXIS_H + 12}" class="band-label">⚡ {esc(compact(band.get("name"), 30))}'
                   f'</text></g>')
    # axis
    for t in ticks(w0, w1):
        tx = x(t)
        out.append(f'<line x1="{tx:.1f}" y1="{AXIS_H - 4}" x2="{tx:.1f}" y2="{height}" class="grid"/>'
                   f'<text x="{tx:.1f}" y="{AXIS_H - 8}" class="tick" text-anchor="middle">{esc(tick_label(t, span))}</text>')
    # bars; a label that does not fit in its bar goes after it, up to the next bar of the lane
    placed = []
    for b in bars:
        i = lane_of[(str(b.node or ""), str(b.process))]
        x0 = x(b.t0)
        x1 = x(b.t1) if b.t1 is not None else GUTTER + plot_w
        placed.append((i, x0, max(x1 - x0, 3.0), b))
    next_x: dict[int, float] = {}
    room: dict[int, float] = {}
    for i, x0, wdt, b in sorted(placed, key=lambda q: (q[0], -q[1])):
        room[id(b)] = next_x.get(i, WIDTH - 4) - (x0 + wdt) - 6
        next_x[i] = x0
    for i, x0, wdt, b in sorted(placed, key=lambda q: (q[3].role == "bad", q[1])):
        y = top + i * LANE_H + (LANE_H - BAR_H) / 2
        fill, ink = ROLE_STYLE.get(b.role, ROLE_STYLE["context"])
        open_end = b.t1 is None or b.type == "info"
        tip = b.detail or f"#{b.index} p{b.process} {b.label}"
        out.append(f'<g class="bar role-{b.role}" data-index="{b.index}"><title>{esc(tip)}</title>')
        dash = ' stroke-dasharray="4 3"' if open_end else ""
        opacity = ' fill-opacity="0.55"' if open_end else ""
        stroke = "#7f0000" if b.role == "bad" else "#37474f"
        out.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{wdt:.1f}" height="{BAR_H}" rx="4" fill="{fill}"'
                   f'{opacity} stroke="{stroke}" stroke-width="{2 if b.role == "bad" else 0.6}"{dash}/>')
        text = b.label if b.order is None else f"{b.order}. {b.label}"
        if b.t0 < w0:
            text = f"◀ {text} (from {b.t0:.3f} s)"
        inside = int((wdt - 6) / CHAR_W)
        outside = int(room[id(b)] / CHAR_W)
        ty = y + BAR_H / 2 + 4
        if len(text) <= inside or (inside >= outside and inside >= 3):
            shown = text if len(text) <= inside else text[: inside - 1] + "…"
            colour = ink if not open_end else "#263238"
            out.append(f'<text x="{x0 + 4:.1f}" y="{ty:.1f}" class="bar-label" fill="{colour}">{esc(shown)}</text>')
        elif outside >= 3:
            shown = text if len(text) <= outside else text[: outside - 1] + "…"
            colour = "#b71c1c" if b.role == "bad" else ("#1b5e20" if b.role == "linearized" else "#263238")
            weight = ' font-weight="700"' if b.role == "bad" else ""
            out.append(f'<text x="{x0 + wdt + 4:.1f}" y="{ty:.1f}" class="bar-label" fill="{colour}"{weight}>'
                       f'{esc(shown)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def legend(roles: Sequence[str]) -> str:
    items = []
    for r in roles:
        fill, _ = ROLE_STYLE[r]
        items.append(f'<span class="legend-item"><span class="swatch" style="background:{fill}"></span>'
                     f'{esc(ROLE_NAMES[r])}</span>')
    items.append('<span class="legend-item"><span class="swatch dashed"></span>indeterminate (info, “?”): may take '
                 'effect any time after its start</span>')
    items.append('<span class="legend-item">✗ failed: had no effect</span>')
    items.append('<span class="legend-item"><span class="swatch" style="background:#ffcc80"></span>fault active</span>')
    return '<div class="legend">' + "".join(items) + "</div>"


def _proc_sort(p: Any) -> tuple:
    return (0, p, "") if isinstance(p, int) else (1, 0, str(p))
