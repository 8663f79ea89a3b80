"""The ssh backend logged in as a user other than root: every command through real `sudo -n`, against real sshd.

Two containers from the node image (made by the docker backend: its own network, NET_ADMIN only, labelled, removed
at the end) play the machines. In each, sshd runs with a fresh host key, and two accounts accept the same client
key: `tester`, with a NOPASSWD rule in /etc/sudoers.d, and `nosudo`, with no sudo rights. The ssh backend then
logs in from the control machine exactly as `harness run --backend ssh --username tester` would.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from harness.backends.docker import DockerBackend
from harness.backends.ssh import SshBackend, find_runs
from harness.net import CHAIN
from harness.remote import RemoteError

from backend_helpers import docker_leftovers, harness

NODES = ["n1", "n2"]
SSHD_CONFIG = "/etc/ssh/zkjepsen_test_sshd.conf"

# Run as root in each container (docker exec). `usermod -p '*'`: useradd leaves the password field `!` (locked),
# and sshd without PAM refuses locked accounts even for key logins; `*` means "no password can match" instead.
SETUP = r"""
set -e
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key >/dev/null
for user in tester nosudo; do
  useradd -m -s /bin/bash "$user"
  usermod -p '*' "$user"
  install -d -m 700 -o "$user" -g "$user" "/home/$user/.ssh"
  printf '%s\n' "$1" > "/home/$user/.ssh/authorized_keys"
  chown "$user:$user" "/home/$user/.ssh/authorized_keys"
  chmod 600 "/home/$user/.ssh/authorized_keys"
done
echo 'tester ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/tester
chmod 440 /etc/sudoers.d/tester
visudo -cqf /etc/sudoers.d/tester
install -d -m 755 /run/sshd
cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub
"""

# Root may not log in: only the sudo path can give root here.
SSHD = "\n".join([
    "Port 22", "HostKey /etc/ssh/ssh_host_ed25519_key", "PermitRootLogin no", "PasswordAuthentication no",
    "KbdInteractiveAuthentication no", "UsePAM no", "Subsystem sftp internal-sftp", "LogLevel VERBOSE", ""])


@dataclass
class SudoNodes:
    docker: DockerBackend     # the containers, reached without ssh (to look behind the ssh backend's back)
    addresses: list[str]      # the hosts to give the ssh backend, one per container
    key: str                  # the client's private key, authorized for tester and nosudo
    known_hosts: str          # the containers' host keys under their addresses

    def behind(self, address: str):
        """The container at ``address``, through docker exec (as root, bypassing ssh and sudo)."""
        return self.docker.remote(next(n for n in NODES if self.docker.address(n) == address))


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "zkjepsen-test", "-f", str(path)],
                   check=True, capture_output=True)
    return Path(f"{path}.pub").read_text().strip()


def _wait_for_sshd(address: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, 22), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd on {address}:22 does not answer")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def sudo_nodes(docker_client, node_image, tmp_path_factory) -> Iterator[SudoNodes]:
    work = tmp_path_factory.mktemp("ssh_sudo")
    os.chmod(work, 0o700)
    client_pub = _keygen(work / "client_key")
    docker = DockerBackend(state_dir=str(work / "docker-state"), image=node_image, client=docker_client)
    run_id = None
    try:
        docker.create(NODES)
        run_id = docker.run_id
        known = []
        for node in NODES:
            remote = docker.remote(node)
            host_key = remote.run(["sh", "-c", SETUP, "setup", client_pub]).stdout.strip()
            remote.run(["sh", "-c", f"cat > {SSHD_CONFIG}"], stdin=SSHD.encode())
            remote.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", SSHD_CONFIG], log_file=f"{remote.home}/sshd.log",
                         pid_file=f"{remote.home}/sshd.pid")
            known.append(f"{docker.address(node)} {host_key}\n")
        for node in NODES:
            _wait_for_sshd(docker.address(node))
        (work / "known_hosts").write_text("".join(known))
        yield SudoNodes(docker=docker, addresses=[docker.address(n) for n in NODES], key=str(work / "client_key"),
                        known_hosts=str(work / "known_hosts"))
    finally:
        docker.destroy()
    if run_id is not None:
        assert docker_leftovers(docker_client, run_id) == []


def ssh_as(user: str, nodes: SudoNodes, state_dir: Path) -> SshBackend:
    return SshBackend(username=user, ssh_key=nodes.key, known_hosts=nodes.known_hosts, state_dir=str(state_dir))


@pytest.fixture
def as_tester(sudo_nodes, tmp_path) -> Iterator[SshBackend]:
    backend = ssh_as("tester", sudo_nodes, tmp_path / "state")
    try:
        backend.create(sudo_nodes.addresses)
        yield backend
    finally:
        backend.destroy()
    assert find_runs(str(tmp_path / "state")) == []


@pytest.mark.cluster
def test_a_non_root_login_runs_every_command_as_root_through_sudo(as_tester, sudo_nodes):
    remote = as_tester.remote(sudo_nodes.addresses[0])
    assert sudo_nodes.behind(remote.host).run(["id", "-u", "tester"]).stdout.strip() != "0"
    assert remote.run(["id", "-u"]).stdout == "0\n"
    assert remote.run("echo $SUDO_USER").stdout == "tester\n"  # root because sudo made it so, for tester
    assert remote.run(["stat", "-c", "%U", remote.home]).stdout == "root\n"
    run_dir = as_tester.state.run_dir
    as_tester.destroy()  # its cleanup script and `rm -rf` go through sudo too
    assert not sudo_nodes.behind(remote.host).run(["test", "-e", run_dir], check=False).ok


@pytest.mark.cluster
def test_sftp_uploads_land_in_root_owned_places_and_root_only_files_come_back(as_tester, sudo_nodes, tmp_path):
    remote = as_tester.remote(sudo_nodes.addresses[1])
    behind = sudo_nodes.behind(remote.host)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "b.bin").write_bytes(bytes(range(256)) * 50)
    (tmp_path / "conf.txt").write_text("secret=1\n")
    # The run's directory is root's (mode 755): tester alone could not write there.
    assert not behind.run(["su", "-s", "/bin/sh", "tester", "-c", f"touch {remote.home}/x"], check=False).ok
    remote.upload(str(tree), f"{remote.home}/tree")
    remote.upload(str(tmp_path / "conf.txt"), "/etc/zkjepsen-sudo-test/conf.txt")
    try:
        assert behind.run(["stat", "-c", "%U %s", f"{remote.home}/tree/sub/b.bin"]).stdout == "root 12800\n"
        assert behind.run(["cat", "/etc/zkjepsen-sudo-test/conf.txt"]).stdout == "secret=1\n"
        remote.run(["chmod", "600", "/etc/zkjepsen-sudo-test/conf.txt"])
        remote.download("/etc/zkjepsen-sudo-test/conf.txt", str(tmp_path / "back.txt"))
        assert (tmp_path / "back.txt").read_text() == "secret=1\n"
        remote.download(f"{remote.home}/tree", str(tmp_path / "back"))
        assert (tmp_path / "back" / "sub" / "b.bin").read_bytes() == (tree / "sub" / "b.bin").read_bytes()
    finally:
        behind.run(["rm", "-rf", "/etc/zkjepsen-sudo-test"])
    assert behind.run("ls /tmp | grep -c '^zkjepsen-tester-' || true").stdout.strip() == "0"  # no staging left


@pytest.mark.cluster
def test_partitions_are_iptables_rules_added_and_removed_through_sudo(as_tester, sudo_nodes):
    a, b = sudo_nodes.addresses
    net = as_tester.net()
    probe = f"python3 -c 'import socket; socket.create_connection((\"{b}\", 22), 1)'"
    assert as_tester.remote(a).run(probe, check=False).ok
    net.drop(a, b)
    assert net.rules(a) == [f"-A {CHAIN} -s {b}/32 -j DROP"]
    assert sudo_nodes.behind(a).run(["iptables", "-w", "-S", CHAIN]).stdout.count("DROP") == 1  # really there
    assert not as_tester.remote(a).run(probe, check=False).ok
    net.heal()
    assert not sudo_nodes.behind(a).run(["iptables", "-w", "-n", "-L", CHAIN], check=False).ok
    assert as_tester.remote(a).run(probe, check=False).ok


@pytest.mark.cluster
def test_a_login_without_password_less_sudo_is_refused_at_setup(sudo_nodes, tmp_path):
    address = sudo_nodes.addresses[0]
    backend = ssh_as("nosudo", sudo_nodes, tmp_path / "state")
    with pytest.raises(RemoteError, match="sudo needs a password for nosudo; the ssh backend needs password-less "
                                          "sudo"):
        backend.create([address])
    assert find_runs(str(tmp_path / "state")) == []
    assert not sudo_nodes.behind(address).run(["test", "-e", backend.state.run_dir], check=False).ok  # none made

    result = harness("run", "--backend", "ssh", "--nodes", address, "--username", "nosudo", "--ssh-key",
                     sudo_nodes.key, "--known-hosts", sudo_nodes.known_hosts, "--db", "reference", "--time-limit",
                     "1", "--store", str(tmp_path / "store"), "--no-progress",
                     env={"ZKJEPSEN_STATE_DIR": str(tmp_path / "cli-state")}, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "needs password-less sudo" in output and "Traceback" not in output, output
    # Said once: no teardown step runs on a node the backend never set up, so none fails with the same error.
    assert output.count("needs password-less sudo") == 1 and "teardown" not in output, output
    assert find_runs(str(tmp_path / "cli-state")) == []
