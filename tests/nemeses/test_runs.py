"""`harness run` with faults, end to end: faults are in the history with what they did, the service recovers
(final reads succeed on every node) and nothing is left behind — after a normal run and an interrupted one."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nemesis_live import require_netns

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


def harness(args, tmp_path, **kw):
    env = dict(os.environ, ZKJEPSEN_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "harness", "run", "--store", str(tmp_path / "store"),
                             "--no-progress", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def latest_run(tmp_path) -> Path:
    return (tmp_path / "store" / "latest").resolve()


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]


def our_shm(pids) -> list[str]:
    return [f for f in os.listdir("/dev/shm") for pid in pids if f.endswith(f"_{pid}") and "faketime" in f]


def assert_nothing_left(tmp_path):
    state = tmp_path / "state"
    left = [p.name for p in state.iterdir()] if state.exists() else []
    assert left == [], left  # namespaces, node dirs (pid files, faketime control files) and the state file


def test_reference_run_with_every_fault_family_is_valid_and_leaves_nothing(tmp_path):
    require_netns()
    # Each fault for 1 s, 1 s apart (10 s in all); final reads 3 s after the heal, not the default 10.
    proc = harness(["--db", "reference", "--node-count", "3", "--workload", "set", "--concurrency", "3",
                    "--nemesis", "partition,kill,pause,clock", "--nemesis-schedule",
                    "kill-one:1,pause-one:1,clock-bump:1,clock-skew:1,partition-one:1", "--recovery-time", "3",
                    "--nemesis-interval", "1", "--time-limit", "11", "--rate", "50", "--seed", "5"], tmp_path)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    ops = history(latest_run(tmp_path))
    faults = [o for o in ops if o["process"] == "nemesis" and o["type"] == "info"]
    kinds = [o["f"] for o in faults]
    for f in ("start-kill", "stop-kill", "start-pause", "stop-pause", "start-clock", "stop-clock", "heal-all"):
        assert f in kinds, kinds
    [killed] = next(o for o in faults if o["f"] == "start-kill")["value"]["killed"]
    restart = next(o for o in faults if o["f"] == "stop-kill")
    assert restart["value"]["restarted"] == {killed: "ready"}
    bump = next(o for o in faults if o["f"] == "start-clock" and o["value"]["shape"] == "clock-bump")
    assert len(bump["value"]["bumps"]) == 1 and set(bump["value"]["bumps"]) <= {"n1", "n2", "n3"}
    finals = [o for o in ops if o.get("final") and o["type"] != "invoke"]
    assert {o["node"] for o in finals} == {"n1", "n2", "n3"} and all(o["type"] == "ok" for o in finals), finals
    assert_nothing_left(tmp_path)


def test_an_interrupted_run_heals_everything_even_with_the_db_left_running(tmp_path):
    require_netns()
    # A clock bump and a pause in force together (a composite fault) when the interrupt comes; teardown must undo
    # both, and the server (under libfaketime) must leave no shared memory behind once it is gone.
    proc = harness(["--db", "reference", "--node-count", "1", "--workload", "register", "--leave-db-running",
                    "--nemesis", "pause,clock", "--nemesis-schedule", "clock-bump+pause-all:60",
                    "--nemesis-interval", "1", "--time-limit", "120", "--rate", "20"], tmp_path)
    try:
        deadline = time.monotonic() + 300
        seen = []
        while time.monotonic() < deadline:  # interrupt once both faults are in force
            try:
                seen = [o["f"] for o in history(latest_run(tmp_path)) if o["type"] == "info"]
            except (OSError, ValueError):
                pass
            if "start-pause" in seen:
                break
            time.sleep(0.5)
        assert "start-pause" in seen and "start-clock" in seen and "stop-clock" not in seen, seen
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = latest_run(tmp_path)
    results = json.loads((run / "results.json").read_text())
    assert results["run"]["interrupted"] and results["valid"] != True  # noqa: E712
    run_id = results["run"]["left_running"]["run_id"]
    home = tmp_path / "state" / f"zkj-{run_id}" / "n1" / "reference"
    try:
        pid = int((home / "server.pid").read_text())
        with open(f"/proc/{pid}/stat") as f:
            assert f.read().rpartition(")")[2].split()[0] != "T"  # resumed, still running
        assert (home / "faketime.rc").read_text().strip() == "+0 x1"
        rules = subprocess.run(["ip", "netns", "exec", f"zkj-{run_id}-n1", "iptables", "-w", "-S"],
                               capture_output=True, text=True).stdout
        assert "ZKJEPSEN" not in rules
    finally:
        env = dict(os.environ, ZKJEPSEN_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=str(REPO))
        subprocess.run([sys.executable, "-m", "harness", "cluster", "down", run_id], cwd=REPO, env=env,
                       capture_output=True, timeout=300)
    assert our_shm([pid]) == []
    assert_nothing_left(tmp_path)


def test_zookeeper_run_with_partitions_kills_pauses_and_clocks_recovers(tmp_path):
    require_netns()
    # The nemeses' acceptance run against ZooKeeper (`--nemesis partition,kill,pause,clock`) with a fixed schedule
    # of one fault per family, 2 s each, instead of 60 s of random ones: every family shows in the history and
    # the ensemble must recover from all of them.
    proc = harness(["--db", "zookeeper", "--node-count", "3", "--workload", "set",
                    "--nemesis", "partition,kill,pause,clock", "--nemesis-schedule",
                    "partition-leader:2,pause-one:2,clock-bump:2,kill-minority:2", "--nemesis-interval", "1",
                    "--time-limit", "13", "--rate", "30", "--seed", "3"], tmp_path)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    ops = history(latest_run(tmp_path))
    faults = [o for o in ops if o["process"] == "nemesis" and o["type"] == "info"]
    started = {o["f"] for o in faults if o["f"].startswith("start-")}
    assert started == {"start-partition", "start-kill", "start-pause", "start-clock"}, [o["f"] for o in faults]
    assert all("error" not in o for o in faults), faults
    assert faults[-1]["f"] == "heal-all"
    finals = [o for o in ops if o.get("final") and o["type"] != "invoke"]
    assert {o["node"] for o in finals} == {"n1", "n2", "n3"}  # a final read was tried on every node
    # A majority must serve it. (On this loaded 2-core machine a JVM restarted by kill under libfaketime has
    # been seen to open its first session just after the client's connect timeout: `no-client`, nothing sent.)
    assert len({o["node"] for o in finals if o["type"] == "ok"}) >= 2
    assert all(o["type"] == "ok" or str(o.get("error", "")).startswith("no-client") for o in finals)
    assert_nothing_left(tmp_path)
