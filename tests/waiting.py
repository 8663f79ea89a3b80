"""Polling for tests: one place, so every test that waits fails with the same kind of message and never hangs."""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 90.0, interval: float = 0.2) -> Any:
    """Poll until ``condition()`` is truthy and return that value; fail the test once ``timeout`` s have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(interval)
