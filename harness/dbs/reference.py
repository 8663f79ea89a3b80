"""This project's reference server (``reference/``) as the DB under test.

One node: ``python3 -m reference --host 0.0.0.0 --port P --data-dir D``. Several nodes run the replicated server
(``--config FILE --id N --data-dir D`` with ``server.N=host:peer_port:client_port`` lines); each member listens
on its own address from that file, and ``srvr`` says ``Mode: leader``/``follower`` as ZooKeeper's does.

The server uses only the standard library, so a node needs python3 and the ``reference`` package: ``code_dir``
gives the directory to put on PYTHONPATH — the checkout itself on nodes that share the control machine's
filesystem (netns), an uploaded copy elsewhere (docker, ssh).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from harness.dbs.base import DaemonDB

REPO = Path(__file__).resolve().parents[2]
# The replicated server (--config/--id) exists (reference/replication/); False would refuse multi-node runs.
REPLICATION_LANDED = True


class NotSupportedYet(RuntimeError):
    pass


class ReferenceDB(DaemonDB):
    name = "reference"

    def __init__(self, client_port: int = 2181, peer_port: int = 2888, python: str = "python3",
                 server_args: list[str] | None = None, bug: str | None = None) -> None:
        self.client_port = client_port
        self.peer_port = peer_port
        self.python = python
        # `bug` switches on one of the server's deliberate faults (reference/bugs.py), to prove the harness
        # catches a broken server. The names are checked here, so a typo is a bad argument, not a failed start.
        if bug is not None:
            from reference.bugs import BUGS
            if bug not in BUGS:
                raise ValueError(f"unknown --bug {bug!r}; the reference server has {', '.join(sorted(BUGS))}")
        self.bug = bug
        self.server_args = list(server_args or []) + (["--bug", bug] if bug else [])

    def data_dir(self, test: Any, node: str) -> str:
        return f"{self.directory(test, node)}/data"

    def code_dir(self, test: Any, node: str) -> str:
        """The directory on the node that holds the ``reference`` package (goes on PYTHONPATH)."""
        if getattr(test.remote(node), "shares_filesystem", False):
            return str(REPO)
        return f"{self.directory(test, node)}/code"

    def install(self, test: Any, node: str) -> None:
        if len(test.nodes) > 1 and not REPLICATION_LANDED:
            raise NotSupportedYet(f"the reference server is single-node until replication lands; "
                                  f"run it with one node (got {len(test.nodes)}: {', '.join(test.nodes)})")
        if len(test.nodes) == 1 and self.bug is not None:
            from reference.bugs import REPLICATED_ONLY
            if self.bug in REPLICATED_ONLY:
                raise NotSupportedYet(f"--bug {self.bug} is a bug of the replicated server; run it on 2 or more "
                                      "nodes (one node runs the standalone server)")
        if not getattr(test.remote(node), "shares_filesystem", False):
            test.remote(node).upload(str(REPO / "reference"), f"{self.code_dir(test, node)}/reference")

    def config_file(self, test: Any, node: str) -> str:
        return f"{self.directory(test, node)}/ensemble.cfg"

    def ensemble_config(self, test: Any) -> str:
        """``server.N=host:peer_port:client_port`` for every node, N being its 1-based position."""
        return "".join(f"server.{i}={test.address(other)}:{self.peer_port}:{self.client_port}\n"
                       for i, other in enumerate(test.nodes, start=1))

    def configure(self, test: Any, node: str) -> None:
        remote = test.remote(node)
        remote.run(["mkdir", "-p", self.data_dir(test, node)])
        if len(test.nodes) > 1:
            remote.run(["sh", "-c", f"cat > {shlex.quote(self.config_file(test, node))}"],
                       stdin=self.ensemble_config(test).encode())

    def log_files(self, test: Any, node: str) -> list[str]:
        files = [self.log_file(test, node)]
        return files + [self.config_file(test, node)] if len(test.nodes) > 1 else files

    def env(self, test: Any, node: str) -> dict[str, str]:
        return {"PYTHONPATH": self.code_dir(test, node), "PYTHONUNBUFFERED": "1"}

    def command(self, test: Any, node: str) -> list[str]:
        if len(test.nodes) > 1:
            return [self.python, "-m", "reference", "--config", self.config_file(test, node),
                    "--id", str(list(test.nodes).index(node) + 1), "--data-dir", self.data_dir(test, node),
                    *self.server_args]
        # The server listens on loopback unless told otherwise; clients come from the control machine.
        return [self.python, "-m", "reference", "--host", "0.0.0.0", "--port", str(self.client_port),
                "--data-dir", self.data_dir(test, node), *self.server_args]

    def version(self, test: Any) -> str:
        # Read, not imported: the tester treats the server as a black box.
        text = (REPO / "reference" / "__init__.py").read_text()
        match = re.search(r"^__version__\s*=\s*[\"']([^\"']+)", text, re.M)
        return match.group(1) if match else "dev"
