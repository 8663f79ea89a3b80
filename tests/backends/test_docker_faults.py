"""Faults on the docker backend: a real ZooKeeper ensemble in containers, killed, paused and partitioned through
the same DB and Net code the netns backend uses."""
from __future__ import annotations

import pytest

from tests.waiting import wait_for
from harness.backends.base import Nodes
from harness.backends.docker import DockerBackend, find_runs
from harness.dbs.base import resolve_db, srvr_mode

pytestmark = pytest.mark.cluster
NODES = ["n1", "n2", "n3"]


def proc_state(test, node: str, pid: int) -> str | None:
    result = test.remote(node).run(["cat", f"/proc/{pid}/stat"], check=False)
    return result.stdout.rpartition(")")[2].split()[0] if result.ok else None


@pytest.fixture(scope="module")
def ensemble(docker_client, node_image, tmp_path_factory):
    state_dir = str(tmp_path_factory.mktemp("state"))
    backend = DockerBackend(state_dir=state_dir, image=node_image, client=docker_client)
    db = resolve_db("zookeeper", heap_mb=128, tick_time_ms=500)
    try:
        backend.create(NODES)
        test = Nodes(backend, NODES)
        for node in NODES:
            db.setup(test, node)
        for node in NODES:
            db.wait_ready(test, node, 120)
        yield db, test
    finally:
        backend.destroy()  # removing the containers ends the JVMs too
    assert find_runs(state_dir) == []


def test_kill_leader_kills_the_jvm_and_start_brings_it_back(ensemble):
    db, test = ensemble
    leader = wait_for(lambda: db.leader(test), "a leader")
    pid = db.pid(test, leader)
    assert test.remote(leader).run(["cat", f"/proc/{pid}/comm"]).stdout.strip() == "java"
    db.kill(test, leader)
    assert proc_state(test, leader, pid) is None and not db.is_running(test, leader)
    wait_for(lambda: db.leader(test) not in (None, leader), "a new leader among the survivors")
    db.start(test, leader)
    db.wait_ready(test, leader, 120)
    assert db.pid(test, leader) not in (None, pid)


def test_pause_freezes_the_jvm_and_resume_continues_it(ensemble):
    db, test = ensemble
    leader = wait_for(lambda: db.leader(test), "a leader")
    follower = next(node for node in NODES if node != leader)
    pid = db.pid(test, follower)
    db.pause(test, follower)
    try:
        assert proc_state(test, follower, pid) == "T" and db.is_running(test, follower)
        assert srvr_mode(test.address(follower), db.client_port, timeout=2) is None
    finally:
        db.resume(test, follower)
    db.wait_ready(test, follower, 120)
    assert db.pid(test, follower) == pid


def test_a_partitioned_leader_loses_its_quorum_and_heal_restores_it(ensemble):
    db, test = ensemble
    net = test.backend.net()
    leader = wait_for(lambda: db.leader(test), "a leader")
    others = [node for node in NODES if node != leader]
    for other in others:  # leader alone on one side, the two others on the other
        net.drop(leader, other)
        net.drop(other, leader)
    try:
        wait_for(lambda: srvr_mode(test.address(leader), db.client_port) != "leader",
                 "the isolated leader to step down")
        new_leader = wait_for(lambda: next((n for n in others if srvr_mode(test.address(n), db.client_port)
                                            == "leader"), None), "a leader in the majority")
        assert new_leader in others
    finally:
        net.heal()
    for node in NODES:
        db.wait_ready(test, node, 120)
    assert sorted(srvr_mode(test.address(n), db.client_port) for n in NODES) == ["follower", "follower", "leader"]
