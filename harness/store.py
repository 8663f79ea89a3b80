"""Where a run leaves its results: ``<store>/<test-name>/<timestamp>/``.

    history.jsonl   one op per line (checkers/history.py's fields: index, type, process -- "nemesis" for
                    fault ops -- f, value, time in ns since the test started, and node/key/error and any
                    workload extras where they apply); written as the run goes, so a crash keeps it
    results.json    {"valid": true | false | "unknown", ...each checker's verdict and details}
    test.json       every option, the seed, versions of the harness, the DB and kazoo
    harness.log     the harness's log for this run (setup, faults, errors, teardown)
    nodes/<node>/   the DB's logs, downloaded from each node at the end
<store>/latest is a symlink to the newest run (and <store>/<test-name>/latest to that test's newest).

``recheck_run(run_dir)`` checks a stored run again with the checker its workload uses; ``harness check
--run DIR`` calls it.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, TextIO

from checkers.history import Op, iter_jsonl_path

HISTORY, RESULTS, TEST, LOG = "history.jsonl", "results.json", "test.json", "harness.log"


def _timestamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z"


def _relink(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` (relative), replacing an older link atomically."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(os.path.relpath(target, link.parent), tmp)
    os.replace(tmp, link)


class RunStore:
    """One run's directory. ``history`` appends ops as they happen; the rest is written once."""

    def __init__(self, root: str | os.PathLike, test_name: str) -> None:
        self.root = Path(root)
        base = self.root / test_name
        base.mkdir(parents=True, exist_ok=True)
        stamp = _timestamp()
        path = base / stamp
        n = 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:  # two runs in the same millisecond
                n += 1
                path = base / f"{stamp}-{n}"
        self.path = path
        (path / "nodes").mkdir()
        self._history: TextIO = open(path / HISTORY, "w", encoding="utf-8")
        self._lock = threading.Lock()
        self._log_handler: logging.Handler | None = None
        _relink(base / "latest", path)
        _relink(self.root / "latest", path)

    # -- history ---------------------------------------------------------------------------------
    def append(self, op: Op) -> None:
        line = json.dumps(op.to_dict(), separators=(",", ":"), default=str)
        with self._lock:
            self._history.write(line + "\n")

    def flush(self) -> None:
        with self._lock:
            if not self._history.closed:
                self._history.flush()

    def close(self) -> None:
        with self._lock:
            if not self._history.closed:
                self._history.close()
        self.stop_log()

    # -- the other files ---------------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> None:
        tmp = self.path / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.path / name)

    def node_dir(self, node: str) -> Path:
        d = self.path / "nodes" / node
        d.mkdir(parents=True, exist_ok=True)
        return d

    def start_log(self, level: int = logging.DEBUG) -> None:
        """Send the harness's (and kazoo's) log records to harness.log for this run."""
        handler = logging.FileHandler(self.path / LOG, encoding="utf-8")
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        if root.level > level or root.level == logging.NOTSET:
            root.setLevel(level)
        self._log_handler = handler
        # kazoo's DEBUG records every packet: megabytes per run and nothing a reader of the run needs.
        logging.getLogger("kazoo").setLevel(logging.INFO)

    def stop_log(self) -> None:
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None


def write_history(path: Path, ops: Iterable[Op]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for op in ops:
            f.write(json.dumps(op.to_dict(), separators=(",", ":"), default=str) + "\n")


class StoredRunError(ValueError):
    """A directory that is not a stored run, or one whose files cannot be read."""


def load_run(run_dir: str | os.PathLike) -> tuple[dict[str, Any], list[Op]]:
    """test.json and the history of a stored run."""
    path = Path(run_dir)
    if path.is_symlink() or path.name == "latest":
        path = path.resolve()
    test_file, history_file = path / TEST, path / HISTORY
    if not history_file.is_file():
        raise StoredRunError(f"{run_dir} is not a stored run: it has no {HISTORY}")
    try:
        test = json.loads(test_file.read_text("utf-8")) if test_file.is_file() else {}
    except json.JSONDecodeError as exc:
        raise StoredRunError(f"{test_file}: not JSON ({exc})") from None
    return test, list(iter_jsonl_path(str(history_file)))


def recheck_run(run_dir: str | os.PathLike, write: bool = False) -> dict[str, Any]:
    """Check a stored run again with its workload's checker (as recorded in test.json); returns the results
    dict (the same shape as results.json). With ``write``, results.json is replaced."""
    from harness.checking import check_history
    test, history = load_run(run_dir)
    workload = test.get("workload")
    if not workload:
        raise StoredRunError(f"{run_dir}/test.json does not name the workload; check the history with "
                             "`harness check --model ...` instead")
    options = dict(test.get("options") or {})
    results = check_history(workload, options, int(test.get("seed") or 0), history, test)
    if write:
        tmp = Path(run_dir) / f".{RESULTS}.tmp"
        tmp.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, Path(run_dir) / RESULTS)
    return results
