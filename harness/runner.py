"""Running a Test: set the cluster up, drive workers and the nemesis from the generator, record the history,
tear everything down (always), check the history, write results.

Threads:
- one worker thread per unit of ``--concurrency``, each with its own kazoo client bound to one node
  (round robin over the nodes) or given all nodes (``client_nodes="all"``). A worker starts as process
  ``i``; after an ``info`` completion (including the per-op timeout) that process is considered crashed:
  the worker drops its client and continues as process ``i + concurrency`` with a new session (Jepsen's
  semantics; a new session also makes "process = session" true for the session-order checker).
- one nemesis thread (process ``"nemesis"``), taking fault ops from the same generator.
- one progress thread writing a status line to stderr.
The main thread only waits, so Ctrl-C (or SIGTERM) lands there: workers are told to stop, and teardown
(DB teardown and backend destroy, unless ``--leave-db-running``) runs in ``finally``; further Ctrl-Cs
during teardown are ignored so it cannot be cut short.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkers.checker import UNKNOWN
from checkers.history import FAIL, INFO, INVOKE, NEMESIS, OK, Op
from harness.checking import check_with
from harness.client import ClientOpenError, close_in_background
from harness.generators import Context, Invocation
from harness.store import RunStore

log = logging.getLogger("harness.runner")


class Recorder:
    """The history: ops get their index and time here, go to memory and to history.jsonl at once."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.ops: list[Op] = []
        self.lock = threading.RLock()
        self.t0 = time.monotonic_ns()
        self.flushed = self.t0
        self.counts = {OK: 0, FAIL: 0, INFO: 0}
        self.fault = "none"

    def now(self) -> float:
        return (time.monotonic_ns() - self.t0) / 1e9

    def record(self, op: Op) -> Op:
        with self.lock:
            now = time.monotonic_ns()
            op.index = len(self.ops)
            op.time = now - self.t0
            self.ops.append(op)
            if op.process != NEMESIS and op.type in self.counts:
                self.counts[op.type] += 1
            self.store.append(op)
            if now - self.flushed > 1_000_000_000:  # a killed harness loses at most a second of history
                self.store.flush()
                self.flushed = now
        return op


    def record_event(self, process: Any, f: str, value: Any = None, key: Any = None, node: str | None = None,
                     **extra: Any) -> None:
        """An observation that is not an operation a worker invoked: an invoke and its ok, adjacent."""
        with self.lock:
            invoke = Op(INVOKE, process, f, value, key=key, node=node, extra=dict(extra))
            self.record(invoke)
            self.record(dataclasses.replace(invoke, type=OK, extra=dict(extra)))


@dataclass
class RunOutcome:
    results: dict[str, Any]
    path: Path
    interrupted: bool = False
    error: str | None = None
    ops: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0


class Runner:
    def __init__(self, test: Any, store: RunStore, *, progress: bool = True) -> None:
        self.test = test
        self.store = store
        self.progress = progress
        self.recorder = Recorder(store)
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.error: str | None = None
        self.threads: tuple[Any, ...] = tuple(range(test.concurrency)) + (NEMESIS,)
        self.op_timeout = float(test.options.get("op_timeout") or 10.0)
        self.left_running: dict[str, Any] | None = None
        self.teardown_errors: list[str] = []
        self.node_threads: list[threading.Thread] = []  # setup steps still running when Ctrl-C came
        self.nodes_created = False  # backend.create returned: from here on the nodes may hold something of ours
        test.record_event = self.recorder.record_event

    # -- the generator, shared by every worker -------------------------------------------------
    def next_op(self, thread: Any, process: Any, node: str | None) -> Op | None:
        """The next invocation for ``thread`` as an Op, recorded in the history at once (under the generator's
        lock, so the history's invocations are in the order the generator made them: with ``--seed``, two
        runs' histories list the same operations in the same order, whatever the threads' timing)."""
        with self.cond:
            while not self.stopping.is_set():
                now = self.recorder.now()
                r = self.test.generator.next(Context(now, thread, self.threads))
                if r is None:
                    self.cond.notify_all()  # a phase may have advanced for the others
                    return None
                if isinstance(r, Invocation):
                    self.cond.notify_all()
                    return self.recorder.record(Op(INVOKE, process, r.f, r.value, key=r.key, node=node,
                                                   extra=dict(r.extra)))
                wait = 0.5 if r.until is None else min(0.5, max(0.0, r.until - now))
                self.cond.wait(wait)
        return None

    def completed(self) -> None:
        with self.cond:
            self.cond.notify_all()

    # -- workers ---------------------------------------------------------------------------------
    def worker(self, index: int) -> None:
        test = self.test
        nodes = test.nodes
        mode = test.options.get("client_nodes", "one")
        bound = list(nodes) if mode == "all" else [nodes[index % len(nodes)]]
        node = None if mode == "all" else bound[0]
        process: Any = index
        client = None
        open_error: str | None = None
        executor: concurrent.futures.ThreadPoolExecutor | None = None

        def connect() -> None:
            nonlocal client, executor, open_error
            try:
                client = test.workload.client.open(test, bound)
                executor = concurrent.futures.ThreadPoolExecutor(1, f"op-{index}")
                open_error = None
            except ClientOpenError as exc:
                open_error = str(exc)

        try:
            while not self.stopping.is_set():
                if client is None:
                    # Connect before asking for an op, so the op's invoke is recorded when it is sent.
                    connect()
                op = self.next_op(index, process, node)
                if op is None:
                    break
                if client is None and op.extra.get("final"):
                    # The failed attempt may have begun during a fault that is healed now; the final ops,
                    # which show whether every node serves again, deserve a fresh one.
                    connect()
                if client is None:
                    # Nothing was sent: the op certainly did not happen. The node may be down; pause so as
                    # not to spin through the schedule (the generator keeps the run's phases moving).
                    self.recorder.record(dataclasses.replace(op, type=FAIL, error=f"no-client: {open_error}",
                                                             extra=dict(op.extra)))
                    self.completed()
                    self.stopping.wait(1.0)
                    continue
                invocation = dataclasses.replace(op, extra=dict(op.extra))
                future = executor.submit(client.invoke, test, invocation)
                try:
                    done = future.result(timeout=self.op_timeout)
                except concurrent.futures.TimeoutError:
                    done = dataclasses.replace(op, type=INFO, error="timeout", extra=dict(op.extra))
                except Exception as exc:  # a client bug: unknown outcome, keep going
                    log.error("worker %s: invoke raised: %s", index, traceback.format_exc())
                    done = dataclasses.replace(op, type=INFO, error=f"{type(exc).__name__}: {exc}",
                                               extra=dict(op.extra))
                done.process, done.f, done.node = process, op.f, node
                if done.key is None:
                    done.key = op.key
                self.recorder.record(done)
                self.completed()
                if done.type == INFO:
                    # This process may have left an operation in flight: it is crashed for good.
                    process += test.concurrency
                    close_in_background(client, test)
                    executor.shutdown(wait=False)
                    client, executor = None, None
        except Exception:
            self.error = f"worker {index} crashed: {traceback.format_exc()}"
            log.error(self.error)
            self.stopping.set()
        finally:
            if client is not None:
                try:
                    client.close(test)
                except Exception:
                    log.debug("closing client: %s", traceback.format_exc())
            if executor is not None:
                executor.shutdown(wait=False)
            self.completed()

    def nemesis_worker(self) -> None:
        test = self.test
        try:
            while not self.stopping.is_set():
                op = self.next_op(NEMESIS, NEMESIS, None)
                if op is None:
                    break
                log.info("nemesis: %s %s", op.f, op.value)
                try:
                    done = test.nemesis.invoke(test, dataclasses.replace(op, extra=dict(op.extra)))
                except Exception as exc:
                    log.error("nemesis op %s failed: %s", op.f, traceback.format_exc())
                    done = dataclasses.replace(op, type=INFO, error=f"{type(exc).__name__}: {exc}")
                done.process = NEMESIS
                if done.type == INVOKE:
                    done.type = INFO
                self.recorder.record(done)
                self.recorder.fault = f"{done.f} {done.value}" if done.value not in (None, "") else done.f
                self.completed()
        except Exception:
            self.error = f"nemesis thread crashed: {traceback.format_exc()}"
            log.error(self.error)
            self.stopping.set()
        finally:
            self.completed()

    # -- progress --------------------------------------------------------------------------------
    def progress_loop(self) -> None:
        tty = sys.stderr.isatty()
        period = 1.0 if tty else 10.0
        last_n, last_t = 0, time.monotonic()
        while not self.stopping.wait(period):
            n = sum(self.recorder.counts.values())
            t = time.monotonic()
            rate = (n - last_n) / max(t - last_t, 1e-9)
            last_n, last_t = n, t
            c = self.recorder.counts
            line = (f"[{self.recorder.now():7.1f}s] {n} ops {rate:7.0f}/s  ok {c[OK]} fail {c[FAIL]} "
                    f"info {c[INFO]}  fault: {self.recorder.fault}")
            if tty:
                sys.stderr.write("\r" + line[:150].ljust(100))
            else:
                sys.stderr.write(line + "\n")
            sys.stderr.flush()
        if tty:
            sys.stderr.write("\n")

    # -- the whole run -----------------------------------------------------------------------------
    def _each_node(self, what: str, fn: Any, nodes: list[str] | None = None) -> None:
        """``fn(node)`` on every node in parallel; the first error is raised after all finish."""
        errors: list[str] = []

        def run(node: str) -> None:
            try:
                fn(node)
            except Exception as exc:
                log.error("%s on %s: %s", what, node, traceback.format_exc())
                errors.append(f"{what} on {node}: {exc}")

        threads = [threading.Thread(target=run, args=(n,), name=f"{what}-{n}", daemon=True)
                   for n in (nodes or self.test.nodes)]
        self.node_threads += threads
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
        if errors:
            raise RuntimeError("; ".join(errors))

    def _setup(self) -> None:
        test = self.test
        log.info("creating nodes %s with backend %s", test.nodes, test.backend.name)
        test.backend.create(list(test.nodes))
        self.nodes_created = True
        log.info("setting up %s on %s", test.db.name, test.nodes)
        self._each_node("db setup", lambda n: test.db.setup(test, n))
        ready = float(test.options.get("db_ready_timeout") or 120)
        self._each_node("db wait_ready", lambda n: test.db.wait_ready(test, n, ready))
        client = test.workload.client.open(test, list(test.nodes))
        try:
            client.setup(test)
        finally:
            client.close(test)
        test.nemesis.setup(test)

    def _client_teardown(self) -> None:
        test = self.test
        client = test.workload.client.open(test, list(test.nodes))
        try:
            client.teardown(test)
        finally:
            client.close(test)

    def _teardown(self, setup_done: bool) -> None:
        test = self.test
        if not self.nodes_created:
            # The backend's create failed (and cleaned up after itself): no node holds anything of this run, and
            # a step on the nodes would only fail again with the same error.
            self._teardown_steps([("backend destroy", test.backend.destroy)])
            return
        steps: list[tuple[str, Any]] = [("nemesis teardown", lambda: test.nemesis.teardown(test))]
        if setup_done:
            steps.append(("client teardown", self._client_teardown))
        steps.append(("collect logs", self._collect_logs))
        if not test.options.get("leave_db_running"):
            steps += [("db teardown", lambda: self._each_node("db teardown", lambda n: test.db.teardown(test, n))),
                      ("backend destroy", test.backend.destroy)]
        else:
            steps.append(("detach", self._detach))
        self._teardown_steps(steps)

    def _teardown_steps(self, steps: list[tuple[str, Any]]) -> None:
        for name, step in steps:
            try:
                log.info("%s", name)
                step()
            except Exception as exc:
                # The history is complete by now, so this does not touch the verdict; it is reported.
                log.error("%s failed: %s", name, traceback.format_exc())
                self.teardown_errors.append(f"{name} failed: {exc}")

    def _detach(self) -> None:
        """--leave-db-running: hand the nodes over to `harness cluster down` once this process exits."""
        test = self.test
        self.left_running = {"connect": test.connect_string(), "run_id": getattr(test.backend, "run_id", None)}
        detach = getattr(test.backend, "detach", None)
        if detach is not None:
            detach(db=test.db.name, connect=self.left_running["connect"])
        log.info("leaving the DB running at %s (run %s)", self.left_running["connect"], self.left_running["run_id"])

    def _collect_logs(self) -> None:
        test = self.test

        def collect(node: str) -> None:
            for remote_path in test.db.log_files(test, node):
                local = self.store.node_dir(node) / os.path.basename(remote_path.rstrip("/"))
                try:
                    test.remote(node).download(remote_path, str(local))
                except Exception as exc:
                    log.warning("could not download %s from %s: %s", remote_path, node, exc)
        self._each_node("collect logs", collect)

    def _record_db_version(self) -> None:
        path = self.store.path / "test.json"
        try:
            data = json.loads(path.read_text("utf-8")) if path.is_file() else {}
            data.setdefault("versions", {})["db"] = self.test.db.version(self.test)
            self.store.write_json("test.json", data)
        except Exception as exc:
            log.warning("could not record the DB version: %s", exc)

    def run(self) -> RunOutcome:
        test = self.test
        started = time.monotonic()
        interrupted = False
        workers: list[threading.Thread] = []
        progress = None
        setup_done = False
        previous_term = _terminate_as_interrupt()
        try:
            self._setup()
            setup_done = True
            self._record_db_version()
            log.info("running %s for %ss", test.name, test.options.get("time_limit"))
            self.recorder.t0 = time.monotonic_ns()
            workers = [threading.Thread(target=self.worker, args=(i,), name=f"worker-{i}", daemon=True)
                       for i in range(test.concurrency)]
            workers.append(threading.Thread(target=self.nemesis_worker, name="nemesis", daemon=True))
            for w in workers:
                w.start()
            if self.progress:
                progress = threading.Thread(target=self.progress_loop, name="progress", daemon=True)
                progress.start()
            for w in workers:
                while w.is_alive():
                    w.join(0.2)
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted; tearing down")
        except Exception as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"
            log.error("run broke: %s", traceback.format_exc())
        finally:
            previous = _ignore_interrupts()
            try:
                self.stopping.set()
                self.completed()
                deadline = time.monotonic() + self.op_timeout + 5
                for w in workers:
                    w.join(max(0.0, deadline - time.monotonic()))
                # An interrupted setup may still be starting servers: let it finish, so teardown sees them.
                for t in self.node_threads:
                    t.join(float(test.options.get("db_ready_timeout") or 120))
                if progress is not None:
                    progress.join(2)
                self._teardown(setup_done)
                self.store.flush()
            finally:
                _restore_interrupts(previous)
                if previous_term is not None:
                    signal.signal(signal.SIGTERM, previous_term)
        history = list(self.recorder.ops)
        if setup_done:
            if self.progress:
                sys.stderr.write(f"checking {len(history)} history entries...\n")
            results = check_with(test.checker, history, test.info())
        else:
            results = {"valid": UNKNOWN, "results": {}, "error": "the run did not start"}
        results["run"] = {"interrupted": interrupted, "error": self.error, "ops": len(history),
                          "ok": self.recorder.counts[OK], "fail": self.recorder.counts[FAIL],
                          "info": self.recorder.counts[INFO], "seconds": round(time.monotonic() - started, 3)}
        if self.left_running:
            results["run"]["left_running"] = self.left_running
        if self.teardown_errors:
            results["run"]["teardown_errors"] = self.teardown_errors
        if (interrupted or self.error) and results["valid"] is True:
            results["valid"] = UNKNOWN  # a run cut short proves no anomaly but is not a pass either
        results = {"valid": results.pop("valid"), **results}
        self.store.write_json("results.json", results)
        self.store.close()
        return RunOutcome(results, self.store.path, interrupted, self.error, len(history),
                          dict(self.recorder.counts), time.monotonic() - started)


def _terminate_as_interrupt() -> Any:
    """SIGTERM ends a run the way Ctrl-C does (teardown included), rather than killing it outright."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    return signal.signal(signal.SIGTERM, interrupt)


def _ignore_interrupts() -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None

    def still_cleaning(signum: int, frame: Any) -> None:
        sys.stderr.write("\ncleaning up (teardown must finish); please wait\n")
    return (signal.signal(signal.SIGINT, still_cleaning), signal.signal(signal.SIGTERM, still_cleaning))


def _restore_interrupts(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
