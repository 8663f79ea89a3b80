"""Latency over time and throughput over time as inline SVG, with fault bands shaded.

Both are computed from the history (not perf's sampled points) so the page does not depend on which
checkers ran; big runs are downsampled to ``MAX_POINTS`` latency dots, keeping every info dot (up to a
quarter of them) and sampling ok and fail evenly.
"""
from __future__ import annotations

import math
from typing import Sequence

from checkers.history import Pair
from reports.html import compact, esc
from reports.lanes import tick_label, ticks

NS = 1_000_000_000
COLORS = {"ok": "#2e7d32", "fail": "#d32f2f", "info": "#f9a825"}
MAX_POINTS = 6000
W, H, L, R, T, B = 1100, 260, 60, 12, 14, 30


def _frame(end_s: float, bands: Sequence[dict], y_ticks: list[tuple[float, str]], y_label: str) -> list[str]:
    pw = W - L - R
    out = [f'<svg class="plot" viewBox="0 0 {W} {H}" width="100%" xmlns="http://www.w3.org/2000/svg" role="img" '
           f'aria-label="{esc(y_label)}">', f'<rect x="{L}" y="{T}" width="{pw}" height="{H - T - B}" fill="#fff"/>']
    for band in bands:
        b0, b1 = band.get("start_s") or 0.0, band.get("stop_s")
        b1 = end_s if b1 is None else b1
        x0, x1 = L + b0 / end_s * pw, L + min(b1, end_s) / end_s * pw
        out.append(f'<g><title>{esc("fault " + str(band.get("name")) + ": " + compact(band.get("value"), 200))}</title>'
                   f'<rect x="{x0:.1f}" y="{T}" width="{max(x1 - x0, 1.5):.1f}" height="{H - T - B}" '
                   f'fill="#ffcc80" fill-opacity="0.4"/>'
                   f'<text x="{x0 + 3:.1f}" y="{T + 11}" class="band-label">{esc(compact(band.get("name"), 20))}</text></g>')
    for yv, lab in y_ticks:
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{yv:.1f}" y2="{yv:.1f}" class="grid"/>'
                   f'<text x="{L - 6}" y="{yv + 4:.1f}" class="tick" text-anchor="end">{esc(lab)}</text>')
    for t in ticks(0, end_s):
        x = L + t / end_s * pw
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{H - B}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{H - B + 16}" class="tick" text-anchor="middle">{esc(tick_label(t, end_s))}</text>')
    out.append(f'<text x="14" y="{(H - B + T) / 2:.0f}" class="axis-label" transform="rotate(-90 14 {(H - B + T) / 2:.0f})" '
               f'text-anchor="middle">{esc(y_label)}</text>')
    return out


def latency_svg(done: Sequence[Pair], end_s: float, bands: Sequence[dict]) -> str:
    """Dots at (invoke time, latency), log scale, ok/fail/info coloured apart."""
    pts = [(p.invoke.time / NS, max((p.complete.time - p.invoke.time) / 1e6, 1e-3), p.type) for p in done]
    if not pts:
        return '<p class="muted">No completed client operations.</p>'
    pts = downsample(pts)
    end_s = max(end_s, 1e-6)
    lo = math.floor(math.log10(min(p[1] for p in pts)))
    hi = math.ceil(math.log10(max(p[1] for p in pts)))
    hi = max(hi, lo + 1)
    ph, pw = H - T - B, W - L - R

    def y(ms: float) -> float:
        return T + ph - (math.log10(ms) - lo) / (hi - lo) * ph

    ticks = [(y(10 ** e), _ms_label(10 ** e)) for e in range(lo, hi + 1)]
    out = _frame(end_s, bands, ticks, "latency (ms, log)")
    for kind in ("ok", "fail", "info"):  # ok first so the rarer kinds are drawn on top
        d = [f"M{L + t / end_s * pw:.1f} {y(ms):.1f}h0" for t, ms, k in pts if k == kind]
        if d:
            out.append(f'<path d="{"".join(d)}" stroke="{COLORS[kind]}" stroke-width="4" stroke-linecap="round" '
                       f'stroke-opacity="0.8" class="dots-{kind}"/>')
    out.append("</svg>")
    return "".join(out)


def downsample(pts: list[tuple[float, float, str]], limit: int = MAX_POINTS) -> list[tuple[float, float, str]]:
    if len(pts) <= limit:
        return pts
    # every info dot (rare, and the interesting ones) up to a quarter; the rest sampled evenly, so ok and fail
    # keep their proportions
    info = _even([p for p in pts if p[2] == "info"], limit // 4)
    return _even([p for p in pts if p[2] != "info"], limit - len(info)) + info


def _even(xs: list, n: int) -> list:
    if len(xs) <= n:
        return xs
    stride = len(xs) / n
    return [xs[int(i * stride)] for i in range(n)]


def _ms_label(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:g} s"
    return f"{ms:g} ms"


def throughput_svg(done: Sequence[Pair], end_s: float, bands: Sequence[dict]) -> str:
    """Completions per second by type, in buckets sized so the run spans at most ~100 of them."""
    if not done:
        return '<p class="muted">No completed client operations.</p>'
    end_s = max(end_s, 1e-6)
    # ~100 buckets, but wide enough to hold ~20 completions each: narrower ones only show noise
    bucket = _nice_bucket(max(end_s / 100, end_s * 20 / len(done)))
    n = int(end_s / bucket) + 1
    counts: dict[str, list[int]] = {k: [0] * n for k in COLORS}
    for p in done:
        counts.setdefault(p.type, [0] * n)[min(int(p.complete.time / NS / bucket), n - 1)] += 1
    rates = {k: [c / bucket for c in v] for k, v in counts.items()}
    top = max(max(v) for v in rates.values()) or 1.0
    top = _nice_ceiling(top)
    ph, pw = H - T - B, W - L - R

    def y(v: float) -> float:
        return T + ph - v / top * ph

    ticks = [(y(top * i / 4), f"{top * i / 4:g}") for i in range(5)]
    out = _frame(end_s, bands, ticks, f"ops/s ({bucket:g} s buckets)")
    for kind in ("ok", "fail", "info"):
        series = rates.get(kind) or []
        if not any(series):
            continue
        d = " ".join(f"{L + min((i + 0.5) * bucket, end_s) / end_s * pw:.1f},{y(v):.1f}" for i, v in enumerate(series))
        out.append(f'<polyline points="{d}" fill="none" stroke="{COLORS[kind]}" stroke-width="1.8" class="rate-{kind}"/>')
    out.append("</svg>")
    return "".join(out)


def _nice_bucket(raw: float) -> float:
    for b in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600):
        if b >= raw:
            return float(b)
    return 600.0


def _nice_ceiling(v: float) -> float:
    mag = 10 ** math.floor(math.log10(v))
    return next(m * mag for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * mag >= v)


def plot_legend() -> str:
    return ('<div class="legend">' + "".join(
        f'<span class="legend-item"><span class="swatch" style="background:{c}"></span>{k}</span>'
        for k, c in COLORS.items()) + '<span class="legend-item"><span class="swatch" style="background:#ffcc80">'
        '</span>fault active</span></div>')
