"""Report rendering speed: a generated run of N client operations (default 100,000) on 3 nodes with 10
processes, crashes, partitions every few seconds and one stale read (so the page has a counterexample),
judged by the real register checker, then rendered to report.html.

  python3 bench/report_render.py [--ops N] [--keep DIR] [--browser]

Prints the seconds to check (for reference), to render (wall and CPU), the size of report.html, and with
--browser the seconds headless Chromium takes to load the page and draw its timeline.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from checkers.history import Op  # noqa: E402
from harness.checking import check_history  # noqa: E402
from harness.store import RESULTS, TEST, RunStore  # noqa: E402
from reports import write_report  # noqa: E402

MS = 1_000_000


def generate(n_ops: int, seed: int = 1, processes: int = 10, keys: int = 5) -> list[Op]:
    """Sequential-consistent-in-real-time register ops: each takes effect at its completion time, which we
    apply in completion order, so the history is linearizable until the one stale read added at 60%."""
    rng = random.Random(seed)
    nodes = ["n1", "n2", "n3"]
    state = {k: None for k in range(keys)}
    history: list[Op] = []
    events: list[tuple[int, int, str, tuple]] = []  # (time, order, kind, data), merged at the end
    proc_free = {p: 0 for p in range(processes)}
    t_total = n_ops * 10 * MS // processes  # ~100 ops/s per process
    started = 0
    # schedule ops per worker
    workers = list(range(processes))
    clock = {w: rng.randrange(5 * MS) for w in workers}
    pid_of = {w: w for w in workers}
    while started < n_ops:
        w = min(workers, key=lambda x: clock[x])
        t0 = clock[w]
        dur = int(rng.expovariate(1 / (3 * MS))) + MS // 2
        k = rng.randrange(keys)
        f = rng.choice(("read", "read", "write", "cas"))
        v = None if f == "read" else (rng.randrange(8) if f == "write" else [rng.randrange(8), rng.randrange(8)])
        crash = rng.random() < 0.002
        events.append((t0, 0, "invoke", (pid_of[w], f, v, k, nodes[w % 3])))
        events.append((t0 + dur, 1, "done", (pid_of[w], f, v, k, nodes[w % 3], crash)))
        if crash:  # the harness's convention: the worker goes on as process p + concurrency
            pid_of[w] += processes
        clock[w] = t0 + dur + int(rng.expovariate(1 / (7 * MS)))
        started += 1
    for t in range(2_000 * MS, t_total, 10_000 * MS):
        events.append((t, 0, "nemesis", ("start-partition", {"n1": ["n2", "n3"]})))
        events.append((t + 3_000 * MS, 0, "nemesis", ("stop-partition", "healed")))
    events.sort(key=lambda e: (e[0], e[1]))
    open_inv: dict[int, int] = {}
    stale_done = False
    previous = dict(state)
    for t, _, kind, data in events:
        idx = len(history)
        if kind == "nemesis":
            history.append(Op("info", "nemesis", data[0], data[1], t, idx))
        elif kind == "invoke":
            p, f, v, k, node = data
            history.append(Op("invoke", p, f, v, t, idx, k, node))
        else:
            p, f, v, k, node, crash = data
            if crash:
                history.append(Op("info", p, f, v, t, idx, k, node, "connection-loss"))
                continue
            if f == "read":
                value = state[k]
                if not stale_done and idx > len(events) * 0.6 and previous[k] != state[k]:
                    value, stale_done = previous[k], True
                history.append(Op("ok", p, f, value, t, idx, k, node))
            elif f == "write":
                previous[k] = state[k]
                state[k] = v
                history.append(Op("ok", p, f, v, t, idx, k, node))
            else:
                if state[k] == v[0]:
                    previous[k] = state[k]
                    state[k] = v[1]
                    history.append(Op("ok", p, f, v, t, idx, k, node))
                else:
                    history.append(Op("fail", p, f, v, t, idx, k, node))
    return history


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--keep", metavar="DIR", help="write the run under DIR (kept) instead of a temp dir")
    ap.add_argument("--browser", action="store_true", help="also time loading the page in headless Chromium")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="report-bench-"))
    try:
        history = generate(args.ops)
        store = RunStore(root, "bench-register-partition")
        for op in history:
            store.append(op)
        store.close()
        options = {"db": "zookeeper", "workload": "register", "nemesis": "partition",
                   "nodes": ["n1", "n2", "n3"], "concurrency": 10, "time_limit": 100, "rate": 1000,
                   "read_mode": "sync", "seed": 1}
        test = {"name": "bench-register-partition", "seed": 1, "workload": "register", "db": "zookeeper",
                "nemesis": "partition", "nodes": options["nodes"], "backend": "netns", "options": options,
                "versions": {"harness": "bench"}}
        store.write_json(TEST, test)
        t = time.monotonic()
        results = check_history("register", dict(options), 1, history, test)
        check_s = time.monotonic() - t
        store.write_json(RESULTS, results)
        t, cpu = time.monotonic(), time.process_time()
        path = write_report(store.path)
        render_s, render_cpu = time.monotonic() - t, time.process_time() - cpu
        size = path.stat().st_size
        print(f"history: {sum(1 for o in history if o.type == 'invoke')} client ops ({len(history)} lines), "
              f"verdict {json.dumps(results['valid'])}")
        print(f"check:  {check_s:.2f} s (for reference)")
        print(f"render: {render_s:.2f} s wall, {render_cpu:.2f} s CPU (the figure that does not depend on what else "
              f"the machine is doing), report.html {size / 1e6:.2f} MB ({path})")
        if args.browser:
            sys.path.insert(0, str(REPO / "tests" / "reports"))
            from browser import chromium
            with chromium() as ctx:
                page = ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                t = time.monotonic()
                page.goto(path.as_uri())
                page.wait_for_function("document.getElementById('tl-view').textContent.length > 0")
                load_s = time.monotonic() - t
                t = time.monotonic()
                for _ in range(5):
                    page.click("#tl-fit")
                redraw_ms = (time.monotonic() - t) / 5 * 1000
                print(f"chromium: loaded and drawn in {load_s:.2f} s; a redraw of the whole run (click incl.) "
                      f"{redraw_ms:.0f} ms; page errors: {errors or 'none'}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
