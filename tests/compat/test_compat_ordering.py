"""Per-session FIFO order with pipelined requests, and sequence numbers under concurrent creators."""
from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.cluster

TIMEOUT = 30


def test_pipelined_writes_apply_in_the_order_sent(zk):
    c = zk.client
    c.create("/fifo", b"start")
    pending = [c.set_async("/fifo", str(i).encode()) for i in range(200)]
    versions = [p.get(timeout=TIMEOUT).version for p in pending]
    assert versions == list(range(1, 201))
    data, stat = c.get("/fifo")
    assert data == b"199" and stat.version == 200


def test_pipelined_read_sees_the_write_sent_before_it(zk):
    """A read queued behind a write of the same session is answered after that write is applied."""
    c = zk.client
    c.create("/rw", b"-1")
    pending = []
    for i in range(100):
        pending.append(("set", i, c.set_async("/rw", str(i).encode())))
        pending.append(("get", i, c.get_async("/rw")))
    for kind, i, result in pending:
        value = result.get(timeout=TIMEOUT)
        if kind == "get":
            assert value[0] == str(i).encode() and value[1].version == i + 1
    created = [c.create_async(f"/rw-{i}") for i in range(50)]
    seen = [c.exists_async(f"/rw-{i}") for i in range(50)]
    assert [r.get(timeout=TIMEOUT) for r in created] == [f"/rw-{i}" for i in range(50)]
    assert all(r.get(timeout=TIMEOUT) is not None for r in seen)


def test_concurrent_sequential_creates_are_unique_and_dense(zk):
    zk.client.create("/race")
    clients = [zk.connect() for _ in range(4)]
    names: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def creator(client):
        try:
            mine = [r.get(timeout=TIMEOUT) for r in [client.create_async("/race/n-", sequence=True)
                                                      for _ in range(25)]]
            with lock:
                names.extend(mine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=creator, args=(client,)) for client in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert errors == []
    assert sorted(names) == [f"/race/n-{i:010d}" for i in range(100)]
    assert zk.client.exists("/race").cversion == 100


def test_many_sessions_at_once(zk):
    clients = [zk.connect(start=False) for _ in range(30)]
    starts = [client.start_async() for client in clients]
    for event in starts:
        event.wait(TIMEOUT)
    assert all(client.connected for client in clients)
    sessions = {client.client_id[0] for client in clients}
    assert len(sessions) == 30
    pending = [client.create_async(f"/member-{i}", ephemeral=True) for i, client in enumerate(clients)]
    for p in pending:
        p.get(timeout=TIMEOUT)
    owners = {zk.client.exists(f"/member-{i}").ephemeralOwner for i in range(30)}
    assert owners == sessions
    for client in clients:
        client.stop()
    assert zk.client.get_children("/") == []
