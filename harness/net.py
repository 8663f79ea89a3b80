"""Network faults between nodes: the ``Net`` protocol and its iptables implementation.

``drop(src, dst)``
    ``src`` stops receiving packets from ``dst`` (one direction; a full cut is ``drop(a, b)`` + ``drop(b, a)``).
``drop_fraction(src, dst, fraction)``
    ``src`` drops that fraction (0 < f <= 1) of the packets from ``dst``, chosen at random per packet.
``heal()``
    removes every rule this Net added, on every node; the nodes' other rules stay as they were.

``IptablesNet`` works through each node's Remote, so the rules live wherever the node's network stack lives
(its own namespace or container), never in the control machine's firewall. All rules sit in one dedicated chain,
``ZKJEPSEN``, jumped to from INPUT; heal flushes and deletes that chain and the jump, which is exactly what
drop added.
"""
from __future__ import annotations

import threading
from typing import Callable, Mapping, Protocol, runtime_checkable

from harness.remote import Remote

CHAIN = "ZKJEPSEN"


@runtime_checkable
class Net(Protocol):
    def drop(self, src: str, dst: str) -> None: ...

    def drop_fraction(self, src: str, dst: str, fraction: float) -> None: ...

    def heal(self) -> None: ...


class IptablesNet:
    def __init__(self, remotes: Mapping[str, Remote], address: Callable[[str], str]) -> None:
        self._remotes = dict(remotes)
        self._address = address
        self._lock = threading.Lock()

    def _remote(self, node: str) -> Remote:
        try:
            return self._remotes[node]
        except KeyError:
            raise ValueError(f"unknown node {node!r}; nodes are {sorted(self._remotes)}") from None

    def _ensure_chain(self, node: str) -> None:
        # Checked every time rather than remembered: another Net (a nemesis after a restart, `heal` from a
        # fresh object) may have removed the chain since.
        remote = self._remote(node)
        # -w: iptables takes a lock file shared by all namespaces on the machine; wait for it, don't fail.
        if not remote.run(["iptables", "-w", "-n", "-L", CHAIN], check=False).ok:
            remote.run(["iptables", "-w", "-N", CHAIN])
        if not remote.run(["iptables", "-w", "-C", "INPUT", "-j", CHAIN], check=False).ok:
            remote.run(["iptables", "-w", "-I", "INPUT", "1", "-j", CHAIN])

    def drop(self, src: str, dst: str) -> None:
        self._add(src, dst, [])

    def drop_fraction(self, src: str, dst: str, fraction: float) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self._add(src, dst, ["-m", "statistic", "--mode", "random", "--probability", f"{fraction:.6f}"])

    def _add(self, src: str, dst: str, match: list[str]) -> None:
        if src == dst:
            raise ValueError(f"cannot cut {src} from itself")
        source = self._address(dst)
        with self._lock:
            self._remote(dst)  # validate the name before touching anything
            self._ensure_chain(src)
            self._remote(src).run(["iptables", "-w", "-A", CHAIN, "-s", source, *match, "-j", "DROP"])

    def heal(self) -> None:
        """Remove our chain on every node (not only those we remember: a Net made after a crash heals too)."""
        with self._lock:
            errors = []
            for node, remote in self._remotes.items():
                try:
                    remove_chain(remote)
                except Exception as exc:  # keep healing the other nodes
                    errors.append(f"{node}: {exc}")
            if errors:
                raise RuntimeError("heal failed on " + "; ".join(errors))

    def rules(self, node: str) -> list[str]:
        """The rules currently in our chain on ``node`` (``iptables -S`` lines), for tests and logs."""
        result = self._remote(node).run(["iptables", "-w", "-S", CHAIN], check=False)
        return [line for line in result.stdout.splitlines() if line.startswith("-A ")]


def remove_chain(remote: Remote) -> None:
    while remote.run(["iptables", "-w", "-C", "INPUT", "-j", CHAIN], check=False).ok:
        remote.run(["iptables", "-w", "-D", "INPUT", "-j", CHAIN])
    if remote.run(["iptables", "-w", "-n", "-L", CHAIN], check=False).ok:
        remote.run(["iptables", "-w", "-F", CHAIN])
        remote.run(["iptables", "-w", "-X", CHAIN])
