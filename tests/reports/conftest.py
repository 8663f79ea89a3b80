"""Stored runs for the report tests, built once per module from hand-made histories (report_runs.py)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_runs import XSS_SCRIPT, lock_history, make_run, register_history, set_history, xss_value  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def valid_run(store: Path) -> Path:
    return make_run(store, "register", register_history())


@pytest.fixture(scope="module")
def invalid_run(store: Path) -> Path:
    return make_run(store, "register", register_history(stale_read=True))


@pytest.fixture(scope="module")
def xss_run(store: Path) -> Path:
    """An invalid run whose values, error message, fault and node log all carry markup."""
    run = make_run(store, "register", register_history(stale_read=True, value_of=xss_value),
                   node_logs={"n1": f"{XSS_SCRIPT}\n", "n2": "x\n", "n3": "y\n"})
    return run


@pytest.fixture(scope="module")
def set_run(store: Path) -> Path:
    return make_run(store, "set", set_history(lost=True))


@pytest.fixture(scope="module")
def lock_run(store: Path) -> Path:
    return make_run(store, "lock", lock_history(overlap=True))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, started once for all report tests (skipped where it is not
    installed)."""
    from browser import CHROMIUM, chromium
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed")
    with chromium() as context:
        yield context
