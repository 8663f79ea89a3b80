"""One run's report.html: verdict, how to reproduce, each checker's result, the anomalies drawn, the full
timeline, latency and throughput, and links to every file of the run. One self-contained page."""
from __future__ import annotations

import json
import secrets
import shlex
from typing import Any
from urllib.parse import quote

from checkers.history import HistoryError, pairs as make_pairs
from checkers.perf import nemesis_bands
from reports.anomalies import Context, render_checker_anomalies
from reports.assets import CSS, JS
from reports.html import compact, esc, fmt_s, json_for_script
from reports.plots import latency_svg, plot_legend, throughput_svg
from reports.run_data import NS_PER_S, RunData
from reports.timeline import timeline_data

# harness run's options as flags, in the order a person writes them; others are left out of the command.
_FLAGS = [("db", "--db"), ("workload", "--workload"), ("nemesis", "--nemesis"), ("nodes", "--nodes"),
          ("concurrency", "--concurrency"), ("time_limit", "--time-limit"), ("rate", "--rate"),
          ("read_mode", "--read-mode"), ("op_timeout", "--op-timeout"), ("client_nodes", "--client-nodes"),
          ("session_timeout", "--session-timeout"), ("recovery_time", "--recovery-time"),
          ("backend", "--backend"), ("zookeeper_tarball", "--zookeeper-tarball"),
          ("nemesis_interval", "--nemesis-interval"), ("nemesis_schedule", "--nemesis-schedule")]
_SWITCHES = [("leave_db_running", "--leave-db-running"), ("fake_monotonic", "--fake-monotonic")]


def verdict_class(valid: Any) -> str:
    return {True: "valid", False: "invalid"}.get(valid, "unknown") if isinstance(valid, bool) else "unknown"


def verdict_chip(valid: Any) -> str:
    cls = verdict_class(valid)
    word = {"valid": "valid", "invalid": "anomalies", "unknown": "unknown"}[cls]
    return f'<span class="chip chip-{cls}">{word}</span>'


def reproduce_command(test: dict[str, Any]) -> str:
    options = dict(test.get("options") or {})
    options.setdefault("db", test.get("db"))
    options.setdefault("workload", test.get("workload"))
    options.setdefault("nemesis", test.get("nemesis"))
    options.setdefault("nodes", test.get("nodes"))
    seed = test.get("seed", options.get("seed"))
    words = ["python3", "-m", "harness", "run"]
    for key, flag in _FLAGS:
        v = options.get(key)
        if v is None or v == "":
            continue
        if isinstance(v, list):
            v = ",".join(str(x) for x in v)
        elif isinstance(v, float) and v.is_integer():
            v = int(v)
        words += [flag, str(v)]
    for key, flag in _SWITCHES:
        if options.get(key) is True:
            words.append(flag)
    if seed is not None:
        words += ["--seed", str(seed)]
    return " ".join(shlex.quote(w) for w in words)


def _flatten_checkers(results: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """(name, result) for every checker, sub-checkers of a composed one named ``parent / child``."""
    if not results:
        return []
    out: list[tuple[str, dict[str, Any]]] = []
    top = results.get("results") or {}
    for name, r in top.items():
        if not isinstance(r, dict):
            continue
        label = results.get("checker", name) if name == "workload" else name
        subs = r.get("results")
        if isinstance(subs, dict) and subs and all(isinstance(v, dict) for v in subs.values()):
            out.append((str(label), r))
            out += [(f"{label} / {k}", v) for k, v in subs.items()]
        else:
            out.append((str(label), r))
    return out


def _summary(name: str, r: dict[str, Any]) -> str:
    """One line saying what a checker looked at and found."""
    bits: list[str] = []
    subs = r.get("results")
    if isinstance(subs, dict) and subs:
        bits.append("composed of " + ", ".join(str(k) for k in subs))
    elif "counterexample" in r or "model" in r:
        bits.append(f"{r.get('ops', '?')} ops over {r.get('keys', '?')} key(s), model {r.get('model', '?')}, "
                    f"{r.get('elapsed_s', 0):.3f} s")
        ce = r.get("counterexample")
        if isinstance(ce, dict):
            bits.append(str(ce.get("message", "")))
    elif "latency" in r and isinstance(r["latency"], dict):
        o = (r["latency"].get("overall") or {})
        if o.get("count"):
            bits.append(f"latency p50 {o['p50_ms']:.1f} ms, p99 {o['p99_ms']:.1f} ms, max {o['max_ms']:.1f} ms")
    elif "ok_count" in r and "count" in r:
        bits.append(f"{r['count']} ops: {r['ok_count']} ok, {r.get('fail_count', 0)} fail, {r.get('info_count', 0)} info")
        if r.get("never_ok"):
            bits.append("never ok: " + ", ".join(str(x) for x in r["never_ok"]))
    else:
        counts = [f"{k[:-6]} {v}" for k, v in r.items() if k.endswith("_count") and isinstance(v, int)]
        bits.append(", ".join(counts))
    if r.get("error"):
        bits.append(str(r["error"]))
    if r.get("reason"):
        bits.append(f"reason: {r['reason']}")
    return "; ".join(b for b in bits if b)


def _headline(run: RunData) -> tuple[str, str]:
    res = run.results or {}
    valid = res.get("valid", "unknown") if run.results else "unknown"
    cls = verdict_class(valid)
    runinfo = res.get("run") or {}
    if cls == "valid":
        why = "no anomalies found by " + (res.get("checker") or "the checker")
    elif cls == "invalid":
        bad = [n for n, r in _flatten_checkers(run.results) if r.get("valid") is False and " / " in n] or \
              [n for n, r in _flatten_checkers(run.results) if r.get("valid") is False]
        why = "anomalies found by " + ", ".join(bad or ["the checker"]) + " — see below"
    else:
        reasons = []
        if not run.results:
            reasons.append("the run was not checked")
        if runinfo.get("interrupted"):
            reasons.append("the run was interrupted (partial history)")
        if runinfo.get("error"):
            reasons.append("the run broke: " + str(runinfo["error"]).strip().splitlines()[-1])
        for n, r in _flatten_checkers(run.results):
            if r.get("valid") == "unknown" and (r.get("error") or r.get("reason")):
                reasons.append(f"{n}: {r.get('error') or r.get('reason')}")
        why = "; ".join(reasons) or "the checker could not decide"
    if len(why) > 320:
        why = why[:319] + "…"
    word = {"valid": "VALID", "invalid": "INVALID", "unknown": "UNKNOWN"}[cls]
    return cls, (f'<div class="verdict verdict-{cls}" id="verdict"><div class="word">{word}</div>'
                 f'<div class="why">{esc(why)}</div></div>')


def _run_section(run: RunData) -> str:
    t = run.test
    o = t.get("options") or {}
    versions = t.get("versions") or {}
    res = run.results or {}
    ri = res.get("run") or {}
    rows = [("test", t.get("name") or run.path.parent.name), ("run", run.path.name),
            ("db", f"{t.get('db', '?')}" + (f" {versions['db']}" if versions.get("db") else "")),
            ("workload", t.get("workload", "?")), ("nemesis", t.get("nemesis", "?")),
            ("nodes", ", ".join(str(x) for x in t.get("nodes") or []) or "?"),
            ("backend", t.get("backend") or o.get("backend") or "?"),
            ("concurrency", o.get("concurrency", "?")), ("time limit", f"{o.get('time_limit', '?')} s"),
            ("seed", t.get("seed", o.get("seed", "?"))),
            ("versions", ", ".join(f"{k} {v}" for k, v in versions.items()) or "?")]
    if ri:
        rows.append(("ops", f"{ri.get('ok', 0) + ri.get('fail', 0) + ri.get('info', 0)} completed: "
                            f"{ri.get('ok', 0)} ok, {ri.get('fail', 0)} fail, {ri.get('info', 0)} info"
                            f" in {ri.get('seconds', 0):.1f} s"))
        if ri.get("interrupted"):
            rows.append(("interrupted", "yes — the history is partial"))
        for e in ri.get("teardown_errors") or []:
            rows.append(("teardown error", str(e).strip().splitlines()[-1] if str(e).strip() else e))
        if ri.get("left_running"):
            rows.append(("left running", compact(ri["left_running"], 200)))
    half = (len(rows) + 1) // 2  # two columns side by side: the facts fit on one screen
    table = "".join('<table class="kv">' + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in part)
                    + "</table>" for part in (rows[:half], rows[half:]))
    err = ""
    if ri.get("error"):
        err = f'<h3>run error</h3><pre class="json error">{esc(ri["error"])}</pre>'
    cmd = reproduce_command(t)
    return (f'<section id="run"><h2>Run</h2><div class="kv-cols">{table}</div>{err}'
            f'<h3>Reproduce <button type="button" id="copy-cmd">copy</button></h3>'
            f'<pre class="cmd" id="cmd">{esc(cmd)}</pre>'
            f'<p class="muted small">The same seed gives the same operations and faults, not the same timing.</p>'
            f'</section>')


def _checks_section(run: RunData) -> str:
    rows = []
    for name, r in _flatten_checkers(run.results):
        rows.append(f'<tr><td>{esc(name)}</td><td>{verdict_chip(r.get("valid"))}</td><td>{esc(_summary(name, r))}</td></tr>')
    if not rows:
        return '<section id="checks"><h2>Checkers</h2><p class="muted">No results: the run was not checked.</p></section>'
    raw = json.dumps(_trim_for_display(run.results), indent=1, default=str)
    return (f'<section id="checks"><h2>Checkers</h2><table><thead><tr><th>checker</th><th>verdict</th>'
            f'<th>summary</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<details><summary>results.json (long lists shortened)</summary><pre class="json">{esc(raw)}</pre></details>'
            f'</section>')


def _trim_for_display(x: Any, depth: int = 0) -> Any:
    if isinstance(x, dict):
        return {k: _trim_for_display(v, depth + 1) for k, v in x.items()}
    if isinstance(x, list):
        if len(x) > 30:
            return [_trim_for_display(v, depth + 1) for v in x[:30]] + [f"... {len(x) - 30} more"]
        return [_trim_for_display(v, depth + 1) for v in x]
    return x


def _files_section(run: RunData) -> str:
    groups: dict[str, list[str]] = {}
    for f in run.files:
        parts = f.split("/")
        group = "/".join(parts[:2]) if parts[0] == "nodes" and len(parts) > 2 else "run"
        groups.setdefault(group, []).append(f)
    out = ['<section id="files"><h2>Files</h2>']
    for group, files in sorted(groups.items(), key=lambda kv: (kv[0] != "run", kv[0])):
        title = "run" if group == "run" else f"node {group.split('/', 1)[1]} logs"
        out.append(f"<h4>{esc(title)}</h4><ul class='files'>")
        for f in files:
            size = (run.path / f).stat().st_size if (run.path / f).is_file() else 0
            out.append(f'<li><a href="{esc(quote(f))}">{esc(f)}</a> <span class="muted small">{_size(size)}</span></li>')
        out.append("</ul>")
    out.append("</section>")
    return "".join(out)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _with_outcomes(bands: list[dict], history: list) -> list[dict]:
    """A fault's invoke names its shape ("kill-one"); its completion says what was done ({"killed": ["n2"]}).
    Show the latter when there is one: it names the nodes."""
    position = {op.index: i for i, op in enumerate(history)}
    for band in bands:
        i = position.get(band.get("start_op"))
        if i is None:
            continue
        start = history[i]
        for op in history[i + 1:]:
            if op.process == start.process and op.f == start.f and op.type != "invoke":
                if op.value is not None and op.value != start.value:
                    band["value"] = op.value
                break
            if op.process == start.process and op.type == "invoke":
                break
    return bands


def render(run: RunData) -> str:
    history = run.history
    problems = list(run.problems)
    try:
        ps = make_pairs(history)
    except HistoryError as exc:
        problems.append(f"history does not pair up, timeline not drawn: {exc}")
        ps = []
    end_ns = max((op.time for op in history), default=0)
    nem = nemesis_bands(history, end_ns)
    bands, events = _with_outcomes(nem["bands"], history), nem["events"]
    ctx = Context(run, ps, bands)
    cls, headline = _headline(run)

    anomaly_parts = []
    for name, r in _flatten_checkers(run.results):
        if r.get("valid") is True:
            continue
        if isinstance(r.get("results"), dict) and " / " not in name and any(
                isinstance(v, dict) for v in r["results"].values()):
            continue  # a composed checker: its parts are rendered one by one
        block = render_checker_anomalies(name, r, ctx)
        if block:
            anomaly_parts.append(block)
    anomalies = ""
    if anomaly_parts or cls == "invalid":
        anomalies = ('<section id="anomalies"><h2>What went wrong</h2>' + ("".join(anomaly_parts) or
                     '<p class="muted">The checker reported anomalies but gave no details.</p>') + "</section>")

    done = [p for p in ps if p.complete is not None]
    end_s = end_ns / NS_PER_S
    try:
        concurrency = int((run.test.get("options") or {}).get("concurrency") or 0) or None
    except (TypeError, ValueError):
        concurrency = None
    tl = timeline_data(ps, bands, events, end_ns, ctx.marks, concurrency)
    nonce = secrets.token_urlsafe(16)
    title = f"{run.test.get('name') or run.path.parent.name} {run.path.name}: {cls}"
    counts = {"ok": 0, "fail": 0, "info": 0}
    for p in ps:
        counts[p.type] = counts.get(p.type, 0) + 1
    stats = "".join(f'<div class="stat"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in
                    [("client ops", len(ps)), ("ok", counts["ok"]), ("fail", counts["fail"]),
                     ("info", counts["info"]), ("processes", len({p.invoke.process for p in ps})),
                     ("faults", len(bands)),
                     ("duration", fmt_s(end_s))])
    faults_list = ""
    if bands or events:
        faults_list = ("<details><summary>faults (" + str(len(bands)) + " windows, " + str(len(events)) +
                       " other nemesis ops)</summary><table><thead><tr><th>fault</th><th>from</th><th>to</th><th>what"
                       "</th></tr></thead><tbody>" + "".join(
                           f"<tr><td>{esc(b.get('name'))}</td><td>{fmt_s(b.get('start_s'))}</td>"
                           f"<td>{fmt_s(b.get('stop_s'))}{' (never healed)' if b.get('open') else ''}</td>"
                           f"<td><code>{esc(compact(b.get('value'), 200))}</code></td></tr>" for b in bands)
                       + "".join(f"<tr><td>{esc(e.get('f'))}</td><td>{fmt_s(e.get('time_s'))}</td><td></td>"
                                 f"<td><code>{esc(compact(e.get('value'), 200))}</code></td></tr>" for e in events)
                       + "</tbody></table></details>")
    problems_html = ""
    if problems:
        problems_html = ('<section class="problems" id="problems"><h2>Problems reading this run</h2><ul>'
                         + "".join(f"<li>{esc(p)}</li>" for p in problems) + "</ul></section>")
    timeline = ""
    if ps:
        timeline = (f'<section id="timeline"><h2>Timeline</h2><div class="stats">{stats}</div>'
                    '<div class="tl-controls"><button type="button" id="tl-in">zoom in</button>'
                    '<button type="button" id="tl-out">zoom out</button><button type="button" id="tl-fit">whole run</button>'
                    '<button type="button" id="tl-next">next anomaly op</button>'
                    '<span class="muted small" id="tl-view"></span></div>'
                    '<div id="tl-scroll"><canvas id="tl-canvas"></canvas><div id="tl-spacer"></div></div>'
                    '<div id="tl-tip"></div>'
                    '<div class="legend"><span class="legend-item"><span class="swatch" style="background:linear-gradient(90deg,#43a047 50%,#2e7d32 50%)"></span>'
                    'ok (two shades: alternate kinds of operation)</span>'
                    '<span class="legend-item"><span class="swatch" style="background:#e53935"></span>fail</span>'
                    '<span class="legend-item"><span class="swatch" style="background:#ffb300"></span>info (indeterminate)</span>'
                    '<span class="legend-item"><span class="swatch" style="background:#ffcc80"></span>fault active</span>'
                    '<span class="legend-item"><span class="swatch" style="background:#fff;border:2px solid #b71c1c"></span>'
                    'named by an anomaly (▼ on the ruler)</span></div>'
                    '<p class="muted small">Drag to pan, Ctrl+wheel or double-click to zoom (Shift+double-click out), '
                    'wheel to scroll processes; hover an op for its details.</p>'
                    f'{faults_list}'
                    f'<script type="application/json" id="timeline-data">{json_for_script(tl)}</script></section>')
    perf = ""
    if done:
        perf = (f'<section id="perf"><h2>Latency and throughput</h2>{plot_legend()}'
                f'<h3>latency</h3>{latency_svg(done, end_s, bands)}'
                f'<h3>throughput</h3>{throughput_svg(done, end_s, bands)}</section>')
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    nav = ('<nav class="top"><span class="name">' + esc(title) + '</span><a href="#verdict">verdict</a>'
           '<a href="#run">run</a><a href="#checks">checkers</a>'
           + ('<a href="#anomalies">what went wrong</a>' if anomalies else "")
           + ('<a href="#timeline">timeline</a>' if timeline else "") + ('<a href="#perf">latency</a>' if perf else "")
           + '<a href="#files">files</a></nav>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{nav}<main>"
            f"{headline}{problems_html}{anomalies}{_run_section(run)}{_checks_section(run)}{timeline}{perf}"
            f"{_files_section(run)}</main><script nonce=\"{nonce}\">{JS}</script></body></html>\n")
