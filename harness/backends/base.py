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
"""
from __future__ import annotations

import inspect
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from harness.net import Net
from harness.remote import Remote

BACKENDS = ("netns", "docker", "ssh")


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
