"""The ssh backend against real OpenSSH servers (one per network namespace, see conftest.ssh_nodes)."""
from __future__ import annotations

import os
import shlex
import signal
import time

import pytest

from harness.backends.base import BackendUnavailable, Nodes, make_backend
from harness.backends.ssh import SshBackend, command_line, find_runs
from harness.remote import RemoteError

from backend_helpers import comm, gone, harness, namespace_pids


# -- quick tier: no servers ------------------------------------------------------------------------------------

def test_command_line_runs_as_root_through_sudo_and_keeps_every_word():
    line = command_line(["sh", "-c", "echo 'a b' $HOME; true"], env={"A": "x y"}, timeout=5, sudo=True)
    assert shlex.split(line) == ["sudo", "-n", "--", "timeout", "-s", "KILL", "5", "env", "A=x y",
                                 "sh", "-c", "echo 'a b' $HOME; true"]
    assert shlex.split(command_line("ls -l | wc", sudo=False, timeout=None)) == ["sh", "-c", "ls -l | wc"]
    with pytest.raises(ValueError):
        command_line([])


def test_bad_options_are_clear_errors(tmp_path):
    with pytest.raises(BackendUnavailable, match="--ssh-key .*no such file"):
        make_backend("ssh", ssh_key=str(tmp_path / "missing"))
    with pytest.raises(BackendUnavailable, match="--ssh-port must be"):
        make_backend("ssh", ssh_port=70000)
    backend = make_backend("ssh", state_dir=str(tmp_path))
    with pytest.raises(ValueError, match="--nodes host1,host2"):
        backend.create([])


# -- cluster tier: real sshd -----------------------------------------------------------------------------------

def backend_for(ssh_nodes, tmp_path, **options) -> SshBackend:
    options.setdefault("known_hosts", ssh_nodes.known_hosts)
    return SshBackend(username="root", ssh_key=ssh_nodes.key, state_dir=str(tmp_path), **options)


@pytest.mark.cluster
def test_unknown_or_changed_host_keys_are_refused_unless_told_otherwise(ssh_nodes, tmp_path):
    host = ssh_nodes.addresses[0]
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(RemoteError, match="host key of .* is not known.*--insecure-accept-host-keys"):
        backend_for(ssh_nodes, tmp_path, known_hosts=str(empty)).create([host])
    wrong = tmp_path / "wrong_known_hosts"
    other = ssh_nodes.host_keys[ssh_nodes.addresses[1]].rsplit(" ", 1)[0]  # n2's key, claimed for n1
    wrong.write_text(f"{host} {other}\n")
    with pytest.raises(RemoteError, match="does not match"):
        backend_for(ssh_nodes, tmp_path, known_hosts=str(wrong)).create([host])
    assert find_runs(str(tmp_path)) == []  # a refused create leaves no record behind
    trusting = backend_for(ssh_nodes, tmp_path, known_hosts=str(empty), insecure_accept_host_keys=True)
    try:
        trusting.create([host])
        assert trusting.remote(host).run(["true"]).ok
    finally:
        trusting.destroy()


@pytest.fixture
def ssh(ssh_nodes, tmp_path):
    backend = backend_for(ssh_nodes, tmp_path)
    try:
        backend.create(ssh_nodes.addresses)
        yield backend
    finally:
        backend.destroy()
    assert find_runs(str(tmp_path)) == []


@pytest.mark.cluster
def test_remote_runs_commands_with_stdin_env_and_timeouts(ssh):
    remote = ssh.remote(ssh.nodes[0])
    assert remote.run(["sh", "-c", "cat; echo \"$X\"; id -u"], stdin=b"in\n", env={"X": "a b"}).stdout \
        == "in\na b\n0\n"
    failed = remote.run("echo out; echo err >&2; exit 3", check=False)
    assert (failed.exit_code, failed.stdout, failed.stderr) == (3, "out\n", "err\n")
    with pytest.raises(RemoteError, match="exit code 3"):
        remote.run("exit 3")
    with pytest.raises(RemoteError, match="timed out after 1s"):
        remote.run(["sleep", "30"], timeout=1)
    assert remote.run(["ip", "-4", "-o", "addr", "show", "eth0"]).stdout.split()[3].startswith(ssh.nodes[0] + "/")


@pytest.mark.cluster
def test_upload_and_download_files_and_trees_over_sftp(ssh, tmp_path):
    remote = ssh.remote(ssh.nodes[1])
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha")
    (tree / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    remote.upload(str(tree), f"{remote.home}/copy")
    remote.upload(str(tree / "a.txt"), f"{remote.home}/single/renamed.txt")
    assert remote.run(["cat", f"{remote.home}/copy/a.txt", f"{remote.home}/single/renamed.txt"]).stdout \
        == "alphaalpha"
    back = tmp_path / "back"
    (back / "existing").mkdir(parents=True)
    remote.download(f"{remote.home}/copy", str(back))
    assert (back / "sub" / "b.bin").read_bytes() == (tree / "sub" / "b.bin").read_bytes()
    assert (back / "existing").is_dir()  # merged, not replaced
    remote.download(f"{remote.home}/single/renamed.txt", str(tmp_path / "one.txt"))
    assert (tmp_path / "one.txt").read_text() == "alpha"
    with pytest.raises(RemoteError, match="no such file"):
        remote.download(f"{remote.home}/nothing-here", str(tmp_path / "x"))
    assert remote.run("ls /tmp | grep -c '^zkjepsen-root-' || true").stdout.strip() == "0"  # no staging left


@pytest.mark.cluster
def test_a_dropped_connection_is_reopened_and_the_command_retried(ssh, ssh_nodes):
    node = ssh.nodes[2]
    remote = ssh.remote(node)
    assert remote.run(["true"]).ok
    first = remote._client.get_transport()
    # Kill the sshd processes serving our session (not the listener): the node drops the connection.
    netns = ssh_nodes.netns
    ns_node = next(n for n in netns.nodes if netns.address(n) == node)
    victims = [pid for pid in namespace_pids(netns, ns_node)
               if comm(pid) == "sshd" and pid != ssh_nodes.sshd_pids[node]]
    assert victims, "no session sshd found"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while first.is_active() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert remote.run(["echo", "again"]).stdout == "again\n"
    assert remote._client.get_transport() is not first


@pytest.mark.cluster
def test_spawned_server_survives_the_session_and_destroy_kills_it(ssh_nodes, tmp_path):
    backend = backend_for(ssh_nodes, tmp_path)
    try:
        backend.create(ssh_nodes.addresses[:1])
        node = backend.nodes[0]
        remote = backend.remote(node)
        home = f"{remote.home}/demo"
        pid = remote.spawn(["sleep", "300"], log_file=f"{home}/server.log", pid_file=f"{home}/server.pid")
        started = remote.run(["sh", "-c", f"sed 's/.*) //' /proc/{pid}/stat | cut -d' ' -f20"]).stdout.strip()
        remote.run(["sh", "-c", f"echo {started} > {home}/server.pid.start"])
        assert remote.run(["cat", f"/proc/{pid}/comm"]).stdout.strip() == "sleep"
        remote.close()  # the ssh session ends; the server must not get a SIGHUP
        assert remote.run(["cat", f"/proc/{pid}/comm"]).stdout.strip() == "sleep"
        run_dir = backend.state.run_dir
    finally:
        backend.destroy()
    assert gone(pid)
    assert not os.path.exists(run_dir)


@pytest.mark.cluster
def test_partitions_are_iptables_rules_on_the_nodes(ssh):
    a, b = ssh.nodes[:2]
    net = ssh.net()
    probe = f"ping -c1 -W1 {b} >/dev/null 2>&1 || python3 -c 'import socket; socket.create_connection((\"{b}\", 22), 1)'"
    assert ssh.remote(a).run(probe, check=False).ok
    net.drop(a, b)
    assert net.rules(a) == [f"-A ZKJEPSEN -s {b}/32 -j DROP"]
    assert not ssh.remote(a).run(probe, check=False).ok
    net.heal()
    assert ssh.remote(a).run(probe, check=False).ok


@pytest.mark.cluster
def test_zookeeper_install_copies_the_jars_to_a_host_without_them(ssh):
    from kazoo.client import KazooClient

    from harness.dbs.base import resolve_db

    # As if the host had no Debian zookeeper package: install must copy the jars (and their Class-Path) over.
    db = resolve_db("zookeeper", heap_mb=128, node_jar_dir="/nonexistent/java")
    node = ssh.nodes[0]
    single = Nodes(ssh, [node])
    try:
        db.setup(single, node)
        lib = db.shipped_dir(single, node)
        assert ssh.remote(node).run(["test", "-f", f"{lib}/zookeeper-jute.jar"]).ok
        assert db.classpath(single, node).startswith(f"{lib}/zookeeper.jar:")
        db.wait_ready(single, node, 120)
        client = KazooClient(hosts=single.connect_string(db.client_port), timeout=10)
        client.start(timeout=30)
        try:
            client.create("/over-ssh", b"yes")
            assert client.get("/over-ssh")[0] == b"yes"
        finally:
            client.stop()
            client.close()
    finally:
        db.teardown(single, node)
    assert not db.is_running(single, node)


@pytest.mark.cluster
def test_cluster_down_cleans_up_after_a_crashed_ssh_run(ssh_nodes, tmp_path):
    backend = backend_for(ssh_nodes, tmp_path)
    backend.create(ssh_nodes.addresses[:1])
    node = backend.nodes[0]
    remote = backend.remote(node)
    pid = remote.spawn(["sleep", "300"], log_file=f"{remote.home}/db/server.log",
                       pid_file=f"{remote.home}/db/server.pid")
    remote.run(["iptables", "-w", "-N", "ZKJEPSEN"])
    backend.state.owner_pid = 1  # as if the harness process had died: someone else's PID now
    backend.state.owner_start = -1
    backend.state.save()
    remote.close()
    down = harness("cluster", "down", "--backend", "ssh", "--state-dir", str(tmp_path))
    assert down.returncode == 0 and f"{backend.run_id}: removed" in down.stdout, down.stdout + down.stderr
    assert gone(pid)
    assert not os.path.exists(backend.state.run_dir)
    netns = ssh_nodes.netns
    ns_node = next(n for n in netns.nodes if netns.address(n) == node)
    assert not netns.remote(ns_node).run(["iptables", "-w", "-n", "-L", "ZKJEPSEN"], check=False).ok
    assert find_runs(str(tmp_path)) == []


