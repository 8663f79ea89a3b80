"""Start a replicated reference ensemble as local processes, for tests: N servers on loopback, each
`python -m reference --config FILE --id N --data-dir DIR`, with free client and peer ports, one temp work dir.

    with running_cluster(3) as cluster:
        cluster.wait_leader(); KazooClient(hosts=cluster.address)...

Members are tests.servers.ServerProcess objects, so they are stopped by PID (also when the test process dies).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

from tests.servers import HOST, REPO, TICK_TIME_MS, ServerProcess, ServerStartError, free_port


class ReferenceCluster:
    kind = "reference-cluster"

    def __init__(self, size: int = 3, workdir: Path | None = None, settings: Sequence[str] = (),
                 extra_args: Sequence[str] = (), tick_ms: int = 1000) -> None:
        self.owns_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="refcluster-"))
        self.config_path = self.workdir / "ensemble.cfg"
        ports = [(free_port(), free_port()) for _ in range(size)]
        lines = [f"tickTime={tick_ms}", *settings]
        lines += [f"server.{i}={HOST}:{peer}:{client}" for i, (peer, client) in enumerate(ports, start=1)]
        self.config_path.write_text("\n".join(lines) + "\n")
        env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.members: dict[int, ServerProcess] = {}
        # When set, `address`/`port` name only this member (the compat fixtures pin their clients to one server so
        # that reads, which are local, see what the same test wrote through another client).
        self.pinned: int | None = None
        for i, (_peer, client) in enumerate(ports, start=1):
            wd = self.workdir / f"s{i}"
            argv = [sys.executable, "-m", "reference", "--config", str(self.config_path), "--id", str(i),
                    "--data-dir", str(wd / "data"), *extra_args]
            self.members[i] = ServerProcess("reference", client, wd, argv, cwd=REPO, env=env, wait_ready=False)

    # ---- the ServerProcess-like face the compat fixtures use ----

    @property
    def address(self) -> str:
        if self.pinned is not None:
            return self.members[self.pinned].address
        return ",".join(m.address for m in self.members.values())

    @property
    def all_addresses(self) -> str:
        return ",".join(m.address for m in self.members.values())

    @property
    def port(self) -> int:
        if self.pinned is not None:
            return self.members[self.pinned].port
        return self.leader().port

    @property
    def running(self) -> bool:
        return sum(m.running for m in self.members.values()) > len(self.members) // 2

    def four_letter_word(self, word: str, timeout: float = 5.0) -> str:
        member = self.members[self.pinned] if self.pinned is not None else self.leader()
        return member.four_letter_word(word, timeout)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(f"--- server {i}\n{m.log_tail(lines)}" for i, m in self.members.items())

    # ---- lifecycle ----

    def start(self, timeout: float = 30.0) -> "ReferenceCluster":
        for m in self.members.values():
            m.start()
        self.wait_leader(timeout)
        return self

    def stop(self) -> None:
        for m in self.members.values():
            m.stop()

    def cleanup(self) -> None:
        self.stop()
        if self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def data_dir(self, i: int) -> Path:
        return self.members[i].workdir / "data"

    def mode(self, i: int) -> str | None:
        m = self.members[i]
        if not m.running:
            return None
        try:
            reply = m.four_letter_word("srvr", timeout=1.0)
        except OSError:
            return None
        for line in reply.splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def modes(self) -> dict[int, str | None]:
        return {i: self.mode(i) for i in self.members}

    def leader_id(self) -> int | None:
        leaders = [i for i, mode in self.modes().items() if mode == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def leader(self) -> ServerProcess:
        i = self.leader_id()
        if i is None:
            i = self.wait_leader()
        return self.members[i]

    def wait_leader(self, timeout: float = 30.0, exclude: int | None = None) -> int:
        """Block until one running member says leader and every other running member says follower."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in self.members.items():
                if m.proc is not None and not m.running and m.proc.returncode not in (None, -9, -15, 0):
                    raise ServerStartError(f"server {i} exited with {m.proc.returncode}:\n{m.log_tail()}")
            modes = {i: mode for i, mode in self.modes().items() if self.members[i].running}
            leaders = [i for i, mode in modes.items() if mode == "leader"]
            if (len(leaders) == 1 and leaders[0] != exclude
                    and all(mode in ("leader", "follower") for mode in modes.values())):
                return leaders[0]
            if time.monotonic() > deadline:
                raise ServerStartError(f"no leader after {timeout}s (modes {modes}):\n{self.log_tail()}")
            time.sleep(0.05)


@contextlib.contextmanager
def running_cluster(size: int = 3, settings: Sequence[str] = (), extra_args: Sequence[str] = (),
                    timeout: float = 30.0) -> Iterator[ReferenceCluster]:
    cluster = ReferenceCluster(size, settings=settings, extra_args=extra_args)
    try:
        cluster.start(timeout)
        yield cluster
    finally:
        cluster.cleanup()


def start_cluster_for_compat(super_digest: str | None = None, size: int = 3) -> ReferenceCluster:
    """A started ensemble for the compat fixtures, its clients pinned to a follower, so every write goes through
    forwarding to the leader (stopped by the caller's cleanup())."""
    args = ["--super-digest", super_digest] if super_digest else []
    cluster = ReferenceCluster(size, extra_args=args, tick_ms=TICK_TIME_MS)   # as the standalone servers
    try:
        leader = cluster.start().wait_leader()
        cluster.pinned = next(i for i in cluster.members if i != leader)
        return cluster
    except BaseException:
        cluster.cleanup()
        raise
