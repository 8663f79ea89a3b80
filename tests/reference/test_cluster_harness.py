"""The harness's reference DB runs a 3-node replicated ensemble in network namespaces, finds the leader with
srvr as it does for Apache ZooKeeper, and a kill -9 of that leader leaves a new one and the data."""
from __future__ import annotations

import time

import pytest
from kazoo.client import KazooClient

from harness.backends.netns import NetnsBackend
from harness.backends.base import Nodes
from harness.dbs.base import resolve_db
from tests.harness.netns_helpers import require_netns

pytestmark = pytest.mark.cluster

NODES = ["n1", "n2", "n3"]


def _leader(db, test, exclude: str | None = None, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        leader = db.leader(test)
        if leader is not None and leader != exclude:
            return leader
        if time.monotonic() > deadline:
            raise AssertionError(f"no leader among {NODES} after {timeout}s")
        time.sleep(0.1)


def test_reference_db_runs_a_replicated_ensemble(tmp_path):
    require_netns()
    db = resolve_db("reference")
    backend = NetnsBackend(state_dir=str(tmp_path))
    try:
        backend.create(NODES)
        test = Nodes(backend, NODES)
        for node in NODES:
            db.setup(test, node)
        for node in NODES:
            db.wait_ready(test, node, 60)
        leader = _leader(db, test)
        client = KazooClient(hosts=test.connect_string(db.client_port))
        try:
            client.start(30)
            for i in range(10):
                client.create(f"/h{i}", b"v")
        finally:
            client.stop()
            client.close()
        db.kill(test, leader)
        new = _leader(db, test, exclude=leader)
        assert new != leader
        client = KazooClient(hosts=f"{test.address(new)}:{db.client_port}")
        try:
            client.start(30)
            client.sync("/")
            assert {f"h{i}" for i in range(10)} <= set(client.get_children("/"))
        finally:
            client.stop()
            client.close()
    finally:
        backend.destroy()
