"""pytest plugin: run the test suite shipped in the kazoo wheel (kazoo/tests) against servers we start.

kazoo's harness asks `kazoo.testing.harness.get_global_cluster()` for its servers on every access of
`KazooTestHarness.cluster`, and only uses `.address`, `.secure_address`, `.running`, `.run()`, `.stop()`,
`.get_logs()` of each server and `start()`, `terminate()`, `get_logs()`, `get_ssl_client_configuration()`,
iteration and indexing of the cluster. This plugin replaces that function with a cluster of reference servers
or Apache ZooKeeper processes from tests/servers.py, so kazoo's own lifecycle works unchanged: every test
class ends with terminate() (servers stopped, data wiped), the next class starts fresh ones, and tests that
stop and restart single servers really do.

Environment:
  KAZOO_SUITE_SERVER   reference | zookeeper (required)
  KAZOO_SUITE_SIZE     servers in the cluster (default 1)
  KAZOO_SUITE_REPORT   if set, a JSON file that receives the outcome counts and the failing test ids

Use: PYTHONPATH=<repo>:<repo>/tools python3 -m pytest -p kazoo_external <site-packages>/kazoo/tests
(tools/kazoo-suite does exactly this).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.servers import (  # noqa: E402
    ServerProcess,
    ServerStartError,
    free_port,
    reference_ensemble,
    reference_server,
    zookeeper_ensemble,
    zookeeper_server,
)

# kazoo's harness gives the digest superuser "super" the password "test"; TestReconfig relies on it.
SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
ZOOKEEPER_PROPERTIES = (
    f"-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}",
    "-Dreadonlymode.enabled=true",
)
ZOOKEEPER_CONFIG = ("reconfigEnabled=true",)
READY_TIMEOUT = 60.0


class SuiteServer:
    """One server as kazoo's harness sees it (the ManagedZooKeeper interface)."""

    def __init__(self, process: ServerProcess, standalone: bool) -> None:
        self.process = process
        self.standalone = standalone

    @property
    def address(self) -> str:
        return self.process.address

    @property
    def secure_address(self) -> str:
        raise RuntimeError("kazoo-suite servers have no TLS port")

    @property
    def running(self) -> bool:
        return self.process.running

    def run(self) -> None:
        if self.process.running:
            return
        self.process.start(READY_TIMEOUT)
        if not self.standalone:
            # A quorum member is only ready once a quorum is up; kazoo's own launcher does not wait either.
            try:
                self.process.wait_until_ready(10.0)
            except ServerStartError:
                if not self.process.running:
                    raise

    def stop(self) -> None:
        self.process.stop()

    def destroy(self) -> None:
        """Stop and wipe the data, so the next start is a fresh server (an ensemble member keeps its myid)."""
        self.process.stop()
        data = self.process.workdir / "data"
        for child in data.iterdir() if data.is_dir() else ():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            elif child.name != "myid":
                child.unlink()

    def get_logs(self, num_lines: int = 100) -> list[str]:
        return self.process.log_tail(num_lines).splitlines()


class SuiteCluster:
    """The ZookeeperCluster interface over SuiteServers, with one temp dir for all of them."""

    def __init__(self, kind: str, size: int, local_sessions: str = "false") -> None:
        if kind not in ("reference", "zookeeper"):
            raise pytest.UsageError(f"KAZOO_SUITE_SERVER must be reference or zookeeper, not {kind!r}")
        if size < 1:
            raise pytest.UsageError(f"KAZOO_SUITE_SIZE={size} must be at least 1")
        self.kind = kind
        self.size = size
        # TestReadOnlyMode sets ZOOKEEPER_LOCAL_SESSION_RO=true and expects a cluster configured for it.
        self.local_sessions = local_sessions
        config = ZOOKEEPER_CONFIG + (f"localSessionsEnabled={local_sessions}",
                                     f"localSessionsUpgradingEnabled={local_sessions}")
        self.root = Path(tempfile.mkdtemp(prefix=f"kazoo-suite-{kind}-"))
        if kind == "reference" and size == 1:
            process = reference_server(free_port(), self.root / "ref1",
                                       extra_args=("--super-digest", SUPER_DIGEST))
            self._servers = [SuiteServer(process, standalone=True)]
        elif kind == "reference":
            members = reference_ensemble(size, self.root, extra_args=("--super-digest", SUPER_DIGEST))
            self._servers = [SuiteServer(m, standalone=False) for m in members]
        elif size == 1:
            process = zookeeper_server(free_port(), self.root / "zk1", java_properties=ZOOKEEPER_PROPERTIES,
                                       extra_config=config)
            self._servers = [SuiteServer(process, standalone=True)]
        else:
            members = zookeeper_ensemble(size, self.root, java_properties=ZOOKEEPER_PROPERTIES,
                                         extra_config=config)
            self._servers = [SuiteServer(m, standalone=False) for m in members]

    def __getitem__(self, index: int) -> SuiteServer:
        return self._servers[index]

    def __iter__(self):
        return iter(self._servers)

    def __len__(self) -> int:
        return len(self._servers)

    def start(self) -> None:
        for server in self._servers:
            if not server.running:
                server.process.start(READY_TIMEOUT)  # waits for standalone servers only
        for server in self._servers:
            server.process.wait_until_ready(READY_TIMEOUT)

    def stop(self) -> None:
        for server in self._servers:
            server.stop()

    def terminate(self) -> None:
        for server in self._servers:
            server.destroy()

    def reset(self) -> None:
        self.terminate()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def get_logs(self) -> list[str]:
        logs: list[str] = []
        for server in self._servers:
            logs += server.get_logs()
        return logs

    def get_ssl_client_configuration(self) -> dict[str, bytes]:
        raise RuntimeError("kazoo-suite servers have no TLS port")


_CLUSTER: SuiteCluster | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _CLUSTER
    import kazoo.testing.harness as harness

    kind = os.environ.get("KAZOO_SUITE_SERVER", "")
    size = int(os.environ.get("KAZOO_SUITE_SIZE", "1"))
    _CLUSTER = SuiteCluster(kind, size, _local_sessions_wanted())
    harness.get_global_cluster = _global_cluster


def _local_sessions_wanted() -> str:
    return os.environ.get("ZOOKEEPER_LOCAL_SESSION_RO", "false")


def _global_cluster() -> SuiteCluster:
    """Like kazoo's get_global_cluster: a configuration change replaces the cluster."""
    global _CLUSTER
    assert _CLUSTER is not None
    wanted = _local_sessions_wanted()
    if _CLUSTER.local_sessions != wanted:
        kind, size = _CLUSTER.kind, _CLUSTER.size
        _CLUSTER.cleanup()
        _CLUSTER = SuiteCluster(kind, size, wanted)
    return _CLUSTER


def pytest_unconfigure(config: pytest.Config) -> None:
    if _CLUSTER is not None:
        _CLUSTER.cleanup()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_tls = pytest.mark.skip(reason="kazoo-suite starts servers without a TLS port")
    for item in items:
        if item.cls is not None and item.cls.__name__ == "TestSSLClient":
            item.add_marker(no_tls)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    stats = terminalreporter.stats
    counts = {key: len(stats.get(key, [])) for key in ("passed", "failed", "skipped", "error", "xfailed",
                                                         "xpassed")}
    failing = sorted({r.nodeid for key in ("failed", "error") for r in stats.get(key, [])})
    kind = _CLUSTER.kind if _CLUSTER else "?"
    size = len(_CLUSTER) if _CLUSTER else 0
    terminalreporter.write_sep("=", f"kazoo-suite against {kind} (x{size})")
    terminalreporter.write_line(" ".join(f"{k}={v}" for k, v in counts.items()))
    for nodeid in failing:
        terminalreporter.write_line(f"FAILING {nodeid}")
    report = os.environ.get("KAZOO_SUITE_REPORT")
    if report:
        Path(report).write_text(json.dumps({"server": kind, "size": size, "counts": counts,
                                            "failing": failing, "exit_status": int(exitstatus)}, indent=2))
