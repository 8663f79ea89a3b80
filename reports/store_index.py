"""The store's index page: every run, newest first, with its verdict and links to its report and files."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reports.assets import CSS
from reports.html import esc
from reports.page import verdict_chip
from reports.run_data import HISTORY, REPORT, RESULTS, TEST


@dataclass
class RunEntry:
    rel: str                # path below the store, e.g. zookeeper-register-none/20261124T143912.932Z
    name: str
    stamp: str
    test: dict[str, Any]
    valid: Any              # True / False / "unknown" / None (not checked)
    has_report: bool


_cache: dict[Path, tuple[float, Any]] = {}  # results.json path -> (mtime, valid): big files are read once


def _valid_of(path: Path) -> Any:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    hit = _cache.get(path)
    if hit and hit[0] == mtime:
        return hit[1]
    try:
        valid = json.loads(path.read_text("utf-8")).get("valid", "unknown")
    except (OSError, ValueError, AttributeError):
        valid = "unknown"
    _cache[path] = (mtime, valid)
    return valid


def scan_store(store: Path) -> list[RunEntry]:
    """Runs are the directories <store>/<test-name>/<timestamp>/ holding a history or results (``latest``
    links skipped); newest first by timestamp, then name."""
    entries: list[RunEntry] = []
    if not store.is_dir():
        return entries
    for test_dir in sorted(store.iterdir()):
        if test_dir.is_symlink() or not test_dir.is_dir():
            continue
        for run_dir in test_dir.iterdir():
            if run_dir.is_symlink() or not run_dir.is_dir():
                continue
            if not (run_dir / HISTORY).is_file() and not (run_dir / RESULTS).is_file():
                continue
            try:
                test = json.loads((run_dir / TEST).read_text("utf-8"))
                if not isinstance(test, dict):
                    test = {}
            except (OSError, ValueError):
                test = {}
            valid = _valid_of(run_dir / RESULTS) if (run_dir / RESULTS).is_file() else None
            entries.append(RunEntry(f"{test_dir.name}/{run_dir.name}", test_dir.name, run_dir.name, test, valid,
                                    (run_dir / REPORT).is_file()))
    entries.sort(key=lambda e: (e.stamp, e.name), reverse=True)
    return entries


def _when(stamp: str) -> str:
    # 20261124T143912.932Z -> 2026-11-24 14:39:12Z
    if len(stamp) >= 15 and stamp[8] == "T":
        return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z"
    return stamp


def index_html(store: Path, entries: list[RunEntry]) -> str:
    rows = []
    for e in entries:
        base = "/" + quote(e.rel) + "/"
        files = " ".join(f'<a href="{esc(base + quote(f))}">{esc(f)}</a>' for f in (HISTORY, RESULTS, TEST, "harness.log")
                         if (store / e.rel / f).is_file())
        files += f' <a href="{esc(base + "nodes/")}">nodes/</a>' if (store / e.rel / "nodes").is_dir() else ""
        verdict = verdict_chip(e.valid) if e.valid is not None else '<span class="chip chip-unknown">not checked</span>'
        t = e.test
        rows.append(f'<tr class="run"><td><a href="{esc(base + REPORT)}">{esc(_when(e.stamp))}</a></td>'
                    f'<td>{esc(e.name)}</td><td>{esc(t.get("db", "?"))}</td><td>{esc(t.get("workload", "?"))}</td>'
                    f'<td>{esc(t.get("nemesis", "?"))}</td><td>{verdict}</td>'
                    f'<td><a href="{esc(base + REPORT)}">report</a>{"" if e.has_report else " <span class=muted>(rendered on demand)</span>"}</td>'
                    f'<td class="small">{files}</td></tr>')
    body = ("<table><thead><tr><th>time (UTC)</th><th>test</th><th>db</th><th>workload</th><th>nemesis</th>"
            "<th>verdict</th><th>report</th><th>files</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            if rows else f'<p class="muted">No runs in {esc(store)} yet.</p>')
    counts = {k: sum(1 for e in entries if verdict_key(e.valid) == k) for k in ("valid", "invalid", "unknown")}
    summary = (f'{len(entries)} runs: {counts["valid"]} valid, {counts["invalid"]} with anomalies, '
               f'{counts["unknown"]} unknown')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\"><link rel=\"icon\" href=\"data:,\">"
            f"<title>runs in {esc(store.name or store)}</title><style>{CSS}</style></head><body>"
            f'<nav class="top"><span class="name">harness serve — {esc(store)}</span></nav><main>'
            f'<section><h2>Runs</h2><p class="muted">{esc(summary)}</p>{body}</section></main></body></html>\n')


def verdict_key(valid: Any) -> str:
    if valid is True:
        return "valid"
    if valid is False:
        return "invalid"
    return "unknown"


def listing_html(store: Path, rel: str, directory: Path) -> str:
    """A plain listing of a run's sub-directory (nodes/, nodes/n1/)."""
    items = []
    for child in sorted(directory.iterdir()):
        if child.name.startswith("."):
            continue
        name = child.name + ("/" if child.is_dir() else "")
        items.append(f'<li><a href="{esc(quote(name))}">{esc(name)}</a></li>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<link rel=\"icon\" href=\"data:,\"><title>{esc(rel)}</title><style>{CSS}</style></head><body><main>"
            f'<section><h2>{esc(rel)}</h2><p><a href="/">all runs</a></p><ul>{"".join(items)}</ul></section>'
            "</main></body></html>\n")
