"""Start and stop Apache ZooKeeper and the reference server as local subprocesses, for tests and tools.

Both kinds listen on 127.0.0.1 on a free port (bound to port 0 first), keep their data in a temp dir, are
waited for with the `srvr` four-letter word (until it reports a Mode), and are stopped by PID, first SIGTERM
and then SIGKILL. Every started process is also killed when the Python process exits or dies (atexit and
PR_SET_PDEATHSIG), so a crashed test run leaves no servers.
PR_SET_PDEATHSIG fires when the *thread* that started a server exits: start servers from a thread that
outlives them (pytest's main thread does).

Apache ZooKeeper comes from the Debian `zookeeper` package. Its zookeeper.jar manifest lists most jars, but
not netty-codec (without it clients time out) nor a logging backend; CLASSPATH adds those. jute.maxbuffer is
left at its default (0xfffff), which is what makes a 2 MiB request drop the connection.

    with running_server("zookeeper") as zk:
        KazooClient(hosts=zk.address)...
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal, Sequence

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
KINDS: tuple[str, ...] = ("reference", "zookeeper")
ServerKind = Literal["reference", "zookeeper"]

JAVA_DIR = Path("/usr/share/java")
ZOOKEEPER_CLASSPATH = ":".join(
    str(JAVA_DIR / jar)
    for jar in ("zookeeper.jar", "netty-codec.jar", "slf4j-log4j12.jar", "log4j-1.2.jar")
)
ZKCLI = Path("/usr/share/zookeeper/bin/zkCli.sh")
TICK_TIME_MS = 2000

_LOG4J = """\
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n
"""


class ServerStartError(RuntimeError):
    """A server process exited or never became ready; the message carries its log tail."""


def free_port() -> int:
    """A port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def four_letter_word(port: int, word: str, host: str = HOST, timeout: float = 5.0) -> str:
    """Send a four-letter word and return the text the server sends before closing."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word.encode("ascii"))
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def zookeeper_available() -> bool:
    return (JAVA_DIR / "zookeeper.jar").is_file() and shutil.which("java") is not None


# Processes alive in this interpreter; stopped at exit even if a fixture's teardown never ran.
_LIVE: set["ServerProcess"] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all_at_exit() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for server in live:
        server.stop(timeout=3)


atexit.register(_stop_all_at_exit)


try:  # loaded here, not in the forked child, where loading a library could deadlock
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child when the thread that started it exits (Linux PR_SET_PDEATHSIG)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)


@dataclass(eq=False)
class ServerProcess:
    """One server process with a fixed port and data dir; start() and stop() may be repeated."""

    kind: ServerKind
    port: int
    workdir: Path
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    # Several members of one ensemble are only ready together, so they may skip the per-process wait.
    wait_ready: bool = True
    owns_workdir: bool = False
    proc: subprocess.Popen | None = None
    _log_file: object = None

    @property
    def host(self) -> str:
        return HOST

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.update(self.env)
        try:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )
        except OSError:
            log.close()
            raise
        self._log_file = log
        with _LIVE_LOCK:
            _LIVE.add(self)
        if self.wait_ready:
            try:
                self.wait_until_ready(timeout)
            except BaseException:
                self.stop()
                raise
        return self

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                code = self.proc.returncode if self.proc is not None else None
                raise ServerStartError(
                    f"{self.kind} server on port {self.port} exited with {code}:\n{self.log_tail()}")
            if self._is_ready():
                return
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.kind} server on port {self.port} not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def _is_ready(self) -> bool:
        # srvr, not a bare TCP connect: something else may hold the port (then our process exits), and
        # ZooKeeper accepts connections while still loading ("not currently serving requests").
        try:
            reply = four_letter_word(self.port, "srvr", timeout=1.0)
        except OSError:
            return False
        return "Mode:" in reply

    def four_letter_word(self, word: str, timeout: float = 5.0) -> str:
        return four_letter_word(self.port, word, timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; a no-op if not running."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self._forget()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        self._forget()

    def _forget(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def cleanup(self) -> None:
        """Stop and remove the work dir if this object created it."""
        self.stop()
        if self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _workdir(workdir: Path | None, kind: str) -> tuple[Path, bool]:
    if workdir is not None:
        return Path(workdir), False
    return Path(tempfile.mkdtemp(prefix=f"{kind}-")), True


def zookeeper_server(
    port: int | None = None,
    workdir: Path | None = None,
    *,
    myid: int | None = None,
    peers: Sequence[str] = (),
    extra_config: Sequence[str] = (),
    java_properties: Sequence[str] = (),
    wait_ready: bool = True,
) -> ServerProcess:
    """An (unstarted) Apache ZooKeeper: standalone, or a quorum member when `peers` lists server.N lines."""
    if not zookeeper_available():
        raise ServerStartError("Apache ZooKeeper (Debian package `zookeeper`) or java is not installed")
    workdir, owns = _workdir(workdir, "zookeeper")
    port = port or free_port()
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = [
        f"tickTime={TICK_TIME_MS}",
        f"dataDir={data}",
        f"clientPort={port}",
        f"clientPortAddress={HOST}",
        "admin.enableServer=false",
        "4lw.commands.whitelist=*",
        *extra_config,
    ]
    if peers:
        config += ["initLimit=5", "syncLimit=2", *peers]
        (data / "myid").write_text(f"{myid}\n")
        main = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
    else:
        main = "org.apache.zookeeper.server.ZooKeeperServerMain"
    (workdir / "zoo.cfg").write_text("\n".join(config) + "\n")
    (workdir / "log4j.properties").write_text(_LOG4J)
    argv = [
        "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-cp", ZOOKEEPER_CLASSPATH,
        f"-Dlog4j.configuration=file:{workdir / 'log4j.properties'}",
        "-Dzookeeper.admin.enableServer=false",
        "-Dzookeeper.4lw.commands.whitelist=*",
        *java_properties,
        main, str(workdir / "zoo.cfg"),
    ]
    return ServerProcess("zookeeper", port, workdir, argv, cwd=workdir, wait_ready=wait_ready,
                         owns_workdir=owns)


def reference_server(port: int | None = None, workdir: Path | None = None,
                     extra_args: Sequence[str] = ()) -> ServerProcess:
    """An (unstarted) reference server: `python3 -m reference --port P --data-dir D` run from the repo."""
    workdir, owns = _workdir(workdir, "reference")
    port = port or free_port()
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "reference", "--port", str(port), "--data-dir", str(data), *extra_args]
    env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return ServerProcess("reference", port, workdir, argv, cwd=REPO, env=env, owns_workdir=owns)


def make_server(kind: ServerKind, port: int | None = None, workdir: Path | None = None, *,
                super_digest: str | None = None) -> ServerProcess:
    """An unstarted standalone server. `super_digest` ("user:base64(sha1(user:password))") names a digest
    identity that passes every ACL check, as ZooKeeper's DigestAuthenticationProvider.superDigest does."""
    if kind == "zookeeper":
        props = [f"-Dzookeeper.DigestAuthenticationProvider.superDigest={super_digest}"] if super_digest else []
        return zookeeper_server(port, workdir, java_properties=props)
    if kind == "reference":
        return reference_server(port, workdir, extra_args=["--super-digest", super_digest] if super_digest else [])
    raise ValueError(f"unknown server kind {kind!r}; expected one of {KINDS}")


def start_server(kind: ServerKind, timeout: float = 60.0, attempts: int = 3, *,
                 super_digest: str | None = None) -> ServerProcess:
    """Start a standalone server on a fresh free port, retrying on a new port if it was taken meanwhile."""
    last: ServerStartError | None = None
    for _ in range(attempts):
        server = make_server(kind, super_digest=super_digest)
        try:
            return server.start(timeout)
        except ServerStartError as exc:
            server.cleanup()
            last = exc
            if _port_in_use(server.port):
                continue
            raise
    assert last is not None
    raise last


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


@contextlib.contextmanager
def running_server(kind: ServerKind, timeout: float = 60.0) -> Iterator[ServerProcess]:
    """A started standalone server, stopped and its temp dir removed on exit (also on error)."""
    server = start_server(kind, timeout)
    try:
        yield server
    finally:
        server.cleanup()


def zookeeper_ensemble(size: int, workdir: Path | None = None,
                       java_properties: Sequence[str] = (),
                       extra_config: Sequence[str] = ()) -> list[ServerProcess]:
    """`size` unstarted ZooKeeper quorum members on free ports, sharing one parent work dir."""
    root, _ = _workdir(workdir, "zkensemble")
    ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
    peers = [f"server.{i + 1}={HOST}:{quorum}:{election}:participant"
             for i, (_, quorum, election) in enumerate(ports)]
    members = [
        zookeeper_server(client, root / f"zk{i + 1}", myid=i + 1, peers=peers,
                         java_properties=java_properties, extra_config=extra_config,
                         wait_ready=False)
        for i, (client, _, _) in enumerate(ports)
    ]
    return members


def reference_ensemble(size: int, workdir: Path | None = None,
                       extra_args: Sequence[str] = ()) -> list[ServerProcess]:
    """`size` unstarted reference servers forming one ensemble (`--config F --id N`) on free ports."""
    root, _ = _workdir(workdir, "refensemble")
    root.mkdir(parents=True, exist_ok=True)
    ports = [(free_port(), free_port()) for _ in range(size)]
    config = root / "ensemble.cfg"
    config.write_text(f"tickTime={TICK_TIME_MS}\n" + "".join(
        f"server.{i + 1}={HOST}:{peer}:{client}\n" for i, (client, peer) in enumerate(ports)))
    members = []
    for i, (client, _) in enumerate(ports):
        member_dir = root / f"ref{i + 1}"
        (member_dir / "data").mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "reference", "--config", str(config), "--id", str(i + 1),
                "--data-dir", str(member_dir / "data"), *extra_args]
        env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        members.append(ServerProcess("reference", client, member_dir, argv, cwd=REPO, env=env,
                                     wait_ready=False))
    return members
