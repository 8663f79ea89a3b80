"""A few modules of kazoo's own test suite (tools/kazoo-suite) against the reference server.

The full suite takes minutes and is run by hand: tools/kazoo-suite --server reference|zookeeper.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.servers import REPO

pytestmark = pytest.mark.cluster

MODULES = ["test_counter", "test_party", "test_barrier", "test_queue"]


def test_kazoo_recipe_modules_pass_against_reference(tmp_path):
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "kazoo-suite"), "--server", "reference", "--report", str(report),
         "--timeout", "60", *MODULES],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(report.read_text())
    assert result["failing"] == [], proc.stdout[-5000:]
    assert result["counts"]["failed"] == result["counts"]["error"] == 0
    assert result["counts"]["passed"] >= 25
    assert proc.returncode == 0
