"""The ``Backend`` protocol: something that makes nodes exist and lets the tester reach them.

``name``
    ``"netns"``, ``"docker"``, ``"ssh"``.
``create(nodes)``
    makes the named nodes exist and reachable from the control machine and from each other, by IP and by name.
``remote(node) -> Remote``
    runs commands on the node (see harness.remote).
``address(node) -> str``
    the IP address the control machine and the other nodes use to reach the node.
``net() -> Net``
    network faults between the nodes (see harness.net).
``destroy()``
    removes everything ``create`` made: processes, namespaces/containers, files. Idempotent, and safe after a
    partial ``create`` or a crash.

``make_backend(name, **options)`` builds one by name; ``None`` means the default for this machine.

Every backend records each run in a state file before it creates anything (``RunRecord``, below), so a run's
``destroy`` — or ``harness cluster down`` after the owning process died — removes exactly what the run made.
"""
from __future__ import annotations

import contextlib
import fcntl
import inspect
import json
import os
import secrets
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Protocol, TypeVar, runtime_checkable

from harness.net import Net
from harness.remote import Remote, RemoteError

BACKENDS = ("netns", "docker", "ssh")
DEFAULT_STATE_DIR = "/var/tmp/zkjepsen"


class BackendUnavailable(RuntimeError):
    """This backend cannot work here (wrong OS, not root, not implemented yet); the message says what to do."""


@runtime_checkable
class Backend(Protocol):
    name: str

    def create(self, nodes: list[str]) -> None: ...

    def remote(self, node: str) -> Remote: ...

    def address(self, node: str) -> str: ...

    def net(self) -> Net: ...

    def destroy(self) -> None: ...


def state_dir_default() -> str:
    """Where runs are recorded: ``$ZKJEPSEN_STATE_DIR``, else /var/tmp/zkjepsen."""
    return os.environ.get("ZKJEPSEN_STATE_DIR") or DEFAULT_STATE_DIR


def process_start(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a process, to tell a live owner from a reused PID."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def machine_lock(path: str) -> Iterator[None]:
    """An exclusive lock for every process on this machine, whatever its state dir (e.g. while choosing a subnet
    no other run may take)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


R = TypeVar("R", bound="RunRecord")


@dataclass(kw_only=True)
class RunRecord:
    """What one run of a backend created, or is about to: ``<state dir>/<file_prefix><run id>.json``.

    A backend subclasses it with what it must remember to remove the run (namespaces, containers, hosts), writes
    it (``save``) before creating anything and again as things appear, and ends a removal with
    ``finish_removal``. The owner is the process that made the run (PID plus start time, so a reused PID is not
    mistaken for it); ``release`` leaves the run to ``harness cluster down`` (``cluster up``,
    ``--leave-db-running``); a run whose owner is gone is a leftover that ``cluster down`` removes.
    """

    file_prefix: ClassVar[str] = ""

    run_id: str
    state_dir: str
    owner_pid: int | None = None  # None once released
    owner_start: int | None = None
    created_at: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def path_for(cls, state_dir: str, run_id: str) -> str:
        return os.path.join(state_dir, f"{cls.file_prefix}{run_id}.json")

    @property
    def path(self) -> str:
        return self.path_for(self.state_dir, self.run_id)

    @classmethod
    def owned(cls: type[R], **fields: Any) -> R:
        """A new record owned by this process."""
        return cls(owner_pid=os.getpid(), owner_start=process_start(os.getpid()), created_at=time.time(), **fields)

    def save(self) -> None:
        """Write the record atomically (a crash leaves the old one or the new one, never half of one)."""
        os.makedirs(self.state_dir, exist_ok=True)
        data = asdict(self)
        del data["state_dir"]  # the directory it is in
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    @classmethod
    def load(cls: type[R], path: str) -> R:
        with open(path) as f:
            data = json.load(f)
        return cls(state_dir=os.path.dirname(os.path.abspath(path)), **data)

    def owner_alive(self) -> bool:
        return self.owner_pid is not None and process_start(self.owner_pid) == self.owner_start

    def release(self, **notes: Any) -> None:
        """Leave the run alive after its owner exits; ``notes`` (e.g. db, connect string) are kept with it."""
        self.owner_pid = self.owner_start = None
        self.notes.update(notes)
        self.save()

    def finish_removal(self, leftovers: list[str], message: str | None = None) -> None:
        """The last step of removing the run: forget it when nothing of it is ``leftovers``; else keep the state
        file, so a later ``harness cluster down`` can finish the job, and raise RemoteError saying what is left."""
        if leftovers:
            raise RemoteError(message or f"could not remove {', '.join(leftovers)} (state kept in {self.path})")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def find_runs(record: type[R], state_dir: str | None = None, problems: list[str] | None = None) -> list[R]:
    """The runs of one backend recorded in ``state_dir``. A state file that cannot be read is skipped (never
    guessed at) and described in ``problems``."""
    state_dir = state_dir or state_dir_default()
    runs = []
    if os.path.isdir(state_dir):
        for name in sorted(os.listdir(state_dir)):
            if name.startswith(record.file_prefix) and name.endswith(".json"):
                path = os.path.join(state_dir, name)
                try:
                    runs.append(record.load(path))
                except (OSError, ValueError, TypeError) as exc:
                    if problems is not None:
                        problems.append(f"unreadable state file {path} ({exc}); inspect and remove it by hand")
    return runs


def load_run(record: type[R], backend: str, run_id: str, state_dir: str) -> R:
    """The recorded run ``run_id`` (e.g. one left by ``harness cluster up``); RemoteError when there is none."""
    path = record.path_for(state_dir, run_id)
    if not os.path.exists(path):
        raise RemoteError(f"no {backend} run {run_id!r} in {state_dir}")
    return record.load(path)


def new_run_id(record: type[RunRecord], state_dir: str, in_use: Callable[[str], bool] = lambda run_id: False) -> str:
    """A random 6-hex run id that no recorded run has (nor, by ``in_use``, anything the backend can see)."""
    while True:
        run_id = secrets.token_hex(3)
        if not os.path.exists(record.path_for(state_dir, run_id)) and not in_use(run_id):
            return run_id


def default_backend_name() -> str:
    return "netns"


def netns_problem() -> str | None:
    """Why the netns backend cannot run here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return (f"the netns backend needs Linux network namespaces (this is {sys.platform}); "
                "use --backend docker or --backend ssh instead")
    if os.geteuid() != 0:
        return ("the netns backend must run as root (it creates network namespaces, veth pairs and iptables "
                "rules); run as root, or use --backend docker or --backend ssh instead")
    missing = [tool for tool in ("ip", "iptables") if not shutil.which(tool)]
    if missing:
        return (f"the netns backend needs {' and '.join(missing)} (packages iproute2, iptables); install them, "
                "or use --backend docker or --backend ssh instead")
    return None


def _accepted(factory: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options ``factory`` takes: callers pass every backend option (ssh login, docker image, ...) and each
    backend picks its own, so ``--ssh-port`` does not break ``--backend docker``. None means "not given"."""
    params = inspect.signature(factory).parameters
    return {k: v for k, v in options.items() if k in params and v is not None}


def make_backend(name: str | None = None, **options: Any) -> Backend:
    """``options`` may hold options for any backend (``state_dir``; docker: ``image``; ssh: ``username``,
    ``ssh_key``, ``ssh_port``, ``insecure_accept_host_keys``, ``known_hosts``); each takes the ones it knows."""
    name = name or default_backend_name()
    if name == "netns":
        problem = netns_problem()
        if problem:
            raise BackendUnavailable(problem)
        from harness.backends.netns import NetnsBackend
        return NetnsBackend(**_accepted(NetnsBackend, options))
    if name == "docker":
        from harness.backends.docker import DockerBackend, DockerUnavailable
        try:
            return DockerBackend(**_accepted(DockerBackend, options))
        except DockerUnavailable as exc:
            raise BackendUnavailable(str(exc)) from None
    if name == "ssh":
        from harness.backends.ssh import SshBackend, SshUnavailable
        try:
            return SshBackend(**_accepted(SshBackend, options))
        except SshUnavailable as exc:
            raise BackendUnavailable(str(exc)) from None
    raise BackendUnavailable(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


@dataclass
class Nodes:
    """A backend's nodes plus options: the part of a Test a DB uses, for callers with no whole Test
    (``harness cluster up``, tests of the DBs). ``harness.test.Test`` offers the same attributes."""

    backend: Backend
    nodes: list[str]
    options: dict[str, Any] = field(default_factory=dict)

    def remote(self, node: str) -> Remote:
        return self.backend.remote(node)

    def address(self, node: str) -> str:
        return self.backend.address(node)

    def connect_string(self, port: int, nodes: list[str] | None = None) -> str:
        return ",".join(f"{self.address(n)}:{port}" for n in (nodes or self.nodes))
