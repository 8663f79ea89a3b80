"""The docker backend with a real Docker daemon (started by the fixture when none runs) and the node image
(built offline with debootstrap the first time, then reused)."""
from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time

import pytest

from harness.backends.base import BackendUnavailable, make_backend
from harness.backends.docker import DockerBackend, find_runs
from harness.dbs import faketime
from harness.dbs.reference import ReferenceDB
from harness.dbs.zookeeper import ZooKeeperDB
from harness.dbs.base import srvr_mode
from harness.images import build_image, cached_image, find_mirror, image_tag, recipe_hash
from harness.remote import RemoteError
from checkers.history import INVOKE, Op
from nemeses import FaultNemesis, parse_faults
from nemeses.faults import ClockFaults

from backend_helpers import (REPO, LiveNodes, chain_rules, ctime_shift, docker_leftovers, docker_run_id, harness,
                             stopped_processes)

NODES = ["n1", "n2", "n3"]
CAP_SYS_TIME, CAP_NET_ADMIN = 25, 12


# -- quick tier -------------------------------------------------------------------------------------------------

def test_mirror_comes_from_apt_sources_in_either_format(tmp_path):
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main\n"
                        "deb http://security.debian.org/debian-security bookworm-security main\n")
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://other.example/debian\nSuites: bookworm\n")
    assert find_mirror([str(one_line), str(deb822)]) == "http://mirror.example/debian"
    assert find_mirror([str(deb822)]) == "http://other.example/debian"
    assert find_mirror([str(tmp_path / "none")]) == "http://deb.debian.org/debian"


def test_image_names_and_recipes_differ_with_zookeeper():
    assert (image_tag(False), image_tag(True)) == ("zkjepsen-node:bookworm", "zkjepsen-node:bookworm-zk")
    assert recipe_hash(False) != recipe_hash(True)


def test_no_daemon_is_a_clear_error(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}
    result = harness("image", "build", env=env, timeout=60)
    assert result.returncode == 254 and "cannot reach the Docker daemon" in result.stderr
    assert "--iptables=false" in result.stderr
    probe = "from harness.backends.base import make_backend\nmake_backend('docker')"
    run = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=60)
    assert "BackendUnavailable" in run.stderr and "dockerd" in run.stderr


def test_a_base_image_is_for_the_dockerfile_method(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}  # refused before any daemon is asked
    result = harness("image", "build", "--method", "debootstrap", "--base-image", "zkjepsen-node:bookworm",
                     env=env, timeout=60)
    assert result.returncode == 254 and "--base-image is for --method dockerfile" in result.stderr


# -- cluster tier -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def backend(docker_client, node_image, tmp_path_factory):
    backend = DockerBackend(state_dir=str(tmp_path_factory.mktemp("state")), image=node_image, client=docker_client)
    try:
        backend.create(NODES)
        yield backend
    finally:
        backend.destroy()


def host_firewall() -> str:
    return subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout


@pytest.mark.cluster
def test_containers_get_net_admin_and_nothing_more(backend, docker_client):
    for node in NODES:
        info = docker_client.api.inspect_container(backend.state.container_ids[node])
        host = info["HostConfig"]
        assert host["CapAdd"] == ["NET_ADMIN"] and not host["Privileged"]
        assert info["Config"]["Hostname"] == node
        caps = int(backend.remote(node).run("grep CapEff /proc/self/status").stdout.split()[1], 16)
        assert caps & (1 << CAP_NET_ADMIN) and not caps & (1 << CAP_SYS_TIME)
    clock = backend.remote("n1").run(["date", "-s", "2001-01-01"], check=False)
    assert not clock.ok and "not permitted" in clock.stderr


@pytest.mark.cluster
def test_the_node_image_has_what_nodes_need(backend, docker_client, node_image):
    assert cached_image(docker_client, with_zookeeper=True) is not None  # built from the current recipe
    remote = backend.remote("n1")
    check = remote.run(
        "python3 -c 'import sys; print(sys.version_info >= (3, 11))'; which ip iptables ps kill timeout java; "
        "test -x /usr/sbin/sshd && echo sshd; ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null && echo faketime; "
        "test -f /usr/share/java/zookeeper.jar && echo zookeeper; ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l")
    lines = check.stdout.split()
    assert lines[0] == "True" and len([l for l in lines if l.startswith("/")]) == 6, check.stdout
    assert lines[-4:] == ["sshd", "faketime", "zookeeper", "0"], check.stdout  # and no shared host keys


@pytest.mark.cluster
def test_nodes_reach_each_other_by_name_and_the_control_machine_reaches_them(backend):
    import socket

    server = "import socket\ns=socket.socket()\ns.bind(('0.0.0.0',7000))\ns.listen()\n" \
             "while True:\n c,_=s.accept()\n c.sendall(socket.gethostname().encode())\n c.close()\n"
    for node in NODES:
        remote = backend.remote(node)
        remote.spawn(["python3", "-c", server], log_file=f"{remote.home}/greeter.log",
                     pid_file=f"{remote.home}/greeter.pid")
    dial = "import socket,sys\nfor _ in range(100):\n try:\n  print(socket.create_connection((sys.argv[1],7000),2)" \
           ".recv(64).decode()); break\n except OSError:\n  import time; time.sleep(0.1)\n"
    assert backend.remote("n1").run(["python3", "-c", dial, "n3"]).stdout == "n3\n"
    assert backend.remote("n3").run(["python3", "-c", dial, "n2"]).stdout == "n2\n"
    assert backend.remote("n2").run(["getent", "hosts", "control"]).stdout.split()[0] == backend.control_address
    with socket.create_connection((backend.address("n2"), 7000), timeout=5) as sock:
        assert sock.recv(64) == b"n2"


@pytest.mark.cluster
def test_remote_contract_commands_stdin_env_timeouts(backend):
    remote = backend.remote("n1")
    assert remote.run(["sh", "-c", "cat; echo \"$X\""], stdin=b"data\n", env={"X": "a b"}).stdout == "data\na b\n"
    failed = remote.run("echo out; echo err >&2; exit 3", check=False)
    assert (failed.exit_code, failed.stdout, failed.stderr) == (3, "out\n", "err\n")
    with pytest.raises(RemoteError, match="timed out after 1s"):
        remote.run(["sleep", "30"], timeout=1)
    with pytest.raises(RemoteError, match="exit code 127"):
        remote.run(["no-such-program"])
    assert not remote.shares_filesystem and remote.home == "/var/lib/zkjepsen/n1"


@pytest.mark.cluster
def test_upload_and_download_files_and_trees(backend, tmp_path):
    remote = backend.remote("n2")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha")
    (tree / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    remote.upload(str(tree), f"{remote.home}/copy")
    remote.upload(str(tree / "a.txt"), f"{remote.home}/single/renamed.txt")
    assert remote.run(["cat", f"{remote.home}/copy/a.txt", f"{remote.home}/single/renamed.txt"]).stdout \
        == "alphaalpha"
    back = tmp_path / "back"
    (back / "existing").mkdir(parents=True)
    remote.download(f"{remote.home}/copy", str(back))
    assert (back / "sub" / "b.bin").read_bytes() == (tree / "sub" / "b.bin").read_bytes()
    assert (back / "existing").is_dir()
    remote.download(f"{remote.home}/single/renamed.txt", str(tmp_path / "one.txt"))
    assert (tmp_path / "one.txt").read_text() == "alpha"
    with pytest.raises(RemoteError, match="no such file"):
        remote.download(f"{remote.home}/nothing-here", str(tmp_path / "x"))


@pytest.mark.cluster
def test_spawned_pid_is_the_server_and_sigkill_really_ends_it(backend):
    remote = backend.remote("n3")
    pid = remote.spawn(["sleep", "300"], log_file=f"{remote.home}/s.log", pid_file=f"{remote.home}/s.pid")
    assert remote.run(["cat", f"/proc/{pid}/comm"]).stdout.strip() == "sleep"
    assert remote.run(["cat", f"{remote.home}/s.pid"]).stdout.strip() == str(pid)
    remote.run(["kill", "-STOP", str(pid)])
    assert remote.run(["sh", "-c", f"sed 's/.*) //' /proc/{pid}/stat | cut -c1"]).stdout.strip() == "T"
    remote.run(["kill", "-KILL", str(pid)])
    deadline = time.monotonic() + 10
    while remote.run(["test", "-e", f"/proc/{pid}"], check=False).ok:  # init reaps it: no zombie stays
        assert time.monotonic() < deadline, "killed server not reaped"
        time.sleep(0.05)


@pytest.mark.cluster
def test_partitions_live_in_the_containers_never_the_host(backend):
    before = host_firewall()
    net = backend.net()
    remote = backend.remote("n1")
    remote.spawn(["python3", "-m", "http.server", "7100"], log_file=f"{remote.home}/http.log",
                 pid_file=f"{remote.home}/http.pid")
    probe = "import socket; socket.create_connection(('n1', 7100), 1)"
    wait = f"import time\nfor _ in range(100):\n try:\n  {probe}; break\n except OSError: time.sleep(0.1)\n"
    backend.remote("n2").run(["python3", "-c", wait])
    assert backend.remote("n2").run(["python3", "-c", probe], check=False).ok
    net.drop("n2", "n1")
    assert net.rules("n2") == [f"-A ZKJEPSEN -s {backend.address('n1')}/32 -j DROP"]
    assert not backend.remote("n2").run(["python3", "-c", probe], check=False).ok
    assert backend.remote("n3").run(["python3", "-c", probe], check=False).ok
    assert host_firewall() == before
    net.heal()
    assert net.rules("n2") == []
    assert backend.remote("n2").run(["python3", "-c", probe], check=False).ok


@pytest.mark.cluster
def test_a_reference_server_in_a_container_sees_its_clock_faked_and_reset(backend):
    db = ReferenceDB()
    test = LiveNodes(backend, ["n1"], {"faketime": {"monotonic": False}}, db=db)  # a standalone server on n1
    clock = ClockFaults(random.Random(2))
    try:
        db.setup(test, "n1")
        db.wait_ready(test, "n1", 60)
        assert abs(ctime_shift(test, "n1")) < 5
        control = db.faketime_file(test, "n1")
        faketime.write_spec(backend.remote("n1"), control, faketime.spec(7200, 1))
        clock.settle()
        assert ctime_shift(test, "n1") == pytest.approx(7200, abs=5)
        assert abs(int(backend.remote("n1").run(["date", "+%s"]).stdout) - time.time()) < 5  # only the server's
        clock.heal(test)
        assert faketime.read_spec(backend.remote("n1"), control) == faketime.REAL_TIME
        assert abs(ctime_shift(test, "n1")) < 5
    finally:
        db.teardown(test, "n1")


@pytest.mark.cluster
def test_a_zookeeper_jvm_in_a_container_sees_its_clock_faked_and_heal_undoes_a_pause_and_a_bump(backend):
    db = ZooKeeperDB(heap_mb=128)
    test = LiveNodes(backend, ["n2"], {"faketime": {"monotonic": False}}, db=db)  # standalone, under libfaketime
    remote = backend.remote("n2")
    try:
        db.setup(test, "n2")
        db.wait_ready(test, "n2", 120)
        assert abs(ctime_shift(test, "n2")) < 5
        faketime.write_spec(remote, db.faketime_file(test, "n2"), faketime.spec(-3600, 1))
        ClockFaults.settle()
        assert ctime_shift(test, "n2") == pytest.approx(-3600, abs=5)
        assert abs(int(remote.run(["date", "+%s"]).stdout) - time.time()) < 5  # only the JVM's clock moved
        # A pause on top of the bump, then what every run does at its end: both undone at once.
        nemesis = FaultNemesis("pause,clock", parse_faults("pause,clock"), 5, {})
        nemesis.invoke(test, Op(INVOKE, "nemesis", "start-pause", "pause-one"))
        assert stopped_processes(remote) != []
        nemesis.teardown(test)
        assert stopped_processes(remote) == []
        assert faketime.read_spec(remote, db.faketime_file(test, "n2")) == faketime.REAL_TIME
        db.wait_ready(test, "n2", 120)
        assert abs(ctime_shift(test, "n2")) < 5
    finally:
        db.teardown(test, "n2")


@pytest.mark.cluster
def test_destroy_removes_containers_network_and_state(docker_client, node_image, tmp_path):
    backend = DockerBackend(state_dir=str(tmp_path), image=node_image, client=docker_client)
    backend.create(["n1"])
    state = backend.state
    assert state.existing(docker_client) == ([state.container("n1")], True)
    backend.destroy()
    backend.destroy()  # idempotent
    assert state.existing(docker_client) == ([], False)
    assert find_runs(str(tmp_path)) == []


@pytest.mark.cluster
def test_cluster_down_removes_what_a_killed_run_left(docker_client, node_image, tmp_path):
    script = ("import sys, time\nfrom harness.backends.docker import DockerBackend\n"
              f"b = DockerBackend(state_dir={str(tmp_path)!r}, image={node_image!r})\nb.create(['n1', 'n2'])\n"
              "print(b.run_id, flush=True)\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, "the run did not start"
        status = harness("cluster", "status", "--backend", "docker", "--state-dir", str(tmp_path))
        assert f"{run_id}  in use by pid {proc.pid}" in status.stdout and "containers 2/2" in status.stdout
        skipped = harness("cluster", "down", "--backend", "docker", "--state-dir", str(tmp_path))
        assert "skipped" in skipped.stdout  # its owner is alive
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (run,) = find_runs(str(tmp_path))
    assert run.existing(docker_client) == ([run.container("n1"), run.container("n2")], True)
    down = harness("cluster", "down", "--backend", "docker", "--state-dir", str(tmp_path))
    assert down.returncode == 0 and f"{run_id}: removed (leftover" in down.stdout, down.stdout + down.stderr
    assert run.existing(docker_client) == ([], False)
    assert find_runs(str(tmp_path)) == []


@pytest.mark.cluster
def test_cluster_up_and_down(node_image, tmp_path):
    up = harness("cluster", "up", "--backend", "docker", "--db", "reference", "--node-count", "1",
                 "--docker-image", node_image, "--state-dir", str(tmp_path))
    try:
        assert up.returncode == 0, up.stderr
        assert "connect: 10.78." in up.stdout and "docker exec -it zkj-" in up.stdout
    finally:
        down = harness("cluster", "down", "--backend", "docker", "--state-dir", str(tmp_path))
    assert "removed (cluster up" in down.stdout, down.stdout + down.stderr
    assert find_runs(str(tmp_path)) == []


def run_test(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    store = tmp_path / "store"
    result = harness("run", "--backend", "docker", "--store", str(store), "--no-progress", *args, timeout=600,
                     env={"ZKJEPSEN_STATE_DIR": str(tmp_path / "state")})
    results = json.loads((store / "latest" / "results.json").read_text()) if (store / "latest").exists() else {}
    return result, results


def assert_nothing_left(docker_client, tmp_path) -> None:
    """The run's containers and network are gone, and so is its state file."""
    run_id = docker_run_id((tmp_path / "store" / "latest").resolve())
    assert docker_leftovers(docker_client, run_id) == []
    state = tmp_path / "state"
    assert (list(state.iterdir()) if state.exists() else []) == []


@pytest.mark.cluster
@pytest.mark.parametrize("db,nemesis,schedule,interval", [
    ("reference", "partition,kill,pause,clock", "pause-one:1,clock-bump:1,kill-one:2,partition-halves:2", "0.5"),
    ("zookeeper", "partition,kill", "partition-halves:3,kill-one:3", "1")])
def test_harness_run_register_with_faults_on_docker_is_valid_and_leaves_nothing(db, nemesis, schedule, interval,
                                                                               node_image, docker_client, tmp_path):
    result, results = run_test(tmp_path, "--db", db, "--node-count", "3", "--workload", "register",
                               "--nemesis", nemesis, "--nemesis-schedule", schedule,
                               "--nemesis-interval", interval, "--time-limit", "12")
    assert result.returncode == 0 and results["valid"] is True, result.stdout + result.stderr
    assert results["run"]["ok"] > 50
    history = [json.loads(line) for line in (tmp_path / "store" / "latest" / "history.jsonl").open()]
    done = [op["value"] for op in history if op["process"] == "nemesis" and op["type"] == "info"]
    assert any(isinstance(v, dict) and v.get("killed") for v in done), done  # a server really was killed
    assert any(isinstance(v, dict) and any(v.get("grudge", {}).values()) for v in done), done
    if "clock" in nemesis:
        assert any(isinstance(v, dict) and v.get("bumps") for v in done), done
        assert any(isinstance(v, dict) and v.get("paused") for v in done), done
    logs = list((tmp_path / "store" / "latest" / "nodes").glob("n*/server.log"))
    assert len(logs) == 3 and all(log.stat().st_size > 0 for log in logs)
    assert_nothing_left(docker_client, tmp_path)


@pytest.mark.cluster
def test_a_docker_run_whose_db_setup_fails_leaves_nothing(node_image, docker_client, tmp_path):
    # Not a ZooKeeper release: installing it fails on the nodes, after the containers and network exist.
    wrong = tmp_path / "not-zookeeper"
    wrong.mkdir()
    (wrong / "README").write_text("no lib/ here\n")
    result, results = run_test(tmp_path, "--db", "zookeeper", "--zookeeper-tarball", str(wrong), "--node-count",
                               "2", "--nemesis", "partition,clock", "--time-limit", "5")
    assert result.returncode == 2, result.stdout + result.stderr
    assert results["valid"] != True and "has no lib/ directory" in results["run"]["error"], results  # noqa: E712
    assert_nothing_left(docker_client, tmp_path)


@pytest.mark.cluster
def test_an_interrupted_docker_run_heals_its_faults_in_the_containers_it_leaves(node_image, docker_client, tmp_path):
    # Interrupted while a partition is in force, after a clock bump and a pause have come and gone.
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--backend", "docker", "--store", str(tmp_path / "store"),
         "--no-progress", "--db", "reference", "--node-count", "2", "--workload", "register", "--rate", "20",
         "--leave-db-running", "--nemesis", "partition,pause,clock", "--nemesis-interval", "1",
         "--nemesis-schedule", "clock-bump:1,pause-all:1,partition-halves:300", "--time-limit", "300"],
        cwd=REPO, env={**os.environ, "ZKJEPSEN_STATE_DIR": str(tmp_path / "state")}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    run_id = None
    try:
        history = tmp_path / "store" / "latest" / "history.jsonl"
        deadline = time.monotonic() + 300
        seen: list[str] = []
        while "start-partition" not in seen and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            with contextlib.suppress(OSError, ValueError):
                seen = [op["f"] for op in map(json.loads, history.read_text().splitlines())
                        if op["process"] == "nemesis" and op["type"] == "info"]
        assert "start-partition" in seen and "stop-clock" in seen and "stop-pause" in seen, seen
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
        results = json.loads((tmp_path / "store" / "latest" / "results.json").read_text())
        assert results["run"]["interrupted"] and results["valid"] != True, out  # noqa: E712
        run_id = results["run"]["left_running"]["run_id"]
        backend = DockerBackend.attach(run_id, str(tmp_path / "state"), client=docker_client)
        test = LiveNodes(backend, backend.nodes, db=ReferenceDB())
        for node in backend.nodes:
            remote = backend.remote(node)
            assert chain_rules(remote) == [] and stopped_processes(remote) == []
            assert faketime.read_spec(remote, test.db.faketime_file(test, node)) == faketime.REAL_TIME
            assert test.db.is_running(test, node)  # left running, as asked
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        down = harness("cluster", "down", "--backend", "docker", "--state-dir", str(tmp_path / "state"),
                       *([run_id] if run_id else []))
    assert down.returncode == 0 and f"{run_id}: removed" in down.stdout, down.stdout + down.stderr
    assert_nothing_left(docker_client, tmp_path)


@pytest.mark.cluster
def test_make_backend_builds_docker_with_only_its_options(docker_client, node_image, tmp_path):
    backend = make_backend("docker", state_dir=str(tmp_path), image=node_image, ssh_port=2222, username="x")
    assert isinstance(backend, DockerBackend) and backend.image == node_image
    with pytest.raises(BackendUnavailable, match="zkjepsen-node:nope does not exist.*harness image build"):
        make_backend("docker", image="zkjepsen-node:nope")
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        make_backend("vmware")


@pytest.mark.cluster
def test_the_dockerfile_path_builds_on_a_local_base_image_whose_result_runs_a_node(docker_client, node_image,
                                                                                tmp_path):
    import docker.errors

    tag = f"zkjepsen-node:dockerfile-test-{secrets.token_hex(3)}"
    said: list[str] = []
    backend = None
    try:
        # FROM the local node image: no registry, and no mirror either (it has every package already).
        assert build_image(docker_client, with_zookeeper=True, base_image=node_image, tag=tag,
                           progress=said.append) == tag
        assert any(f"building {tag} from" in line and line.endswith(f"on {node_image}") for line in said), said
        image = docker_client.images.get(tag)
        assert image.id != docker_client.images.get(node_image).id  # built, not re-tagged
        assert "dpkg-query" in " ".join(step.get("CreatedBy", "") for step in image.history())  # by our RUN
        assert cached_image(docker_client, with_zookeeper=True, tag=tag) is not None  # carries the recipe
        backend = DockerBackend(state_dir=str(tmp_path), image=tag, client=docker_client)
        backend.create(["n1"])
        test = LiveNodes(backend, ["n1"], db=ReferenceDB())
        test.db.setup(test, "n1")
        test.db.wait_ready(test, "n1", 60)
        assert srvr_mode(backend.address("n1"), test.db.client_port) == "standalone"
        assert backend.remote("n1").run(["java", "-version"]).ok
        assert build_image(docker_client, with_zookeeper=True, base_image=node_image, tag=tag,
                           progress=said.append) == tag and said[-1] == f"{tag} is up to date"
    finally:
        if backend is not None:
            backend.destroy()
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(tag)  # and its build layers with it
