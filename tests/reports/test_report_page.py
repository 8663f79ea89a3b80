"""report.html from stored runs judged by the real checkers: the page says what the checkers found, names the
offending ops, and never lets data from the run become markup."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from report_runs import XSS_IMG, XSS_SCRIPT, results_of
from reports import NotARun, render_report, write_report

REPO = Path(__file__).resolve().parents[2]


def _section(page: str, section_id: str) -> str:
    m = re.search(rf'<section[^>]* id="{section_id}">(.*?)</section>', page, re.S)
    assert m, f"no section {section_id}"
    return m.group(1)


def test_valid_run_says_valid_and_has_no_anomaly_section(valid_run: Path) -> None:
    assert results_of(valid_run)["valid"] is True
    path = write_report(valid_run)
    assert path == valid_run.resolve() / "report.html"
    page = path.read_text("utf-8")
    assert 'class="verdict verdict-valid"' in page and ">VALID<" in page
    assert 'id="anomalies"' not in page
    run = _section(page, "run")
    assert "--seed 42" in run and "--workload register" in run and "--nodes n1,n2,n3" in run
    assert 'id="timeline-data"' in page and "<svg class=\"plot\"" in page


def test_page_is_self_contained(valid_run: Path) -> None:
    page = render_report(valid_run)
    # nothing fetched from elsewhere: no external scripts, styles, images or fonts
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//', page)
    assert "@import" not in page and "url(http" not in page
    for f in ("history.jsonl", "results.json", "test.json", "harness.log", "nodes/n1/server.log"):
        assert f'href="{f}"' in page


def test_invalid_run_draws_the_counterexample(invalid_run: Path) -> None:
    ce = results_of(invalid_run)["results"]["workload"]["results"]["linearizable"]["counterexample"]
    bad = ce["op"]["index"]
    page = render_report(invalid_run)
    assert 'class="verdict verdict-invalid"' in page
    anomalies = _section(page, "anomalies")
    assert f"op {bad} (read" in anomalies
    # the op that cannot be linearized is drawn in red, with the linearized and concurrent ones around it
    assert f'<g class="bar role-bad" data-index="{bad}">' in anomalies
    assert anomalies.count('class="bar role-linearized"') >= 3
    for s in ce["states"]:
        assert f'<code class="state">{s}</code>' in anomalies
    # the fault active then is named
    assert "partition" in anomalies and "isolate n1" in anomalies
    # and the full timeline marks the op
    data = json.loads(re.search(r'<script type="application/json" id="timeline-data">(.*?)</script>', page, re.S)
                      .group(1))
    assert bad in data["marks"]
    assert len(data["ix"]) == sum(1 for line in (invalid_run / "history.jsonl").open()
                                  if '"invoke"' in line and '"nemesis"' not in line)


def test_set_anomalies_name_the_lost_and_unexpected_elements(set_run: Path) -> None:
    page = render_report(set_run)
    anomalies = _section(page, "anomalies")
    assert re.search(r"<h4>lost <span class=\"count\">1</span></h4>", anomalies)
    assert re.search(r"<h4>unexpected <span class=\"count\">1</span></h4>", anomalies)
    assert "<b>add 4</b>" in anomalies and "99" in anomalies


def test_lock_overlap_is_drawn(lock_run: Path) -> None:
    anomalies = _section(render_report(lock_run), "anomalies")
    assert "overlapping holders" in anomalies
    assert anomalies.count('class="bar role-hold"') == 2


def test_markup_in_the_history_stays_text(xss_run: Path) -> None:
    page = render_report(xss_run)
    assert XSS_SCRIPT not in page and XSS_IMG not in page and "<img" not in page
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=window.__xss=2&gt;" in page
    # inside the JSON block, no value can close the script element
    block = re.search(r'<script type="application/json" id="timeline-data">(.*?)</script>', page, re.S).group(1)
    assert "</" not in block and "<" not in block
    assert XSS_SCRIPT in json.dumps(json.loads(block)["v"])
    # only our own script runs: one nonce'd inline script and a CSP that allows nothing else
    assert len(re.findall(r"<script nonce=", page)) == 1
    assert "script-src &#x27;nonce-" in page


def test_missing_results_gives_unknown_and_says_why(tmp_path: Path) -> None:
    from report_runs import make_run, register_history
    run = make_run(tmp_path, "register", register_history(), check=False)
    page = render_report(run)
    assert 'class="verdict verdict-unknown"' in page
    assert "results.json is missing" in page


def test_a_broken_history_line_is_reported_not_raised(tmp_path: Path, valid_run: Path) -> None:
    run = tmp_path / "t" / "r"
    run.mkdir(parents=True)
    for f in ("test.json", "results.json"):
        (run / f).write_bytes((valid_run / f).read_bytes())
    (run / "history.jsonl").write_text('{"index":0,"type":"invoke","process":0,"f":"read"}\nnot json\n')
    page = render_report(run)
    assert "history not shown" in page and "history.jsonl:2" in page


def test_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(NotARun):
        write_report(tmp_path)


def test_harness_report_command(invalid_run: Path, tmp_path: Path) -> None:
    (invalid_run / "report.html").unlink(missing_ok=True)
    r = subprocess.run([sys.executable, "-m", "harness", "report", str(invalid_run)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(invalid_run.resolve() / "report.html")
    assert (invalid_run / "report.html").is_file()
    r = subprocess.run([sys.executable, "-m", "harness", "report", str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 254 and "is not a stored run" in r.stderr and "Traceback" not in r.stderr


def test_interrupted_run_with_a_crashed_checker_is_unknown_and_says_why(tmp_path: Path) -> None:
    from report_runs import make_run, register_history
    run = make_run(tmp_path, "register", register_history())
    res = results_of(run)
    res["valid"] = "unknown"
    res["results"]["workload"] = {"valid": "unknown", "error": "checker crashed: <b>Boom</b>"}
    res["run"]["interrupted"] = True
    (run / "results.json").write_text(json.dumps(res))
    page = render_report(run)
    why = re.search(r'<div class="verdict verdict-unknown" id="verdict"><div class="word">UNKNOWN</div>'
                    r'<div class="why">(.*?)</div>', page).group(1)
    assert "interrupted" in why and "checker crashed: &lt;b&gt;Boom&lt;/b&gt;" in why
    assert "<b>Boom" not in page


def test_empty_and_fault_only_histories_render(tmp_path: Path) -> None:
    from report_runs import HistoryBuilder, make_run
    h = HistoryBuilder()
    h.nemesis(1, "start-kill", "n2")
    for history in ([], h.ops):
        page = render_report(make_run(tmp_path, "register", history))
        assert 'id="verdict"' in page and 'id="files"' in page


def test_a_fault_shows_what_was_done_and_shades_its_nodes(tmp_path: Path) -> None:
    """nemeses/ records start-<family> invoked with the shape and completed with what it did."""
    from checkers.history import Op
    from report_runs import make_run, register_history
    ops = []
    for o in register_history():
        if o.process == "nemesis" and o.f.startswith("start"):
            ops += [Op("invoke", "nemesis", "start-kill", "kill-one", o.time),
                    Op("info", "nemesis", "start-kill", {"shape": "kill-one", "killed": ["n2"]}, o.time + 1000)]
        elif o.process == "nemesis":
            ops += [Op("invoke", "nemesis", "stop-kill", None, o.time),
                    Op("info", "nemesis", "stop-kill", {"restarted": ["n2"]}, o.time + 1000)]
        else:
            ops.append(o)
    for i, o in enumerate(ops):
        o.index = i
    page = render_report(make_run(tmp_path, "register", ops))
    data = json.loads(re.search(r'<script type="application/json" id="timeline-data">(.*?)</script>', page, re.S)
                      .group(1))
    assert [(b["name"], b["nodes"]) for b in data["bands"]] == [("kill", ["n2"])]
    assert "killed" in data["bands"][0]["value"]


def test_timeline_lanes_are_workers_when_processes_follow_the_harness_numbering() -> None:
    from checkers.history import pairs
    from report_runs import HistoryBuilder
    from reports.timeline import timeline_data
    h = HistoryBuilder()
    h.call(0, 0, "write", 1, node="n1")
    h.done(1, 0, "info")
    h.call(2, 3, "write", 2, node="n1")  # worker 0 goes on as process 0 + 3
    h.done(3, 3, "ok")
    h.call(0.5, 1, "read", None, node="n2")
    h.done(4, 1, "ok", 2)
    data = timeline_data(pairs(h.ops), [], [], 4_000_000, set(), concurrency=3)
    assert data["lane_kind"] == "worker" and len(data["lanes"]) == 2 and sorted(data["p"]) == [0, 1, 3]
    # numbering that does not follow the convention (3 overlaps 0 on "worker 0"): one lane per process
    h = HistoryBuilder()
    h.call(0, 0, "write", 1)
    h.call(0.5, 3, "write", 2)
    h.done(1, 0, "ok")
    h.done(2, 3, "ok")
    data = timeline_data(pairs(h.ops), [], [], 2_000_000, set(), concurrency=3)
    assert data["lane_kind"] == "process" and len(data["lanes"]) == 2
