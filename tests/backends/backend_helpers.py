"""Helpers shared by the docker and ssh backend tests."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends.base import Nodes

REPO = Path(__file__).resolve().parents[2]


def harness(*args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def namespace_pids(netns, node: str) -> list[int]:
    """PIDs of the processes inside one netns node's namespace (never anything outside it)."""
    out = subprocess.run(["ip", "netns", "pids", netns.state.namespace(node)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split() if p.isdigit()]


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def gone(pid: int) -> bool:
    """The process no longer runs (absent, or a zombie waiting for its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] in ("Z", "X")
    except OSError:
        return True


@dataclass
class LiveNodes(Nodes):
    """What the DBs and fault families use of a Test (nodes, options, remote/address, backend) plus the DB."""
    db: Any = None


def ctime_shift(test: LiveNodes, node: str) -> float:
    """How far (s) the ctime a new znode gets — the wall clock of the server that stamps it (the leader) — is
    from the control machine's clock."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=f"{test.address(node)}:{test.db.client_port}", timeout=20)
    client.start(timeout=60)
    try:
        path = client.create("/clock-", b"", sequence=True, ephemeral=True)
        before = time.time()
        return client.exists(path).ctime / 1000 - before
    finally:
        client.stop()
        client.close()



def stopped_processes(remote: Any) -> list[str]:
    """Processes in SIGSTOP state on a node (``ps`` lines), from inside it."""
    out = remote.run(["ps", "-e", "-o", "stat=,pid=,comm="]).stdout
    return [line.strip() for line in out.splitlines() if line.strip().startswith("T")]


def chain_rules(remote: Any) -> list[str]:
    """The node's iptables rules that belong to the harness's chain."""
    return [r for r in remote.run(["iptables", "-w", "-S"]).stdout.splitlines() if "ZKJEPSEN" in r]


def docker_run_id(run_dir: Path) -> str:
    """The docker backend's run id, from the run's harness.log."""
    match = re.search(r"docker run ([0-9a-f]{6}):", (run_dir / "harness.log").read_text())
    assert match, f"no docker run id in {run_dir / 'harness.log'}"
    return match.group(1)


def docker_leftovers(client: Any, run_id: str) -> list[str]:
    """Containers and networks of one docker run that still exist (found by the run's label)."""
    from harness.backends.docker import RUN_LABEL

    label = {"label": f"{RUN_LABEL}={run_id}"}
    return [f"container {c.name}" for c in client.containers.list(all=True, filters=label)] + \
        [f"network {n.name}" for n in client.networks.list(filters=label)]
