"""Linearizability checker speed: every history in ../shared/histories/verdicts.tsv, next to Porcupine's time,
plus a generated 100,000-operation multi-key register history with crashes.

  python3 bench/checker.py [--only SUBSTRING] [--no-big] [--big-ops N] [--quiet]

Prints per-file seconds (parsing excluded, as in Porcupine's figures), totals per group with Porcupine's total
and the ratio, peak memory (max RSS of this process and of its worker processes), and the big history's figures.
Both wall-clock and CPU seconds are shown: these files are checked in this one process, so CPU time is the
figure that does not depend on what else the machine is doing (Porcupine's medians were taken on an idle one).
Exits 1 if a verdict disagrees with verdicts.tsv.
"""
from __future__ import annotations

import argparse
import csv
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from checkers.formats import read_history  # noqa: E402
from checkers.history import INFO, INVOKE, OK, Op, index_history  # noqa: E402
from checkers.linearizable import check  # noqa: E402
from checkers.models import make_model  # noqa: E402

HISTORIES = REPO.parent / "shared" / "histories"


def model_for(row: dict[str, str]) -> Any:
    m = row["model"]
    if m.startswith("cas-register"):
        return make_model("cas-register", 0 if "(initial 0)" in m else None, nil_read_matches_any=row["format"] == "edn")
    if m.startswith("kv"):
        return make_model("kv")
    if m.startswith("multi-register"):
        return make_model("multi-register", {"x": 0, "y": 0})
    return make_model("mutex")


def group_of(path: str) -> str:
    if "/jepsen/" in path:
        return "porcupine etcd"
    if "/kv/" in path:
        return "porcupine kv"
    return "knossos"


def peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def generate_register_history(n_ops: int, keys: int, processes: int, crash_rate: float, seed: int) -> list[Op]:
    """A real (linearizable) run of cas registers: each op takes effect at a random moment inside its interval;
    a crashed op (info) takes effect or not. Keys are jepsen.independent-style, in ``Op.key``."""
    rng = random.Random(seed)
    state = {k: 0 for k in range(keys)}
    history: list[Op] = []
    open_: dict[int, dict] = {}
    free = list(range(processes))
    next_pid = processes
    started = 0
    while started < n_ops or open_:
        if started < n_ops and free and (not open_ or rng.random() < 0.5):
            p = free.pop(rng.randrange(len(free)))
            k = rng.randrange(keys)
            f = rng.choice(("read", "read", "write", "cas"))
            v = None if f == "read" else (rng.randrange(5) if f == "write" else [rng.randrange(5), rng.randrange(5)])
            history.append(Op(INVOKE, p, f, v, key=k))
            open_[p] = {"f": f, "k": k, "v": v, "done": False, "res": None}
            started += 1
            continue
        p = rng.choice(list(open_))
        o = open_[p]
        if not o["done"] and rng.random() < 0.5:
            o["done"] = True
            k = o["k"]
            if o["f"] == "read":
                o["res"] = state[k]
            elif o["f"] == "write":
                state[k] = o["v"]
            else:
                o["res"] = state[k] == o["v"][0]
                if o["res"]:
                    state[k] = o["v"][1]
            continue
        if not o["done"] and rng.random() < 0.7:
            continue  # not yet: let it take effect first most of the time
        del open_[p]
        if rng.random() < crash_rate:
            history.append(Op(INFO, p, o["f"], o["v"], key=o["k"]))
            p2 = next_pid
            next_pid += 1
            free.append(p2)
            continue
        free.append(p)
        if not o["done"]:
            history.append(Op("fail", p, o["f"], o["v"], key=o["k"]))
        elif o["f"] == "read":
            history.append(Op(OK, p, "read", o["res"], key=o["k"]))
        elif o["f"] == "cas" and not o["res"]:
            history.append(Op("fail", p, "cas", o["v"], key=o["k"]))
        else:
            history.append(Op(OK, p, o["f"], o["v"], key=o["k"]))
    return index_history(history)


def big(n_ops: int) -> None:
    """Runs in its own process so that its peak memory is its own."""
    t0 = time.monotonic()
    history = generate_register_history(n_ops, keys=50, processes=40, crash_rate=0.02, seed=7)
    gen_s = time.monotonic() - t0
    infos = sum(1 for op in history if op.type == INFO)
    t0 = time.monotonic()
    res = check(history, make_model("cas-register", 0), time_limit=120)
    el = time.monotonic() - t0
    own, children = peak_rss_mb()
    cpu = sum(getattr(resource.getrusage(w), a) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for a in ("ru_utime", "ru_stime"))
    print(f"generated {n_ops} ops ({len(history)} events, {infos} crashed, 50 keys, 40 processes) in {gen_s:.1f} s")
    print(f"checked: valid={res['valid']} in {el:.2f} s wall ({cpu:.1f} s CPU in all processes, generation "
          f"included); configurations {res['configs']}; peak RSS {own:.0f} MB (checker process) / "
          f"{children:.0f} MB (largest worker)")
    sys.exit(0 if res["valid"] is True else 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="only files whose path contains this")
    ap.add_argument("--no-big", action="store_true", help="skip the generated 100k-op history")
    ap.add_argument("--big-ops", type=int, default=100_000)
    ap.add_argument("--quiet", action="store_true", help="no per-file lines")
    ap.add_argument("--_big", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._big:
        big(args.big_ops)
        return 0
    with open(HISTORIES / "verdicts.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if args.only:
        rows = [r for r in rows if args.only in r["path"]]
    groups: dict[str, list[tuple[float, float, float]]] = {}
    slowest: dict[str, tuple[float, str]] = {}
    mismatches = []
    if not args.quiet:
        print(f"{'history':55} {'verdict':8} {'wall s':>8} {'cpu s':>8} {'porcupine ms':>12} {'cpu ratio':>9}")
    for row in rows:
        ops = read_history(HISTORIES / row["path"], row["format"])
        model = model_for(row)
        t0 = time.perf_counter()
        c0 = time.process_time()
        res = check(ops, model, time_limit=120)
        cpu = time.process_time() - c0
        el = time.perf_counter() - t0
        porc = float(row["porcupine_median_ms"]) / 1000
        verdict = {True: "valid", False: "invalid"}.get(res["valid"], "unknown")
        if verdict != row["expected"]:
            mismatches.append(f"{row['path']}: {verdict}, expected {row['expected']}")
        g = group_of(row["path"])
        groups.setdefault(g, []).append((el, cpu, porc))
        if cpu > slowest.get(g, (0.0, ""))[0]:
            slowest[g] = (cpu, row["path"])
        if not args.quiet:
            print(f"{row['path']:55} {verdict:8} {el:8.4f} {cpu:8.4f} {porc * 1000:12.3f} "
                  f"{cpu / porc if porc else 0:9.1f}")
    print()
    print(f"{'group':16} {'files':>5} {'wall s':>8} {'cpu s':>8} {'porcupine s':>11} {'cpu ratio':>9}  slowest (cpu)")
    for g, xs in groups.items():
        wall = sum(x for x, _, _ in xs)
        ours = sum(c for _, c, _ in xs)
        theirs = sum(y for _, _, y in xs)
        print(f"{g:16} {len(xs):5} {wall:8.3f} {ours:8.3f} {theirs:11.3f} {ours / theirs:9.1f}  "
              f"{slowest[g][1]} {slowest[g][0]:.3f} s")
    own, children = peak_rss_mb()
    print(f"peak RSS: {own:.0f} MB (this process, parsing included), {children:.0f} MB (largest worker process)")
    for m in mismatches:
        print("MISMATCH", m)
    if not args.no_big:
        print()
        r = subprocess.run([sys.executable, __file__, "--_big", "--big-ops", str(args.big_ops)])
        if r.returncode != 0:
            mismatches.append("generated history not judged valid")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
