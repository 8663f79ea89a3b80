"""The anomaly section: what each failing checker found, drawn so a person sees it at once.

- linearizability: the counterexample as a lane timeline of the ops around the op that cannot be
  linearized (that op in red, the last linearized ops numbered in order, the ops concurrent with it), the
  model states it could have met, and the faults active at that moment;
- lock / election: the overlapping holds as a lane timeline;
- everything else with op references (set/queue lost and unexpected elements, session-order and watch
  anomalies, membership, duplicated ids): a table whose op references show the op (process, node, f,
  value, outcome, time) and the faults active at that time.
"""
from __future__ import annotations

from typing import Any, Iterable

from checkers.history import Op, Pair
from reports.html import compact, esc, fmt_s
from reports.lanes import Bar, lanes_svg, legend, op_label
from reports.run_data import NS_PER_S, RunData

# Result fields that hold history indexes (an int or a list of ints).
OP_FIELDS = ("op", "earlier_op", "add", "read", "enqueue", "dequeue", "dequeues", "view", "joined", "last_op",
             "armed_by", "ops", "failed_adds", "failed_enqueues", "final_read", "acquired", "released")
LIST_FIELDS = ("lost", "unexpected", "duplicated", "missing", "unresolved", "anomalies", "violations")
MAX_CE_OPS = 50
MAX_ROWS = 20


class Context:
    """What the anomaly renderers need from the run: ops by index, pairs, fault bands."""

    def __init__(self, run: RunData, pairs: list[Pair], bands: list[dict]) -> None:
        self.run = run
        self.pairs = pairs
        self.bands = bands
        self.by_index = run.by_index
        self.pair_of: dict[int, Pair] = {}
        for p in pairs:
            self.pair_of[p.invoke.index] = p
            if p.complete is not None:
                self.pair_of[p.complete.index] = p
        self.marks: set[int] = set()  # invoke indexes of ops an anomaly names (highlighted in the timeline)

    def faults_at(self, t0: float, t1: float | None = None) -> list[dict]:
        t1 = t0 if t1 is None else t1
        return [b for b in self.bands
                if (b.get("start_s") or 0) <= t1 and (b.get("stop_s") is None or b["stop_s"] >= t0)]

    def bar(self, p: Pair, role: str, order: int | None = None) -> Bar:
        inv, comp = p.invoke, p.complete
        t1 = comp.time / NS_PER_S if comp is not None and p.type != "info" else None
        label = op_label(inv.f, inv.value, comp.value if comp is not None else None, p.type)
        detail = describe_pair(p)
        return Bar(inv.index, inv.process, inv.node, label, inv.time / NS_PER_S, t1, p.type, role, order, detail)


def describe_pair(p: Pair) -> str:
    inv, comp = p.invoke, p.complete
    s = f"op #{inv.index}  process {inv.process}"
    if inv.node:
        s += f" on {inv.node}"
    if inv.key is not None:
        s += f"  key {compact(inv.key, 40)}"
    s += f"\n{inv.f} {compact(inv.value, 120)}"
    if comp is None:
        s += "\nnever completed"
    else:
        s += f"\n→ {comp.type}"
        if comp.value is not None and comp.value != inv.value:
            s += f" {compact(comp.value, 120)}"
        if comp.error is not None:
            s += f"  error {compact(comp.error, 120)}"
    end = f"{comp.time / NS_PER_S:.6f} s" if comp is not None else "…"
    s += f"\n{inv.time / NS_PER_S:.6f} s → {end}"
    return s


def op_chip(ctx: Context, index: int, mark: bool = True, bad: bool = False) -> str:
    """One op reference as inline markup: index, process, node, f, value, outcome, time, faults."""
    p = ctx.pair_of.get(index)
    if p is None:
        op = ctx.by_index.get(index)
        if op is None:
            return f'<span class="op-chip missing">#{esc(index)}</span>'
        return (f'<span class="op-chip" data-index="{op.index}">#{op.index} {esc(op.process)} {esc(op.f)} '
                f'{esc(compact(op.value, 60))}</span>')
    if mark:
        ctx.marks.add(p.invoke.index)
    inv, comp = p.invoke, p.complete
    label = op_label(inv.f, inv.value, comp.value if comp is not None else None, p.type, limit=100)
    t0 = inv.time / NS_PER_S
    t1 = comp.time / NS_PER_S if comp is not None else None
    faults = ctx.faults_at(t0, t1)
    where = f"p{inv.process}" + (f"@{inv.node}" if inv.node else "")
    fault_txt = ("; faults: " + ", ".join(compact(b.get("name"), 30) for b in faults)) if faults else ""
    return (f'<a class="op-chip type-{esc(p.type)}{" bad" if bad else ""}" href="#timeline" data-index="{inv.index}" '
            f'title="{esc(describe_pair(p))}">#{inv.index} {esc(where)} <b>{esc(label)}</b> '
            f'<span class="muted">{esc(p.type)} @ {t0:.3f} s{esc(fault_txt)}</span></a>')


def _indexes(v: Any) -> list[int]:
    if isinstance(v, bool):
        return []
    if isinstance(v, int):
        return [v]
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return list(v)
    return []


def render_checker_anomalies(name: str, result: dict[str, Any], ctx: Context) -> str:
    """The anomaly block for one checker whose result is not valid (or that names anomalies anyway)."""
    parts: list[str] = []
    if result.get("error"):
        if result.get("valid") is False:
            parts.append(f'<p class="error">{esc(result["error"])}</p>')
        else:
            parts.append(f'<p class="muted">could not judge: {esc(result["error"])}</p>')
    if result.get("reason") and result.get("valid") == "unknown":
        parts.append(f'<p class="muted">Gave up: {esc(result["reason"])}</p>')
    ce = result.get("counterexample")
    if isinstance(ce, dict):
        parts.append(counterexample_html(ce, ctx))
    violations = result.get("violations")
    if isinstance(violations, list) and violations and isinstance(violations[0], dict) and "holders" in violations[0]:
        parts.append(overlaps_html(violations, result.get("violation_count", len(violations)), ctx))
    for field in LIST_FIELDS:
        items = result.get(field)
        if field == "violations" and items and isinstance(items[0], dict) and "holders" in items[0]:
            continue
        if isinstance(items, list) and items and all(isinstance(x, dict) for x in items):
            count = result.get(f"{field}_count", result.get("anomaly_count" if field == "anomalies" else "", len(items)))
            parts.append(item_table(field, items, count, ctx))
    if not parts:
        return ""
    return (f'<div class="anomaly" id="anomaly-{esc(_slug(name))}"><h3>{esc(name)}</h3>' + "".join(parts) + "</div>")


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in s).strip("-").lower()


def item_table(field: str, items: list[dict], count: Any, ctx: Context) -> str:
    rows = []
    for item in items[:MAX_ROWS]:
        facts = []
        refs = []
        for k, v in item.items():
            idx = _indexes(v) if k in OP_FIELDS else []
            if idx:
                refs.append(f'<div class="ref"><span class="ref-name">{esc(k)}</span> '
                            + " ".join(op_chip(ctx, i) for i in idx[:8])
                            + (f' <span class="muted">+{len(idx) - 8} more</span>' if len(idx) > 8 else "") + "</div>")
            elif v is not None and v != []:
                facts.append(f'<span class="fact"><span class="fact-k">{esc(k)}</span> '
                             f'<code>{esc(compact(v, 120))}</code></span>')
        rows.append(f'<tr><td>{"".join(facts)}</td><td>{"".join(refs) or "<span class=muted>—</span>"}</td></tr>')
    more = f'<p class="muted">showing {min(len(items), MAX_ROWS)} of {esc(count)}</p>' if count != len(items[:MAX_ROWS]) else ""
    return (f'<h4>{esc(field)} <span class="count">{esc(count)}</span></h4>'
            f'<table class="items"><thead><tr><th>what</th><th>operations</th></tr></thead><tbody>'
            + "".join(rows) + f"</tbody></table>{more}")


def counterexample_html(ce: dict[str, Any], ctx: Context) -> str:
    op = ce.get("op") or {}
    bad_index = op.get("index")
    linearized = [i for i in (ce.get("linearized") or []) if isinstance(i, int)]
    order = {i: n + 1 for n, i in enumerate(linearized)}
    recent = linearized[-10:]
    concurrent = [i for i in (ce.get("concurrent") or []) if isinstance(i, int)]
    roles: dict[int, str] = {}
    for i in recent:
        roles[i] = "linearized"
    for i in concurrent:
        roles.setdefault(i, "concurrent")
    if isinstance(bad_index, int):
        roles[bad_index] = "bad"
        ctx.marks.add(bad_index)
    key = ce.get("key")
    chosen = [ctx.pair_of[i] for i in roles if i in ctx.pair_of and ctx.pair_of[i].invoke.index == i]
    window = _window(chosen)
    if window is not None:
        # Surrounding ops of the same key, nearest to the bad op first, for orientation.
        bad = ctx.pair_of.get(bad_index) if isinstance(bad_index, int) else None
        centre = bad.invoke.time if bad is not None else window[0] * NS_PER_S
        nearby = [p for p in ctx.pairs if p.invoke.index not in roles and _same_key(p.invoke, key)
                  and _overlaps(p, window)]
        nearby.sort(key=lambda p: abs(p.invoke.time - centre))
        for p in nearby[: max(0, MAX_CE_OPS - len(chosen))]:
            roles[p.invoke.index] = "context"
            chosen.append(p)
        if len(chosen) > MAX_CE_OPS:  # many concurrent ops: keep the bad one, the linearized, the nearest
            rank = {"bad": 0, "linearized": 1, "concurrent": 2, "context": 3}
            chosen.sort(key=lambda p: (rank[roles[p.invoke.index]], abs(p.invoke.time - centre)))
            chosen = chosen[:MAX_CE_OPS]
    bars = [ctx.bar(p, roles[p.invoke.index],
                    order.get(p.invoke.index) if roles[p.invoke.index] == "linearized" else None) for p in chosen]
    bad_pair = ctx.pair_of.get(bad_index) if isinstance(bad_index, int) else None
    faults = ctx.faults_at(bad_pair.invoke.time / NS_PER_S,
                           bad_pair.complete.time / NS_PER_S if bad_pair and bad_pair.complete else None) \
        if bad_pair else []
    # Crashed ops stay concurrent with everything after them: they must not stretch the window back to
    # their invocation (drawn clipped, marked as started earlier), or the ops that matter become slivers.
    window = _window([p for p in chosen if p.type != "info" and p.complete is not None] or chosen)
    if window is not None:
        # more room on the right: the bad op is often the last and its label goes after it
        span = max(window[1] - window[0], 1e-4)
        window = (max(0.0, window[0] - span * 0.05), window[1] + span * 0.22)
    states = ce.get("states") or []
    out = ['<div class="counterexample">']
    out.append(f'<p class="ce-message"><b>{esc(ce.get("message", "no linearization"))}</b>'
               + (f' — key <code>{esc(key)}</code>' if key not in (None, "all") else "") + "</p>")
    facts = []
    if bad_pair is not None:
        facts.append(f'<dt>the op</dt><dd>{op_chip(ctx, bad_pair.invoke.index, bad=True)}</dd>')
    facts.append('<dt>last consistent state' + ('s' if len(states) != 1 else '') + '</dt><dd>'
                 + (" ".join(f'<code class="state">{esc(compact(s, 120))}</code>' for s in states[:20])
                    or '<span class="muted">none recorded</span>')
                 + f' <span class="muted">after the {len(linearized)} ops linearized before it</span></dd>')
    facts.append('<dt>faults active then</dt><dd>' + (", ".join(
        f'<span class="fault">{esc(compact(b.get("name"), 40))}: {esc(compact(b.get("value"), 120))} '
        f'({fmt_s(b.get("start_s"))} – {fmt_s(b.get("stop_s"))})</span>' for b in faults) or
        '<span class="muted">none</span>') + "</dd>")
    if concurrent:
        facts.append(f'<dt>concurrent ops</dt><dd>{len(concurrent)} (blue)</dd>')
    out.append('<dl class="facts">' + "".join(facts) + "</dl>")
    if bars:
        out.append(legend(["bad", "linearized", "concurrent", "context"]))
        out.append(lanes_svg(bars, ctx.bands, window, title="counterexample"))
        out.append(f'<p class="muted small">Showing {len(bars)} ops around op #{esc(bad_index)} '
                   f'({fmt_s(window[0] if window else None)} – {fmt_s(window[1] if window else None)}). '
                   'Hover a bar for its details; numbers give the order of the linearization found.</p>')
        out.append(f'<button type="button" class="zoom-to" data-t0="{window[0]:.6f}" data-t1="{window[1]:.6f}" '
                   f'data-index="{esc(bad_index)}">show in the full timeline</button>' if window else "")
    lin_ops = ce.get("linearized_ops") or []
    if lin_ops:
        out.append("<details><summary>the last ops of the linearization</summary><ol class='lin-ops'>"
                   + "".join(f"<li>{op_chip(ctx, d.get('index'), mark=False)}</li>" for d in lin_ops if isinstance(d.get("index"), int))
                   + "</ol></details>")
    out.append("</div>")
    return "".join(out)


def _same_key(op: Op, key: Any) -> bool:
    return key in (None, "all") or str(op.key) == str(key)


def _window(ps: Iterable[Pair]) -> tuple[float, float] | None:
    ps = list(ps)
    if not ps:
        return None
    lo = min(p.invoke.time for p in ps) / NS_PER_S
    ends = [p.complete.time for p in ps if p.complete is not None and p.type != "info"]
    hi = max(ends + [p.invoke.time for p in ps]) / NS_PER_S
    return lo, max(hi, lo + 1e-6)


def _overlaps(p: Pair, window: tuple[float, float]) -> bool:
    t0 = p.invoke.time / NS_PER_S
    t1 = p.complete.time / NS_PER_S if p.complete is not None else float("inf")
    return t0 <= window[1] and t1 >= window[0]


def overlaps_html(violations: list[dict], count: Any, ctx: Context) -> str:
    """Lock/election: each violation's two holds drawn as bars (acquire ok → release invoke)."""
    out = [f'<h4>overlapping holders <span class="count">{esc(count)}</span></h4>']
    for v in violations[:5]:
        holders = v.get("holders") or []
        bars = []
        for h in holders:
            acq, rel = ctx.by_index.get(h.get("acquired")), ctx.by_index.get(h.get("released"))
            if acq is None:
                continue
            ctx.marks.add(ctx.pair_of[acq.index].invoke.index if acq.index in ctx.pair_of else acq.index)
            t1 = rel.time / NS_PER_S if rel is not None else ctx.run.end_s
            detail = (f"process {h.get('process')} holds from op #{h.get('acquired')} "
                      f"({acq.time / NS_PER_S:.6f} s) to " + (f"op #{h.get('released')} ({t1:.6f} s)" if rel
                                                               else "the end of the history"))
            bars.append(Bar(acq.index, h.get("process"), acq.node, f"holds (#{acq.index}→"
                            f"{'#' + str(rel.index) if rel else 'end'})", acq.time / NS_PER_S, t1, "ok", "hold",
                            None, detail))
        for h in holders:  # the acquire calls themselves, for context
            acq = ctx.by_index.get(h.get("acquired"))
            p = ctx.pair_of.get(acq.index) if acq else None
            if p is not None:
                bars.append(ctx.bar(p, "context"))
        chips = " ".join(op_chip(ctx, h.get("acquired")) for h in holders if isinstance(h.get("acquired"), int))
        key = v.get("key")
        out.append(f'<div class="overlap"><p>Two holders at once'
                   + (f' of <code>{esc(compact(key, 60))}</code>' if key is not None else "") + f': {chips}</p>'
                   + (lanes_svg(bars, ctx.bands, title="overlapping holds") if bars else "") + "</div>")
    if len(violations) > 5:
        out.append(f'<p class="muted">and {len(violations) - 5} more (see results.json)</p>')
    return "".join(out)
