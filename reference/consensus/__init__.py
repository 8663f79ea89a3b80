"""Raft-like consensus core: pure and deterministic (no I/O, no clock, no threads, seeded randomness).

API at a glance (details and the Ready contract in core.py):

    node = Node(my_id, voters, state=PersistentState(hard_state, snapshot, entries), config=Config(...), seed=s)
    node.tick()                      # one unit of logical time; the shell calls it on a timer
    node.step(msg)                   # a decoded message from a peer (messages.decode(bytes))
    node.propose(data) / node.propose_batch([data, ...]) -> first index | None (None: not leader)
    node.read_index(ctx) -> bool     # answer comes as ReadState(index, ctx) in a later Ready
    node.compact(index, snapshot_bytes)   # after the application stored its snapshot as of `index`
    if node.has_ready():
        rd = node.ready()            # persist (snapshot, entries, hard_state) -> send messages -> apply
    node.role / node.leader / node.term / node.commit / node.applied / node.last_index / node.term_at(i)

Terms play the role of ZooKeeper's epochs. simulation.py is the many-server deterministic simulation used by the
tests (and reusable with another state machine).
"""
from .core import Config, HardState, Node, PersistentState, Ready, ReadState, Role
from .messages import DecodeError, Entry, EntryKind, Message, Snapshot, decode, encode

__all__ = ["Config", "DecodeError", "Entry", "EntryKind", "HardState", "Message", "Node", "PersistentState",
           "ReadState", "Ready", "Role", "Snapshot", "decode", "encode"]
