"""Process and clock faults on the reference server (one node until replication lands), under libfaketime."""
from __future__ import annotations

import time

import pytest
from kazoo.client import KazooClient

from checkers.history import INVOKE, Op
from harness.backends.netns import NetnsBackend
from harness.dbs.reference import ReferenceDB
from nemeses import FaultNemesis, parse_faults
from nemesis_live import LiveTest, faketime_spec, proc_state, require_netns, shm_files

pytestmark = pytest.mark.cluster
NODES = ["n1"]


@pytest.fixture(scope="module")
def test(tmp_path_factory):
    require_netns()
    backend = NetnsBackend(state_dir=str(tmp_path_factory.mktemp("state")))
    db = ReferenceDB()
    live = LiveTest(backend, NODES, {"faketime": {"monotonic": False}}, db=db)
    try:
        backend.create(NODES)
        db.setup(live, "n1")
        db.wait_ready(live, "n1", 60)
        yield live
    finally:
        try:
            db.teardown(live, "n1")
        finally:
            backend.destroy()


@pytest.fixture
def nemesis(test):
    nemesis = FaultNemesis("all", parse_faults("kill,pause,clock"), 5, {})
    try:
        yield nemesis
    finally:
        nemesis.teardown(test)
        test.db.wait_ready(test, "n1", 60)


def run(nemesis, test, f, value):
    return nemesis.invoke(test, Op(INVOKE, "nemesis", f, value))


def ctime_shift(test) -> float:
    client = KazooClient(hosts=f"{test.address('n1')}:{test.db.client_port}", timeout=10)
    client.start(timeout=20)
    try:
        path = client.create("/clock-", b"", sequence=True)
        now = time.time()
        return client.exists(path).ctime / 1000 - now
    finally:
        client.stop()
        client.close()


def test_the_server_process_sees_its_clock_bumped_and_reset(test, nemesis):
    assert abs(ctime_shift(test)) < 2
    bump = run(nemesis, test, "start-clock", "clock-bump").value
    delta = bump["bumps"]["n1"]
    assert ctime_shift(test) == pytest.approx(delta, abs=2)
    run(nemesis, test, "stop-clock", "clock-bump")
    assert faketime_spec(test, "n1") == "+0 x1"
    assert abs(ctime_shift(test)) < 2


def test_skew_makes_the_server_clock_run_at_the_chosen_rate(test, nemesis):
    nemesis.clock.rates = (3.0,)
    skew = run(nemesis, test, "start-clock", "clock-skew").value
    assert skew["rates"] == {"n1": 3.0}
    first = ctime_shift(test)
    assert abs(first) < 4  # no jump by the process age x 2, only up to the re-read delay x 2
    time.sleep(2)
    assert ctime_shift(test) - first > 2.5  # 2 s of real time, ~6 s of fake time


def test_pause_and_kill_by_pid(test, nemesis):
    pid = test.db.pid(test, "n1")
    run(nemesis, test, "start-pause", "pause-one")
    assert proc_state(test, "n1") == "T"
    assert not test.db.is_ready(test, "n1")
    run(nemesis, test, "stop-pause", "pause-one")
    assert proc_state(test, "n1") in ("R", "S")
    run(nemesis, test, "start-kill", "kill-all")
    assert not test.db.is_running(test, "n1") and shm_files(pid) == []
    healed = run(nemesis, test, "stop-kill", "kill-all").value
    assert healed["restarted"] == {"n1": "ready"} and test.db.pid(test, "n1") != pid
