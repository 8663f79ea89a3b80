"""The page's inline CSS and JS (no external files: the report must work from file:// and when mailed).

The JS only reads data from <script type="application/json"> blocks and writes it with textContent or
onto a canvas; it never builds markup from data.
"""

CSS = r"""
:root{--ok:#2e7d32;--bad:#c62828;--unk:#8d6e00;--ink:#1f2a30;--muted:#5f6f78;--line:#e3e8eb;--bg:#f4f6f8}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1240px;margin:0 auto;padding:0 20px 60px}
nav.top{position:sticky;top:0;z-index:5;background:#263238;color:#eceff1;padding:6px 20px;display:flex;gap:18px;align-items:center;font-size:13px}
nav.top a{color:#cfd8dc;text-decoration:none}nav.top a:hover{color:#fff}
nav.top .name{font-weight:600;color:#fff;margin-right:auto;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.verdict{margin:18px 0 14px;padding:18px 22px;border-radius:10px;color:#fff;display:flex;gap:22px;align-items:center}
.verdict .word{font-size:34px;font-weight:800;letter-spacing:.5px}
.verdict .why{font-size:15px;opacity:.95}
.verdict-valid{background:linear-gradient(90deg,#2e7d32,#43a047)}
.verdict-invalid{background:linear-gradient(90deg,#b71c1c,#e53935)}
.verdict-unknown{background:linear-gradient(90deg,#6d5d00,#a68a00)}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 20px;margin:14px 0}
h2{font-size:18px;margin:2px 0 10px}h3{font-size:16px;margin:10px 0 6px}h4{font-size:14px;margin:12px 0 6px}
.count{display:inline-block;background:#eceff1;border-radius:10px;padding:0 8px;font-size:12px;margin-left:4px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.4px}
.kv-cols{display:flex;gap:28px;flex-wrap:wrap}.kv-cols table.kv{flex:1 1 480px;width:auto}
table.kv th{width:130px;text-transform:none;font-size:13px;letter-spacing:0}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:12.5px}
pre.cmd{background:#263238;color:#e0f2f1;padding:10px 12px;border-radius:6px;white-space:pre-wrap;word-break:break-all;margin:6px 0}
.chip{display:inline-block;padding:1px 9px;border-radius:10px;font-weight:700;font-size:12px;color:#fff}
.chip-valid{background:var(--ok)}.chip-invalid{background:var(--bad)}.chip-unknown{background:#a68a00}
.muted{color:var(--muted)}.small{font-size:12px}.error{color:var(--bad);font-weight:600;white-space:pre-wrap}
.problems{background:#fff8e1;border-color:#ffe082}
.anomaly{border-left:4px solid var(--bad);padding:4px 0 8px 14px;margin:10px 0 18px}
.ce-message{font-size:15px;margin:4px 0 8px}
dl.facts{display:grid;grid-template-columns:200px 1fr;gap:4px 12px;margin:6px 0 10px}
dl.facts dt{color:var(--muted);font-weight:600}dl.facts dd{margin:0}
code.state{background:#e8f5e9;border:1px solid #a5d6a7;border-radius:4px;padding:1px 6px;margin-right:4px}
.fault{background:#fff3e0;border:1px solid #ffcc80;border-radius:4px;padding:1px 6px}
.op-chip{display:inline-block;border:1px solid #cfd8dc;border-radius:6px;padding:1px 7px;margin:1px 2px;background:#fafbfc;color:var(--ink);text-decoration:none;font-size:12.5px}
.op-chip:hover{border-color:#78909c;background:#eef3f6}
.op-chip.type-ok{border-left:4px solid #43a047}.op-chip.type-fail{border-left:4px solid #e53935}.op-chip.type-info{border-left:4px solid #ffb300}
.op-chip.bad{border:2px solid #d32f2f;border-left:6px solid #d32f2f;background:#ffebee}
.ref{margin:2px 0}.ref-name{color:var(--muted);font-size:12px;display:inline-block;min-width:70px}
.fact{display:inline-block;margin-right:12px}.fact-k{color:var(--muted);font-size:12px;margin-right:3px}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12px;color:var(--muted);margin:6px 0}
.legend-item{display:inline-flex;align-items:center;gap:5px}
.swatch{display:inline-block;width:16px;height:10px;border-radius:3px}
.swatch.dashed{border:1.5px dashed #37474f;background:#cfd8dc}
svg.lanes,svg.plot{display:block;margin:4px 0;background:#fff;border:1px solid var(--line);border-radius:6px}
svg .lane-label{font-size:12px;fill:#37474f;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
svg .bar-label{font-size:11px;font-family:ui-monospace,"DejaVu Sans Mono",monospace;pointer-events:none}
svg .bar-order{font-size:10px;fill:#2e7d32;font-weight:700}
svg .tick{font-size:11px;fill:#607d8b}svg .axis-label{font-size:12px;fill:#455a64}
svg .grid{stroke:#eceff1;stroke-width:1}
svg .band-label{font-size:11px;fill:#e65100;font-weight:600}
svg g.bar:hover rect{stroke:#000;stroke-width:2}
button{font:inherit;font-size:12.5px;border:1px solid #b0bec5;background:#fff;border-radius:6px;padding:3px 10px;cursor:pointer}
button:hover{background:#eceff1}
.tl-controls{display:flex;gap:8px;align-items:center;margin:4px 0 8px;flex-wrap:wrap}
#tl-scroll{position:relative;overflow-y:auto;border:1px solid var(--line);border-radius:6px}
#tl-canvas{position:sticky;top:0;display:block;width:100%;cursor:grab}
#tl-tip{position:fixed;z-index:10;pointer-events:none;background:#263238;color:#fff;font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;padding:6px 8px;border-radius:6px;white-space:pre;display:none;max-width:560px;overflow:hidden}
ul.files{columns:3;margin:4px 0;padding-left:18px}
ul.files li{break-inside:avoid}
details summary{cursor:pointer;color:#37474f}
pre.json{max-height:420px;overflow:auto;background:#f7f9fa;border:1px solid var(--line);border-radius:6px;padding:8px;white-space:pre-wrap;word-break:break-word}
.stats{display:flex;gap:26px;flex-wrap:wrap;margin:4px 0 8px}
.stat b{display:block;font-size:20px}.stat span{color:var(--muted);font-size:12px}
"""

JS = r"""
(function () {
  "use strict";
  var el = document.getElementById("timeline-data");
  var copyBtn = document.getElementById("copy-cmd");
  if (copyBtn) {
    copyBtn.addEventListener("click", function () {
      var text = document.getElementById("cmd").textContent;
      var done = function () { copyBtn.textContent = "copied"; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () { selectCmd(); });
      } else { selectCmd(); }
    });
  }
  function selectCmd() {
    var r = document.createRange(); r.selectNodeContents(document.getElementById("cmd"));
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
  }
  if (!el) return;
  var D = JSON.parse(el.textContent);
  var n = D.ix.length;
  var LANE_H = D.lanes.length <= 8 ? 30 : D.lanes.length <= 30 ? 22 : 18, GUT = 118, RULER = 24;
  // outcome sets the hue; alternate f's get a darker shade so e.g. acquire and release stay apart
  var COL = [["#43a047", "#2e7d32"], ["#e53935", "#b71c1c"], ["#ffb300", "#ef8f00"]], TYPES = ["ok", "fail", "info"];
  var scroll = document.getElementById("tl-scroll");
  var canvas = document.getElementById("tl-canvas");
  var spacer = document.getElementById("tl-spacer");
  var tip = document.getElementById("tl-tip");
  var info = document.getElementById("tl-view");
  var g = canvas.getContext("2d");
  var laneOps = D.lanes.map(function () { return []; });
  var i;
  for (i = 0; i < n; i++) laneOps[D.lane[i]].push(i);
  var marks = new Set(D.marks);
  var marked = [];
  var byIndex = new Map();
  for (i = 0; i < n; i++) { byIndex.set(D.ix[i], i); if (marks.has(D.ix[i])) marked.push(i); }
  var END = Math.max(D.end, 1);
  var v0 = 0, v1 = END, viewH = 0, focus = -1;
  function endOf(k) { return D.dur[k] < 0 ? END : D.t0[k] + D.dur[k]; }
  function layout() {
    var total = RULER + D.lanes.length * LANE_H + 4;
    viewH = Math.min(total, 560);
    scroll.style.height = viewH + "px";
    canvas.style.height = viewH + "px";
    spacer.style.height = Math.max(0, total - viewH) + "px";
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(canvas.clientWidth * dpr);
    canvas.height = Math.round(viewH * dpr);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    draw();
  }
  function scale() { return (canvas.clientWidth - GUT - 8) / Math.max(v1 - v0, 1); }
  function xOf(t) { return GUT + (t - v0) * scale(); }
  function fmt(t) {
    var s = t * D.tick_s, span = (v1 - v0) * D.tick_s;
    if (span < 0.05) return (s * 1000).toFixed(2) + " ms";
    if (span < 2) return s.toFixed(3) + " s";
    if (span < 60) return s.toFixed(1) + " s";
    return s.toFixed(0) + " s";
  }
  function firstEnding(list, t) {
    var lo = 0, hi = list.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (endOf(list[mid]) < t) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function draw() {
    var W = canvas.clientWidth, H = viewH, top = scroll.scrollTop;
    var sc = scale();
    g.clearRect(0, 0, W, H);
    g.fillStyle = "#fff"; g.fillRect(0, 0, W, H);
    var first = Math.max(0, Math.floor(top / LANE_H)), last = Math.min(D.lanes.length - 1, Math.ceil((top + H - RULER) / LANE_H));
    var l, y;
    for (l = first; l <= last; l++) {
      y = RULER + l * LANE_H - top;
      if (l % 2) { g.fillStyle = "#f5f7f8"; g.fillRect(0, y, W, LANE_H); }
    }
    D.bands.forEach(function (b) {
      var x0 = Math.max(GUT, xOf(b.t0)), x1 = Math.min(W, xOf(b.t1));
      if (x1 < GUT || x0 > W) return;
      g.fillStyle = "rgba(255,167,38,0.28)"; g.fillRect(x0, RULER, Math.max(x1 - x0, 2), H - RULER);
      if (!b.nodes || !b.nodes.length) return;
      g.fillStyle = "rgba(239,108,0,0.22)";
      for (var bl = first; bl <= last; bl++) {
        if (b.nodes.indexOf(D.lanes[bl].node) >= 0) g.fillRect(x0, RULER + bl * LANE_H - top, Math.max(x1 - x0, 2), LANE_H);
      }
    });
    D.events.forEach(function (e) {
      var x = xOf(e.t); if (x < GUT || x > W) return;
      g.strokeStyle = "#ef6c00"; g.setLineDash([3, 3]); g.beginPath(); g.moveTo(x, RULER); g.lineTo(x, H); g.stroke(); g.setLineDash([]);
    });
    var drawn = 0;
    for (l = first; l <= last; l++) {
      y = RULER + l * LANE_H - top + 3;
      var list = laneOps[l], k = firstEnding(list, v0), lastPx = -1, lastTy = -1;
      for (; k < list.length; k++) {
        var o = list[k], t0 = D.t0[o];
        if (t0 > v1) break;
        var x0 = GUT + (t0 - v0) * sc, w = (endOf(o) - t0) * sc;
        if (x0 < GUT) { w -= GUT - x0; x0 = GUT; }
        var px = Math.floor(x0);
        if (w < 1 && px === lastPx && D.ty[o] === lastTy) continue;
        lastPx = px; lastTy = D.ty[o];
        g.fillStyle = COL[D.ty[o]][D.f[o] % 2];
        g.globalAlpha = D.dur[o] < 0 || D.ty[o] === 2 ? 0.45 : 1;
        g.fillRect(x0, y, w > 3 ? w - 1 : Math.max(w, 1), LANE_H - 6);  // a pixel between adjacent ops
        g.globalAlpha = 1;
        if (w > 40) {
          g.fillStyle = D.ty[o] === 2 ? "#3e2723" : "#fff"; g.font = "10px ui-monospace,monospace";
          var label = D.fs[D.f[o]] + " " + D.v[o];
          g.save(); g.beginPath(); g.rect(x0, y, w - 2, LANE_H - 6); g.clip();
          g.fillText(label, x0 + 3, y + (LANE_H - 6) / 2 + 4); g.restore();
        }
        drawn++;
      }
    }
    marked.forEach(function (o) {
      var l = D.lane[o]; if (l < first || l > last) return;
      var x0 = Math.max(GUT, xOf(D.t0[o])), x1 = Math.min(W, xOf(endOf(o)));
      if (x1 < GUT || x0 > W) return;
      y = RULER + l * LANE_H - top + 1;
      g.strokeStyle = o === focus ? "#000" : "#b71c1c"; g.lineWidth = o === focus ? 3 : 2;
      g.strokeRect(x0 - 1, y, Math.max(x1 - x0, 1) + 2, LANE_H - 2); g.lineWidth = 1;
    });
    // the gutter: lane names grouped by node
    g.fillStyle = "#fff"; g.fillRect(0, RULER, GUT - 4, H - RULER);
    g.font = "11px ui-monospace,monospace";
    for (l = first; l <= last; l++) {
      y = RULER + l * LANE_H - top;
      var lane = D.lanes[l];
      if (l === 0 || D.lanes[l - 1].node !== lane.node) {
        g.strokeStyle = "#90a4ae"; g.beginPath(); g.moveTo(0, y + 0.5); g.lineTo(W, y + 0.5); g.stroke();
      }
      g.fillStyle = "#37474f";
      g.fillText(((D.lane_kind === "worker" ? "w" : "p") + lane.p + (lane.node ? " · " + lane.node : "")).slice(0, 17), 6, y + LANE_H / 2 + 4);
    }
    // the ruler: ticks, fault names, anomaly marks
    g.fillStyle = "#fafbfc"; g.fillRect(0, 0, W, RULER);
    g.strokeStyle = "#cfd8dc"; g.beginPath(); g.moveTo(0, RULER - 0.5); g.lineTo(W, RULER - 0.5); g.stroke();
    var span = v1 - v0, step = Math.pow(10, Math.floor(Math.log10(span / 8)));
    [1, 2, 5, 10].some(function (m) { if (m * step >= span / 8) { step = m * step; return true; } return false; });
    g.fillStyle = "#607d8b"; g.font = "11px system-ui,sans-serif";
    for (var t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
      var x = xOf(t); if (x < GUT) continue;
      g.fillRect(x, RULER - 6, 1, 6); g.fillText(fmt(t), x + 2, 12);
    }
    D.bands.forEach(function (b) {
      var x = Math.max(GUT, xOf(b.t0)); if (xOf(b.t1) < GUT || x > W) return;
      g.fillStyle = "#e65100"; g.fillText("\u26a1" + b.name, x + 2, RULER - 3);
    });
    g.fillStyle = "#c62828";
    marked.forEach(function (o) {
      var x = xOf(D.t0[o]); if (x < GUT || x > W) return;
      g.beginPath(); g.moveTo(x - 4, 0); g.lineTo(x + 4, 0); g.lineTo(x, 7); g.fill();
    });
    info.textContent = "showing " + fmt(v0) + " – " + fmt(v1) + " of " + fmt(END) + ", " +
      D.lanes.length + (D.lane_kind === "worker" ? " workers, " : " processes, ") + n + " ops" + (drawn < n ? " (" + drawn + " drawn)" : "");
  }
  function clampView() {
    var span = Math.min(Math.max(v1 - v0, 2), END);
    if (v0 < 0) v0 = 0;
    v1 = v0 + span;
    if (v1 > END) { v1 = END; v0 = Math.max(0, END - span); }
  }
  function zoom(factor, atX) {
    var t = v0 + (atX - GUT) / scale();
    v0 = t - (t - v0) * factor; v1 = t + (v1 - t) * factor; clampView(); draw();
  }
  function showOp(o, pad) {
    var t0 = D.t0[o], t1 = endOf(o), w = Math.max(t1 - t0, 10);
    v0 = t0 - (pad || 8) * w; v1 = t1 + (pad || 8) * w; clampView();
    focus = o;
    scroll.scrollTop = Math.max(0, D.lane[o] * LANE_H - viewH / 2);
    draw();
  }
  canvas.addEventListener("wheel", function (e) {
    if (e.ctrlKey || e.altKey) { e.preventDefault(); zoom(e.deltaY > 0 ? 1.25 : 0.8, e.offsetX); }
    else if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      e.preventDefault(); var d = (e.shiftKey ? e.deltaY : e.deltaX) / scale(); v0 += d; v1 += d; clampView(); draw();
    }
  }, {passive: false});
  var drag = null;
  canvas.addEventListener("mousedown", function (e) { drag = {x: e.clientX, v0: v0, v1: v1}; canvas.style.cursor = "grabbing"; });
  window.addEventListener("mouseup", function () { drag = null; canvas.style.cursor = "grab"; });
  window.addEventListener("mousemove", function (e) {
    if (!drag) return;
    var d = (drag.x - e.clientX) / scale(); v0 = drag.v0 + d; v1 = drag.v1 + d; clampView(); draw();
  });
  canvas.addEventListener("dblclick", function (e) { zoom(e.shiftKey ? 2 : 0.5, e.offsetX); });
  canvas.addEventListener("mousemove", function (e) {
    if (drag) { tip.style.display = "none"; return; }
    var l = Math.floor((e.offsetY - RULER + scroll.scrollTop) / LANE_H);
    var o = -1;
    if (e.offsetY > RULER && l >= 0 && l < D.lanes.length && e.offsetX > GUT) {
      var t = v0 + (e.offsetX - GUT) / scale(), slack = 3 / scale(), list = laneOps[l];
      var k = firstEnding(list, t - slack);
      if (k < list.length && D.t0[list[k]] <= t + slack) o = list[k];
    }
    if (o < 0) { tip.style.display = "none"; return; }
    var end = D.dur[o] < 0 ? "never completed" : ((D.t0[o] + D.dur[o]) * D.tick_s).toFixed(4) + " s (" +
      (D.dur[o] * D.tick_s * 1000).toFixed(1) + " ms)";
    tip.textContent = "op #" + D.ix[o] + "  process " + D.p[o] +
      (D.lane_kind === "worker" ? " (worker " + D.lanes[D.lane[o]].p + ")" : "") +
      (D.lanes[D.lane[o]].node ? " on " + D.lanes[D.lane[o]].node : "") + "\n" + D.fs[D.f[o]] + " " + D.v[o] + "\n" +
      TYPES[D.ty[o]] + "  " + (D.t0[o] * D.tick_s).toFixed(4) + " s \u2192 " + end +
      (marks.has(D.ix[o]) ? "\nnamed by an anomaly" : "");
    tip.style.display = "block";
    tip.style.left = Math.min(e.clientX + 14, window.innerWidth - 380) + "px";
    tip.style.top = (e.clientY + 14) + "px";
  });
  canvas.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  scroll.addEventListener("scroll", draw);
  window.addEventListener("resize", layout);
  document.getElementById("tl-in").addEventListener("click", function () { zoom(0.5, GUT + (canvas.clientWidth - GUT) / 2); });
  document.getElementById("tl-out").addEventListener("click", function () { zoom(2, GUT + (canvas.clientWidth - GUT) / 2); });
  document.getElementById("tl-fit").addEventListener("click", function () { v0 = 0; v1 = END; focus = -1; draw(); });
  var next = document.getElementById("tl-next"), nextAt = 0;
  if (next) {
    if (!marked.length) next.disabled = true;
    next.addEventListener("click", function () { if (marked.length) { showOp(marked[nextAt % marked.length], 8); nextAt++; } });
  }
  document.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("[data-index]") : null;
    if (!a || a.closest("#tl-scroll")) return;
    var o = byIndex.get(Number(a.getAttribute("data-index")));
    if (o === undefined) return;
    if (a.hasAttribute("data-t0")) {
      v0 = Number(a.getAttribute("data-t0")) / D.tick_s; v1 = Number(a.getAttribute("data-t1")) / D.tick_s; clampView();
      focus = o; scroll.scrollTop = Math.max(0, D.lane[o] * LANE_H - viewH / 2); draw();
    } else { showOp(o, 8); }
    document.getElementById("timeline").scrollIntoView({behavior: "smooth"});
    e.preventDefault();
  });
  layout();
})();
"""
