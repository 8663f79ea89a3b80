"""`harness run --backend ssh` end to end, against real sshd in network namespaces (conftest.ssh_nodes)."""
from __future__ import annotations

import json

import pytest

from harness.backends.ssh import find_runs

from backend_helpers import harness


def nemesis_for_ssh_run() -> str:
    """Partitions once the fault nemeses exist (nemeses/), no faults before that."""
    from harness.nemesis import UnknownNemesis, resolve_nemesis

    try:
        resolve_nemesis("partition", {"nodes": ["a", "b", "c"]}, 0)
        return "partition"
    except UnknownNemesis:
        return "none"


@pytest.mark.cluster
def test_harness_run_over_ssh_is_valid(ssh_nodes, tmp_path):
    store, state = tmp_path / "store", tmp_path / "state"
    result = harness("run", "--backend", "ssh", "--nodes", ",".join(ssh_nodes.addresses), "--username", "root",
                     "--ssh-key", ssh_nodes.key, "--known-hosts", ssh_nodes.known_hosts, "--db", "zookeeper",
                     "--workload", "register", "--nemesis", nemesis_for_ssh_run(), "--time-limit", "10",
                     "--store", str(store), "--no-progress", env={"ZKJEPSEN_STATE_DIR": str(state)})
    results = json.loads((store / "latest" / "results.json").read_text())
    assert result.returncode == 0 and results["valid"] is True, result.stdout + result.stderr
    test = json.loads((store / "latest" / "test.json").read_text())
    assert test["backend"] == "ssh" and test["nodes"] == ssh_nodes.addresses
    for address in ssh_nodes.addresses:
        assert (store / "latest" / "nodes" / address / "server.log").stat().st_size > 0
    assert find_runs(str(state)) == []  # the run removed what it made on the hosts and its record
