"""`harness serve` as a real subprocess on a free loopback port: it lists the runs and serves their files,
and nothing outside the store."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from report_runs import lock_history, make_run, register_history

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[Path]]]:
    store = tmp_path_factory.mktemp("served") / "store"
    runs = [make_run(store, "register", register_history()),
            make_run(store, "register", register_history(stale_read=True)),
            make_run(store, "lock", lock_history(overlap=False))]
    (store.parent / "secret.txt").write_text("outside the store\n")
    (runs[0] / "nodes" / "n1" / "dropped.html").write_text("<script>alert(1)</script>")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve", "--store", str(store), "--port", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert m, f"no URL in {line!r} (stderr: {proc.stderr.read() if proc.poll() is not None else ''})"
        yield m.group(1), store, runs
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def test_index_lists_runs_newest_first(served: tuple[str, Path, list[Path]]) -> None:
    url, store, runs = served
    status, ctype, body = _get(url)
    assert status == 200 and ctype.startswith("text/html")
    rows = re.findall(r'<tr class="run">(.*?)</tr>', body, re.S)
    assert len(rows) == 3
    # newest first: the lock run was made last
    assert "zookeeper-lock-partition" in rows[0] and runs[2].name in body
    assert "chip-valid" in rows[0] and "chip-invalid" in rows[1] and "chip-valid" in rows[2]
    for run in runs:
        assert f'href="/{run.parent.name}/{run.name}/report.html"' in body


def test_serves_reports_and_files(served: tuple[str, Path, list[Path]]) -> None:
    url, store, runs = served
    base = f"{url}{runs[1].parent.name}/{runs[1].name}/"
    status, ctype, body = _get(base + "report.html")  # not written yet: rendered on demand
    assert status == 200 and ctype.startswith("text/html") and "verdict-invalid" in body
    assert not (runs[1] / "report.html").exists()
    status, ctype, body = _get(base + "history.jsonl")
    assert status == 200 and body == (runs[1] / "history.jsonl").read_text()
    status, ctype, body = _get(base + "nodes/n2/server.log")
    assert status == 200 and ctype.startswith("text/plain") and body == "server log of n2\n"
    status, _, body = _get(base + "nodes/")
    assert status == 200 and 'href="n1/"' in body


def test_nothing_outside_the_store(served: tuple[str, Path, list[Path]]) -> None:
    url, store, runs = served
    for path in ("../secret.txt", "%2e%2e/secret.txt", "zookeeper-lock-partition/../../secret.txt", "nope"):
        status, _, body = _get(url + path)
        assert status == 404 and "outside the store" not in body


def test_serve_refuses_a_missing_store(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "harness", "serve", "--store", str(tmp_path / "none"), "--port", "0"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 254 and "not a directory" in r.stderr


def test_index_and_a_report_in_chromium(served: tuple[str, Path, list[Path]], browser: Any) -> None:
    url, store, runs = served
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.goto(url)
    assert page.locator("tr.run").count() == 3
    page.locator("tr.run").nth(1).get_by_role("link", name="report").click()
    page.wait_for_load_state("load")
    assert "INVALID" in page.locator("#verdict").inner_text()
    page.get_by_role("link", name="nodes/n1/server.log").click()
    page.wait_for_load_state("load")
    assert "server log of n1" in page.locator("body").inner_text()
    assert problems == []
    page.close()


def test_files_from_nodes_are_never_served_as_html(served: tuple[str, Path, list[Path]]) -> None:
    url, store, runs = served
    status, ctype, body = _get(f"{url}{runs[0].parent.name}/{runs[0].name}/nodes/n1/dropped.html")
    assert status == 200 and ctype.startswith("text/plain") and body == "<script>alert(1)</script>"
