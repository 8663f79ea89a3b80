"""Small helpers shared by the compatibility tests."""
from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.serialization import Create2
from kazoo.protocol.states import KazooState
from kazoo.security import OPEN_ACL_UNSAFE

REQUEST_TIMEOUT = 15.0



def raw_call(client: KazooClient, request: Any) -> Any:
    """Send a request record exactly as given: no chroot, no client-side path checks.

    kazoo normalises paths before sending them (it prefixes "/" and strips a trailing "/"), so what a server
    does with a relative path can only be asked this way. Paths in `request` must include the chroot.
    """
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=REQUEST_TIMEOUT)


class CreateContainer(Create2):
    """createContainer (opcode 19): kazoo 2.11 has no call for it, but its body and reply are create2's."""

    type = 19


def create_container(client: KazooClient, path: str, value: bytes = b"") -> tuple[str, Any]:
    """Create a container node at `path` (relative to the client's chroot); returns (path, stat)."""
    full = (client.chroot or "") + path
    created, stat = raw_call(client, CreateContainer(full, value, OPEN_ACL_UNSAFE, 4))
    return client.unchroot(created), stat


class StateLog:
    """Records a client's KazooState transitions (listener callbacks run on kazoo's threads)."""

    def __init__(self, client: KazooClient) -> None:
        self.states: list[KazooState] = []
        self._cond = threading.Condition()
        client.add_listener(self._on_state)

    def _on_state(self, state: KazooState) -> None:
        with self._cond:
            self.states.append(state)
            self._cond.notify_all()

    def wait(self, state: KazooState, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until `state` has been entered `count` times in all."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.states.count(state) >= count, timeout):
                pytest.fail(f"client never reached {state} x{count}; saw {self.states}")


class EventLog:
    """A kazoo watch callback that collects the events it gets, in delivery order."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait(self, count: int = 1, timeout: float = 30.0) -> list[Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.events) >= count, timeout):
                pytest.fail(f"expected {count} watch events, got {self.events}")
            return list(self.events)


@dataclass
class ConnectReply:
    protocol_version: int
    timeout_ms: int
    session_id: int
    password: bytes
    closed_after: bool  # checked for refusals only: the server closed the socket after the reply


def raw_connect(port: int, timeout_ms: int, session_id: int = 0, password: bytes = b"\0" * 16,
                last_zxid: int = 0) -> ConnectReply:
    """One ConnectRequest on a fresh socket, without kazoo's retries and session bookkeeping (notes T1).

    Closes the socket without closeSession, so a new session it creates lives until it expires.
    """
    body = struct.pack(">iqiqi", 0, last_zxid, timeout_ms, session_id, len(password)) + password + b"\0"
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        (length,) = struct.unpack(">i", _read_exactly(s, 4))
        reply = _read_exactly(s, length)
        version, negotiated, sid, pw_len = struct.unpack_from(">iiqi", reply)
        password_back = reply[20:20 + pw_len]
        closed = False
        if negotiated <= 0:  # a refusal: ZooKeeper closes the socket right after it
            try:
                closed = s.recv(1) == b""
            except ConnectionResetError:
                closed = True
            except socket.timeout:
                closed = False
    return ConnectReply(version, negotiated, sid, password_back, closed)


def _read_exactly(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"server closed the connection after {len(buf)} of {n} bytes")
        buf += chunk
    return buf
