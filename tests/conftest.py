"""Shared test settings. Fixtures that start servers live next to the tests that use them."""
from __future__ import annotations

import os
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
