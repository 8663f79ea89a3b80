"""The netns backend: every node is a Linux network namespace on this machine.

Layout of one run (run id ``a1b2c3``, nodes n1..n3, subnet 10.77.K.0/24)::

    host (control machine)              zkj-a1b2c3-hub                    zkj-a1b2c3-n1 / -n2 / -n3
    zkja1b2c3 10.77.K.1/24  <--veth-->  host ┐                            eth0 10.77.K.11 / .12 / .13
                                             br0 ── p1, p2, p3 <--veth--> eth0
The bridge lives in a namespace of its own, so the host gets exactly one new interface (``zkj<runid>``) with a
route to its own /24, and nothing else on the host changes (no bridge, no forwarding, no firewall rules).
The harness's clients run on the control machine and reach ``address(node)`` through that interface.

Each node namespace gets ``/etc/netns/<ns>/hosts`` naming every node (and ``control``), which ``ip netns exec``
bind-mounts over /etc/hosts, so processes on a node resolve n1..nN. Nodes share the control machine's
filesystem; each has a private directory ``<state dir>/<prefix>/<node>`` (``Remote.home``).

Everything a run creates is first written to a state file ``<state dir>/<prefix>.json`` (names are planned
before they exist), so ``destroy`` — or ``harness cluster down`` after a crash — removes exactly those names
and never anything that is not recorded there. The state dir is ``$ZKJEPSEN_STATE_DIR`` or
``/var/tmp/zkjepsen``.
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from harness.backends import base
from harness.backends.base import RunRecord, load_run, machine_lock, new_run_id, state_dir_default
from harness.net import IptablesNet
from harness.remote import LocalRemote, RemoteError

# One lock for every netns run on the machine, whatever its state dir: subnet choice must not race.
LOCK_FILE = "/run/lock/zkjepsen-netns.lock"
NETNS_DIR = "/run/netns"
ETC_NETNS = "/etc/netns"
NODE_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
FIRST_HOST = 11  # n1 is .11, n2 .12, ...: easy to read in logs


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RemoteError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


@dataclass
class RunState(RunRecord):
    """What one netns run created (or is about to create): ``<state dir>/zkj-<run id>.json``."""

    file_prefix = "zkj-"

    subnet: str  # "10.77.K.0/24"
    nodes: dict[str, str] = field(default_factory=dict)  # node -> IP

    @property
    def prefix(self) -> str:
        return f"zkj-{self.run_id}"

    @property
    def hub(self) -> str:
        return f"{self.prefix}-hub"

    @property
    def host_if(self) -> str:
        return f"zkj{self.run_id}"  # 9 characters; interface names may have at most 15

    @property
    def host_ip(self) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    def namespace(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    @property
    def namespaces(self) -> list[str]:
        return [self.namespace(n) for n in self.nodes] + [self.hub]

    @property
    def home_root(self) -> str:
        return os.path.join(self.state_dir, self.prefix)

    def home(self, node: str) -> str:
        return os.path.join(self.home_root, node)

    def existing_namespaces(self) -> list[str]:
        return [ns for ns in self.namespaces if os.path.exists(os.path.join(NETNS_DIR, ns))]

    def host_if_exists(self) -> bool:
        return os.path.exists(f"/sys/class/net/{self.host_if}")

    def pids(self) -> list[int]:
        """Processes running inside this run's namespaces."""
        found: list[int] = []
        for ns in self.existing_namespaces():
            proc = _ip("netns", "pids", ns, check=False)
            found += [int(p) for p in proc.stdout.split() if p.isdigit()]
        return found


def find_runs(state_dir: str | None = None, problems: list[str] | None = None) -> list[RunState]:
    """The netns runs recorded in ``state_dir`` (see ``base.find_runs``)."""
    return base.find_runs(RunState, state_dir, problems)


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rpartition(")")[2].split()[0] in ("Z", "X"):
                        break
            except OSError:
                break
            time.sleep(0.02)
    for pid in pids:
        # Servers run under libfaketime for clock faults; its shared memory is named after the process that
        # made it, which cannot remove it once SIGKILLed. These PIDs were ours (in our namespaces) and are dead.
        for name in (f"faketime_shm_{pid}", f"sem.faketime_sem_{pid}"):
            with contextlib.suppress(OSError):
                os.remove(os.path.join("/dev/shm", name))


def remove_run(run: RunState) -> None:
    """Remove everything ``run`` recorded, whatever exists of it. Idempotent."""
    # Processes first: a namespace with processes in it outlives `ip netns del` (and its servers keep ports).
    for _ in range(3):  # a process may fork while we kill; go round until the namespaces are empty
        pids = run.pids()
        if not pids:
            break
        _kill_all(pids)
    for ns in run.existing_namespaces():
        _ip("netns", "del", ns, check=False)
    if run.host_if_exists():  # normally gone with the hub namespace (its veth peer)
        _ip("link", "del", run.host_if, check=False)
    for ns in run.namespaces:
        shutil.rmtree(os.path.join(ETC_NETNS, ns), ignore_errors=True)
    shutil.rmtree(run.home_root, ignore_errors=True)
    run.finish_removal(run.existing_namespaces() + ([run.host_if] if run.host_if_exists() else []))


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    nets = []
    routes = _ip("-4", "route", "show", "table", "all", check=False).stdout
    addrs = _ip("-4", "-o", "addr", "show", check=False).stdout
    for word in (routes + "\n" + addrs).split():
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+(/\d+)?", word):
            with contextlib.suppress(ValueError):
                nets.append(ipaddress.ip_network(word, strict=False))
    return nets


def choose_subnet(base: str, taken: set[str]) -> str:
    """A free /24 inside ``base`` (e.g. 10.77.0.0/16): overlapping no route or address of the host, and no
    subnet recorded by another run."""
    used = _networks_in_use()
    for candidate in ipaddress.ip_network(base).subnets(new_prefix=24):
        if str(candidate) in taken or candidate.network_address.packed[-2] == 0:
            continue
        if any(candidate.overlaps(n) and n.prefixlen > 0 for n in used):
            continue
        return str(candidate)
    raise RemoteError(f"no free /24 left in {base} (all overlap host routes or other runs)")


class NetnsRemote(LocalRemote):
    """Runs commands inside one node's namespace with ``ip netns exec``, which execs the command (no fork),
    so spawn's PID is the server's own."""

    def __init__(self, node: str, namespace: str, home: str) -> None:
        super().__init__(node, home)
        self.namespace = namespace

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]


class NetnsBackend:
    name = "netns"

    def __init__(self, state_dir: str | None = None, subnet_base: str = "10.77.0.0/16") -> None:
        self.state_dir = os.path.abspath(state_dir or state_dir_default())
        self.subnet_base = subnet_base
        self.state: RunState | None = None
        self._remotes: dict[str, NetnsRemote] = {}
        self._net: IptablesNet | None = None

    # -- identity ----------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self._state().run_id

    @property
    def control_address(self) -> str:
        """The control machine's address on the nodes' subnet (nodes know it as ``control``)."""
        return self._state().host_ip

    def _state(self) -> RunState:
        if self.state is None:
            raise RuntimeError("netns backend: create() has not been called")
        return self.state

    @classmethod
    def attach(cls, run_id: str, state_dir: str | None = None) -> "NetnsBackend":
        """A backend for an existing run (e.g. one left by ``harness cluster up``)."""
        backend = cls(state_dir)
        backend.state = load_run(RunState, "netns", run_id, backend.state_dir)
        return backend

    # -- creation ----------------------------------------------------------------------------
    def create(self, nodes: list[str]) -> None:
        if self.state is not None:
            raise RuntimeError("netns backend: create() was already called; make a new backend")
        if not nodes:
            raise ValueError("netns backend: no nodes to create")
        bad = [n for n in nodes if not NODE_NAME.match(n)]
        if bad or len(set(nodes)) != len(nodes):
            raise ValueError(f"netns backend: node names must be unique, lowercase letters/digits, start with a "
                             f"letter, at most 12 characters; got {nodes}")
        if len(nodes) > 200:
            raise ValueError("netns backend: at most 200 nodes")
        try:
            with machine_lock(LOCK_FILE):
                taken = {run.subnet for run in find_runs(self.state_dir)}
                run_id = new_run_id(RunState, self.state_dir, self._names_in_use)
                subnet = choose_subnet(self.subnet_base, taken)
                net = ipaddress.ip_network(subnet)
                self.state = RunState.owned(
                    run_id=run_id, state_dir=self.state_dir, subnet=subnet,
                    nodes={n: str(net.network_address + FIRST_HOST + i) for i, n in enumerate(nodes)})
                self.state.save()  # before anything exists, so a crash from here on leaves a record
                self._create_hub()  # the host interface's route marks the subnet as used for the next run
            for i, node in enumerate(nodes):
                self._create_node(i, node)
        except BaseException:
            self.destroy()
            raise

    def _names_in_use(self, run_id: str) -> bool:
        """Whether a namespace or interface with this run id's names exists (unrecorded, or another state dir's)."""
        probe = RunState(run_id=run_id, state_dir=self.state_dir, subnet="0.0.0.0/24")
        return os.path.exists(os.path.join(NETNS_DIR, probe.hub)) or probe.host_if_exists()

    def _create_hub(self) -> None:
        st = self._state()
        prefixlen = ipaddress.ip_network(st.subnet).prefixlen
        _ip("netns", "add", st.hub)
        _ip("-n", st.hub, "link", "set", "lo", "up")
        _ip("-n", st.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", st.hub, "link", "set", "br0", "up")
        # Made inside the hub and then one end moved out, so no half-made pair is ever left on the host alone.
        _ip("-n", st.hub, "link", "add", "host", "type", "veth", "peer", "name", st.host_if)
        _ip("-n", st.hub, "link", "set", st.host_if, "netns", str(os.getpid()))
        _ip("-n", st.hub, "link", "set", "host", "master", "br0")
        _ip("-n", st.hub, "link", "set", "host", "up")
        _ip("addr", "add", f"{st.host_ip}/{prefixlen}", "dev", st.host_if)
        _ip("link", "set", st.host_if, "up")

    def _create_node(self, index: int, node: str) -> None:
        st = self._state()
        ns = st.namespace(node)
        prefixlen = ipaddress.ip_network(st.subnet).prefixlen
        os.makedirs(os.path.join(ETC_NETNS, ns), exist_ok=True)
        hosts = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback", f"{st.host_ip} control"]
        hosts += [f"{ip} {name}" for name, ip in st.nodes.items()]
        with open(os.path.join(ETC_NETNS, ns, "hosts"), "w") as f:
            f.write("\n".join(hosts) + "\n")
        os.makedirs(st.home(node), exist_ok=True)
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        port = f"p{index + 1}"
        _ip("-n", st.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", st.hub, "link", "set", port, "master", "br0")
        _ip("-n", st.hub, "link", "set", port, "up")
        _ip("-n", ns, "addr", "add", f"{st.nodes[node]}/{prefixlen}", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")

    # -- use ---------------------------------------------------------------------------------
    def remote(self, node: str) -> NetnsRemote:
        st = self._state()
        if node not in st.nodes:
            raise ValueError(f"unknown node {node!r}; nodes are {list(st.nodes)}")
        if node not in self._remotes:
            self._remotes[node] = NetnsRemote(node, st.namespace(node), st.home(node))
        return self._remotes[node]

    def address(self, node: str) -> str:
        st = self._state()
        if node not in st.nodes:
            raise ValueError(f"unknown node {node!r}; nodes are {list(st.nodes)}")
        return st.nodes[node]

    @property
    def nodes(self) -> list[str]:
        return list(self._state().nodes)

    def net(self) -> IptablesNet:
        if self._net is None:
            self._net = IptablesNet({n: self.remote(n) for n in self.nodes}, self.address)
        return self._net

    def detach(self, **notes: Any) -> None:
        """Leave the run alive after this process exits (``harness cluster up``): it is then removed only by
        ``harness cluster down``. ``notes`` (e.g. db, connect string) are kept in the state file."""
        self._state().release(**notes)

    def destroy(self) -> None:
        if self.state is not None:
            remove_run(self.state)
        self._remotes.clear()
        self._net = None

    def __repr__(self) -> str:
        return f"NetnsBackend({self.state.prefix if self.state else 'not created'})"
