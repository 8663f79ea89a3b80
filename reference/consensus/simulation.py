"""A deterministic many-server simulation of consensus cores, with a faulty simulated network and an invariant checker.

Pure: no sockets, clocks or threads; every choice comes from one seeded `random.Random`, so a (seed, Faults) pair
replays exactly. Used by the consensus tests; the replicated-service simulation can reuse `Cluster` with its own
application (any `StateMachine`, passed as `app_factory`).

The network drops, delays (reordering follows), duplicates, and partitions messages (also one-way). Servers crash,
losing everything but their `Disk`, possibly between persisting a Ready and sending its messages, and restart from
the disk. The checker raises `InvariantViolation` as soon as it sees:

- two leaders in one term (election safety);
- two different entries with the same (index, term), or two logs that agree on an entry's term but differ before it
  (log matching);
- a leader of term T missing an entry committed in an earlier term (leader completeness);
- a server applying at index i anything but the committed entry i, applying out of order, or installing a snapshot
  that differs from the committed history (state machine safety; no committed transaction lost);
- a read index below an index committed before the read was asked (linearizable reads).
After `heal_and_settle`, a single leader must emerge and new proposals must be applied everywhere within bounds,
leaving every server's state machine identical and equal to the committed history.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import random
import struct
from dataclasses import dataclass, replace
from typing import Callable, Hashable, Protocol

from .core import Config, HardState, Node, PersistentState, Ready, Role
from .messages import Entry, EntryKind, Message, Snapshot


class InvariantViolation(AssertionError):
    pass


def _chain(digest: bytes, e: Entry) -> bytes:
    return hashlib.sha256(digest + struct.pack(">QQB", e.index, e.term, int(e.kind)) + e.data).digest()[:16]


class StateMachine(Protocol):
    """The replicated application a simulated server runs (a key-value map here; the data tree later)."""

    def apply(self, data: bytes) -> None: ...
    def snapshot(self) -> bytes: ...
    def restore(self, blob: bytes) -> None: ...
    def state(self) -> Hashable: ...


class KVStore:
    """`key=value` entries set keys."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def apply(self, data: bytes) -> None:
        key, _, value = data.partition(b"=")
        self.data[key] = value

    def snapshot(self) -> bytes:
        return json.dumps({k.hex(): v.hex() for k, v in sorted(self.data.items())}).encode()

    def restore(self, blob: bytes) -> None:
        self.data = {bytes.fromhex(k): bytes.fromhex(v) for k, v in json.loads(blob).items()}

    def state(self) -> Hashable:
        return tuple(sorted(self.data.items()))


_REPLICA_HEAD = struct.Struct(">Q16s")


class Replica:
    """A server's application plus the index it reached and a hash chain over every entry it applied, so that
    equal digests mean equal histories and snapshots can be checked against the committed history."""

    def __init__(self, app: StateMachine) -> None:
        self.app = app
        self.index = 0
        self.digest = bytes(16)

    def apply(self, e: Entry) -> None:
        if e.index != self.index + 1:
            raise InvariantViolation(f"applied index {e.index} after {self.index}")
        if e.kind is EntryKind.NORMAL:
            self.app.apply(e.data)
        self.digest = _chain(self.digest, e)
        self.index = e.index

    def snapshot(self) -> bytes:
        return _REPLICA_HEAD.pack(self.index, self.digest) + self.app.snapshot()

    def restore(self, blob: bytes) -> None:
        self.index, self.digest = _REPLICA_HEAD.unpack_from(blob)
        self.app.restore(blob[_REPLICA_HEAD.size:])

    def state(self) -> tuple:
        return self.index, self.digest, self.app.state()


class Disk:
    """What survives a crash: exactly what the Ready contract says was persisted."""

    def __init__(self) -> None:
        self.hard = HardState()
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []

    def persist(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.snapshot = rd.snapshot
            self.entries = []
        if rd.entries:
            first = rd.entries[0].index
            base = self.snapshot.index if self.snapshot else 0
            del self.entries[max(0, first - base - 1):]
            if self.entries and self.entries[-1].index != first - 1:
                raise InvariantViolation(f"Ready entries start at {first}, disk log ends at {self.entries[-1].index}")
            self.entries.extend(rd.entries)
        if rd.hard_state is not None:
            self.hard = rd.hard_state

    def compact(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.entries = [e for e in self.entries if e.index > snap.index]

    def state(self) -> PersistentState:
        return PersistentState(self.hard, self.snapshot, list(self.entries))


@dataclass(frozen=True)
class Faults:
    drop: float = 0.0             # probability a message is lost
    duplicate: float = 0.0        # probability a message is delivered twice
    max_delay: int = 0            # messages take 0..max_delay steps (reordering follows)
    tick_skip: float = 0.0        # probability a server misses a tick in a step (clock drift)
    crash: float = 0.0            # per step: probability some server crashes
    crash_mid_ready: float = 0.0  # given a crash, probability it hits after persisting but before sending
    crash_leader: float = 0.0     # given a crash, probability it hits a leader (more elections, more history)
    restart: float = 0.0          # per step, per down server: probability it restarts
    partition: float = 0.0        # per step: probability the partition changes (to a new one or healed)
    propose: float = 0.5          # per step: probability a client proposes at a leader
    read: float = 0.05            # per step: probability a client asks some server for a read index
    compact_every: int = 0        # compact a server's log once this many entries are applied beyond its snapshot


QUIET = Faults()


class Cluster:
    def __init__(self, n: int, seed: int, faults: Faults = QUIET, config: Config | None = None,
                 node_class: Callable[..., Node] = Node, check_every: int = 25,
                 app_factory: Callable[[], StateMachine] = KVStore) -> None:
        self.app_factory = app_factory
        self.ids = list(range(1, n + 1))
        self.rng = random.Random(seed)
        self.faults = faults
        self.config = config or Config(election_ticks=10, heartbeat_ticks=2)
        self.node_class = node_class
        self.check_every = check_every
        self.now = 0
        self.disks = {i: Disk() for i in self.ids}
        self.nodes: dict[int, Node | None] = {}
        self.apps: dict[int, Replica | None] = {}
        self.blocked: set[tuple[int, int]] = set()
        self._queue: list[tuple[int, int, Message]] = []
        self._seq = 0
        # Observer state.
        self.leaders: dict[int, int] = {}                     # term -> leader id
        self.entry_ids: dict[tuple[int, int], tuple] = {}     # (index, term) -> (kind, data)
        self.committed: list[Entry] = []                      # committed[i - 1] is the entry committed at i
        self.commit_terms: list[int] = []                     # term of the leader that first committed i
        self.digests: list[bytes] = [bytes(16)]                     # digests[i] = hash chain over committed[:i]
        self.proposals: dict[tuple[int, int, int], bytes] = {}  # (node, term, index) -> data
        self.acked: dict[int, bytes] = {}                     # index -> data the proposer saw applied
        self.reads: dict[bytes, int] = {}                     # ctx -> committed index when asked
        self._counter = 0
        self.stats = {"elections": 0, "max_term": 0, "crashes": 0, "restarts": 0, "snapshots_installed": 0,
                      "compactions": 0, "reads_answered": 0, "messages": 0, "dropped": 0}
        for i in self.ids:
            self._start(i)

    # ------------------------------------------------------------------ servers

    def _start(self, i: int) -> None:
        disk = self.disks[i]
        node = self.node_class(i, self.ids, state=disk.state(), config=self.config,
                               seed=self.rng.randrange(1 << 32))
        app = Replica(self.app_factory())
        if disk.snapshot is not None:
            app.restore(disk.snapshot.data)
            self._check_snapshot(i, disk.snapshot)
        self.nodes[i] = node
        self.apps[i] = app

    def crash(self, i: int) -> None:
        if self.nodes.get(i) is not None:
            self.nodes[i] = None
            self.apps[i] = None
            self.stats["crashes"] += 1

    def restart(self, i: int) -> None:
        if self.nodes.get(i) is None:
            self._start(i)
            self.stats["restarts"] += 1

    def wipe(self, i: int) -> None:
        """Replace server i by one with empty storage (a replaced disk). Only safe while a quorum holds the data."""
        self.crash(i)
        self.disks[i] = Disk()
        self._start(i)

    def up(self) -> list[int]:
        return [i for i in self.ids if self.nodes.get(i) is not None]

    def leader_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n is not None and n.role is Role.LEADER]

    # ------------------------------------------------------------------ network

    def _send(self, m: Message) -> None:
        self.stats["messages"] += 1
        f = self.faults
        if (m.src, m.dst) in self.blocked or (f.drop and self.rng.random() < f.drop):
            self.stats["dropped"] += 1
            return
        copies = 2 if f.duplicate and self.rng.random() < f.duplicate else 1
        for _ in range(copies):
            delay = self.rng.randint(0, f.max_delay) if f.max_delay else 0
            self._seq += 1
            heapq.heappush(self._queue, (self.now + delay, self._seq, m))

    def _deliver_due(self) -> None:
        while self._queue and self._queue[0][0] <= self.now:
            _, _, m = heapq.heappop(self._queue)
            node = self.nodes.get(m.dst)
            if node is None or (m.src, m.dst) in self.blocked:
                continue
            node.step(m)
            self._observe(node)

    def set_partition(self, blocked: set[tuple[int, int]]) -> None:
        self.blocked = set(blocked)

    def isolate(self, i: int) -> None:
        self.blocked = {(i, j) for j in self.ids if j != i} | {(j, i) for j in self.ids if j != i}

    def _random_partition(self) -> set[tuple[int, int]]:
        ids, rng = self.ids, self.rng
        kind = rng.choice(["heal", "heal", "isolate", "split", "one-way", "bridge", "random"])
        if kind == "heal":
            return set()
        if kind == "isolate":
            x = rng.choice(ids)
            return {(x, j) for j in ids if j != x} | {(j, x) for j in ids if j != x}
        if kind == "one-way":
            # x can hear the others but they cannot hear x, or the reverse.
            x = rng.choice(ids)
            if rng.random() < 0.5:
                return {(x, j) for j in ids if j != x}
            return {(j, x) for j in ids if j != x}
        if kind == "random":
            return {(a, b) for a in ids for b in ids if a != b and rng.random() < 0.3}
        side = set(rng.sample(ids, rng.randint(1, len(ids) - 1)))
        cut = {(a, b) for a in ids for b in ids if (a in side) != (b in side)}
        if kind == "bridge":
            m = rng.choice(ids)
            cut = {(a, b) for (a, b) in cut if m not in (a, b)}
        return cut

    # ------------------------------------------------------------------ driving

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def step(self) -> None:
        self.now += 1
        f, rng = self.faults, self.rng
        if f.partition and rng.random() < f.partition:
            self.blocked = self._random_partition()
        victim, when = None, ""
        if f.crash and rng.random() < f.crash:
            up = self.up()
            leaders = [n.id for n in self.leader_nodes()]
            if up:
                victim = rng.choice(leaders if leaders and rng.random() < f.crash_leader else up)
                # The crash hits after this step's inputs: before persisting their Ready (losing them), between
                # persisting and sending, or after the whole Ready.
                when = "mid" if f.crash_mid_ready and rng.random() < f.crash_mid_ready else rng.choice(
                    ["unpersisted", "after"])
        if f.restart:
            for i in self.ids:
                if self.nodes.get(i) is None and rng.random() < f.restart:
                    self.restart(i)
        if f.propose and rng.random() < f.propose:
            self._propose()
        if f.read and rng.random() < f.read:
            self._read()
        self._deliver_due()
        order = self.up()
        rng.shuffle(order)
        for i in order:
            node = self.nodes[i]
            if node is not None and not (f.tick_skip and rng.random() < f.tick_skip):
                node.tick()
                self._observe(node)
        for i in order:
            if self.nodes.get(i) is None:
                continue
            if i == victim:
                if when != "unpersisted":
                    self._process_ready(i, crash_before_send=(when == "mid"))
                self.crash(i)
            else:
                self._process_ready(i)
        if self.now % self.check_every == 0:
            self.check_logs()

    def _propose(self) -> None:
        leaders = self.leader_nodes()
        if not leaders:
            return
        node = self.rng.choice(leaders)
        count = 1 if self.rng.random() < 0.7 else self.rng.randint(2, 20)
        items = []
        for _ in range(count):
            self._counter += 1
            items.append(b"k%d=%d" % (self.rng.randrange(10), self._counter))
        first = node.propose_batch(items)
        self._observe(node)
        assert first is not None
        for off, data in enumerate(items):
            self.proposals[(node.id, node.term, first + off)] = data

    def propose_at(self, i: int, data: bytes) -> int | None:
        node = self.nodes[i]
        assert node is not None
        index = node.propose(data)
        self._observe(node)
        if index is not None:
            self.proposals[(i, node.term, index)] = data
        return index

    def _read(self) -> None:
        up = self.up()
        if not up:
            return
        node = self.nodes[self.rng.choice(up)]
        self._counter += 1
        ctx = b"r%d" % self._counter
        if node.read_index(ctx):
            self.reads[ctx] = len(self.committed)

    def _process_ready(self, i: int, crash_before_send: bool = False) -> None:
        node, app, disk = self.nodes[i], self.apps[i], self.disks[i]
        assert node is not None and app is not None
        if not node.has_ready():
            return
        rd = node.ready()
        self._observe_entries(rd)
        disk.persist(rd)
        if crash_before_send:
            return
        for m in rd.messages:
            self._send(m)
        if rd.snapshot is not None:
            self._check_snapshot(i, rd.snapshot)
            app.restore(rd.snapshot.data)
            self.stats["snapshots_installed"] += 1
        for e in rd.committed_entries:
            self._check_apply(i, e)
            app.apply(e)
            data = self.proposals.pop((i, e.term, e.index), None)
            if data is not None:
                self.acked[e.index] = data
        for rs in rd.read_states:
            asked = self.reads.pop(rs.ctx, None)
            if asked is not None:
                if rs.index < asked:
                    raise InvariantViolation(f"read {rs.ctx!r} at node {i} got index {rs.index}, but {asked} was "
                                             "committed before it was asked")
                self.stats["reads_answered"] += 1
        ce = self.faults.compact_every
        if ce and app.index - node.first_index + 1 >= ce and app.index == node.applied:
            term = node.term_at(app.index)
            assert term is not None
            snap = Snapshot(app.index, term, app.snapshot())
            disk.compact(snap)
            node.compact(snap.index, snap.data)
            self.stats["compactions"] += 1

    # ------------------------------------------------------------------ invariants

    def _observe(self, node: Node) -> None:
        """Called after every input to a node: new leaders and newly committed indices are noticed at once."""
        if node.commit > len(self.committed):
            self._record_commit(node)
        if node.role is not Role.LEADER:
            return
        prev = self.leaders.get(node.term)
        if prev is None:
            self.leaders[node.term] = node.id
            self.stats["elections"] += 1
            self.stats["max_term"] = max(self.stats["max_term"], node.term)
            self.check_leader_completeness(node)
        elif prev != node.id:
            raise InvariantViolation(f"two leaders in term {node.term}: {prev} and {node.id}")

    def _observe_entries(self, rd: Ready) -> None:
        for e in rd.entries:
            ident = (e.kind, e.data)
            seen = self.entry_ids.setdefault((e.index, e.term), ident)
            if seen != ident:
                raise InvariantViolation(f"two different entries at index {e.index} term {e.term}")

    def _record_commit(self, node: Node) -> None:
        if node.role is not Role.LEADER:
            raise InvariantViolation(f"node {node.id} ({node.role.value}) learned commit {node.commit} before any "
                                     f"leader committed beyond {len(self.committed)}")
        for idx in range(len(self.committed) + 1, node.commit + 1):
            e = node.entries_between(idx, idx)
            if not e:
                raise InvariantViolation(f"leader {node.id} committed {idx} which it does not hold")
            self.committed.append(e[0])
            self.commit_terms.append(node.term)
            self.digests.append(_chain(self.digests[-1], e[0]))

    def _check_apply(self, i: int, e: Entry) -> None:
        if e.index > len(self.committed):
            raise InvariantViolation(f"node {i} applied {e.index} beyond the committed index {len(self.committed)}")
        c = self.committed[e.index - 1]
        if c != e:
            raise InvariantViolation(f"node {i} applied {e} at {e.index}, but {c} was committed there")

    def _check_snapshot(self, i: int, snap: Snapshot) -> None:
        if snap.index > len(self.committed):
            raise InvariantViolation(f"node {i} holds a snapshot at {snap.index} beyond commit {len(self.committed)}")
        app = Replica(self.app_factory())
        app.restore(snap.data)
        if app.index != snap.index or app.digest != self.digests[snap.index] \
                or snap.term != self.committed[snap.index - 1].term:
            raise InvariantViolation(f"node {i} snapshot at {snap.index} differs from the committed history")

    def check_leader_completeness(self, node: Node) -> None:
        # Entries committed in terms before node.term; commit_terms is nondecreasing, so they form a prefix.
        lo, hi = 0, len(self.commit_terms)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.commit_terms[mid] < node.term:
                lo = mid + 1
            else:
                hi = mid
        for idx in range(max(node.first_index, 1), lo + 1):
            if node.term_at(idx) != self.committed[idx - 1].term:
                raise InvariantViolation(f"leader {node.id} of term {node.term} lacks entry {idx} committed "
                                         f"in term {self.commit_terms[idx - 1]}")
        snap = node.snapshot
        if lo and node.last_index < lo and (snap is None or snap.index < lo):
            raise InvariantViolation(f"leader {node.id} of term {node.term} lacks committed entries up to {lo}")

    def check_logs(self) -> None:
        """Log matching between every pair of running servers, and leader completeness of every leader."""
        nodes = [n for n in self.nodes.values() if n is not None]
        for n in nodes:
            if n.role is Role.LEADER:
                self.check_leader_completeness(n)
            if n.commit > n.last_index:
                raise InvariantViolation(f"node {n.id} commit {n.commit} beyond its log end {n.last_index}")
        for x in range(len(nodes)):
            for y in range(x + 1, len(nodes)):
                a, b = nodes[x], nodes[y]
                lo, hi = max(a.first_index, b.first_index), min(a.last_index, b.last_index)
                top = hi
                while top >= lo and a.term_at(top) != b.term_at(top):
                    top -= 1
                if top >= lo and a.entries_between(lo, top) != b.entries_between(lo, top):
                    raise InvariantViolation(f"logs of {a.id} and {b.id} agree on the term at {top} but differ "
                                             "before it")

    # ------------------------------------------------------------------ heal and liveness

    def heal_and_settle(self, proposals: int = 5) -> None:
        """Heal everything, then require a stable leader, that new proposals commit everywhere, and equal states."""
        self.faults = replace(QUIET, max_delay=self.faults.max_delay, compact_every=self.faults.compact_every,
                              propose=0.0, read=0.0)
        self.blocked = set()
        for i in self.ids:
            self.restart(i)
        et = self.config.election_ticks
        bound = 20 * et + 10 * self.faults.max_delay
        # Stable = the same leader, followed by all, for two election timeouts (a leader elected just before the
        # heal may still step down once, for having been cut off from its majority).
        streak: list = [None, 0]

        def stable() -> Node | None:
            ld = self._stable_leader()
            key = (ld.id, ld.term) if ld else None
            streak[:] = [key, streak[1] + 1 if key is not None and key == streak[0] else 0]
            return ld if streak[1] >= 2 * et else None

        leader = self._await(bound, stable, "no stable leader after the network healed")
        term = leader.term
        indices = []
        for k in range(proposals):
            idx = self.propose_at(leader.id, b"heal%d=%d" % (k, self.now))
            if idx is None:
                raise InvariantViolation("leader lost leadership on a healed network")
            indices.append((idx, term))
        target = indices[-1][0]

        def all_applied() -> Node | None:
            if self.nodes[leader.id] is not leader or leader.role is not Role.LEADER or leader.term != term:
                raise InvariantViolation("leadership changed on a healed network")
            apps = [self.apps[i] for i in self.ids]
            if all(a is not None and a.index >= target for a in apps) and len({a.index for a in apps}) == 1:
                return leader
            return None

        def committed() -> Node | None:
            if self.nodes[leader.id] is not leader or leader.role is not Role.LEADER or leader.term != term:
                raise InvariantViolation("leadership changed on a healed network")
            return leader if leader.commit >= target else None

        # Catching up far-behind servers (without snapshots) takes time proportional to how far behind they are;
        # the leader may need some of them for a majority.
        lag = max(target - a.index for a in self.apps.values() if a is not None)
        round_trip = 2 * (self.faults.max_delay + 1)
        per_round_trip = min(self.config.max_append_entries * self.config.max_inflight, 256)
        bound += 2 * lag * round_trip // per_round_trip
        self._await(bound, committed, "proposals made after healing were not committed")
        self._await(bound, all_applied, "proposals made after healing were not applied everywhere")
        for idx, t in indices:
            if self.committed[idx - 1].term != t:
                raise InvariantViolation(f"post-heal proposal at {idx} was not committed")
        states = {self.apps[i].state() for i in self.ids}
        if len(states) != 1:
            raise InvariantViolation("state machines differ after healing")
        (index, digest, _), = states
        if digest != self.digests[index]:
            raise InvariantViolation("state machines differ from the committed history")
        for idx, data in self.acked.items():
            if self.committed[idx - 1].data != data:
                raise InvariantViolation(f"acknowledged proposal at {idx} was lost")
        self.check_logs()

    def _stable_leader(self) -> Node | None:
        leaders = self.leader_nodes()
        if len(leaders) != 1:
            return None
        ld = leaders[0]
        for n in self.nodes.values():
            if n is None or n.term != ld.term or n.leader != ld.id:
                return None
        return ld

    def _await(self, bound: int, cond: Callable[[], Node | None], failure: str) -> Node:
        for _ in range(bound):
            self.step()
            got = cond()
            if got is not None:
                return got
        raise InvariantViolation(f"{failure} within {bound} steps")
