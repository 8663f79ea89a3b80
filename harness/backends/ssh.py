"""The ssh backend: the nodes are machines you already have, reached over SSH (paramiko).

``--backend ssh --nodes host1,host2,host3`` — the node names are the hosts' names (or addresses); each is
resolved once to the IPv4 address that clients and the other nodes use (``address(node)``), so every node must
reach every other by that address, and the control machine must reach their client ports.

- **Login**: ``username`` (default: yours), ``ssh_key`` (a private key file; otherwise the agent and
  ~/.ssh/id_*), ``ssh_port`` (22). Host keys are checked against ``known_hosts`` (default ~/.ssh/known_hosts and
  /etc/ssh/ssh_known_hosts): an unknown or changed key is refused with a message saying how to add it.
  ``insecure_accept_host_keys=True`` (``--insecure-accept-host-keys``) accepts any key instead — only for
  throw-away machines on a network you trust.
- **Root**: every command runs as root. A user other than root gets ``sudo -n`` in front of each command, so it
  needs password-less sudo (checked when the nodes are set up).
- **Commands** go over one SSH connection per node (a channel per command); a timeout is enforced on the node
  with coreutils ``timeout -s KILL``. A connection that drops is re-opened and the command retried (``retries``
  times, with a growing pause); a command that may have started a daemon (``spawn``) is not re-run blindly.
- **Files**: nodes do not share the control machine's filesystem. ``upload``/``download`` move one tar file
  over SFTP through a private staging file in the node's /tmp, unpacked/packed there as root. DBs upload what
  they need (the reference server copies its package; ZooKeeper copies its jars when the node lacks them).
- **Per-run directory** on every node: ``/var/tmp/zkjepsen-node/<run id>/<node>`` (``Remote.home``).
- **Network faults**: ``IptablesNet`` through these Remotes, i.e. iptables rules (chain ``ZKJEPSEN``) on the
  nodes themselves. ``destroy`` removes that chain too, so a crashed nemesis never leaves a machine cut off.

A state file ``<state dir>/ssh-<run id>.json`` records the hosts and how to log in (never a password: there is
none), so ``destroy`` — or ``harness cluster down --backend ssh`` after a crash — can kill the servers recorded
in ``<home>/*/server.pid`` (only if the PID still belongs to the process that was started), remove the iptables
chain and delete the run's directory on every node.
"""
from __future__ import annotations

import contextlib
import getpass
import logging
import os
import secrets
import select
import shlex
import socket
import tarfile
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, TypeVar

from harness.backends import base
from harness.backends.base import RunRecord, load_run, new_run_id, state_dir_default
from harness.net import IptablesNet, remove_chain
from harness.remote import RemoteError, Result, describe, spawn_script

log = logging.getLogger("zkjepsen.ssh")
# paramiko logs every channel at DEBUG; a run opens thousands of them, which would drown harness.log.
logging.getLogger("paramiko").setLevel(logging.INFO)

NODE_ROOT = "/var/tmp/zkjepsen-node"
STATE_PREFIX = "ssh-"
CONNECT_TIMEOUT = 15.0
T = TypeVar("T")


class SshUnavailable(RuntimeError):
    pass


class _Dropped(Exception):
    """The connection went away under a command (or could not be made); worth reconnecting."""


def command_line(cmd: str | list[str], *, env: dict[str, str] | None = None, timeout: float | None = None,
                 sudo: bool = False) -> str:
    """The one line sent to the node's shell for ``cmd``: ``sudo -n -- timeout -s KILL T env K=V argv...``.

    A str ``cmd`` is a shell script (``sh -c``), a list an argv; both are quoted so the login shell passes them
    through unchanged.
    """
    argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    if not argv:
        raise ValueError("empty command")
    if env:
        argv = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
    if timeout is not None:
        argv = ["timeout", "-s", "KILL", f"{max(timeout, 0.1):g}", *argv]
    if sudo:
        argv = ["sudo", "-n", "--", *argv]
    return shlex.join(argv)


@dataclass
class SshLogin:
    """How to reach the nodes; everything but secrets (the key is a path)."""

    username: str
    port: int = 22
    ssh_key: str | None = None
    known_hosts: str | None = None
    insecure_accept_host_keys: bool = False

    @property
    def sudo(self) -> bool:
        return self.username != "root"


class SshRemote:
    """Commands and files on one host, over one paramiko connection (re-opened when it drops)."""

    shares_filesystem = False

    def __init__(self, node: str, host: str, login: SshLogin, home: str, retries: int = 3) -> None:
        self.node = node
        self.host = host
        self.login = login
        self.home = home
        self.retries = retries
        self._client: Any = None
        self._lock = threading.Lock()

    # -- connection --------------------------------------------------------------------------
    def _connect(self) -> Any:
        import paramiko

        client = paramiko.SSHClient()
        if self.login.known_hosts:
            try:
                client.load_host_keys(self.login.known_hosts)
            except OSError as exc:
                raise RemoteError(f"{self.node}: cannot read known hosts file {self.login.known_hosts}: "
                                  f"{exc.strerror}") from exc
        else:
            with contextlib.suppress(OSError):
                client.load_system_host_keys()
            with contextlib.suppress(OSError):
                client.load_system_host_keys("/etc/ssh/ssh_known_hosts")
        if self.login.insecure_accept_host_keys:
            client.set_missing_host_key_policy(_AcceptAndWarn())
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = f"{self.login.username}@{self.host}:{self.login.port}"
        try:
            client.connect(self.host, port=self.login.port, username=self.login.username,
                           key_filename=self.login.ssh_key, look_for_keys=self.login.ssh_key is None,
                           allow_agent=self.login.ssh_key is None, timeout=CONNECT_TIMEOUT,
                           banner_timeout=CONNECT_TIMEOUT, auth_timeout=CONNECT_TIMEOUT)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise RemoteError(f"{self.node}: the host key of {self.host} does not match the known hosts entry "
                              f"(expected {exc.expected_key.get_base64()[:20]}..., got "
                              f"{exc.key.get_base64()[:20]}...): the machine changed, or someone is in between. "
                              "Fix the known hosts file if the change is expected.") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise RemoteError(f"{self.node}: {where}: authentication failed ({exc}); check --username and "
                              "--ssh-key") from None
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                keys = self.login.known_hosts or "~/.ssh/known_hosts"
                raise RemoteError(
                    f"{self.node}: the host key of {self.host} is not known: add it to {keys} (e.g. "
                    f"`ssh-keyscan -p {self.login.port} {self.host} >> {keys}`, after checking it), or pass "
                    "--insecure-accept-host-keys for throw-away machines") from None
            raise _Dropped(f"{where}: {exc}") from exc
        except (OSError, EOFError) as exc:
            client.close()
            raise _Dropped(f"cannot connect to {where}: {exc}") from exc
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    def _ssh(self) -> Any:
        with self._lock:
            transport = self._client.get_transport() if self._client is not None else None
            if transport is None or not transport.is_active():
                if self._client is not None:
                    with contextlib.suppress(Exception):
                        self._client.close()
                    self._client = None
                self._client = self._connect()
            return self._client

    def _forget_connection(self) -> None:
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(Exception):
                    self._client.close()
            self._client = None

    def close(self) -> None:
        self._forget_connection()

    def connect(self) -> None:
        """Log in now (with retries), so refused keys and unreachable hosts show up before anything is done."""
        self._retrying("connecting", self._ssh)

    def _retrying(self, what: str, action: Callable[[], T]) -> T:
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return action()
            except _Dropped as exc:
                self._forget_connection()
                if attempt == self.retries:
                    raise RemoteError(f"{self.node}: {what}: connection failed {self.retries + 1} times, "
                                      f"last: {exc}") from exc
                log.warning("%s: %s: connection dropped (%s); reconnecting", self.node, what, exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    # -- commands ----------------------------------------------------------------------------
    def run(self, cmd: str | list[str], *, check: bool = True, timeout: float | None = 60,
            env: dict[str, str] | None = None, stdin: bytes | None = None, _retry_started: bool = True) -> Result:
        line = command_line(cmd, env=env, timeout=timeout, sudo=self.login.sudo)
        result, timed_out = self._retrying(describe(cmd),
                                           lambda: self._run_once(line, stdin, timeout, _retry_started))
        if timed_out:
            raise RemoteError(f"{self.node}: command timed out after {timeout}s: {describe(cmd)}")
        if self.login.sudo and result.exit_code == 1 and "sudo:" in result.stderr and "password" in result.stderr:
            raise RemoteError(f"{self.node}: sudo needs a password for {self.login.username}; the ssh backend "
                              "needs password-less sudo (or log in as root)", result)
        if check and result.exit_code != 0:
            tail = (result.stderr.strip() or result.stdout.strip())[-2000:]
            raise RemoteError(f"{self.node}: command failed with exit code {result.exit_code}: {describe(cmd)}"
                              + (f"\n{tail}" if tail else ""), result)
        return result

    def _run_once(self, line: str, stdin: bytes | None, timeout: float | None,
                  retry_started: bool) -> tuple[Result, bool]:
        client = self._ssh()
        transport = client.get_transport()
        try:
            chan = transport.open_session(timeout=CONNECT_TIMEOUT)
        except Exception as exc:  # SSHException, EOFError, socket errors: the connection is gone
            raise _Dropped(f"opening a channel: {exc}") from exc
        started = time.monotonic()
        # The node kills the command at `timeout`; this local limit only guards against a node that went silent.
        deadline = None if timeout is None else started + timeout + 30
        out: list[bytes] = []
        err: list[bytes] = []
        try:
            chan.exec_command(line)
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
            while True:
                if chan.recv_ready():
                    out.append(chan.recv(65536))
                    continue
                if chan.recv_stderr_ready():
                    err.append(chan.recv_stderr(65536))
                    continue
                if chan.exit_status_ready():
                    if not chan.recv_ready() and not chan.recv_stderr_ready():
                        break
                    continue
                if not transport.is_active() or chan.closed and not chan.exit_status_ready():
                    raise OSError("connection closed by the node")
                if deadline is not None and time.monotonic() > deadline:
                    raise RemoteError(f"{self.node}: no answer from {self.host} for {timeout + 30:.0f}s: {line}")
                select.select([chan], [], [], 0.05)
            code = chan.recv_exit_status()
        except RemoteError:
            raise
        except Exception as exc:
            if not retry_started:
                raise RemoteError(f"{self.node}: connection to {self.host} dropped while running {line}; it may "
                                  "or may not have run") from exc
            raise _Dropped(f"running a command: {exc}") from exc
        finally:
            chan.close()
        result = Result(code, b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace"))
        # `timeout -s KILL` kills itself too, so the node reports 137, or a signal (-1 from paramiko).
        timed_out = timeout is not None and code in (124, 137, -1) and time.monotonic() - started >= timeout
        return result, timed_out

    def spawn(self, cmd: list[str], *, log_file: str, pid_file: str, env: dict[str, str] | None = None,
              cwd: str | None = None) -> int:
        script = spawn_script(cmd, log_file=log_file, pid_file=pid_file, env=env, cwd=cwd)
        # setsid: the daemon must not get the SIGHUP sent when the channel's session ends.
        result = self.run(["setsid", "sh", "-c", script], timeout=30, _retry_started=False)
        try:
            return int(result.stdout.split()[-1])
        except (IndexError, ValueError) as exc:
            raise RemoteError(f"{self.node}: could not start {describe(cmd)}: no PID reported", result) from exc

    # -- files -------------------------------------------------------------------------------
    def _staging(self) -> str:
        return f"/tmp/zkjepsen-{self.login.username}-{secrets.token_hex(6)}.tar"

    def upload(self, local: str, remote: str) -> None:
        """``local`` file -> file ``remote``; ``local`` directory -> its contents merged into ``remote``."""
        if not os.path.exists(local):
            raise RemoteError(f"{self.node}: cannot upload {local}: no such file or directory")
        target = remote if os.path.isdir(local) else os.path.dirname(remote.rstrip("/")) or "/"
        staging = self._staging()
        with tempfile.NamedTemporaryFile(suffix=".tar") as buf:
            with tarfile.open(fileobj=buf, mode="w") as tar:
                if os.path.isdir(local):
                    for name in sorted(os.listdir(local)):
                        tar.add(os.path.join(local, name), arcname=name, filter=_portable)
                else:
                    tar.add(local, arcname=os.path.basename(remote.rstrip("/")), filter=_portable)
            buf.flush()
            self._retrying(f"uploading {local}", lambda: self._sftp(lambda sftp: sftp.put(buf.name, staging)))
        q = shlex.quote
        self.run(f"mkdir -p {q(target)} && tar -xf {q(staging)} -C {q(target)} --no-same-owner; "
                 f"code=$?; rm -f {q(staging)}; exit $code", timeout=600)

    def download(self, remote: str, local: str) -> None:
        """File ``remote`` -> file ``local``; directory ``remote`` -> its contents merged into ``local``."""
        staging = self._staging()
        q = shlex.quote
        parent, name = os.path.split(remote.rstrip("/"))
        result = self.run(
            f"test -e {q(remote)} || {{ echo missing; exit 0; }}; "
            f"umask 077; tar -cf {q(staging)} -C {q(parent or '/')} {q(name)} && "
            f"chown {q(self.login.username)} {q(staging)} && {{ test -d {q(remote)} && echo dir || echo file; }}",
            timeout=600)
        kind = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        if kind == "missing":
            raise RemoteError(f"{self.node}: cannot download {remote}: no such file or directory")
        try:
            with tempfile.NamedTemporaryFile(suffix=".tar") as buf:
                self._retrying(f"downloading {remote}",
                               lambda: self._sftp(lambda sftp: sftp.get(staging, buf.name)))
                with tarfile.open(buf.name, mode="r") as tar:
                    _extract(tar, local, kind == "dir")
        finally:
            self.run(["rm", "-f", staging], check=False)

    def _sftp(self, action: Callable[[Any], T]) -> T:
        client = self._ssh()
        try:
            sftp = client.open_sftp()
        except Exception as exc:
            raise _Dropped(f"opening SFTP: {exc}") from exc
        try:
            return action(sftp)
        except (EOFError, socket.error) as exc:
            raise _Dropped(f"SFTP: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                sftp.close()

    def __repr__(self) -> str:
        return f"SshRemote({self.node!r}, {self.login.username}@{self.host}:{self.login.port})"


def _portable(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name.split("/"):
        return None  # the control machine's bytecode is of no use on the node
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _extract(tar: tarfile.TarFile, local: str, is_dir: bool) -> None:
    """Unpack a tar of one file or directory (its top-level entry) to ``local``, merging directories."""
    members = tar.getmembers()
    if not members:
        raise RemoteError(f"empty archive for {local}")
    top = members[0].name.split("/")[0]
    if is_dir:
        os.makedirs(local, exist_ok=True)
        for member in members:
            first, _, rest = member.name.partition("/")
            if first != top or not rest:
                continue
            member.name = rest
            tar.extract(member, local, filter="data")
    else:
        member = members[0]
        member.name = os.path.basename(local)
        parent = os.path.dirname(os.path.abspath(local))
        os.makedirs(parent, exist_ok=True)
        tar.extract(member, parent, filter="data")


class _AcceptAndWarn:
    """paramiko MissingHostKeyPolicy for --insecure-accept-host-keys: accept, say so, remember nothing."""

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        log.warning("accepting unverified %s host key %s for %s (--insecure-accept-host-keys)",
                    key.get_name(), key.get_fingerprint().hex(), hostname)


@dataclass
class SshRunState(RunRecord):
    """What one ssh run made on its hosts (or is about to): ``<state dir>/ssh-<run id>.json``."""

    file_prefix = STATE_PREFIX

    login: dict[str, Any]
    nodes: dict[str, str] = field(default_factory=dict)   # node (host as given) -> IPv4 address
    prepared: list[str] = field(default_factory=list)      # nodes where the run's directory was made

    @property
    def run_dir(self) -> str:
        return f"{NODE_ROOT}/{self.run_id}"

    def home(self, node: str) -> str:
        return f"{self.run_dir}/{node}"


def find_runs(state_dir: str | None = None, problems: list[str] | None = None) -> list[SshRunState]:
    """The ssh runs recorded in ``state_dir`` (see ``base.find_runs``)."""
    return base.find_runs(SshRunState, state_dir, problems)


# Kills each server recorded under the run's directory, but only if the PID still belongs to the process that
# was started (DaemonDB writes the start time next to the PID), then removes the directory.
_CLEANUP = r"""
run_dir=$1
for pidfile in "$run_dir"/*/*/server.pid; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile" 2>/dev/null); want=$(cat "$pidfile.start" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) continue;; esac
  [ -r /proc/$pid/stat ] || continue
  have=$(sed 's/.*) //' /proc/$pid/stat | cut -d' ' -f20)
  if [ -z "$want" ] || [ "$have" = "$want" ]; then kill -9 "$pid" 2>/dev/null || true; fi
done
rm -rf "$run_dir"
"""


def remove_run(run: SshRunState, remotes: dict[str, SshRemote] | None = None) -> None:
    """Kill the run's servers, remove its iptables chain and its directory on every node; then the state file.
    Unreachable nodes are reported and the state file kept, so a later ``cluster down`` can finish the job."""
    login = SshLogin(**run.login)
    problems = []
    for node, address in run.nodes.items():
        if node not in run.prepared:
            continue  # never reached (refused host key, no route): nothing of the run is there
        remote = (remotes or {}).get(node) or SshRemote(node, address, login, run.home(node), retries=1)
        try:
            remote.run(["sh", "-c", _CLEANUP, "cleanup", run.run_dir], timeout=60)
            with contextlib.suppress(RemoteError):
                if remote.run(["sh", "-c", "command -v iptables"], check=False).ok:
                    remove_chain(remote)
        except RemoteError as exc:
            problems.append(str(exc).splitlines()[0])
        finally:
            remote.close()
    run.finish_removal(problems, "ssh cleanup incomplete (state kept in " + run.path + "): " + "; ".join(problems))


def resolve_ipv4(host: str) -> str:
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RemoteError(f"cannot resolve node {host!r}: {exc.strerror}") from None
    return infos[0][4][0]


class SshBackend:
    name = "ssh"

    def __init__(self, username: str | None = None, ssh_key: str | None = None, ssh_port: int | None = None,
                 insecure_accept_host_keys: bool = False, known_hosts: str | None = None,
                 state_dir: str | None = None, retries: int = 3) -> None:
        try:
            import paramiko  # noqa: F401
        except ImportError as exc:
            raise SshUnavailable("the ssh backend needs paramiko (pip install paramiko)") from exc
        if ssh_key and not os.path.isfile(ssh_key):
            raise SshUnavailable(f"--ssh-key {ssh_key}: no such file")
        if known_hosts and not os.path.isfile(known_hosts):
            raise SshUnavailable(f"known hosts file {known_hosts}: no such file")
        port = 22 if ssh_port is None else int(ssh_port)
        if not 0 < port < 65536:
            raise SshUnavailable(f"--ssh-port must be 1..65535, got {ssh_port}")
        self.login = SshLogin(username=username or getpass.getuser(), port=port,
                              ssh_key=os.path.abspath(ssh_key) if ssh_key else None,
                              known_hosts=os.path.abspath(known_hosts) if known_hosts else None,
                              insecure_accept_host_keys=insecure_accept_host_keys)
        self.state_dir = os.path.abspath(state_dir or state_dir_default())
        self.retries = retries
        self.state: SshRunState | None = None
        self._remotes: dict[str, SshRemote] = {}
        self._net: IptablesNet | None = None

    def _state(self) -> SshRunState:
        if self.state is None:
            raise RuntimeError("ssh backend: create() has not been called")
        return self.state

    @property
    def run_id(self) -> str:
        return self._state().run_id

    @property
    def nodes(self) -> list[str]:
        return list(self._state().nodes)

    def shell_hint(self, node: str) -> str:
        key = f" -i {self.login.ssh_key}" if self.login.ssh_key else ""
        return f"ssh{key} -p {self.login.port} {self.login.username}@{node}"

    @classmethod
    def attach(cls, run_id: str, state_dir: str | None = None) -> "SshBackend":
        state = load_run(SshRunState, "ssh", run_id, os.path.abspath(state_dir or state_dir_default()))
        backend = cls(state_dir=state.state_dir, **{k: v for k, v in state.login.items() if k != "port"},
                      ssh_port=state.login.get("port"))
        backend.state = state
        return backend

    def create(self, nodes: list[str]) -> None:
        if self.state is not None:
            raise RuntimeError("ssh backend: create() was already called; make a new backend")
        if not nodes:
            raise ValueError("ssh backend: no nodes: pass the hosts with --nodes host1,host2,...")
        if len(set(nodes)) != len(nodes):
            raise ValueError(f"ssh backend: hosts must be distinct, got {nodes}")
        addresses = {node: resolve_ipv4(node) for node in nodes}
        self.state = SshRunState.owned(run_id=new_run_id(SshRunState, self.state_dir), state_dir=self.state_dir,
                                       login=asdict(self.login), nodes=addresses)
        self.state.save()
        try:
            for node in nodes:
                remote = self.remote(node)
                remote.connect()
                if self.login.sudo:
                    result = remote.run(["true"], check=False)
                    if not result.ok:
                        raise RemoteError(f"{node}: `sudo -n true` failed for {self.login.username}: "
                                          f"{result.stderr.strip()[:300]}; the ssh backend needs password-less "
                                          "sudo (or log in as root)")
                self.state.prepared.append(node)  # recorded first: mkdir may succeed and its answer get lost
                self.state.save()
                remote.run(["mkdir", "-p", remote.home])
        except BaseException as exc:
            try:
                self.destroy()
            except Exception as cleanup:  # keep the original error in front; the state file keeps the rest
                log.warning("cleaning up after a failed create: %s", cleanup)
                if isinstance(exc, Exception):
                    exc.add_note(f"cleanup incomplete: {cleanup}")
            raise

    def remote(self, node: str) -> SshRemote:
        st = self._state()
        if node not in st.nodes:
            raise ValueError(f"unknown node {node!r}; nodes are {list(st.nodes)}")
        if node not in self._remotes:
            self._remotes[node] = SshRemote(node, st.nodes[node], self.login, st.home(node), self.retries)
        return self._remotes[node]

    def address(self, node: str) -> str:
        st = self._state()
        if node not in st.nodes:
            raise ValueError(f"unknown node {node!r}; nodes are {list(st.nodes)}")
        return st.nodes[node]

    def net(self) -> IptablesNet:
        if self._net is None:
            self._net = IptablesNet({n: self.remote(n) for n in self.nodes}, self.address)
        return self._net

    def detach(self, **notes: Any) -> None:
        self._state().release(**notes)
        for remote in self._remotes.values():
            remote.close()

    def destroy(self) -> None:
        if self.state is not None:
            remove_run(self.state, self._remotes)
        for remote in self._remotes.values():
            remote.close()
        self._remotes.clear()
        self._net = None

    def __repr__(self) -> str:
        return f"SshBackend({self.state.run_id if self.state else 'not created'})"
