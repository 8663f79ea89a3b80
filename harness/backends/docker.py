"""The docker backend: every node is a container on a Docker network of the run's own.

Layout of one run (run id ``a1b2c3``, nodes n1..n3, subnet 10.78.K.0/24)::

    control machine  ── bridge of network zkj-a1b2c3 (gateway 10.78.K.1, "control" on the nodes)
                          ├── container zkj-a1b2c3-n1  hostname n1  10.78.K.11
                          ├── container zkj-a1b2c3-n2  hostname n2  10.78.K.12
                          └── container zkj-a1b2c3-n3  hostname n3  10.78.K.13

Everything goes through the docker SDK (``docker`` Python package), never the docker CLI.

- **Containers** run the node image (``harness image build``; ``zkjepsen-node:bookworm-zk`` when it exists, else
  ``zkjepsen-node:bookworm``, or ``image=``) with ``sleep infinity`` under Docker's init (which reaps killed
  servers), capability ``NET_ADMIN`` added for iptables and nothing else: never ``SYS_TIME``, never privileged.
- **Names resolve** on every node through /etc/hosts entries (``extra_hosts``) for every node and ``control``,
  plus network aliases, so it works whether or not the daemon's embedded DNS does (it needs no host firewall
  rules either way). A daemon started with ``--iptables=false --ip6tables=false --bridge=none`` is enough: the
  run's network is a plain Linux bridge, the control machine reaches the nodes through it.
- **Commands** run with the exec API (``DockerRemote``); a timeout is enforced inside the container with
  coreutils ``timeout -s KILL``, so a stuck command really ends. Servers started by ``spawn`` are re-parented
  to the container's init, and their PIDs are the container's own (kill/pause by PID run in the container too).
- **Files**: nodes do not share the control machine's filesystem; ``upload``/``download`` are tar streams
  through ``put_archive``/``get_archive``. DBs upload what they need (the reference server copies its package).
  Each node's ``home`` is ``/var/lib/zkjepsen/<node>``.
- **Network faults**: ``IptablesNet`` through the containers' Remotes: rules live in the containers' own
  network stacks, never the host's.

As with netns, a state file ``<state dir>/docker-<run id>.json`` records the network and container names before
they exist; ``destroy`` (or ``harness cluster down --backend docker`` after a crash) removes exactly those.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from harness.backends import base
from harness.backends.base import RunRecord, load_run, machine_lock, new_run_id, state_dir_default
from harness.backends.netns import NODE_NAME, choose_subnet
from harness.net import IptablesNet
from harness.remote import RemoteError, Result, describe, spawn_script

log = logging.getLogger("zkjepsen.docker")

LOCK_FILE = "/run/lock/zkjepsen-docker.lock"
FIRST_HOST = 11
NODE_HOME = "/var/lib/zkjepsen"
RUN_LABEL = "zkjepsen.run"
STATE_PREFIX = "docker-"
DOCKERD_HINT = ("start it, e.g. as root: dockerd --iptables=false --ip6tables=false --bridge=none "
                "(those flags leave the host's firewall alone), or set DOCKER_HOST")
# How long one API call may wait on the daemon's socket; command timeouts are enforced inside the container.
API_TIMEOUT = 3600


class DockerUnavailable(RuntimeError):
    pass


def connect(base_url: str | None = None, timeout: float = API_TIMEOUT) -> Any:
    """A docker SDK client that has answered a ping; DockerUnavailable with what to do otherwise."""
    try:
        import docker
    except ImportError as exc:
        raise DockerUnavailable("the docker backend needs the docker Python package (pip install docker)") from exc
    try:
        client = docker.DockerClient(base_url=base_url, timeout=timeout) if base_url else \
            docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as exc:  # DockerException, requests' ConnectionError, a socket error ...
        where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise DockerUnavailable(f"cannot reach the Docker daemon at {where} ({_short(exc)}); {DOCKERD_HINT}") \
            from exc


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[-1] if lines else type(exc).__name__)[:300]


@dataclass
class DockerRunState(RunRecord):
    """What one docker run created (or is about to): ``<state dir>/docker-<run id>.json``."""

    file_prefix = STATE_PREFIX

    subnet: str
    image: str
    nodes: dict[str, str] = field(default_factory=dict)          # node -> IP
    container_ids: dict[str, str] = field(default_factory=dict)  # node -> id, once created
    network_id: str | None = None

    @property
    def prefix(self) -> str:
        return f"zkj-{self.run_id}"

    @property
    def network(self) -> str:
        return self.prefix

    def container(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    def existing(self, client: Any) -> tuple[list[str], bool]:
        """(containers of this run that exist, whether its network exists)."""
        import docker.errors

        present = []
        for node in self.nodes:
            with contextlib.suppress(docker.errors.NotFound):
                client.api.inspect_container(self.container_ids.get(node) or self.container(node))
                present.append(self.container(node))
        try:
            client.api.inspect_network(self.network_id or self.network)
            network = True
        except docker.errors.NotFound:
            network = False
        return present, network


def find_runs(state_dir: str | None = None, problems: list[str] | None = None) -> list[DockerRunState]:
    """The docker runs recorded in ``state_dir`` (see ``base.find_runs``)."""
    return base.find_runs(DockerRunState, state_dir, problems)


def remove_run(run: DockerRunState, client: Any | None = None) -> None:
    """Remove the containers and network ``run`` recorded, whatever exists of them. Idempotent."""
    import docker.errors

    client = client or connect()
    for node in run.nodes:
        # By recorded id when we have it, else by the planned name (a crash between create and save).
        for ref in dict.fromkeys(filter(None, [run.container_ids.get(node), run.container(node)])):
            for attempt in range(5):
                try:
                    client.api.remove_container(ref, force=True, v=True)
                    break
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError as exc:  # "removal already in progress" and the like
                    if attempt == 4:
                        raise RemoteError(f"could not remove container {ref}: {_short(exc)}") from exc
                    time.sleep(0.5 * (attempt + 1))
    for ref in dict.fromkeys(filter(None, [run.network_id, run.network])):
        for attempt in range(5):
            try:
                client.api.remove_network(ref)
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError as exc:  # endpoints still detaching
                if attempt == 4:
                    raise RemoteError(f"could not remove network {ref}: {_short(exc)}") from exc
                time.sleep(0.5 * (attempt + 1))
    containers, network = run.existing(client)
    run.finish_removal(containers + ([run.network] if network else []))


def _docker_subnets(client: Any) -> set[str]:
    subnets = set()
    for net in client.api.networks():
        for config in ((net.get("IPAM") or {}).get("Config") or []):
            if config.get("Subnet"):
                subnets.add(config["Subnet"])
    return subnets


def default_image(client: Any) -> str:
    """The ZooKeeper node image if it exists (it can run every built-in DB), else the plain one."""
    import docker.errors

    from harness.images import image_tag

    for tag in (image_tag(True), image_tag(False)):
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.get(tag)
            return tag
    raise DockerUnavailable(f"no node image ({image_tag(True)} or {image_tag(False)}): build one with "
                            "`harness image build --with-zookeeper` (or without --with-zookeeper for --db "
                            "reference only)")


class DockerRemote:
    """Runs commands in one container through the exec API."""

    shares_filesystem = False

    def __init__(self, client: Any, container: str, node: str, home: str) -> None:
        self.client = client
        self.container = container
        self.node = node
        self.home = home

    def run(self, cmd: str | list[str], *, check: bool = True, timeout: float | None = 60,
            env: dict[str, str] | None = None, stdin: bytes | None = None) -> Result:
        import docker.errors

        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        if not argv:
            raise ValueError("empty command")
        if timeout is not None:
            argv = ["timeout", "-s", "KILL", f"{max(timeout, 0.1):g}", *argv]
        started = time.monotonic()
        try:
            exec_id = self.client.api.exec_create(self.container, argv, stdin=stdin is not None,
                                                  environment=env or None)["Id"]
            if stdin is None:
                out, err = self.client.api.exec_start(exec_id, demux=True)
            else:
                out, err = self._with_stdin(exec_id, stdin)
            code = self.client.api.exec_inspect(exec_id)["ExitCode"]
        except docker.errors.NotFound as exc:
            raise RemoteError(f"{self.node}: container {self.container} does not exist") from exc
        except docker.errors.APIError as exc:
            raise RemoteError(f"{self.node}: cannot run {describe(cmd)} in {self.container}: {_short(exc)}") from exc
        except Exception as exc:  # requests' connection errors, a socket error: the daemon went away
            raise RemoteError(f"{self.node}: lost the Docker daemon while running {describe(cmd)}: "
                              f"{_short(exc)}") from exc
        if code is None:
            code = -1
        if timeout is not None and code == 137 and time.monotonic() - started >= timeout:
            raise RemoteError(f"{self.node}: command timed out after {timeout}s: {describe(cmd)}")
        result = Result(code, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"))
        if code == 127 and "exec failed" in result.stdout + result.stderr:
            raise RemoteError(f"{self.node}: cannot run {describe(cmd)}: {result.stdout.strip()}", result)
        if check and code != 0:
            tail = (result.stderr.strip() or result.stdout.strip())[-2000:]
            raise RemoteError(f"{self.node}: command failed with exit code {code}: {describe(cmd)}"
                              + (f"\n{tail}" if tail else ""), result)
        return result

    def _with_stdin(self, exec_id: str, data: bytes) -> tuple[bytes, bytes]:
        from docker.utils.socket import consume_socket_output, demux_adaptor, frames_iter

        sock = self.client.api.exec_start(exec_id, socket=True)
        raw = getattr(sock, "_sock", sock)
        try:
            raw.sendall(data)
            raw.shutdown(socket.SHUT_WR)  # the daemon closes the command's stdin on our half-close
            frames = (demux_adaptor(*frame) for frame in frames_iter(sock, tty=False))
            out, err = consume_socket_output(frames, demux=True)
        finally:
            sock.close()
        return out or b"", err or b""

    def spawn(self, cmd: list[str], *, log_file: str, pid_file: str, env: dict[str, str] | None = None,
              cwd: str | None = None) -> int:
        script = spawn_script(cmd, log_file=log_file, pid_file=pid_file, env=env, cwd=cwd)
        result = self.run(script, timeout=30)
        try:
            return int(result.stdout.split()[-1])
        except (IndexError, ValueError) as exc:
            raise RemoteError(f"{self.node}: could not start {describe(cmd)}: no PID reported", result) from exc

    def upload(self, local: str, remote: str) -> None:
        """``local`` file -> file ``remote``; ``local`` directory -> its contents merged into ``remote``."""
        import docker.errors

        if not os.path.exists(local):
            raise RemoteError(f"{self.node}: cannot upload {local}: no such file or directory")
        target = remote if os.path.isdir(local) else os.path.dirname(remote.rstrip("/")) or "/"
        with tempfile.TemporaryFile() as buf:
            with tarfile.open(fileobj=buf, mode="w") as tar:
                if os.path.isdir(local):
                    for name in sorted(os.listdir(local)):
                        tar.add(os.path.join(local, name), arcname=name, filter=_as_root)
                else:
                    tar.add(local, arcname=os.path.basename(remote.rstrip("/")), filter=_as_root)
            buf.seek(0)
            self.run(["mkdir", "-p", target])
            try:
                self.client.api.put_archive(self.container, target, buf)
            except docker.errors.APIError as exc:
                raise RemoteError(f"{self.node}: uploading {local} to {remote} failed: {_short(exc)}") from exc

    def download(self, remote: str, local: str) -> None:
        """File ``remote`` -> file ``local``; directory ``remote`` -> its contents merged into ``local``."""
        import docker.errors

        try:
            stream, info = self.client.api.get_archive(self.container, remote)
        except docker.errors.NotFound as exc:
            raise RemoteError(f"{self.node}: cannot download {remote}: no such file or directory") from exc
        except docker.errors.APIError as exc:
            raise RemoteError(f"{self.node}: downloading {remote} failed: {_short(exc)}") from exc
        is_dir = bool(info.get("mode", 0) & (1 << 31))  # Go's os.ModeDir
        with tempfile.TemporaryFile() as buf:
            for chunk in stream:
                buf.write(chunk)
            buf.seek(0)
            with tarfile.open(fileobj=buf, mode="r") as tar:
                members = tar.getmembers()
                if not members:
                    raise RemoteError(f"{self.node}: downloading {remote} gave an empty archive")
                top = members[0].name.split("/")[0]
                if is_dir:
                    os.makedirs(local, exist_ok=True)
                    for member in members:
                        rest = member.name.split("/", 1)[1] if "/" in member.name else ""
                        if not rest or member.name.split("/")[0] != top:
                            continue
                        member.name = rest
                        tar.extract(member, local, filter="data")
                else:
                    member = members[0]
                    member.name = os.path.basename(local)
                    os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
                    tar.extract(member, os.path.dirname(os.path.abspath(local)), filter="data")

    def __repr__(self) -> str:
        return f"DockerRemote({self.node!r}, {self.container!r})"


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name.split("/"):
        return None  # bytecode of the control machine's python is of no use on the node
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


class DockerBackend:
    name = "docker"

    def __init__(self, state_dir: str | None = None, image: str | None = None,
                 subnet_base: str = "10.78.0.0/16", docker_host: str | None = None, client: Any = None) -> None:
        self.state_dir = os.path.abspath(state_dir or state_dir_default())
        self.subnet_base = subnet_base
        self.client = client or connect(docker_host)
        self.image = self._check_image(image)  # now, so a missing image is refused before a run starts
        self.state: DockerRunState | None = None
        self._remotes: dict[str, DockerRemote] = {}
        self._net: IptablesNet | None = None

    def _check_image(self, image: str | None) -> str:
        import docker.errors

        if image is None:
            return default_image(self.client)
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            raise DockerUnavailable(f"image {image} does not exist: build it with `harness image build`") from None
        return image

    # -- identity ----------------------------------------------------------------------------
    def _state(self) -> DockerRunState:
        if self.state is None:
            raise RuntimeError("docker backend: create() has not been called")
        return self.state

    @property
    def run_id(self) -> str:
        return self._state().run_id

    @property
    def control_address(self) -> str:
        return self._state().gateway

    @property
    def nodes(self) -> list[str]:
        return list(self._state().nodes)

    @classmethod
    def attach(cls, run_id: str, state_dir: str | None = None, client: Any = None) -> "DockerBackend":
        backend = cls(state_dir, client=client)
        backend.state = load_run(DockerRunState, "docker", run_id, backend.state_dir)
        return backend

    def shell_hint(self, node: str) -> str:
        return f"docker exec -it {self._state().container(node)} bash"

    # -- creation ----------------------------------------------------------------------------
    def create(self, nodes: list[str]) -> None:
        import docker.errors
        from docker.types import IPAMConfig, IPAMPool

        if self.state is not None:
            raise RuntimeError("docker backend: create() was already called; make a new backend")
        if not nodes:
            raise ValueError("docker backend: no nodes to create")
        bad = [n for n in nodes if not NODE_NAME.match(n)]
        if bad or len(set(nodes)) != len(nodes):
            raise ValueError(f"docker backend: node names must be unique, lowercase letters/digits, start with a "
                             f"letter, at most 12 characters; got {nodes}")
        if len(nodes) > 200:
            raise ValueError("docker backend: at most 200 nodes")
        image = self.image
        try:
            with machine_lock(LOCK_FILE):
                taken = {run.subnet for run in find_runs(self.state_dir)} | _docker_subnets(self.client)
                subnet = choose_subnet(self.subnet_base, taken)
                net = ipaddress.ip_network(subnet)
                self.state = DockerRunState.owned(
                    run_id=new_run_id(DockerRunState, self.state_dir), state_dir=self.state_dir, subnet=subnet,
                    image=image, nodes={n: str(net.network_address + FIRST_HOST + i) for i, n in enumerate(nodes)})
                self.state.save()  # before anything exists, so a crash from here on leaves a record
                st = self.state
                log.info("docker run %s: network %s (%s), containers %s, image %s, state file %s", st.run_id,
                         st.network, subnet, " ".join(st.container(n) for n in nodes), image, st.path)
                ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, gateway=st.gateway)])
                st.network_id = self.client.api.create_network(
                    st.network, driver="bridge", ipam=ipam, labels={RUN_LABEL: st.run_id},
                    check_duplicate=True)["Id"]
                st.save()
            for node in nodes:
                self._create_node(node)
            for node in nodes:
                self.client.api.start(self._state().container_ids[node])
            for node in nodes:
                self.remote(node).run(["mkdir", "-p", self.remote(node).home])
        except docker.errors.APIError as exc:
            self.destroy()
            raise RemoteError(f"docker backend: creating the nodes failed: {_short(exc)}") from exc
        except BaseException:
            self.destroy()
            raise

    def _create_node(self, node: str) -> None:
        st = self._state()
        api = self.client.api
        hosts = {"control": st.gateway, **st.nodes}
        host_config = api.create_host_config(
            network_mode=st.network, cap_add=["NET_ADMIN"], init=True, extra_hosts=hosts,
            # tmpfs /run: sshd and friends expect it; the node's own files stay on the container's disk.
            tmpfs={"/run": "rw,nosuid,nodev,mode=755"})
        networking = api.create_networking_config({
            st.network: api.create_endpoint_config(ipv4_address=st.nodes[node], aliases=[node])})
        container = api.create_container(
            st.image, command=["sleep", "infinity"], name=st.container(node), hostname=node,
            labels={RUN_LABEL: st.run_id, "zkjepsen.node": node}, host_config=host_config,
            networking_config=networking, detach=True)
        st.container_ids[node] = container["Id"]
        st.save()

    # -- use ---------------------------------------------------------------------------------
    def remote(self, node: str) -> DockerRemote:
        st = self._state()
        if node not in st.nodes:
            raise ValueError(f"unknown node {node!r}; nodes are {list(st.nodes)}")
        if node not in self._remotes:
            self._remotes[node] = DockerRemote(self.client, st.container_ids.get(node) or st.container(node), node,
                                               f"{NODE_HOME}/{node}")
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
        """Leave the run alive after this process exits (``harness cluster up``)."""
        self._state().release(**notes)

    def destroy(self) -> None:
        if self.state is not None:
            remove_run(self.state, self.client)
        self._remotes.clear()
        self._net = None

    def __repr__(self) -> str:
        return f"DockerBackend({self.state.prefix if self.state else 'not created'})"

