"""Helpers shared by the netns/net/db/cluster tests: skipping where namespaces cannot exist, a tiny TCP server to
run on nodes, and the check that a run left nothing behind."""
from __future__ import annotations

import os
import time

import pytest

from harness.backends.base import netns_problem
from harness.backends.netns import ETC_NETNS, NETNS_DIR, RunState
from harness.remote import Remote

# Accepts connections forever and greets each with the node's name: lets a test tell "reached n2" apart from
# "reached something".
GREETER = """
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1]))); srv.listen(16)
while True:
    conn, _ = srv.accept(); conn.sendall(sys.argv[2].encode()); conn.close()
"""

# Prints what the greeter at argv[1]:argv[2] says, or "unreachable" when the TCP connection cannot be made.
DIAL = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as s:
        print(s.recv(100).decode())
except OSError:
    print("unreachable")
"""

GREETER_PORT = 7070


def require_netns() -> None:
    problem = netns_problem()
    if problem:
        pytest.skip(problem)


def start_greeter(remote: Remote) -> int:
    return remote.spawn(["python3", "-c", GREETER, str(GREETER_PORT), remote.node],
                        log_file=f"{remote.home}/greeter.log", pid_file=f"{remote.home}/greeter.pid")


def dial(remote: Remote, host: str, timeout: float = 5.0) -> str:
    """What ``remote`` hears from the greeter on ``host`` ("unreachable" if nothing)."""
    return remote.run(["python3", "-c", DIAL, host, str(GREETER_PORT), str(timeout)],
                      timeout=timeout + 30).stdout.strip()


def wait_listening(remote: Remote, host: str) -> None:
    for _ in range(100):
        if dial(remote, host, 1.0) != "unreachable":
            return
        time.sleep(0.1)
    raise AssertionError(f"greeter on {host} never came up")


def process_exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def leftovers(run: RunState, pids: list[int] = ()) -> list[str]:
    """Everything of ``run`` that still exists; empty when it was removed completely."""
    found = [f"namespace {ns}" for ns in os.listdir(NETNS_DIR) if ns.startswith(run.prefix + "-")] \
        if os.path.isdir(NETNS_DIR) else []
    if os.path.exists(f"/sys/class/net/{run.host_if}"):
        found.append(f"interface {run.host_if}")
    if os.path.isdir(ETC_NETNS):
        found += [f"/etc/netns/{d}" for d in os.listdir(ETC_NETNS) if d.startswith(run.prefix + "-")]
    found += [f"process {pid}" for pid in pids if process_exists(pid)]
    for path in (run.path, run.home_root):
        if os.path.exists(path):
            found.append(path)
    return found
