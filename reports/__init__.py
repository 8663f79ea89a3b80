"""HTML reports for stored runs (report.html, one self-contained page per run) and the store's index.

``write_report(run_dir)`` renders ``<run_dir>/report.html`` and returns its path; ``render_report(run_dir)``
returns the page as a string. ``harness run`` calls ``write_report`` at the end of a run, ``harness report
RUN_DIR`` re-renders a stored run, ``harness serve`` browses the store (reports/serve.py).
"""
from __future__ import annotations

import os
from pathlib import Path

from reports.run_data import REPORT, NotARun, load


def render_report(run_dir: str | os.PathLike) -> str:
    from reports.page import render
    return render(load(run_dir))


def write_report(run_dir: str | os.PathLike) -> Path:
    """Render the run's report.html (atomically replacing an older one); raises NotARun for a directory that
    holds no run, OSError when it cannot be written."""
    page = render_report(run_dir)
    path = Path(run_dir).resolve()
    tmp = path / f".{REPORT}.{os.getpid()}.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path / REPORT)
    return path / REPORT


__all__ = ["write_report", "render_report", "NotARun"]
