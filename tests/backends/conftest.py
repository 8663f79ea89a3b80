"""Fixtures for the docker and ssh backend tests: a Docker daemon, the node image, OpenSSH servers in namespaces.

Each fixture stops or removes only what it started or created itself (by PID or recorded name), also when a
test fails.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _live_dockerd_pid(pidfile: str = "/var/run/docker.pid") -> int | None:
    """The PID in dockerd's pidfile when that process still runs. A pidfile left by a daemon that was killed
    (the machine restarted mid-run) is stale: dockerd overwrites it, so it must not stop the tests."""
    try:
        pid = int(Path(pidfile).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        # After a restart the PID may belong to some other process; only a dockerd counts.
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    return pid if name == "dockerd" else None


@pytest.fixture(scope="session")
def docker_client(tmp_path_factory):
    """A client of a running Docker daemon. When none answers, start one for the session the way the docs say
    (no iptables, no default bridge: the host's firewall is never rewritten) and stop it afterwards."""
    from harness.backends.docker import DockerUnavailable, connect

    try:
        yield connect()
        return
    except DockerUnavailable:
        pass
    if os.environ.get("DOCKER_HOST"):
        pytest.fail(f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer")
    if not shutil.which("dockerd"):
        pytest.skip("no Docker daemon and dockerd is not installed")
    if os.geteuid() != 0:
        pytest.skip("no Docker daemon running, and starting one needs root")
    running = _live_dockerd_pid()
    if running is not None:
        pytest.fail(f"dockerd (PID {running}, from /var/run/docker.pid) runs but does not answer; "
                    "look at it before testing")
    log_dir = tmp_path_factory.mktemp("dockerd")
    with open(log_dir / "dockerd.log", "w") as log:
        proc = subprocess.Popen(["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none"],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = connect()
                break
            except DockerUnavailable:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (log_dir / "dockerd.log").read_text()[-2000:]
                    pytest.fail(f"dockerd did not come up (exit code {proc.poll()}):\n{tail}")
                time.sleep(0.5)
        yield client
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def node_image(docker_client) -> str:
    """The ZooKeeper node image (it runs every built-in DB), built offline the first time on this machine.
    `auto` uses the Dockerfile where a registry answers and debootstrap otherwise."""
    from harness.images import build_image

    return build_image(docker_client, with_zookeeper=True, method="auto")


# -- OpenSSH servers inside network namespaces ------------------------------------------------------------------

SSHD = "/usr/sbin/sshd"


@dataclass
class SshNodes:
    addresses: list[str]         # one per node; the hosts to give the ssh backend
    key: str                     # the client's private key (authorized on every sshd)
    known_hosts: str             # every node's host key, under its address
    host_keys: dict[str, str]    # address -> public host key line
    netns: object                # the NetnsBackend that holds the namespaces
    sshd_pids: dict[str, int]    # address -> PID of its listening sshd


def _keygen(path: Path, kind: str = "ed25519") -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "zkjepsen-test", "-f", str(path)],
                   check=True, capture_output=True)
    return (path.with_suffix(".pub") if path.suffix else Path(str(path) + ".pub")).read_text().strip()


def _wait_port(remote, address: str, port: int, timeout: float = 30) -> None:
    probe = (f"import socket,sys\ns=socket.socket()\ns.settimeout(1)\n"
             f"sys.exit(s.connect_ex(({address!r},{port})))")
    deadline = time.monotonic() + timeout
    while remote.run([sys.executable, "-c", probe], check=False).exit_code != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd on {address}:{port} does not listen")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def ssh_nodes(tmp_path_factory) -> Iterator[SshNodes]:
    """Three netns nodes, each with its own sshd (own config, host key, authorized key) on its address, port 22
    of its own namespace. The namespaces' processes (sshd and anything started through it) die with them."""
    from harness.backends.base import netns_problem
    from harness.backends.netns import NetnsBackend

    problem = netns_problem()
    if problem:
        pytest.skip(problem)
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
        pytest.skip("openssh-server / ssh-keygen not installed")
    work = tmp_path_factory.mktemp("sshd")
    os.chmod(work, 0o700)
    client_pub = _keygen(work / "client_key")
    (work / "authorized_keys").write_text(client_pub + "\n")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    netns = NetnsBackend(state_dir=str(work / "state"))
    try:
        netns.create(["n1", "n2", "n3"])
        host_keys, pids = {}, {}
        for node in netns.nodes:
            address = netns.address(node)
            key = work / f"host_{node}"
            host_keys[address] = _keygen(key)
            config = work / f"sshd_{node}.conf"
            config.write_text("\n".join([
                f"ListenAddress {address}", "Port 22", f"HostKey {key}", f"PidFile {work}/sshd_{node}.pid",
                f"AuthorizedKeysFile {work}/authorized_keys", "PermitRootLogin prohibit-password",
                "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
                "Subsystem sftp internal-sftp", "LogLevel VERBOSE",
                # sshd makes bash read ~/.bashrc for every command; this machine's takes seconds (pyenv/nvm
                # setup). Bash skips it when it is not a top-level shell, which SHLVL=1 tells it.
                "SetEnv SHLVL=1", ""]))
            remote = netns.remote(node)
            pids[address] = remote.spawn([SSHD, "-D", "-e", "-f", str(config)], log_file=str(work / f"sshd_{node}.log"),
                                         pid_file=str(work / f"sshd_{node}.spawnpid"))
            _wait_port(remote, address, 22)
        known = work / "known_hosts"
        known.write_text("".join(f"{address} {line.rsplit(' ', 1)[0]}\n" for address, line in host_keys.items()))
        yield SshNodes(addresses=list(host_keys), key=str(work / "client_key"), known_hosts=str(known),
                       host_keys=host_keys, netns=netns, sshd_pids=pids)
    finally:
        netns.destroy()  # kills every process in the namespaces: sshd, its sessions, servers started over ssh
