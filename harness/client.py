"""The ``Client`` protocol (how a worker performs operations) and the kazoo-based base every workload uses.

A ``Client`` value in a workload is a template; the runner calls ``open(test, node)`` once per worker
process to get a connected copy, and uses that copy from one worker thread only:

``open(test, nodes) -> Client``
    a new client connected to ``nodes`` (one node, or all of them); raises ``ClientOpenError`` if it cannot
    connect (nothing was sent, so the operation the worker was about to do is recorded as ``fail``).
``setup(test)``
    once per run, before any worker starts, on a client of its own: create the znodes the workload needs.
``invoke(test, op) -> Op``
    perform ``op`` (an invocation) and return its completion: ``ok``; ``fail`` when it certainly did not take
    effect; ``info`` when it may have. The runner enforces the per-operation timeout (-> ``info``).
``teardown(test)`` / ``close(test)``
    once per run after the workers stop / when the worker drops this client (after an ``info`` or at the end).

``KazooClientBase`` owns the connection and the exception mapping; a workload subclasses it and writes
``do(op) -> Op`` with kazoo calls, returning ``self.ok(op, value)`` etc. Exceptions it lets escape are
mapped by ``complete_exception``: ZooKeeper's definite rejections (no node, bad version, node exists, ...) are
``fail``; a lost connection, an operation timeout or an expired session is ``info`` for an operation that
may write, and ``fail`` for a read (a read has no effect, so not knowing its result is the same as it never
having happened).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, Iterable, Protocol

from kazoo.client import KazooClient
from kazoo.exceptions import (BadArgumentsError, BadVersionError, ConnectionClosedError, InvalidACLError,
                              NoAuthError, NoChildrenForEphemeralsError, NodeExistsError, NoNodeError,
                              NotEmptyError)
from kazoo.handlers.threading import KazooTimeoutError

from checkers.history import FAIL, INFO, OK, Op

log = logging.getLogger("harness.client")

# ZooKeeper answered and refused: the operation did not happen.
DEFINITE_ERRORS: tuple[type[BaseException], ...] = (
    NoNodeError, NodeExistsError, BadVersionError, NotEmptyError, BadArgumentsError,
    NoChildrenForEphemeralsError, NoAuthError, InvalidACLError,
)

# Short names recorded in the history's "error" field.
_ERROR_NAMES = {
    "NoNodeError": "no-node", "NodeExistsError": "node-exists", "BadVersionError": "bad-version",
    "NotEmptyError": "not-empty", "BadArgumentsError": "bad-arguments", "ConnectionLoss": "connection-loss",
    "OperationTimeoutError": "operation-timeout", "SessionExpiredError": "session-expired",
    "ConnectionClosedError": "connection-closed", "KazooTimeoutError": "timeout",
    "NoChildrenForEphemeralsError": "no-children-for-ephemerals", "NoAuthError": "no-auth",
    "InvalidACLError": "invalid-acl",
}


class ClientOpenError(RuntimeError):
    """The client could not connect; nothing was sent."""


def error_name(exc: BaseException) -> str:
    return _ERROR_NAMES.get(type(exc).__name__, type(exc).__name__)


class Client(Protocol):
    def open(self, test: Any, nodes: list[str]) -> "Client": ...

    def setup(self, test: Any) -> None: ...

    def invoke(self, test: Any, op: Op) -> Op: ...

    def teardown(self, test: Any) -> None: ...

    def close(self, test: Any) -> None: ...


def completion(op: Op, type_: str, value: Any = None, error: Any = None, **extra: Any) -> Op:
    """The completion of invocation ``op``: same process, f, key and node; the runner sets index and time."""
    merged = dict(op.extra)
    merged.update(extra)
    return dataclasses.replace(op, type=type_, value=value, error=error, index=-1, time=0, extra=merged)


def complete_exception(op: Op, exc: BaseException, is_read: bool) -> Op:
    """Map an exception from performing ``op`` to its completion (see the module docstring)."""
    name = error_name(exc)
    if isinstance(exc, DEFINITE_ERRORS):
        return completion(op, FAIL, op.value, error=name)
    if isinstance(exc, ConnectionClosedError):
        return completion(op, FAIL, op.value, error=name)  # kazoo refused to send: client already closed
    if is_read:
        return completion(op, FAIL, None, error=name)
    return completion(op, INFO, op.value, error=name if name != type(exc).__name__ else f"{name}: {exc}")


class KazooClientBase:
    """A workload's client over one kazoo session. Subclasses set ``read_fs`` and write ``do``."""

    # Operations with no effect on the service; their unknown outcomes are recorded as fail.
    read_fs: frozenset[str] = frozenset({"read"})

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.zk: KazooClient | None = None
        self.nodes: list[str] = []
        self.test: Any = None
        self.process: Any = None

    # -- the protocol ---------------------------------------------------------------------------
    def open(self, test: Any, nodes: list[str]) -> "KazooClientBase":
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        new.options = dict(self.options)
        new.nodes = list(nodes)
        new.test = test
        session_timeout = float(test.options.get("session_timeout", 10.0))
        connect_timeout = float(test.options.get("connect_timeout", 10.0))
        hosts = test.connect_string(list(nodes))
        zk = KazooClient(hosts=hosts, timeout=session_timeout, logger=logging.getLogger("kazoo.client"))
        try:
            zk.start(timeout=connect_timeout)
        except (KazooTimeoutError, Exception) as exc:
            _stop_quietly(zk)
            raise ClientOpenError(f"cannot connect to {hosts}: {error_name(exc)}") from None
        new.zk = zk
        new.opened()
        return new

    def opened(self) -> None:
        """Hook: per-session state (recipes) after connecting."""

    def setup(self, test: Any) -> None:
        pass

    def teardown(self, test: Any) -> None:
        pass

    def invoke(self, test: Any, op: Op) -> Op:
        self.process = op.process  # a client serves one process: the runner reopens after an info
        try:
            return self.do(op)
        except Exception as exc:  # every failure becomes a completion; the worker never dies of one op
            if not isinstance(exc, DEFINITE_ERRORS):
                log.debug("op %s %s: %r", op.f, op.key, exc)
            return complete_exception(op, exc, op.f in self.read_fs)

    def close(self, test: Any) -> None:
        zk, self.zk = self.zk, None
        if zk is not None:
            _stop_quietly(zk)

    # -- for subclasses -------------------------------------------------------------------------
    def do(self, op: Op) -> Op:
        raise NotImplementedError

    @property
    def session_id(self) -> str | None:
        sid = self.zk.client_id[0] if self.zk is not None and self.zk.client_id else None
        return f"{sid:x}" if sid is not None else None

    def ok(self, op: Op, value: Any = None, **extra: Any) -> Op:
        return completion(op, OK, value, **extra)

    def fail(self, op: Op, value: Any = None, error: Any = None, **extra: Any) -> Op:
        return completion(op, FAIL, value, error=error, **extra)

    def info(self, op: Op, value: Any = None, error: Any = None, **extra: Any) -> Op:
        return completion(op, INFO, value, error=error, **extra)


def _stop_quietly(zk: KazooClient) -> None:
    try:
        zk.stop()
        zk.close()
    except Exception:  # closing a dead connection may raise; nothing to do about it
        pass


def close_in_background(client: Client, test: Any) -> None:
    """Close a client whose operation hung, without making the worker wait for the hang to end."""
    def close() -> None:
        try:
            client.close(test)
        except Exception as exc:
            log.debug("closing abandoned client: %r", exc)
    threading.Thread(target=close, name="close-abandoned-client", daemon=True).start()


def encode(value: Any) -> bytes:
    return b"" if value is None else str(value).encode()


def decode_int(data: bytes | None) -> int | None:
    if not data:
        return None
    return int(data.decode())


def sequence_number(path: str) -> int:
    """The 10-digit counter ZooKeeper appends to a sequential znode's name."""
    return int(path[-10:])


def names(paths: Iterable[str]) -> list[str]:
    return [p.rsplit("/", 1)[-1] for p in paths]
