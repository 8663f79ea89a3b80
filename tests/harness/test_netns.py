"""The netns backend with real namespaces, veths, a bridge and processes."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends.base import BackendUnavailable, make_backend
from harness.backends.netns import NetnsBackend, RunState, find_runs
from netns_helpers import GREETER_PORT, dial, leftovers, require_netns, start_greeter, wait_listening

NODES = ["n1", "n2", "n3"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    require_netns()
    backend = NetnsBackend(state_dir=str(tmp_path_factory.mktemp("state")))
    try:
        backend.create(NODES)
        for node in NODES:
            start_greeter(backend.remote(node))
        for node in NODES:
            wait_listening(backend.remote(node), "127.0.0.1")
        yield backend
    finally:
        backend.destroy()


def test_unknown_and_unreachable_backends_say_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(BackendUnavailable, match="dockerd"):
        make_backend("docker")
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        make_backend("vmware")


def test_netns_without_root_says_to_use_docker_or_ssh():
    probe = ("from harness.backends.base import make_backend, BackendUnavailable\n"
             "try:\n    make_backend('netns')\nexcept BackendUnavailable as e:\n    print(e)\n")
    if os.geteuid() != 0:
        with pytest.raises(BackendUnavailable, match="--backend docker or --backend ssh"):
            make_backend("netns")
        return
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not installed: cannot drop root for this check")
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "HOME": "/tmp"}, timeout=60)
    assert "must run as root" in result.stdout and "--backend docker or --backend ssh" in result.stdout, \
        result.stderr


@pytest.mark.cluster
def test_namespaces_carry_the_run_prefix_and_are_recorded(backend):
    run = backend.state
    assert run.prefix == f"zkj-{backend.run_id}"
    assert set(run.namespaces) <= set(os.listdir("/run/netns"))
    recorded = [r for r in find_runs(backend.state_dir) if r.run_id == backend.run_id]
    assert recorded and recorded[0].nodes == run.nodes and recorded[0].owner_alive()


@pytest.mark.cluster
def test_each_node_has_its_own_address_in_the_run_subnet(backend):
    addresses = {node: backend.address(node) for node in NODES}
    assert len(set(addresses.values())) == len(NODES)
    for node, address in addresses.items():
        shown = backend.remote(node).run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
        assert f" {address}/24 " in shown


@pytest.mark.cluster
def test_nodes_resolve_each_other_by_name(backend):
    for node in NODES:
        for other in NODES:
            line = backend.remote(node).run(["getent", "hosts", other]).stdout.split()
            assert line[0] == backend.address(other)


@pytest.mark.cluster
def test_nodes_reach_each_other_by_name_and_by_ip(backend):
    n1 = backend.remote("n1")
    assert dial(n1, "n2") == "n2"
    assert dial(n1, backend.address("n3")) == "n3"
    assert dial(backend.remote("n3"), "n1") == "n1"


@pytest.mark.cluster
def test_control_machine_reaches_every_node(backend):
    for node in NODES:
        with socket.create_connection((backend.address(node), GREETER_PORT), timeout=5) as sock:
            assert sock.recv(100) == node.encode()


@pytest.mark.cluster
def test_spawn_returns_the_server_pid_inside_the_namespace(backend):
    remote = backend.remote("n2")
    pid = int(open(f"{remote.home}/greeter.pid").read())
    assert open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0] == b"python3"
    assert os.readlink(f"/proc/{pid}/ns/net") == remote.run(["readlink", "/proc/self/ns/net"]).stdout.strip()
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")


@pytest.mark.cluster
def test_remote_run_reports_failure_and_output(backend):
    from harness.remote import RemoteError

    remote = backend.remote("n1")
    assert remote.run("echo out; echo err >&2; exit 3", check=False).exit_code == 3
    with pytest.raises(RemoteError, match="exit code 3"):
        remote.run("exit 3")
    assert remote.run(["cat"], stdin=b"piped").stdout == "piped"


@pytest.mark.cluster
def test_concurrent_runs_get_different_prefixes_and_subnets(backend, tmp_path):
    other = NetnsBackend(state_dir=str(tmp_path))
    try:
        other.create(["n1"])
        assert other.run_id != backend.run_id
        assert other.state.subnet != backend.state.subnet
        # Same node name, different run: each answers for its own run only.
        assert dial(other.remote("n1"), "n1", 2) == "unreachable"  # no greeter in the other run's n1
        assert dial(backend.remote("n1"), "n1") == "n1"
    finally:
        other.destroy()
    assert leftovers(other.state) == []


@pytest.mark.cluster
def test_destroy_removes_namespaces_interfaces_files_and_processes(tmp_path):
    require_netns()
    backend = NetnsBackend(state_dir=str(tmp_path))
    try:
        backend.create(["n1", "n2"])
        pid = start_greeter(backend.remote("n1"))
        run: RunState = backend.state
        assert leftovers(run, [pid]) != []
    finally:
        backend.destroy()
    assert leftovers(run, [pid]) == []
    backend.destroy()  # idempotent


@pytest.mark.cluster
def test_bad_node_names_are_refused_before_anything_is_made(tmp_path):
    require_netns()
    backend = NetnsBackend(state_dir=str(tmp_path))
    with pytest.raises(ValueError, match="node names"):
        backend.create(["n1", "N 2"])
    assert find_runs(str(tmp_path)) == []
