"""Restarting a server on the same data dir: acknowledged writes, Stat, sequence counters and open sessions
survive a clean stop and a SIGKILL alike (ZooKeeper logs and fsyncs every transaction before answering)."""
from __future__ import annotations

from typing import Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

from tests.compat.proxy import CuttableProxy
from tests.servers import KINDS, ServerProcess, start_server

pytestmark = pytest.mark.cluster


@pytest.fixture(params=KINDS)
def fresh_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server of its own, since these tests stop it."""
    server = start_server(request.param)
    try:
        yield server
    finally:
        server.cleanup()


def _client(server: ServerProcess, hosts: str | None = None) -> KazooClient:
    client = KazooClient(hosts=hosts or server.address, timeout=10.0,
                         connection_retry=KazooRetry(max_tries=-1, delay=0.05, backoff=1, max_jitter=0.0))
    client.start(timeout=15)
    return client


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_state_survives_restart(fresh_server, crash):
    server = fresh_server
    # Through a relay that is cut while the server is down: ZooKeeper sometimes accepts a connection during
    # start-up and never answers it, which would stall kazoo for a whole connect timeout.
    proxy = CuttableProxy(server.port)
    client = _client(server, proxy.address)
    try:
        client.create("/p", b"persisted")
        client.set("/p", b"updated")
        first = client.create("/p/s-", b"1", sequence=True)
        client.create("/p/gone")
        client.delete("/p/gone")
        client.create("/p/eph", ephemeral=True)
        session = client.client_id
        before = {path: client.exists(path) for path in ("/p", first, "/p/eph")}

        proxy.cut()
        server.kill() if crash else server.stop()
        server.start()
        proxy.restore()

        # kazoo reconnects to the same port with its session id; the session was logged, so it is still there.
        data, stat = client.retry(client.get, "/p")
        assert data == b"updated"
        assert client.client_id == session
        assert stat == before["/p"]
        assert client.exists(first) == before[first]
        assert client.exists("/p/eph") == before["/p/eph"]
        assert client.create("/p/s-", sequence=True) == "/p/s-0000000003"
        assert client.create("/after", include_data=True)[1].czxid > max(s.mzxid for s in before.values())

        client.stop()  # closing the restored session removes its ephemeral
        observer = _client(server)
        try:
            assert observer.exists("/p/eph") is None
            assert sorted(observer.get_children("/p")) == ["s-0000000000", "s-0000000003"]
        finally:
            observer.stop()
            observer.close()
    finally:
        client.stop()
        client.close()
        proxy.close()
