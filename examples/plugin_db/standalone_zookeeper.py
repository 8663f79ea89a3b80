"""An example DB plugin: Apache ZooKeeper's single-server main class, started with arguments instead of a config
file (``ZooKeeperServerMain <port> <dataDir>``).

It shows the whole of what a plugin needs: subclass ``harness.dbs.base.DaemonDB`` (it handles the PID file,
kill/pause/resume, readiness through ``srvr`` or a client session, and log collection), give it a ``name`` and
a ``client_port``, and say how to start one server on a node in ``command``. Use it with

    PYTHONPATH=examples/plugin_db harness cluster up --db standalone_zookeeper:StandaloneZooKeeper --node-count 1

or install this directory (``pip install ./examples/plugin_db``), which registers the entry point
``standalone-zk`` in group ``zkjepsen.dbs``, and then pass ``--db standalone-zk``. See docs/plugins.md.
"""
from __future__ import annotations

from typing import Any

from harness.dbs.base import DaemonDB
from harness.dbs.zookeeper import DEBIAN_CLASSPATH


class StandaloneZooKeeper(DaemonDB):
    name = "standalone-zk"

    # resolve_db passes each option the constructor names; --db options meant for other DBs are left out.
    def __init__(self, client_port: int = 2181, heap_mb: int = 128) -> None:
        self.client_port = client_port
        self.heap_mb = heap_mb

    def install(self, test: Any, node: str) -> None:
        if len(test.nodes) != 1:
            raise ValueError("standalone-zk runs one server without replication; use --node-count 1")

    def command(self, test: Any, node: str) -> list[str]:
        # Every path goes under self.directory(...), which is private to this node and this run.
        data = f"{self.directory(test, node)}/data"
        return ["java", f"-Xmx{self.heap_mb}m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.admin.enableServer=false", "-cp", ":".join(DEBIAN_CLASSPATH),
                "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.client_port), data]

    def version(self, test: Any) -> str:
        return "standalone"
