"""Fixtures for the compatibility suite: the same kazoo tests run against the reference server and Apache
ZooKeeper 3.8. One server per kind serves the whole session; every test works under its own chroot, so tests
never see each other's znodes.

Where the two servers answer differently, ZooKeeper is right: the test asserts ZooKeeper's answer.
"""
from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.retry import KazooRetry

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `pytest` run without `python -m` does not put the checkout on sys.path
    sys.path.insert(0, str(REPO))

from tests.servers import KINDS, ServerProcess, start_server  # noqa: E402

# kazoo's default connect timeout is 15 s; a broken server should fail a test faster than that.
START_TIMEOUT = 10.0
# The digest superuser "super" with password "test" (the value kazoo's own test harness uses).
SUPER_USER = "super:test"
SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="


@pytest.fixture(scope="session", params=KINDS)
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """One standalone server of each kind for the whole session."""
    proc = start_server(request.param, super_digest=SUPER_DIGEST)
    try:
        yield proc
    finally:
        proc.cleanup()


@dataclass
class ZkTarget:
    """A server, this test's private chroot on it, and a connected chrooted client."""

    kind: str
    server: ServerProcess
    chroot: str
    client: KazooClient
    _clients: list[KazooClient] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.server.address

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def hosts(self) -> str:
        return self.address + self.chroot

    def connect(self, hosts: str | None = None, *, chroot: bool = True, start: bool = True,
                **options: Any) -> KazooClient:
        """Another client (started unless start=False), stopped at teardown."""
        if hosts is None:
            hosts = self.hosts if chroot else self.address
        options.setdefault("connection_retry", KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5))
        client = KazooClient(hosts=hosts, **options)
        self._clients.append(client)
        if start:
            client.start(timeout=START_TIMEOUT)
        return client

    def close_all(self) -> None:
        for client in reversed(self._clients):
            try:
                client.stop()
            except KazooException:
                pass
            finally:
                client.close()
        self._clients.clear()


@pytest.fixture
def zk(server: ServerProcess) -> Iterator[ZkTarget]:
    if not server.running:
        pytest.fail(f"{server.kind} server died earlier in the session:\n{server.log_tail()}")
    chroot = "/compat-" + uuid.uuid4().hex[:12]
    setup = KazooClient(hosts=server.address)
    setup.start(timeout=START_TIMEOUT)
    try:
        setup.create(chroot)
    finally:
        setup.stop()
        setup.close()
    target = ZkTarget(kind=server.kind, server=server, chroot=chroot, client=None)  # type: ignore[arg-type]
    try:
        target.client = target.connect()
        yield target
    finally:
        target.close_all()
        _remove_tree(server, chroot)


def _remove_tree(server: ServerProcess, path: str) -> None:
    """Best effort: a test may leave nodes its ACLs forbid deleting, and the server is temporary anyway."""
    if not server.running:
        return
    client = KazooClient(hosts=server.address)
    try:
        client.start(timeout=START_TIMEOUT)
        client.delete(path, recursive=True)
    except KazooException:
        pass
    finally:
        client.stop()
        client.close()
