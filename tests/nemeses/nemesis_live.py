"""Shared pieces of the live nemesis tests: a Test-like bundle, reachability probes, process state."""
from __future__ import annotations

import dataclasses
import shlex
from typing import Any

import pytest

from harness.backends.base import Nodes, netns_problem
from harness.dbs.base import four_letter_word


@dataclasses.dataclass
class LiveTest(Nodes):
    """What a nemesis uses of a Test: nodes, options, remote/address, backend and db."""
    db: Any = None


def require_netns() -> None:
    problem = netns_problem()
    if problem:
        pytest.skip(problem)


def can_connect(test: LiveTest, src: str, dst: str, port: int, timeout: float = 2.0) -> bool:
    """Whether a TCP connection from inside ``src``'s namespace to ``dst`` succeeds."""
    script = f"exec 3<>/dev/tcp/{test.address(dst)}/{port}"
    result = test.remote(src).run(["timeout", str(timeout), "bash", "-c", script], check=False,
                                  timeout=timeout + 30)
    return result.ok


def reachability(test: LiveTest, port: int) -> dict[tuple[str, str], bool]:
    return {(a, b): can_connect(test, a, b, port) for a in test.nodes for b in test.nodes if a != b}


def answers(test: LiveTest, node: str, timeout: float = 2.0) -> bool:
    """The server on ``node`` answers ``srvr`` (from the control machine)."""
    try:
        return "Zookeeper version" in four_letter_word(test.address(node), test.db.client_port, "srvr", timeout)
    except OSError:
        return False


def proc_state(test: LiveTest, node: str) -> str | None:
    pid = test.db.pid(test, node)
    return None if pid is None else test.db._state(test.remote(node), pid)



def chain_rules(test: LiveTest, node: str) -> str:
    return test.remote(node).run(["sh", "-c", "iptables -w -S 2>/dev/null | grep ZKJEPSEN || true"]).stdout


def faketime_spec(test: LiveTest, node: str) -> str | None:
    r = test.remote(node).run(["cat", test.db.faketime_file(test, node)], check=False)
    return r.stdout.strip() if r.ok else None


def shm_files(pid: int) -> list[str]:
    import os
    return [p for p in (f"/dev/shm/faketime_shm_{pid}", f"/dev/shm/sem.faketime_sem_{pid}") if os.path.exists(p)]


def quote(s: str) -> str:
    return shlex.quote(s)
