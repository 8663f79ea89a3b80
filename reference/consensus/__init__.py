"""Raft-like consensus core (pure, deterministic). See core.py for the Ready contract."""
from .core import Config, HardState, Node, PersistentState, Ready, ReadState, Role
from .messages import DecodeError, Entry, EntryKind, Message, Snapshot, decode, encode

__all__ = ["Config", "DecodeError", "Entry", "EntryKind", "HardState", "Message", "Node", "PersistentState",
           "ReadState", "Ready", "Role", "Snapshot", "decode", "encode"]
