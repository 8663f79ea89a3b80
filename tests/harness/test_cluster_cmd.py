"""`harness cluster up|down|status` as a user runs it: a real process, real namespaces, real ZooKeeper."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends.netns import NetnsBackend, RunState, find_runs
from netns_helpers import leftovers, require_netns

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


def harness(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@pytest.fixture
def state_dir(tmp_path):
    """A private state dir, so `cluster down` here only ever sees this test's runs; whatever a test leaves is
    removed afterwards, also when it fails."""
    require_netns()
    try:
        yield str(tmp_path)
    finally:
        harness("cluster", "down", "--force", "--state-dir", str(tmp_path))


def test_up_prints_a_working_connect_string_and_down_leaves_nothing(state_dir):
    from kazoo.client import KazooClient

    up = harness("cluster", "up", "--db", "zookeeper", "--node-count", "3", "--state-dir", state_dir)
    assert up.returncode == 0, up.stderr
    run_id = re.search(r"^cluster (\w+) up", up.stdout, re.M).group(1)
    connect = re.search(r"^connect: (\S+)$", up.stdout, re.M).group(1)
    assert re.search(r"^leader: n[123]$", up.stdout, re.M)

    (run,) = find_runs(state_dir)
    assert run.run_id == run_id and run.owner_pid is None  # left running after `up` exited
    pids = run.pids()
    assert len(pids) == 3

    client = KazooClient(hosts=connect)
    try:
        client.start(30)
        client.create("/cluster-cmd", b"up")
        assert client.get("/cluster-cmd")[0] == b"up"
    finally:
        client.stop()
        client.close()

    status = harness("cluster", "status", "--state-dir", state_dir)
    assert f"{run_id}  cluster up" in status.stdout and "processes 3" in status.stdout

    down = harness("cluster", "down", run_id, "--state-dir", state_dir)
    assert down.returncode == 0 and f"{run_id}: removed" in down.stdout
    assert leftovers(run, pids) == []
    assert "no runs" in harness("cluster", "status", "--state-dir", state_dir).stdout


def test_down_removes_the_leftovers_of_a_killed_cluster_up(state_dir):
    proc = subprocess.Popen([sys.executable, "-m", "harness", "cluster", "up", "--node-count", "1",
                             "--state-dir", state_dir], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        # Kill it once the JVM exists in the namespace: nodes made, DB started, nothing cleaned up yet.
        deadline = time.monotonic() + 120
        run: RunState | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            runs = find_runs(state_dir)
            if runs and any(comm(pid) == "java" for pid in runs[0].pids()):
                run = runs[0]
                break
            time.sleep(0.05)
        assert run is not None, "cluster up never got as far as starting the DB"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    pids = [pid for pid in run.pids() if comm(pid) == "java"]
    assert pids and leftovers(run, pids) != []

    status = harness("cluster", "status", "--state-dir", state_dir)
    assert f"{run.run_id}  leftover (pid {proc.pid} is gone)" in status.stdout

    down = harness("cluster", "down", "--state-dir", state_dir)
    assert down.returncode == 0 and f"{run.run_id}: removed" in down.stdout
    assert leftovers(run, pids) == []


def test_down_spares_runs_whose_owner_is_alive(state_dir):
    live = NetnsBackend(state_dir=state_dir)
    try:
        live.create(["n1"])
        down = harness("cluster", "down", "--state-dir", state_dir)
        assert f"{live.run_id}: skipped, in use by pid {os.getpid()}" in down.stdout
        assert leftovers(live.state) != []  # still all there
        assert live.remote("n1").run(["true"]).ok
    finally:
        live.destroy()
    assert leftovers(live.state) == []


def test_bad_arguments_get_a_message_and_exit_code_254(state_dir):
    for args, message in [
        (["up", "--node-count", "0"], "--node-count must be at least 1"),
        (["up", "--db", "nosuchdb"], "unknown DB 'nosuchdb'"),
        (["up", "--backend", "ssh"], "the ssh backend needs the hosts: --nodes"),
        (["down", "abcdef"], "no such run(s) abcdef"),
    ]:
        result = harness("cluster", *args, "--state-dir", state_dir)
        assert result.returncode == 254 and message in result.stderr, (args, result.stderr)
    assert find_runs(state_dir) == []


def test_reference_cluster_elects_a_leader_and_goes_away(state_dir):
    up = harness("cluster", "up", "--db", "reference", "--node-count", "3", "--state-dir", state_dir)
    assert up.returncode == 0, up.stderr
    assert re.search(r"^leader: n[123]$", up.stdout, re.M), up.stdout
    (run,) = find_runs(state_dir)
    pids = run.pids()
    assert len(pids) == 3
    down = harness("cluster", "down", run.run_id, "--state-dir", state_dir)
    assert down.returncode == 0, down.stderr
    assert leftovers(run, pids) == []


def test_ctrl_c_during_up_removes_the_half_made_cluster(state_dir):
    proc = subprocess.Popen([sys.executable, "-m", "harness", "cluster", "up", "--node-count", "1",
                             "--state-dir", state_dir], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        run: RunState | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            runs = find_runs(state_dir)
            if runs and any(comm(pid) == "java" for pid in runs[0].pids()):
                run = runs[0]
                break
            time.sleep(0.05)
        assert run is not None, "cluster up never got as far as starting the DB"
        pids = [pid for pid in run.pids() if comm(pid) == "java"]
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2 and "interrupted" in stderr
    assert leftovers(run, pids) == []   # no `cluster down` needed


def test_unreadable_state_files_are_reported_not_guessed_at(state_dir):
    Path(state_dir, "zkj-0a0b0c.json").write_text("{not json")
    down = harness("cluster", "down", "--state-dir", state_dir)
    assert down.returncode == 2 and "unreadable state file" in down.stderr
    assert Path(state_dir, "zkj-0a0b0c.json").exists()
    Path(state_dir, "zkj-0a0b0c.json").unlink()
