"""Messages exchanged by consensus cores, the log entry and snapshot records, and their binary encoding.

Every message carries `src`, `dst` and `term`. Node ids are small non-negative integers (ZooKeeper's `myid`).
The encoding is a compact big-endian layout built with `struct` so the network shell can frame it as it likes:

    header   type:u8 src:u32 dst:u32 term:u64
    bytes    len:u32 then the bytes
    entry    term:u64 index:u64 kind:u8 then bytes(data)
    snapshot index:u64 term:u64 then bytes(data)

`decode` raises `DecodeError` (a `ValueError`) on anything malformed, never another exception.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Union


class EntryKind(enum.IntEnum):
    NORMAL = 0
    # Appended by every new leader so that it has an entry of its own term to commit (Raft section 5.4.2).
    NOOP = 1


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    data: bytes = b""
    kind: EntryKind = EntryKind.NORMAL


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The application's state as of `index` (whose entry had `term`). `data` is opaque to the core."""
    index: int
    term: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class PreVote:
    """Would you vote for me at `term` (= sender's term + 1)? Changes nobody's term."""
    src: int
    dst: int
    term: int
    last_index: int
    last_term: int


@dataclass(frozen=True, slots=True)
class PreVoteResp:
    src: int
    dst: int
    term: int  # the request's term when granted, the responder's own term when refused
    granted: bool


@dataclass(frozen=True, slots=True)
class Vote:
    src: int
    dst: int
    term: int
    last_index: int
    last_term: int


@dataclass(frozen=True, slots=True)
class VoteResp:
    src: int
    dst: int
    term: int
    granted: bool


@dataclass(frozen=True, slots=True)
class Append:
    src: int
    dst: int
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int


@dataclass(frozen=True, slots=True)
class AppendResp:
    """Answer to Append, Heartbeat-triggered probes and InstallSnapshot.

    success: `index` is the highest index the follower now knows matches the leader's log.
    refusal: `index` is the refused Append's prev_index; (`hint_index`, `hint_term`) is the follower's last entry at or
    below it whose term is <= the refused prev_term, which lets the leader skip a whole term per round trip.
    """
    src: int
    dst: int
    term: int
    index: int
    success: bool = True
    hint_index: int = 0
    hint_term: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    src: int
    dst: int
    term: int
    commit: int
    ctx: bytes = b""  # non-empty when the heartbeat round confirms leadership for a read index


@dataclass(frozen=True, slots=True)
class HeartbeatResp:
    src: int
    dst: int
    term: int
    ctx: bytes = b""


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    src: int
    dst: int
    term: int
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class ReadIndex:
    """A follower asks the leader for a read index on behalf of one of its clients (ZooKeeper's `sync`)."""
    src: int
    dst: int
    term: int
    ctx: bytes


@dataclass(frozen=True, slots=True)
class ReadIndexResp:
    src: int
    dst: int
    term: int
    index: int
    ctx: bytes


Message = Union[PreVote, PreVoteResp, Vote, VoteResp, Append, AppendResp, Heartbeat, HeartbeatResp,
                InstallSnapshot, ReadIndex, ReadIndexResp]


class DecodeError(ValueError):
    pass


_HEADER = struct.Struct(">BIIQ")
_U8 = struct.Struct(">B")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_Q2 = struct.Struct(">QQ")
_Q3 = struct.Struct(">QQQ")
_ENTRY_HEAD = struct.Struct(">QQBI")
_APPEND_RESP = struct.Struct(">QBQQ")

_TYPE_CODES: dict[type, int] = {
    PreVote: 1, PreVoteResp: 2, Vote: 3, VoteResp: 4, Append: 5, AppendResp: 6, Heartbeat: 7,
    HeartbeatResp: 8, InstallSnapshot: 9, ReadIndex: 10, ReadIndexResp: 11,
}
_TYPES_BY_CODE = {code: cls for cls, code in _TYPE_CODES.items()}


def _bytes(b: bytes) -> bytes:
    return _U32.pack(len(b)) + b


def encode(msg: Message) -> bytes:
    code = _TYPE_CODES.get(type(msg))
    if code is None:
        raise TypeError(f"not a consensus message: {type(msg).__name__}")
    parts = [_HEADER.pack(code, msg.src, msg.dst, msg.term)]
    if isinstance(msg, (PreVote, Vote)):
        parts.append(_Q2.pack(msg.last_index, msg.last_term))
    elif isinstance(msg, (PreVoteResp, VoteResp)):
        parts.append(_U8.pack(1 if msg.granted else 0))
    elif isinstance(msg, Append):
        parts.append(_Q3.pack(msg.prev_index, msg.prev_term, msg.commit))
        parts.append(_U32.pack(len(msg.entries)))
        for e in msg.entries:
            parts.append(_ENTRY_HEAD.pack(e.term, e.index, int(e.kind), len(e.data)))
            parts.append(e.data)
    elif isinstance(msg, AppendResp):
        parts.append(_APPEND_RESP.pack(msg.index, 1 if msg.success else 0, msg.hint_index, msg.hint_term))
    elif isinstance(msg, Heartbeat):
        parts.append(_U64.pack(msg.commit))
        parts.append(_bytes(msg.ctx))
    elif isinstance(msg, (HeartbeatResp, ReadIndex)):
        parts.append(_bytes(msg.ctx))
    elif isinstance(msg, InstallSnapshot):
        parts.append(_Q2.pack(msg.snapshot.index, msg.snapshot.term))
        parts.append(_bytes(msg.snapshot.data))
    elif isinstance(msg, ReadIndexResp):
        parts.append(_U64.pack(msg.index))
        parts.append(_bytes(msg.ctx))
    return b"".join(parts)


def encode_entry(e: Entry) -> bytes:
    """One entry on its own (e.g. a write-ahead-log record), in the same layout as inside Append."""
    return _ENTRY_HEAD.pack(e.term, e.index, int(e.kind), len(e.data)) + e.data


def decode_entry(buf: bytes) -> Entry:
    r = _Reader(buf)
    e = r.entry()
    if r.pos != len(r.buf):
        raise DecodeError(f"{len(r.buf) - r.pos} trailing bytes after an entry")
    return e


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = memoryview(buf)
        self.pos = 0

    def take(self, s: struct.Struct) -> tuple:
        end = self.pos + s.size
        if end > len(self.buf):
            raise DecodeError(f"message truncated at byte {self.pos} (need {s.size} more bytes)")
        values = s.unpack_from(self.buf, self.pos)
        self.pos = end
        return values

    def raw(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise DecodeError(f"message truncated at byte {self.pos} (need {n} bytes of data)")
        out = bytes(self.buf[self.pos:end])
        self.pos = end
        return out

    def blob(self) -> bytes:
        (n,) = self.take(_U32)
        return self.raw(n)

    def entry(self) -> Entry:
        term, index, kind, n = self.take(_ENTRY_HEAD)
        try:
            ek = EntryKind(kind)
        except ValueError:
            raise DecodeError(f"unknown entry kind {kind}") from None
        return Entry(term, index, self.raw(n), ek)

    def flag(self) -> bool:
        (v,) = self.take(_U8)
        if v > 1:
            raise DecodeError(f"boolean field holds {v}")
        return v == 1


def decode(buf: bytes) -> Message:
    r = _Reader(buf)
    code, src, dst, term = r.take(_HEADER)
    cls = _TYPES_BY_CODE.get(code)
    if cls is None:
        raise DecodeError(f"unknown message type {code}")
    msg: Message
    if cls is PreVote or cls is Vote:
        li, lt = r.take(_Q2)
        msg = cls(src, dst, term, li, lt)
    elif cls is PreVoteResp or cls is VoteResp:
        msg = cls(src, dst, term, r.flag())
    elif cls is Append:
        prev_index, prev_term, commit = r.take(_Q3)
        (count,) = r.take(_U32)
        # Each entry needs at least its fixed header, so a huge count in a short buffer is refused up front.
        if count * _ENTRY_HEAD.size > len(r.buf) - r.pos:
            raise DecodeError(f"Append claims {count} entries but the message is too short")
        entries = tuple(r.entry() for _ in range(count))
        msg = Append(src, dst, term, prev_index, prev_term, entries, commit)
    elif cls is AppendResp:
        index, ok, hint_index, hint_term = r.take(_APPEND_RESP)
        if ok > 1:
            raise DecodeError(f"boolean field holds {ok}")
        msg = AppendResp(src, dst, term, index, ok == 1, hint_index, hint_term)
    elif cls is Heartbeat:
        (commit,) = r.take(_U64)
        msg = Heartbeat(src, dst, term, commit, r.blob())
    elif cls is HeartbeatResp or cls is ReadIndex:
        msg = cls(src, dst, term, r.blob())
    elif cls is InstallSnapshot:
        index, sterm = r.take(_Q2)
        msg = InstallSnapshot(src, dst, term, Snapshot(index, sterm, r.blob()))
    else:
        (index,) = r.take(_U64)
        msg = ReadIndexResp(src, dst, term, index, r.blob())
    if r.pos != len(r.buf):
        raise DecodeError(f"{len(r.buf) - r.pos} trailing bytes after {cls.__name__}")
    return msg
