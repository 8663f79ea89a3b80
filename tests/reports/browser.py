"""Debian's Chromium driven by Playwright (never `playwright install`: the browser is the system one)."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from typing import Iterator

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium() -> Iterator["object"]:
    """A browser context with a fresh profile directory, closed (and the profile removed) afterwards."""
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                        args=ARGS, viewport={"width": 1300, "height": 900})
        try:
            yield context
        finally:
            context.close()
