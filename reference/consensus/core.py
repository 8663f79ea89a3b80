"""A Raft-like consensus core as a pure, deterministic state machine (in the style of etcd's raft library).

Inputs: `tick()` (one unit of logical time), `step(message)`, `propose(data)`, `read_index(ctx)`, `compact(...)`.
Output: `ready()`, which hands over everything the node produced since the previous `ready()`.
No sockets, clocks, threads or I/O; randomness (election timeouts) comes from a seeded `random.Random`.

## The Ready contract (the caller's half of the safety argument)

Process each `Ready` completely, in this order, before processing the next one:

1. Persist durably (fsync) — `snapshot` first if present (it replaces the whole stored log: drop every stored entry),
   then `entries` (drop stored entries with index >= entries[0].index, then append), then `hard_state`.
2. Only then send `messages`. A vote granted or an entry acknowledged in a message must survive a crash; a crash
   before step 1 completes must lose the messages too.
3. Apply: if `snapshot` is present, reset the state machine from `snapshot.data`; then apply `committed_entries`
   in order (skip `EntryKind.NOOP` ones, they only advance the index).
4. Answer linearizable reads from `read_states` once the state machine has applied up to their index.

`tick`, `step`, `propose`, ... may be called while a Ready is being processed; what they produce goes into the next
Ready. `ready()` consumes what it returns (there is no separate advance call).

Restart: build a new Node from what was persisted (`PersistentState`); the state machine restarts from the stored
snapshot and gets the entries after it again through `committed_entries` (or pass `applied=` if it is durable).

Proposals: `propose` returns the entry's index (and `node.term` is its term); the entry is committed iff the entry
applied at that index has that term. A proposal can be lost when leadership changes; the caller should fail its
waiters when this node stops being leader (`role`/`leader` change), since the index may not be reached soon.
"""
from __future__ import annotations

import enum
import random
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .messages import (
    Append, AppendResp, Entry, EntryKind, Heartbeat, HeartbeatResp, InstallSnapshot, Message, PreVote, PreVoteResp,
    ReadIndex, ReadIndexResp, Snapshot, Vote, VoteResp,
)


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before any message depending on it is sent."""
    term: int = 0
    vote: int | None = None
    commit: int = 0

    _LAYOUT = struct.Struct(">QqQ")  # vote -1 = none

    def encode(self) -> bytes:
        return self._LAYOUT.pack(self.term, -1 if self.vote is None else self.vote, self.commit)

    @classmethod
    def decode(cls, buf: bytes) -> "HardState":
        if len(buf) != cls._LAYOUT.size:
            raise ValueError(f"hard state record must be {cls._LAYOUT.size} bytes, got {len(buf)}")
        term, vote, commit = cls._LAYOUT.unpack(buf)
        return cls(term, None if vote < 0 else vote, commit)


@dataclass(slots=True)
class PersistentState:
    """What a node restarts from: the last persisted hard state, snapshot and the entries after the snapshot."""
    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read may be served once the state machine has applied `index`."""
    index: int
    ctx: bytes


@dataclass(slots=True)
class Ready:
    hard_state: HardState | None
    snapshot: Snapshot | None
    entries: list[Entry]
    messages: list[Message]
    committed_entries: list[Entry]
    read_states: list[ReadState]
    # Local read requests that will never be answered because this node lost leadership; retry them.
    dropped_reads: list[bytes]

    def is_empty(self) -> bool:
        return not (self.hard_state or self.snapshot or self.entries or self.messages or self.committed_entries
                    or self.read_states or self.dropped_reads)


@dataclass(frozen=True, slots=True)
class Config:
    election_ticks: int = 10      # base election timeout; the real one is random in [election_ticks, 2*election_ticks)
    heartbeat_ticks: int = 1
    max_append_entries: int = 4096
    max_append_bytes: int = 1 << 20
    max_inflight: int = 64        # Append messages in flight per follower while replicating (pipelining window)
    check_quorum: bool = True
    pre_vote: bool = True
    # How a leader answers read_index: "quorum" (the safe way: its commit index, confirmed by a heartbeat round
    # with a quorum). The others exist only for the reference server's seeded bugs (reference/bugs.py): "commit"
    # answers at once with its own commit index, "log" at once with its own last log index; neither checks that
    # it still leads. "lease" (seeded bug wall-clock-lease) answers at once from its commit index while a lease
    # holds: `lease_seconds` since a quorum last answered, measured on the clock the caller hands in with
    # `set_clock` (the server gives its wall clock, which a clock fault moves); while it holds the leader also
    # ignores check-quorum. Safe with honest clocks if lease_seconds is shorter than an election timeout.
    read_index: str = "quorum"
    lease_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.heartbeat_ticks < 1 or self.election_ticks <= self.heartbeat_ticks:
            raise ValueError("need 1 <= heartbeat_ticks < election_ticks")
        if self.read_index not in ("quorum", "commit", "log", "lease"):
            raise ValueError(f"read_index must be quorum, commit, log or lease, got {self.read_index!r}")
        if self.max_append_entries < 1 or self.max_append_bytes < 1 or self.max_inflight < 1:
            raise ValueError("append limits and max_inflight must be positive")


class _State(enum.Enum):
    PROBE = 0       # next is a guess; one Append at a time until the follower answers
    REPLICATE = 1   # next is known; Appends are pipelined up to max_inflight
    SNAPSHOT = 2    # an InstallSnapshot is in flight; nothing else is sent


class _Progress:
    """The leader's view of one follower."""
    __slots__ = ("match", "next", "state", "probe_sent", "inflight", "pending_snapshot", "snapshot_ticks",
                 "recent_active", "heartbeat_match")

    def __init__(self, next_index: int) -> None:
        self.match = 0
        self.next = next_index
        self.state = _State.PROBE
        self.probe_sent = False
        self.inflight: deque[int] = deque()  # last index of each Append in flight, ascending
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.recent_active = False
        self.heartbeat_match = -1  # match when the previous HeartbeatResp arrived, to notice stalled replication

    def become_probe(self) -> None:
        if self.state is _State.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = _State.PROBE
        self.probe_sent = False
        self.inflight.clear()
        self.pending_snapshot = 0

    def become_replicate(self) -> None:
        self.state = _State.REPLICATE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflight.clear()

    def paused(self, max_inflight: int) -> bool:
        if self.state is _State.PROBE:
            return self.probe_sent
        if self.state is _State.REPLICATE:
            return len(self.inflight) >= max_inflight
        return True

    def update(self, index: int) -> bool:
        """A follower acknowledged `index`. Returns whether match moved."""
        self.probe_sent = False
        while self.inflight and self.inflight[0] <= index:
            self.inflight.popleft()
        if index > self.match:
            self.match = index
            self.next = max(self.next, index + 1)
            return True
        return False


class _PendingRead:
    __slots__ = ("seq", "index", "ctx", "origin")

    def __init__(self, seq: int, index: int, ctx: bytes, origin: int) -> None:
        self.seq = seq
        self.index = index
        self.ctx = ctx
        self.origin = origin


_SEQ = struct.Struct(">Q")


class Node:
    def __init__(self, node_id: int, voters: Iterable[int], *, state: PersistentState | None = None,
                 config: Config | None = None, seed: int = 0, applied: int | None = None) -> None:
        self.id = node_id
        self.voters: tuple[int, ...] = tuple(sorted(set(voters)))
        if node_id not in self.voters:
            raise ValueError(f"node {node_id} is not among the voters {self.voters}")
        self.peers: tuple[int, ...] = tuple(v for v in self.voters if v != node_id)
        self.quorum = len(self.voters) // 2 + 1
        self.config = config or Config()
        self._rng = random.Random(seed)
        state = state or PersistentState()

        snap = state.snapshot
        self._snapshot: Snapshot | None = snap
        self._snap_index = snap.index if snap else 0
        self._snap_term = snap.term if snap else 0
        entries = [e for e in state.entries if e.index > self._snap_index]
        for offset, e in enumerate(entries):
            if e.index != self._snap_index + 1 + offset:
                raise ValueError(f"persisted log is not contiguous after index {self._snap_index}: "
                                 f"found index {e.index} at position {offset}")
        self._entries: list[Entry] = entries

        hs = state.hard_state
        self.term = hs.term
        self.vote = hs.vote
        # A commit index beyond the stored log is unusable (the entries are not here); lowering it loses nothing.
        self.commit = min(max(hs.commit, self._snap_index), self.last_index)
        self._applied = self._snap_index if applied is None else min(max(applied, self._snap_index), self.commit)
        self._stable_to = self.last_index
        self._persisted_hard = HardState(self.term, self.vote, self.commit)
        self._pending_snapshot: Snapshot | None = None

        self.role = Role.FOLLOWER
        self.leader: int | None = None
        self._msgs: list[Message] = []
        self._read_states: list[ReadState] = []
        self._dropped_reads: list[bytes] = []
        self._progress: dict[int, _Progress] = {}
        self._votes: dict[int, bool] = {}
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_timeout = 0
        self._bcast_entries = False
        self._bcast_commit = False
        self._bcast_read = False
        self._read_seq = 0
        self._reads: deque[_PendingRead] = deque()
        self._deferred_reads: list[tuple[bytes, int]] = []
        self._read_acked: dict[int, int] = {}
        self._reset(self.term)

    # ------------------------------------------------------------------ log access

    @property
    def last_index(self) -> int:
        return self._snap_index + len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self._snap_term

    @property
    def first_index(self) -> int:
        """The first index still held in the log (entries before it are in the snapshot)."""
        return self._snap_index + 1

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    @property
    def applied(self) -> int:
        """Highest index handed out for applying (in committed_entries or as a snapshot)."""
        return self._applied

    def term_at(self, index: int) -> int | None:
        """The term of the entry at `index`, or None if it was compacted away or does not exist."""
        if index == self._snap_index:
            return self._snap_term
        if self._snap_index < index <= self.last_index:
            return self._entries[index - self._snap_index - 1].term
        return None

    def entries_between(self, lo: int, hi: int) -> list[Entry]:
        """Entries with lo <= index <= hi (both clamped to what the log holds)."""
        lo = max(lo, self._snap_index + 1)
        hi = min(hi, self.last_index)
        if lo > hi:
            return []
        return self._entries[lo - self._snap_index - 1: hi - self._snap_index]

    def _append(self, entries: Sequence[Entry]) -> None:
        self._entries.extend(entries)

    def _truncate_from(self, index: int) -> None:
        del self._entries[index - self._snap_index - 1:]
        self._stable_to = min(self._stable_to, index - 1)

    def _find_conflict_by_term(self, index: int, term: int) -> int:
        """The largest index <= `index` whose entry's term is <= `term` (or the snapshot index)."""
        index = min(index, self.last_index)
        while index > self._snap_index:
            if self._entries[index - self._snap_index - 1].term <= term:
                break
            index -= 1
        return index

    # ------------------------------------------------------------------ role changes

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        self.leader = None
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_timeout = self.config.election_ticks + self._rng.randrange(self.config.election_ticks)
        self._votes = {}
        self._progress = {}
        self._bcast_entries = False
        self._bcast_commit = False
        self._bcast_read = False
        self._clock = 0.0                      # the caller's clock (set_clock), for read_index="lease" only
        self._lease_acks: dict[int, float] = {}   # peer -> our clock when it last answered this leader
        self._drop_reads()

    def _drop_reads(self) -> None:
        for r in self._reads:
            if r.origin == self.id:
                self._dropped_reads.append(r.ctx)
        for ctx, origin in self._deferred_reads:
            if origin == self.id:
                self._dropped_reads.append(ctx)
        self._reads = deque()
        self._deferred_reads = []
        self._read_acked = {}

    def _become_follower(self, term: int, leader: int | None) -> None:
        self._reset(term)
        self.role = Role.FOLLOWER
        self.leader = leader

    def _become_pre_candidate(self) -> None:
        # Pre-vote changes neither term nor vote, so a node that cannot win disturbs nobody.
        self.role = Role.PRE_CANDIDATE
        self.leader = None
        self._votes = {}
        self._drop_reads()

    def _become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.role = Role.LEADER
        self.leader = self.id
        nxt = self.last_index + 1
        self._progress = {p: _Progress(nxt) for p in self.peers}
        # Entries of earlier terms are committed only indirectly, by committing one of our own term (Raft 5.4.2).
        self._append([Entry(self.term, nxt, b"", EntryKind.NOOP)])
        self._bcast_entries = True
        self._maybe_commit()

    def _campaign(self, pre: bool) -> None:
        if pre:
            self._become_pre_candidate()
            term = self.term + 1
        else:
            self._become_candidate()
            term = self.term
        self._votes[self.id] = True
        if self._tally_won():
            if pre:
                self._campaign(False)
            else:
                self._become_leader()
            return
        kind = PreVote if pre else Vote
        for p in self.peers:
            self._send(kind(self.id, p, term, self.last_index, self.last_term))

    def _tally_won(self) -> bool:
        return sum(1 for g in self._votes.values() if g) >= self.quorum

    def _tally_lost(self) -> bool:
        return sum(1 for g in self._votes.values() if not g) >= self.quorum

    # ------------------------------------------------------------------ inputs

    def tick(self) -> None:
        if self.role is Role.LEADER:
            self._tick_leader()
            return
        self._election_elapsed += 1
        if self._election_elapsed >= self._randomized_timeout:
            self._election_elapsed = 0
            self._campaign(self.config.pre_vote)

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self.config.election_ticks:
            self._election_elapsed = 0
            if self.config.check_quorum:
                active = 1 + sum(1 for pr in self._progress.values() if pr.recent_active)
                if active < self.quorum and not self._lease_holds():
                    # A leader cut off from a majority stops acting as one (its lease may have been outlived).
                    self._become_follower(self.term, None)
                    return
                for pr in self._progress.values():
                    pr.recent_active = False
        for p, pr in self._progress.items():
            if pr.state is _State.SNAPSHOT:
                # InstallSnapshot may have been lost; after an election timeout without answer, start over.
                pr.snapshot_ticks += 1
                if pr.snapshot_ticks >= self.config.election_ticks:
                    pr.become_probe()
                    self._send_appends(p, allow_empty=True)
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            # Carrying the newest pending read's sequence number makes lost read heartbeats harmless.
            ctx = _SEQ.pack(self._reads[-1].seq) if self._reads else b""
            self._broadcast_heartbeat(ctx)

    def propose(self, data: bytes) -> int | None:
        """Append `data` as a new entry if this node is leader; returns its index, or None if not leader."""
        return self.propose_batch([data])

    def propose_batch(self, items: Sequence[bytes]) -> int | None:
        """Append several entries at once; returns the index of the first one, or None if not leader."""
        if self.role is not Role.LEADER:
            return None
        first = self.last_index + 1
        self._append([Entry(self.term, first + i, bytes(d)) for i, d in enumerate(items)])
        self._bcast_entries = True
        if not self.peers:
            self._maybe_commit()
        return first

    def set_clock(self, now: float) -> None:
        """The caller's clock reading (seconds), for Config.read_index="lease"; the core never reads a clock."""
        self._clock = now

    def read_index(self, ctx: bytes) -> bool:
        """Ask for a linearizable read index; the answer arrives as ReadState(index, ctx) in a later Ready.

        On a follower the request is forwarded to the leader it knows. Returns False when no leader is known.
        Requests may go unanswered (leader change, lost messages); the caller retries after its own timeout.
        `ctx` should be unique among this node's outstanding reads.
        """
        if self.role is Role.LEADER:
            self._leader_read(bytes(ctx), self.id)
            return True
        if self.leader is not None:
            self._send(ReadIndex(self.id, self.leader, self.term, bytes(ctx)))
            return True
        return False

    def compact(self, index: int, data: bytes) -> Snapshot:
        """The application stored a snapshot of its state as of `index` (<= applied); drop the log up to it.

        The caller persists the snapshot before calling this; afterwards it may delete stored entries <= index.
        Followers that need entries before `index` get this snapshot instead.
        """
        if index > self._applied:
            raise ValueError(f"cannot compact to {index}: only {self._applied} applied")
        if index <= self._snap_index:
            raise ValueError(f"cannot compact to {index}: already compacted to {self._snap_index}")
        term = self.term_at(index)
        assert term is not None
        snap = Snapshot(index, term, bytes(data))
        del self._entries[: index - self._snap_index]
        self._snap_index, self._snap_term, self._snapshot = index, term, snap
        return snap

    def step(self, m: Message) -> None:
        if m.dst != self.id:
            raise ValueError(f"message for node {m.dst} stepped into node {self.id}")
        if m.src not in self.voters or m.src == self.id:
            return
        if m.term > self.term:
            if isinstance(m, (Vote, PreVote)):
                if (self.config.check_quorum and self.leader is not None
                        and self._election_elapsed < self.config.election_ticks):
                    # Leader lease: we heard from a live leader recently, so this candidate is disruptive
                    # (e.g. rejoining from a partition). Ignore it without raising our term.
                    return
            if isinstance(m, PreVote) or (isinstance(m, PreVoteResp) and m.granted):
                pass  # these carry a hypothetical future term
            else:
                leader = m.src if isinstance(m, (Append, Heartbeat, InstallSnapshot)) else None
                self._become_follower(m.term, leader)
        elif m.term < self.term:
            if isinstance(m, (Append, Heartbeat)) and (self.config.check_quorum or self.config.pre_vote):
                # Tell the stale leader our term so it steps down; otherwise it could starve us (we may never
                # win a pre-vote while it keeps heartbeating the others).
                self._send(AppendResp(self.id, m.src, self.term, 0, False))
            elif isinstance(m, PreVote):
                self._send(PreVoteResp(self.id, m.src, self.term, False))
            return

        if isinstance(m, (Vote, PreVote)):
            self._handle_vote_request(m)
        elif self.role is Role.LEADER:
            self._step_leader(m)
        elif self.role is Role.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    # ------------------------------------------------------------------ message handling

    def _handle_vote_request(self, m: Vote | PreVote) -> None:
        pre = isinstance(m, PreVote)
        can_vote = (self.vote == m.src or (self.vote is None and self.leader is None)
                    or (pre and m.term > self.term))
        up_to_date = (m.last_term, m.last_index) >= (self.last_term, self.last_index)
        resp = PreVoteResp if pre else VoteResp
        if can_vote and self._log_ok_for_vote(m, up_to_date):
            if not pre:
                self._election_elapsed = 0
                self.vote = m.src
            self._send(resp(self.id, m.src, m.term, True))
        else:
            self._send(resp(self.id, m.src, self.term, False))

    def _log_ok_for_vote(self, m: Vote | PreVote, up_to_date: bool) -> bool:
        return up_to_date

    def _step_candidate(self, m: Message) -> None:
        if isinstance(m, (Append, Heartbeat, InstallSnapshot)):
            # Someone won this term.
            self._become_follower(m.term, m.src)
            self._step_follower(m)
        elif isinstance(m, PreVoteResp) and self.role is Role.PRE_CANDIDATE:
            if m.granted and m.term != self.term + 1:
                return  # a grant for an earlier campaign
            self._votes.setdefault(m.src, m.granted)
            if self._tally_won():
                self._campaign(False)
            elif self._tally_lost():
                self._become_follower(self.term, None)
        elif isinstance(m, VoteResp) and self.role is Role.CANDIDATE and m.term == self.term:
            self._votes.setdefault(m.src, m.granted)
            if self._tally_won():
                self._become_leader()
            elif self._tally_lost():
                self._become_follower(self.term, None)

    def _step_follower(self, m: Message) -> None:
        if isinstance(m, Append):
            self._election_elapsed = 0
            self.leader = m.src
            self._handle_append(m)
        elif isinstance(m, Heartbeat):
            self._election_elapsed = 0
            self.leader = m.src
            self._commit_to(min(m.commit, self.last_index))
            self._send(HeartbeatResp(self.id, m.src, self.term, m.ctx))
        elif isinstance(m, InstallSnapshot):
            self._election_elapsed = 0
            self.leader = m.src
            self._handle_snapshot(m)
        elif isinstance(m, ReadIndexResp):
            self._read_states.append(ReadState(m.index, m.ctx))

    def _commit_to(self, index: int) -> None:
        if index > self.commit:
            self.commit = index

    def _handle_append(self, m: Append) -> None:
        if m.prev_index < self.commit:
            self._send(AppendResp(self.id, m.src, self.term, self.commit))
            return
        if self.term_at(m.prev_index) != m.prev_term:
            hint = self._find_conflict_by_term(m.prev_index, m.prev_term)
            self._send(AppendResp(self.id, m.src, self.term, m.prev_index, False, hint, self.term_at(hint) or 0))
            return
        entries = m.entries
        last_new = m.prev_index + len(entries)
        # Skip entries we already hold; truncate at the first conflicting one (never a committed one).
        start = 0
        last = self.last_index
        while start < len(entries):
            e = entries[start]
            if e.index > last:
                break
            if self.term_at(e.index) != e.term:
                if e.index <= self.commit:
                    raise AssertionError(f"node {self.id}: entry {e.index} conflicts with committed log")
                self._truncate_from(e.index)
                break
            start += 1
        if start < len(entries):
            self._append(entries[start:])
        self._commit_to(min(m.commit, last_new))
        self._send(AppendResp(self.id, m.src, self.term, last_new))

    def _handle_snapshot(self, m: InstallSnapshot) -> None:
        s = m.snapshot
        if s.index <= self.commit:
            self._send(AppendResp(self.id, m.src, self.term, self.commit))
            return
        if self.term_at(s.index) == s.term:
            # We already hold the entries up to the snapshot; only the commit index was behind.
            self._commit_to(s.index)
            self._send(AppendResp(self.id, m.src, self.term, self.commit))
            return
        self._entries = []
        self._snap_index, self._snap_term, self._snapshot = s.index, s.term, s
        self.commit = s.index
        self._applied = s.index
        self._stable_to = s.index
        self._pending_snapshot = s
        self._send(AppendResp(self.id, m.src, self.term, s.index))

    def _step_leader(self, m: Message) -> None:
        if self.config.read_index == "lease" and isinstance(m, (AppendResp, HeartbeatResp)):
            # A renewal never shortens the lease (so an answer that arrives after the clock was set back cannot).
            self._lease_acks[m.src] = max(self._clock, self._lease_acks.get(m.src, self._clock))
        if isinstance(m, AppendResp):
            pr = self._progress[m.src]
            pr.recent_active = True
            self._handle_append_resp(m.src, pr, m)
        elif isinstance(m, HeartbeatResp):
            pr = self._progress[m.src]
            pr.recent_active = True
            pr.probe_sent = False
            if pr.match < self.last_index:
                if pr.state is not _State.REPLICATE:
                    self._send_appends(m.src, allow_empty=True)
                elif pr.match == pr.heartbeat_match:
                    # No progress for a heartbeat interval: Appends were probably lost. Free a window slot and
                    # send an (often empty) Append; a refusal reveals the gap and restarts from the follower's log.
                    if pr.inflight:
                        pr.inflight.popleft()
                    self._send_appends(m.src, allow_empty=True)
                pr.heartbeat_match = pr.match
            if m.ctx:
                self._ack_read(m.src, m.ctx)
        elif isinstance(m, ReadIndex):
            self._progress[m.src].recent_active = True
            self._leader_read(m.ctx, m.src)

    def _handle_append_resp(self, peer: int, pr: _Progress, m: AppendResp) -> None:
        if not m.success:
            if pr.state is _State.REPLICATE:
                if m.index <= pr.match:
                    return  # stale
                pr.become_probe()
            elif pr.state is _State.PROBE:
                if m.index != pr.next - 1:
                    return  # stale
                if m.hint_index < pr.match:
                    # The follower lost entries it had acknowledged (its storage was wiped or replaced).
                    pr.match = m.hint_index
                hint = self._find_conflict_by_term(m.hint_index, m.hint_term)
                pr.next = max(min(m.index, hint + 1), pr.match + 1)
                pr.probe_sent = False
            else:
                return
            self._send_appends(peer, allow_empty=True)
            return
        if pr.update(m.index):
            if pr.state is _State.PROBE:
                pr.become_replicate()
            elif pr.state is _State.SNAPSHOT and pr.match >= pr.pending_snapshot:
                pr.become_probe()
                pr.become_replicate()
            if self._maybe_commit():
                self._bcast_commit = True
        self._send_appends(peer, allow_empty=False)

    def _maybe_commit(self) -> bool:
        matches = sorted((pr.match for pr in self._progress.values()), reverse=True)
        matches.insert(0, self.last_index)
        candidate = matches[self.quorum - 1]
        if candidate > self.commit and self._may_commit_at(candidate):
            self.commit = candidate
            if self._deferred_reads and self.term_at(self.commit) == self.term:
                deferred, self._deferred_reads = self._deferred_reads, []
                for ctx, origin in deferred:
                    self._leader_read(ctx, origin)
            return True
        return False

    def _may_commit_at(self, index: int) -> bool:
        # Counting replicas commits only entries of the current term (Raft figure 8).
        return self.term_at(index) == self.term

    def _send(self, m: Message) -> None:
        self._msgs.append(m)

    def _send_appends(self, peer: int, allow_empty: bool) -> None:
        """Send what `peer` is missing: one Append when probing, a pipelined train when replicating."""
        pr = self._progress[peer]
        sent = False
        while not pr.paused(self.config.max_inflight):
            prev = pr.next - 1
            prev_term = self.term_at(prev)
            if prev_term is None:
                self._send_snapshot(peer, pr)
                return
            entries = self._batch_from(pr.next)
            if not entries and (sent or not allow_empty):
                return
            self._send(Append(self.id, peer, self.term, prev, prev_term, entries, self.commit))
            sent = True
            if pr.state is _State.PROBE:
                pr.probe_sent = True
                return
            if not entries:
                return
            pr.next = entries[-1].index + 1
            pr.inflight.append(entries[-1].index)

    def _batch_from(self, index: int) -> tuple[Entry, ...]:
        lo = index - self._snap_index - 1
        hi = min(len(self._entries), lo + self.config.max_append_entries)
        if lo >= hi:
            return ()
        budget = self.config.max_append_bytes
        out = []
        for i in range(lo, hi):
            e = self._entries[i]
            budget -= len(e.data)
            if out and budget < 0:
                break
            out.append(e)
        return tuple(out)

    def _send_snapshot(self, peer: int, pr: _Progress) -> None:
        snap = self._snapshot
        assert snap is not None, "log compacted without a snapshot"
        pr.state = _State.SNAPSHOT
        pr.pending_snapshot = snap.index
        pr.snapshot_ticks = 0
        pr.inflight.clear()
        self._send(InstallSnapshot(self.id, peer, self.term, snap))

    def _broadcast_heartbeat(self, ctx: bytes) -> None:
        for p, pr in self._progress.items():
            # A follower may only learn a commit index it is known to hold entries for.
            self._send(Heartbeat(self.id, p, self.term, min(pr.match, self.commit), ctx))

    def _flush(self) -> None:
        if self.role is not Role.LEADER:
            return
        if self._bcast_read:
            self._bcast_read = False
            if self._reads:
                self._broadcast_heartbeat(_SEQ.pack(self._reads[-1].seq))
        if self._bcast_entries or self._bcast_commit:
            allow_empty = self._bcast_commit
            self._bcast_entries = self._bcast_commit = False
            for p in self.peers:
                self._send_appends(p, allow_empty)

    # ------------------------------------------------------------------ linearizable reads

    def _leader_read(self, ctx: bytes, origin: int) -> None:
        if self.config.read_index == "log":
            # Seeded bug: everything in our own log counts as readable, and we assume we still lead.
            self._answer_read(origin, self.last_index, ctx)
            return
        if self.term_at(self.commit) != self.term:
            # Until an entry of our term commits we may not know the latest commit index.
            self._deferred_reads.append((ctx, origin))
            return
        if not self.peers or self.config.read_index == "commit" or self._lease_holds():
            # (With read_index="commit", a seeded bug: no heartbeat round confirms we still lead.)
            self._answer_read(origin, self.commit, ctx)
            return
        self._read_seq += 1
        self._reads.append(_PendingRead(self._read_seq, self.commit, ctx, origin))
        self._bcast_read = True  # one heartbeat round per Ready confirms all reads asked since the last one

    def _lease_holds(self) -> bool:
        """read_index="lease" (a seeded bug): a quorum answered us less than lease_seconds ago by the caller's
        clock, so we assume nobody else can lead yet. A clock set back stretches the lease."""
        if self.config.read_index != "lease" or self.role is not Role.LEADER:
            return False
        acks = sorted(self._lease_acks.values(), reverse=True)
        if len(acks) < self.quorum - 1:
            return False
        since = acks[self.quorum - 2] if self.quorum > 1 else self._clock
        return self._clock < since + self.config.lease_seconds

    def _ack_read(self, peer: int, ctx: bytes) -> None:
        if len(ctx) != _SEQ.size or not self._reads:
            return
        (seq,) = _SEQ.unpack(ctx)
        if seq <= self._read_acked.get(peer, 0):
            return
        self._read_acked[peer] = seq
        # A heartbeat answered after read `seq` was issued confirms leadership for every read up to `seq`.
        acked = sorted(self._read_acked.values(), reverse=True)
        if len(acked) < self.quorum - 1:
            return
        confirmed = acked[self.quorum - 2]
        while self._reads and self._reads[0].seq <= confirmed:
            r = self._reads.popleft()
            self._answer_read(r.origin, r.index, r.ctx)

    def _answer_read(self, origin: int, index: int, ctx: bytes) -> None:
        if origin == self.id:
            self._read_states.append(ReadState(index, ctx))
        else:
            self._send(ReadIndexResp(self.id, origin, self.term, index, ctx))

    # ------------------------------------------------------------------ output

    def has_ready(self) -> bool:
        return bool(self._msgs or self._read_states or self._dropped_reads or self._pending_snapshot
                    or self._stable_to < self.last_index or self._applied < self.commit
                    or self._bcast_entries or self._bcast_commit or self._bcast_read
                    or HardState(self.term, self.vote, self.commit) != self._persisted_hard)

    def ready(self) -> Ready:
        """Everything produced since the last call; see the module docstring for how to process it."""
        self._flush()
        hs = HardState(self.term, self.vote, self.commit)
        hard = None if hs == self._persisted_hard else hs
        self._persisted_hard = hs
        entries = self.entries_between(self._stable_to + 1, self.last_index)
        self._stable_to = self.last_index
        committed = self.entries_between(self._applied + 1, self.commit)
        self._applied = self.commit
        rd = Ready(hard, self._pending_snapshot, entries, self._msgs, committed, self._read_states,
                   self._dropped_reads)
        self._pending_snapshot = None
        self._msgs, self._read_states, self._dropped_reads = [], [], []
        return rd
