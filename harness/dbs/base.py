"""The ``DB`` protocol (a coordination service the tester can run on nodes) and how one is chosen by name.

Every method gets ``test``: anything with ``nodes`` (list of names), ``options`` (dict), ``remote(node)`` and
``address(node)`` — a ``harness.test.Test`` or a ``harness.backends.base.Nodes``.

``name``, ``client_port``
    a short name for logs; the TCP port clients connect to on every node.
``setup(test, node)``
    install (if needed), configure and start the server on ``node``. Called for every node of the test.
``teardown(test, node)``
    stop the server (SIGKILL) and remove its files from the node.
``start`` / ``kill`` / ``pause`` / ``resume`` ``(test, node)``
    start if not running; SIGKILL, SIGSTOP, SIGCONT the server's own PID (from its pid file).
``is_running(test, node) -> bool``
    the server process exists (a paused one counts as running; a zombie does not).
``wait_ready(test, node, timeout)``
    block until the server answers clients on ``node``; RuntimeError with the log's tail after ``timeout`` s.
``log_files(test, node) -> list[str]``
    paths on the node to collect into ``store/.../nodes/<node>/``.
``leader(test) -> str | None``
    the node that is leader now, None when none is or the server has no such notion (single node).
``version(test) -> str``

``resolve_db(spec, **options)`` makes one from ``"zookeeper"``, ``"reference"``, ``"package.module:Class"``
or the name of an entry point in group ``zkjepsen.dbs``. See docs/plugins.md for writing one.

``DaemonDB`` implements the process-handling half for servers that run as one process per node; a plugin
usually subclasses it and supplies ``command`` (and maybe ``configure``/``install``).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
import shlex
import socket
import time
from typing import Any, Protocol, runtime_checkable

from harness.remote import Remote, RemoteError

ENTRY_POINT_GROUP = "zkjepsen.dbs"
BUILTIN = {
    "zookeeper": "harness.dbs.zookeeper:ZooKeeperDB",
    "reference": "harness.dbs.reference:ReferenceDB",
}


class DBNotFound(LookupError):
    pass


@runtime_checkable
class DB(Protocol):
    name: str
    client_port: int

    def setup(self, test: Any, node: str) -> None: ...

    def teardown(self, test: Any, node: str) -> None: ...

    def start(self, test: Any, node: str) -> None: ...

    def kill(self, test: Any, node: str) -> None: ...

    def pause(self, test: Any, node: str) -> None: ...

    def resume(self, test: Any, node: str) -> None: ...

    def is_running(self, test: Any, node: str) -> bool: ...

    def wait_ready(self, test: Any, node: str, timeout: float) -> None: ...

    def log_files(self, test: Any, node: str) -> list[str]: ...

    def leader(self, test: Any) -> str | None: ...

    def version(self, test: Any) -> str: ...


def _instantiate(factory: Any, spec: str, options: dict[str, Any]) -> DB:
    """Call a DB class/factory with the options it accepts (the command line passes all DB options to
    whichever DB was chosen, so a DB ignores the ones meant for another)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        params = None
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params):
        accepted = {p.name for p in params}
        options = {k: v for k, v in options.items() if k in accepted}
    db = factory(**options) if callable(factory) else factory
    missing = [m for m in ("setup", "teardown", "start", "kill", "wait_ready", "is_running") if
               not callable(getattr(db, m, None))]
    if missing or not hasattr(db, "client_port"):
        raise DBNotFound(f"{spec!r} does not give a DB: it lacks {', '.join(missing) or 'client_port'} "
                         "(see docs/plugins.md)")
    return db


def _load_target(target: str, spec: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise DBNotFound(f"DB {spec!r}: cannot import module {module_name!r} ({exc}); is it on PYTHONPATH?") from exc
    except Exception as exc:  # a plugin with a bug: say where, without a traceback
        raise DBNotFound(f"DB {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise DBNotFound(f"DB {spec!r}: module {module_name!r} has no {attr!r}") from None
    return obj


def resolve_db(spec: str, **options: Any) -> DB:
    spec = spec.strip()
    if spec in BUILTIN:
        return _instantiate(_load_target(BUILTIN[spec], spec), spec, options)
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise DBNotFound(f"DB {spec!r}: expected package.module:Class")
        return _instantiate(_load_target(spec, spec), spec, options)
    found = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec]
    if found:
        try:
            factory = found[0].load()
        except Exception as exc:
            raise DBNotFound(f"DB {spec!r}: entry point {found[0].value!r} failed to load: {exc}") from exc
        return _instantiate(factory, spec, options)
    plugins = sorted({ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})
    raise DBNotFound(f"unknown DB {spec!r}: use {', '.join(BUILTIN)}, a package.module:Class path, or an "
                     f"installed plugin from entry point group {ENTRY_POINT_GROUP!r}"
                     + (f" ({', '.join(plugins)})" if plugins else " (none installed)"))


def four_letter_word(host: str, port: int, word: str, timeout: float = 3.0) -> str:
    """Send a ZooKeeper four-letter word (``srvr``, ``ruok``, ...) and return the whole answer."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(word.encode())
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def srvr_mode(host: str, port: int, timeout: float = 3.0) -> str | None:
    """The ``Mode:`` of a ZooKeeper-protocol server (leader, follower, standalone), None if it does not say."""
    try:
        answer = four_letter_word(host, port, "srvr", timeout)
    except OSError:
        return None
    for line in answer.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


def session_ok(host: str, port: int, timeout: float = 5.0) -> bool:
    """True when a kazoo session can be opened and a read answered: readiness for servers without ``srvr``."""
    from kazoo.client import KazooClient
    from kazoo.handlers.threading import KazooTimeoutError

    quiet = logging.getLogger("zkjepsen.readiness-probe")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False  # refused connections while a server starts are expected, not warnings
    client = KazooClient(hosts=f"{host}:{port}", timeout=timeout, connection_retry=None, command_retry=None,
                         logger=quiet)
    try:
        client.start(timeout=timeout)
        client.exists("/")
        return True
    except (KazooTimeoutError, Exception):
        return False
    finally:
        try:
            client.stop()
            client.close()
        except Exception:
            pass


class DaemonDB:
    """Process control for a server that runs as one process per node, started with ``Remote.spawn``.

    Subclasses set ``name`` and ``client_port`` and implement ``command`` (argv of the server); they may
    override ``install`` (put binaries on the node), ``configure`` (write config files) and ``env``.
    Files live under ``<remote.home>/<name>/``.
    """

    name = "daemon"
    client_port = 2181

    # -- what a subclass supplies ------------------------------------------------------------
    def command(self, test: Any, node: str) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} must define command(test, node)")

    def env(self, test: Any, node: str) -> dict[str, str] | None:
        return None

    def install(self, test: Any, node: str) -> None:
        pass

    def configure(self, test: Any, node: str) -> None:
        pass

    # -- paths -------------------------------------------------------------------------------
    def directory(self, test: Any, node: str) -> str:
        return f"{test.remote(node).home}/{self.name}"

    def faketime_file(self, test: Any, node: str) -> str:
        """libfaketime's control file for this node's server (see harness/dbs/faketime.py)."""
        return f"{self.directory(test, node)}/faketime.rc"

    def pid_file(self, test: Any, node: str) -> str:
        return f"{self.directory(test, node)}/server.pid"

    def log_file(self, test: Any, node: str) -> str:
        return f"{self.directory(test, node)}/server.log"

    def log_files(self, test: Any, node: str) -> list[str]:
        return [self.log_file(test, node)]

    # -- lifecycle ---------------------------------------------------------------------------
    def setup(self, test: Any, node: str) -> None:
        test.remote(node).run(["mkdir", "-p", self.directory(test, node)])
        self.install(test, node)
        self.configure(test, node)
        self.start(test, node)

    def teardown(self, test: Any, node: str) -> None:
        self.kill(test, node)
        test.remote(node).run(["rm", "-rf", self.directory(test, node)])

    def start(self, test: Any, node: str) -> None:
        if self.is_running(test, node):
            return
        remote = test.remote(node)
        env = self.env(test, node)
        clock = (getattr(test, "options", None) or {}).get("faketime")
        if clock:
            # Set by nemeses when clock faults are enabled: the server runs under libfaketime.
            from harness.dbs.faketime import faketime_env
            env = {**(env or {}), **faketime_env(remote, self.faketime_file(test, node),
                                                 monotonic=bool(clock.get("monotonic")))}
        pid = remote.spawn(self.command(test, node), log_file=self.log_file(test, node),
                           pid_file=self.pid_file(test, node), env=env,
                           cwd=self.directory(test, node))
        # The start time pins the PID to this very process: once it is gone its PID may be reused by an
        # unrelated process, which kill/pause must never hit.
        started = self._proc(remote, pid)[1]
        if started is not None:
            remote.run(["sh", "-c", f"echo {started} > {shlex.quote(self.pid_file(test, node))}.start"])

    def pid(self, test: Any, node: str) -> int | None:
        """The PID of this node's server if that very process still exists (running, paused or a zombie)."""
        pid_file = shlex.quote(self.pid_file(test, node))
        remote = test.remote(node)
        result = remote.run(f"cat {pid_file} && cat {pid_file}.start 2>/dev/null; true", check=False)
        words = result.stdout.split()
        try:
            pid = int(words[0])
            recorded = int(words[1]) if len(words) > 1 else None
        except (IndexError, ValueError):
            return None
        state, started = self._proc(remote, pid)
        if state is None or (recorded is not None and started != recorded):
            return None
        return pid

    def _proc(self, remote: Remote, pid: int) -> tuple[str | None, int | None]:
        """(state letter R/S/T/Z/..., start time in clock ticks) of a process, (None, None) if there is none."""
        result = remote.run(["cat", f"/proc/{pid}/stat"], check=False)
        if not result.ok:
            return None, None
        # The command name is in parentheses and may contain spaces; the fields after the last ')' are plain.
        fields = result.stdout.rpartition(")")[2].split()
        try:
            return fields[0], int(fields[19])
        except (IndexError, ValueError):
            return None, None

    def _state(self, remote: Remote, pid: int) -> str | None:
        return self._proc(remote, pid)[0]

    def is_running(self, test: Any, node: str) -> bool:
        pid = self.pid(test, node)
        return pid is not None and self._state(test.remote(node), pid) not in (None, "Z", "X")

    def _signal(self, test: Any, node: str, signal: str) -> int | None:
        pid = self.pid(test, node)
        if pid is None or not self.is_running(test, node):
            return None
        test.remote(node).run(["kill", f"-{signal}", str(pid)], check=False)
        return pid

    def kill(self, test: Any, node: str) -> None:
        pid = self._signal(test, node, "KILL")
        if pid is None:
            return
        remote = test.remote(node)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = self._state(remote, pid)
            if state is None or state in ("Z", "X"):
                from harness.dbs.faketime import remove_shm
                remove_shm(remote, pid)  # left by libfaketime when the server ran under it
                return
            time.sleep(0.05)
        raise RemoteError(f"{node}: {self.name} (pid {pid}) still alive 30s after SIGKILL")

    def pause(self, test: Any, node: str) -> None:
        pid = self._signal(test, node, "STOP")
        if pid is not None:
            # Signals are delivered asynchronously: return once the process is really stopped, so a fault
            # recorded as done is in effect.
            self._wait_state(test.remote(node), pid, lambda state: state in (None, "T", "Z", "X"))

    def resume(self, test: Any, node: str) -> None:
        pid = self._signal(test, node, "CONT")
        if pid is not None:
            self._wait_state(test.remote(node), pid, lambda state: state != "T")

    def _wait_state(self, remote: Remote, pid: int, done: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done(self._state(remote, pid)) and time.monotonic() < deadline:
            time.sleep(0.02)

    def is_ready(self, test: Any, node: str) -> bool:
        address = test.address(node)
        try:
            answer = four_letter_word(address, self.client_port, "srvr")
        except TimeoutError:
            answer = ""  # a server without four-letter words may wait for the rest of a "frame"
        except OSError:
            return False  # not listening yet
        if "Mode:" in answer:
            return True
        if answer.strip():
            return False  # it speaks srvr and says it is not serving yet
        return session_ok(address, self.client_port)

    def wait_ready(self, test: Any, node: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running(test, node):
                raise RuntimeError(f"{node}: {self.name} is not running (it exited?)\n"
                                   + self.log_tail(test, node))
            if self.is_ready(test, node):
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{node}: {self.name} not ready after {timeout:g}s\n" + self.log_tail(test, node))
            time.sleep(0.25)

    def log_tail(self, test: Any, node: str, lines: int = 20) -> str:
        result = test.remote(node).run(["tail", "-n", str(lines), self.log_file(test, node)], check=False)
        return f"last lines of {self.log_file(test, node)}:\n{result.stdout}" if result.ok else "(no log)"

    def leader(self, test: Any) -> str | None:
        for node in test.nodes:
            if srvr_mode(test.address(node), self.client_port) == "leader":
                return node
        return None

    def version(self, test: Any) -> str:
        return "unknown"
