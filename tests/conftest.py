"""Shared test settings. Fixtures that start servers live next to the tests that use them, except a run shared
by tests in different directories."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout. In CI it must exist: fail, don't skip."""
    if not SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED} is missing; CI must have ../shared beside the checkout")
        pytest.skip(f"{SHARED} not present")
    return SHARED


@dataclass
class HarnessRun:
    """A finished `harness run` subprocess: its output, and its own store and netns state dir under ``base``."""
    base: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def run_dir(self) -> Path:
        return (self.base / "store" / "latest").resolve()


def run_harness(base: Path, *args: str, timeout: float = 300) -> HarnessRun:
    """`harness run ARGS` with its store and state dir under ``base``; interrupted (so it tears down what it made)
    if it outlives ``timeout``."""
    env = dict(os.environ, ZKJEPSEN_STATE_DIR=str(base / "state"),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--store", str(base / "store"), "--no-progress",
                             *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    return HarnessRun(base, proc.returncode, out, err)


@pytest.fixture(scope="session")
def stale_reads_run(tmp_path_factory: pytest.TempPathFactory) -> HarnessRun:
    """One `harness run` against a 3-node reference ensemble with its seeded stale-reads bug switched on, shared by
    the tests that need a real invalid run: tests/harness (verdict, exit code, nothing left behind) and
    tests/reports (its report.html in Chromium)."""
    from harness.backends.base import netns_problem
    problem = netns_problem()
    if problem is not None:
        pytest.skip(str(problem))
    return run_harness(tmp_path_factory.mktemp("stale-reads-run"), "--db", "reference", "--bug", "stale-reads",
                       "--workload", "register", "--nemesis", "none", "--node-count", "3", "--time-limit", "8",
                       "--seed", "7")
