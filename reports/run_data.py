"""What a report is made of: one stored run's files, read without trusting them to be complete or sane.

A report is also wanted for runs that broke: a missing results.json (the run was killed before checking),
a test.json from an older harness, a history with a bad line. Problems are collected in ``problems`` and
shown on the page instead of raising.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkers.history import HistoryError, Op, read_jsonl

HISTORY, RESULTS, TEST, LOG, REPORT = "history.jsonl", "results.json", "test.json", "harness.log", "report.html"
NS_PER_S = 1_000_000_000


class NotARun(ValueError):
    """A directory that holds no stored run."""


@dataclass
class RunData:
    path: Path
    test: dict[str, Any]
    results: dict[str, Any] | None
    history: list[Op]
    problems: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # relative paths of the run's files, for links

    @property
    def by_index(self) -> dict[int, Op]:
        cached = getattr(self, "_by_index", None)
        if cached is None:
            cached = {op.index: op for op in self.history}
            self._by_index = cached
        return cached

    @property
    def end_s(self) -> float:
        return max((op.time for op in self.history), default=0) / NS_PER_S


def resolve_run_dir(run_dir: str | os.PathLike) -> Path:
    path = Path(run_dir)
    if path.is_symlink():
        path = path.resolve()
    if not path.is_dir():
        raise NotARun(f"{run_dir}: no such directory")
    if not (path / HISTORY).is_file() and not (path / RESULTS).is_file():
        raise NotARun(f"{run_dir} is not a stored run: it has neither {HISTORY} nor {RESULTS}")
    return path


def _read_json(path: Path, problems: list[str]) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: cannot be read ({exc})")
        return None


def list_files(path: Path) -> list[str]:
    out: list[str] = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        rel = Path(root).relative_to(path)
        for name in sorted(files):
            if name.startswith(".") or (rel == Path(".") and name == REPORT):
                continue
            out.append(str(rel / name) if rel != Path(".") else name)
    return out


def load(run_dir: str | os.PathLike) -> RunData:
    path = resolve_run_dir(run_dir)
    problems: list[str] = []
    test = _read_json(path / TEST, problems)
    if not isinstance(test, dict):
        if test is not None:
            problems.append(f"{TEST}: not a JSON object")
        test = {}
    results = _read_json(path / RESULTS, problems)
    if results is not None and not isinstance(results, dict):
        problems.append(f"{RESULTS}: not a JSON object")
        results = None
    if results is None and not any(p.startswith(RESULTS) for p in problems):
        problems.append(f"{RESULTS} is missing: the run was not checked (try `harness check --run {path}`)")
    history: list[Op] = []
    if (path / HISTORY).is_file():
        try:
            with open(path / HISTORY, encoding="utf-8") as f:
                history = read_jsonl(f, HISTORY)
        except (HistoryError, OSError, UnicodeDecodeError) as exc:
            problems.append(f"history not shown: {exc}")
    else:
        problems.append(f"{HISTORY} is missing")
    return RunData(path, test, results, history, problems, list_files(path))
