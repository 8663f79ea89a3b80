"""The reports in real headless Chromium (Debian's, driven by Playwright): they load from file:// without a
console error, show the verdict and the offending ops, draw something, and markup from the run stays inert."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from browser import CHROMIUM
from report_runs import XSS_IMG, XSS_SCRIPT, results_of
from reports import write_report

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")


def _open(browser: Any, run: Path) -> tuple[Any, list[str]]:
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.goto(write_report(run).as_uri())
    page.wait_for_load_state("load")
    return page, problems


def _png_colours(png: bytes) -> int:
    """How many distinct byte values the decoded image data holds (a blank page has a handful)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data = 8, b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            data += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(data)))


def _canvas_ink(page: Any) -> int:
    """Pixels of the timeline canvas that are not white."""
    return page.evaluate("""() => {
        const c = document.getElementById('tl-canvas'); const d = c.getContext('2d')
            .getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 240 || d[i+1] < 240 || d[i+2] < 240) n++;
        return n; }""")


def test_valid_report_in_chromium(browser: Any, valid_run: Path, tmp_path: Path) -> None:
    page, problems = _open(browser, valid_run)
    verdict = page.locator("#verdict")
    assert verdict.is_visible() and "VALID" in verdict.inner_text()
    assert page.locator("#anomalies").count() == 0
    assert _canvas_ink(page) > 1000
    shot = page.screenshot(path=str(tmp_path / "valid.png"), full_page=True)
    assert _png_colours(shot) > 50
    # the timeline's controls work without errors
    page.click("#tl-in")
    page.click("#tl-fit")
    page.locator("#tl-canvas").hover(position={"x": 400, "y": 40})
    assert problems == []
    page.close()


def test_invalid_report_in_chromium(browser: Any, invalid_run: Path, tmp_path: Path) -> None:
    bad = results_of(invalid_run)["results"]["workload"]["results"]["linearizable"]["counterexample"]["op"]["index"]
    page, problems = _open(browser, invalid_run)
    verdict = page.locator("#verdict")
    assert verdict.is_visible() and "INVALID" in verdict.inner_text()
    anomalies = page.locator("#anomalies")
    assert anomalies.is_visible()
    text = anomalies.inner_text()
    assert f"op {bad} (read" in text and f"#{bad} p2@n3" in text
    assert page.locator(f'#anomalies g.role-bad[data-index="{bad}"]').is_visible()
    shot = page.screenshot(path=str(tmp_path / "invalid.png"), full_page=True)
    assert _png_colours(shot) > 50
    whole = page.locator("#tl-view").inner_text()
    page.click("#anomalies button.zoom-to")  # jumps the full timeline to the counterexample
    assert page.locator("#tl-view").inner_text() != whole
    assert _canvas_ink(page) > 500
    page.click("#tl-next")
    assert problems == []
    page.close()


def test_markup_from_the_run_is_inert_in_chromium(browser: Any, xss_run: Path) -> None:
    page, problems = _open(browser, xss_run)
    page.locator("#tl-canvas").hover(position={"x": 500, "y": 60})
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    assert page.locator("#anomalies img, #anomalies script, #run img").count() == 0
    text = page.locator("#anomalies").inner_text()
    assert XSS_SCRIPT in text or XSS_IMG in text
    body = page.locator("body").inner_text()
    assert XSS_SCRIPT in body and XSS_IMG in body
    assert problems == []
    page.close()


def test_set_and_lock_reports_in_chromium(browser: Any, set_run: Path, lock_run: Path) -> None:
    for run, expected in ((set_run, "lost"), (lock_run, "overlapping holders")):
        page, problems = _open(browser, run)
        assert "INVALID" in page.locator("#verdict").inner_text()
        assert expected in page.locator("#anomalies").inner_text()
        page.locator("#anomalies .op-chip").first.click()  # jumps the timeline to the op
        assert problems == []
        page.close()


@pytest.mark.cluster
def test_report_of_a_real_run_against_the_seeded_bug(browser: Any, stale_reads_run: Any, tmp_path: Path) -> None:
    """End to end: `harness run` against the reference server with its stale-reads bug switched on writes a
    report.html whose anomaly section names the read that cannot be linearized. (The run is shared with
    tests/harness; see tests/conftest.py.)"""
    import json

    assert stale_reads_run.returncode == 1, stale_reads_run.stderr[-3000:]
    run_dir = stale_reads_run.run_dir
    report = run_dir / "report.html"
    assert report.is_file(), "harness run did not write report.html"
    results = json.loads((run_dir / "results.json").read_text())
    bad = results["results"]["workload"]["results"]["linearizable"]["counterexample"]["op"]["index"]

    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    assert "INVALID" in page.locator("#verdict").inner_text()
    assert f"op {bad} (read" in page.locator("#anomalies").inner_text()
    shot = page.screenshot(path=str(tmp_path / "seeded-bug.png"), full_page=True)
    assert _png_colours(shot) > 50
    assert problems == []
    page.close()
