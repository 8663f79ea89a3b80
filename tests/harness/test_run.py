"""`harness run` end to end through the real CLI, as a subprocess, against Apache ZooKeeper on netns nodes.

Each run gets its own store and its own netns state dir (ZKJEPSEN_STATE_DIR), so the test can see exactly
what the run created and check it is all gone afterwards.
"""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends.base import netns_problem
from tests.servers import zookeeper_available

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(netns_problem() is not None, reason=str(netns_problem())),
    pytest.mark.skipif(not zookeeper_available(), reason="Apache ZooKeeper (Debian package) is not installed"),
]

WORKLOADS = ["register", "set", "queue", "lock", "election", "membership", "watch"]


def harness_run(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, ZKJEPSEN_STATE_DIR=str(tmp_path / "state"),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "harness", "run", "--store", str(tmp_path / "store"), "--no-progress", *args]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leftovers(tmp_path: Path) -> list[str]:
    """Namespaces, state files or server processes a run left behind (it must leave none)."""
    found = glob.glob(str(tmp_path / "state" / "zkj-*.json"))
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [line.split()[0] for line in names.splitlines() if line.startswith("zkj-")
              and line.split()[0] in _namespaces_seen]
    for pid in _pids_seen:
        if os.path.exists(f"/proc/{pid}") and "Z" not in _proc_state(pid):
            found.append(f"process {pid}")
    # Servers run from their node's home under the state dir: none may survive, seen or not.
    marker = str(tmp_path / "state").encode()
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            if marker in Path(cmdline).read_bytes():
                found.append(f"process {cmdline.split('/')[2]} running from {marker.decode()}")
        except OSError:
            pass
    return found


_namespaces_seen: set[str] = set()
_pids_seen: set[int] = set()


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "Z"


def _remember_run(tmp_path: Path) -> None:
    """Note the namespaces and server PIDs a live run created (from its state file and pid files)."""
    for state_file in glob.glob(str(tmp_path / "state" / "zkj-*.json")):
        try:
            state = json.loads(Path(state_file).read_text())
        except (OSError, json.JSONDecodeError):
            continue
        prefix = f"zkj-{state['run_id']}"
        _namespaces_seen.update({f"{prefix}-hub"} | {f"{prefix}-{n}" for n in state.get("nodes", {})})
    for pid_file in glob.glob(str(tmp_path / "state" / "**" / "*.pid"), recursive=True):
        try:
            _pids_seen.add(int(Path(pid_file).read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # let it tear down what it made
        out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def results_of(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "store" / "latest" / "results.json").read_text())


def assert_judged_something(workload: str, r: dict) -> None:
    """What the workload's checker must have judged for its "valid" to mean something."""
    if workload == "register":
        assert r["results"]["linearizable"]["checked_ops"] > 0, r
        assert r["results"]["session-order"]["judged_count"] > 0, r
    elif workload == "set":
        assert r["results"]["set"]["acknowledged_count"] > 0, r
        assert r["results"]["unique-ids"]["acknowledged_count"] > 0, r
    elif workload == "queue":
        assert r["acknowledged_count"] > 0 and r["drained"], r
    elif workload in ("lock", "election"):
        assert r["holds"] > 0, r
    elif workload == "membership":
        assert r["final_views"], r
    elif workload == "watch":
        assert r["watchers"] == 2, r  # threads 1 and 2 of 3 watch
    else:
        pytest.fail(f"no evidence rule for {workload}")


@pytest.mark.parametrize("db", ["zookeeper", "reference"])
@pytest.mark.parametrize("workload", WORKLOADS)
def test_workload_runs_valid(tmp_path, workload, db):
    nodes = "3" if workload == "register" else "1"  # one 3-node run covers the ensemble; keep the rest quick
    proc = harness_run(tmp_path, "--db", db, "--workload", workload, "--nemesis", "none",
                       "--node-count", nodes, "--concurrency", "3", "--time-limit", "3", "--seed", "42")
    code, out, err = finish(proc)
    assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err[-3000:]}"
    results = results_of(tmp_path)
    assert results["valid"] is True
    assert results["run"]["ok"] > 0
    assert_judged_something(workload, results["results"]["workload"])
    run_dir = (tmp_path / "store" / "latest").resolve()
    test = json.loads((run_dir / "test.json").read_text())
    assert test["seed"] == 42 and test["workload"] == workload
    history = (run_dir / "history.jsonl").read_text().splitlines()
    assert len(history) >= 2 * results["run"]["ok"] // 2
    assert any((run_dir / "nodes" / "n1").iterdir()), "the DB's logs were not collected"
    assert f"results: {run_dir}" in out or str(run_dir) in out
    assert leftovers(tmp_path) == []


def test_seeded_bug_in_the_reference_server_is_caught(stale_reads_run):
    """The pipeline end to end: a server that answers reads from a stale copy (even after sync) must be
    reported as non-linearizable, with exit 1. (The run is shared with tests/reports; see tests/conftest.py.)"""
    run = stale_reads_run
    assert run.returncode == 1, f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr[-3000:]}"
    results = results_of(run.base)
    assert results["valid"] is False
    linearizable = results["results"]["workload"]["results"]["linearizable"]
    assert linearizable["valid"] is False and linearizable["counterexample"], linearizable
    assert "INVALID" in run.stdout
    assert leftovers(run.base) == []


def test_bug_switch_is_refused_for_other_dbs(tmp_path):
    code, out, err = finish(harness_run(tmp_path, "--db", "zookeeper", "--bug", "stale-reads"))
    assert code == 254 and "--bug applies to --db reference only" in err


@pytest.mark.parametrize("signum, when", [(signal.SIGINT, "running"), (signal.SIGTERM, "running"),
                                          (signal.SIGINT, "setup")])
def test_interrupted_run_cleans_up(tmp_path, signum, when):
    proc = harness_run(tmp_path, "--workload", "register", "--node-count", "3", "--time-limit", "120")
    reached = False
    deadline = time.monotonic() + 120
    try:
        # Wait for the moment to interrupt, noting what the run creates meanwhile.
        while time.monotonic() < deadline and proc.poll() is None:
            _remember_run(tmp_path)
            if when == "setup":
                reached = bool(glob.glob(str(tmp_path / "state" / "zkj-*.json")))
            else:
                latest = tmp_path / "store" / "latest" / "history.jsonl"
                reached = latest.exists() and latest.stat().st_size > 0
            if reached:
                break
            time.sleep(0.05 if when == "setup" else 0.2)
        _remember_run(tmp_path)
        assert reached, f"the run never reached {when}"
        if when == "running":
            assert _namespaces_seen and _pids_seen
        proc.send_signal(signum)
        code, out, err = finish(proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 2, f"exit {code}\n{out}\n{err[-3000:]}"
    results = results_of(tmp_path)
    assert results["run"]["interrupted"] is True
    assert results["valid"] in ("unknown", False)
    assert "interrupted" in out
    assert leftovers(tmp_path) == []


def test_bad_arguments_exit_254(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for args, message in [(["--workload", "nope"], "choose one of register"),
                          (["--nemesis", "nope"], "unknown nemesis 'nope'"),
                          (["--db", "nope"], "nope"),
                          (["--node-count", "0"], "at least 1"),
                          (["--concurrency", "x"], "--concurrency"),
                          (["--store", str(blocker)], "cannot write the store")]:
        code, out, err = finish(harness_run(tmp_path, *args))
        assert code == 254, (args, code, err)
        assert message in err and "Traceback" not in err


def test_op_timeouts_become_info_and_new_processes(tmp_path):
    # A 1 ms op timeout abandons many ops mid-flight: each must be recorded as info, its process retired.
    proc = harness_run(tmp_path, "--workload", "register", "--node-count", "1", "--concurrency", "3",
                       "--op-timeout", "0.001", "--time-limit", "4")
    code, out, err = finish(proc)
    results = results_of(tmp_path)
    assert code in (0, 2) and results["valid"] in (True, "unknown"), out + err[-2000:]
    ops = [json.loads(line) for line in
           (tmp_path / "store" / "latest" / "history.jsonl").read_text().splitlines()]
    infos = [o for o in ops if o["type"] == "info"]
    assert infos and all(o["error"] == "timeout" for o in infos)
    # after an info, that process never invokes again
    crashed = {o["process"] for o in infos}
    for o in infos:
        later = [p for p in ops if p["index"] > o["index"] and p["process"] == o["process"]]
        assert later == []
    assert max(o["process"] for o in ops) >= 3
    assert len(crashed) == len(infos)
    assert leftovers(tmp_path) == []


def test_leave_db_running_then_cluster_down(tmp_path):
    from kazoo.client import KazooClient
    code, out, err = finish(harness_run(tmp_path, "--workload", "set", "--node-count", "1", "--time-limit", "2",
                                        "--leave-db-running"))
    assert code == 0, out + err[-2000:]
    left = results_of(tmp_path)["run"]["left_running"]
    assert left["run_id"] and f"harness cluster down {left['run_id']}" in out
    try:
        zk = KazooClient(hosts=left["connect"])
        zk.start(timeout=20)
        try:
            assert zk.get_children("/jepsen/set")  # the run's data is still served
        finally:
            zk.stop()
            zk.close()
    finally:
        env = dict(os.environ, ZKJEPSEN_STATE_DIR=str(tmp_path / "state"))
        down = subprocess.run([sys.executable, "-m", "harness", "cluster", "down", left["run_id"]], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert leftovers(tmp_path) == []


def test_same_seed_same_operations(tmp_path):
    def invocations(run: Path) -> list[tuple]:
        ops = [json.loads(line) for line in (run / "store" / "latest" / "history.jsonl").read_text().splitlines()]
        # The final phase starts wherever the time limit fell, which two runs may place one op apart: leave it out.
        return [(o["f"], json.dumps(o["value"]), o.get("key")) for o in ops
                if o["type"] == "invoke" and o["process"] != "nemesis" and not o.get("final")]

    runs = []
    for name, seed in (("a", "11"), ("b", "11"), ("c", "12")):
        (tmp_path / name).mkdir()
        code, out, err = finish(harness_run(tmp_path / name, "--workload", "register", "--node-count", "1",
                                            "--concurrency", "3", "--time-limit", "2", "--seed", seed))
        assert code == 0, out + err[-2000:]
        runs.append(invocations(tmp_path / name))
    a, b, c = runs
    n = min(len(a), len(b), len(c))
    assert n > 50
    assert a[:n] == b[:n]
    assert a[:n] != c[:n]
