"""Stored runs built from hand-made histories, laid out exactly as `harness run` leaves them (harness/store.py's
RunStore and file names) and judged by the real checkers (harness.checking.check_history, as at the end of a
run), so the report tests need no cluster."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from checkers.history import Op
from harness.checking import check_history
from harness.store import HISTORY, LOG, RESULTS, TEST, RunStore

MS = 1_000_000
# Markup a server could send back: a report must show it as text, never run it.
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = "<img src=x onerror=window.__xss=2>"


def xss_value(i: int) -> str:
    return f"{XSS_SCRIPT}{i}" if i % 2 else f"{XSS_IMG}{i}"


class HistoryBuilder:
    """Ops appended in time order: ``call`` opens an op of a process, ``done`` completes it."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.open: dict[Any, Op] = {}

    def call(self, t_ms: float, process: Any, f: str, value: Any = None, key: Any = None, node: str | None = None) -> None:
        op = Op("invoke", process, f, value, int(t_ms * MS), len(self.ops), key, node)
        self.open[process] = op
        self.ops.append(op)

    def done(self, t_ms: float, process: Any, type_: str = "ok", value: Any = "same", error: Any = None,
             **extra: Any) -> None:
        inv = self.open.pop(process)
        v = inv.value if value == "same" else value
        self.ops.append(Op(type_, process, inv.f, v, int(t_ms * MS), len(self.ops), inv.key, inv.node, error,
                           dict(extra)))

    def nemesis(self, t_ms: float, f: str, value: Any) -> None:
        self.ops.append(Op("info", "nemesis", f, value, int(t_ms * MS), len(self.ops)))


def register_history(stale_read: bool = False, value_of: Any = None, ops_per_process: int = 12) -> list[Op]:
    """Three processes on nodes n1..n3 doing writes and sync reads on key 0 (and key 1), a partition in
    the middle. With ``stale_read``, process 2 reads an old value after a newer write completed."""
    h = HistoryBuilder()
    nodes = {0: "n1", 1: "n2", 2: "n3"}
    value = (lambda i: i) if value_of is None else value_of
    t = 0.0
    current = None
    n = 0
    h.nemesis(40, "start-partition", {"n1": ["n2", "n3"], "note": "isolate n1"})
    for step in range(ops_per_process):
        for p in range(3):
            t += 3
            key = 0 if step % 3 else 1
            if key == 1:
                h.call(t, p, "read", None, key=1, node=nodes[p])
                h.done(t + 2, p, "ok", None, read_mode="sync")
                continue
            if (step + p) % 2 == 0:
                n += 1
                v = value(n)
                h.call(t, p, "write", v, key=0, node=nodes[p])
                h.done(t + 2, p, "ok", version=n)
                current = v
            else:
                h.call(t, p, "read", None, key=0, node=nodes[p])
                h.done(t + 2, p, "ok", current, read_mode="sync")
        if step == 5 and stale_read:
            # a write of a new value completes, then a read (on another node) returns the value before it
            old = current
            n += 1
            t += 3
            h.call(t, 0, "write", value(n), key=0, node="n1")
            h.done(t + 2, 0, "ok", version=n)
            current = value(n)
            t += 3
            h.call(t, 2, "read", None, key=0, node="n3")
            h.done(t + 2, 2, "ok", old, read_mode="sync")
    h.nemesis(t + 1, "stop-partition", "healed")
    t += 4
    h.call(t, 1, "write", value(n + 1), key=0, node="n2")
    h.done(t + 30, 1, "info", error="connection-loss")
    return h.ops


def set_history(lost: bool = True) -> list[Op]:
    h = HistoryBuilder()
    t = 0.0
    for e in range(10):
        p = e % 2
        t += 2
        h.call(t, p, "add", e, node=f"n{p + 1}")
        h.done(t + 1, p, "ok", path=f"/jepsen/set/e{e}-{e:010d}", seq=e)
    present = [e for e in range(10) if not (lost and e == 4)] + ([99] if lost else [])
    t += 5
    h.call(t, 0, "read", None, node="n1")
    h.done(t + 2, 0, "ok", present, final=True)
    return h.ops


def lock_history(overlap: bool = True) -> list[Op]:
    h = HistoryBuilder()
    h.call(0, 0, "acquire", None, node="n1")
    h.done(5, 0, "ok")
    h.call(10, 1, "acquire", None, node="n2")
    if overlap:
        h.done(15, 1, "ok")
        h.call(30, 0, "release", None, node="n1")
        h.done(32, 0, "ok")
        h.call(40, 1, "release", None, node="n2")
        h.done(41, 1, "ok")
    else:
        h.done(15, 1, "fail", error="timeout")
        h.call(30, 0, "release", None, node="n1")
        h.done(32, 0, "ok")
    return h.ops


def make_run(store: Path, workload: str, history: list[Op], nemesis: str = "partition",
             options: dict[str, Any] | None = None, node_logs: dict[str, str] | None = None,
             check: bool = True) -> Path:
    """A run directory as the harness writes it: history.jsonl, test.json, results.json, harness.log,
    nodes/<node>/server.log."""
    opts = {"db": "zookeeper", "workload": workload, "nemesis": nemesis, "nodes": ["n1", "n2", "n3"],
            "node_count": 3, "concurrency": 3, "time_limit": 10.0, "rate": 100.0, "seed": 42, "test_count": 1,
            "backend": "netns", "store": str(store), "leave_db_running": False, "read_mode": "sync",
            "op_timeout": 10.0, "client_nodes": "one", "session_timeout": 10.0, "recovery_time": None,
            "zookeeper_tarball": None, "no_progress": True}
    opts.update(options or {})
    name = f"zookeeper-{workload}-{nemesis}"
    run = RunStore(store, name)
    for op in history:
        run.append(op)
    run.close()
    test = {"name": name, "seed": opts["seed"], "workload": workload, "db": "zookeeper", "nemesis": nemesis,
            "nodes": opts["nodes"], "backend": "netns", "options": opts,
            "versions": {"harness": "0.1.0", "kazoo": "2.11.0", "python": "3.11.7", "db": "3.8.0"}}
    run.write_json(TEST, test)
    if check:
        results = check_history(workload, dict(opts), opts["seed"], history, test)
        ok = sum(1 for op in history if op.type == "ok" and op.is_client)
        fail = sum(1 for op in history if op.type == "fail" and op.is_client)
        info = sum(1 for op in history if op.type == "info" and op.is_client)
        results["run"] = {"interrupted": False, "error": None, "ops": len(history), "ok": ok, "fail": fail,
                          "info": info, "seconds": 1.0}
        run.write_json(RESULTS, results)
    (run.path / LOG).write_text("2026-11-24 15:00:00 INFO harness: setting up\n", encoding="utf-8")
    for node, text in (node_logs or {n: f"server log of {n}\n" for n in opts["nodes"]}).items():
        (run.node_dir(node) / "server.log").write_text(text, encoding="utf-8")
    assert (run.path / HISTORY).is_file()
    return run.path


def results_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / RESULTS).read_text("utf-8"))
