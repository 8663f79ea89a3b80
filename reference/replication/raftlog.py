"""The consensus log on disk, laid out for the Ready contract (persist snapshot, entries, hard state; fsync).

  raft.log    CRC-framed records (storage.encode_record): ("H", term, vote, commit) or
              ("E", term, index, kind, data); an entry record with index i replaces every stored entry >= i
  raft.snap   u32 crc32(body) + body, body = marshal((index, term, data)); written to a temp name, fsync'd and
              renamed, then raft.log is rewritten (same way) without the entries the snapshot covers

A torn tail (a crash during an append) ends the log and is cut off at recovery; a bad snapshot file is refused.
"""
from __future__ import annotations

import fcntl
import logging
import marshal
import os
import struct
import threading
import time
import zlib
from pathlib import Path

from reference.consensus.core import HardState, PersistentState
from reference.consensus.messages import Entry, EntryKind, Snapshot
from reference.storage import CorruptStorage, StorageLocked, _fsync_dir, encode_record, read_records

log = logging.getLogger(__name__)

_CRC = struct.Struct(">I")
_MARSHAL = 4


def _hard(hs: HardState) -> bytes:
    return encode_record(marshal.dumps(("H", hs.term, -1 if hs.vote is None else hs.vote, hs.commit), _MARSHAL))


def _entry(e: Entry) -> bytes:
    return encode_record(marshal.dumps(("E", e.term, e.index, int(e.kind), e.data), _MARSHAL))


class RaftLog:
    """Owns a data directory in replicated mode. Blocking methods; the server calls them from one disk thread."""

    def __init__(self, data_dir: str | os.PathLike, lazy_flush_s: float | None = None) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise StorageLocked(f"{self.dir} is in use by another server process") from None
        self.path = self.dir / "raft.log"
        self.snap_path = self.dir / "raft.snap"
        self._fd: int | None = None
        # The persisted state, mirrored in memory so compaction can rewrite the file without reading it.
        self.hard = HardState()
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        # The ack-before-log seeded bug (reference/bugs.py): with lazy_flush_s set, appended records stay in this
        # process's memory and reach the file (with an fsync) only when they are that old, so persist() returns
        # before anything is durable and a crash loses them. None, the default, is the honest log.
        self.lazy_flush_s = lazy_flush_s
        self._unwritten: list[bytes] = []
        self._unwritten_since = 0.0
        self._lazy_lock = threading.Lock()   # persist (disk thread) and flush_due (event loop) both append

    # ---- recovery ----

    def recover(self) -> PersistentState:
        for tmp in self.dir.glob("raft.*.tmp"):
            tmp.unlink()
        if self.snap_path.exists():
            data = self.snap_path.read_bytes()
            if len(data) < 4 or _CRC.unpack_from(data)[0] != zlib.crc32(data[4:]):
                raise CorruptStorage(f"{self.snap_path}: snapshot fails its checksum")
            try:
                index, term, body = marshal.loads(data[4:])
            except (EOFError, ValueError, TypeError) as e:
                raise CorruptStorage(f"{self.snap_path}: unreadable snapshot: {e}") from None
            self.snapshot = Snapshot(index, term, body)
        snap_index = self.snapshot.index if self.snapshot else 0
        if self.path.exists():
            data = self.path.read_bytes()
            records, valid = read_records(data)
            if valid != len(data):
                log.warning("%s: dropping a torn tail of %d bytes at offset %d", self.path.name,
                            len(data) - valid, valid)
                with open(self.path, "r+b") as f:
                    f.truncate(valid)
                    f.flush()
                    os.fsync(f.fileno())
            for payload in records:
                try:
                    rec = marshal.loads(payload)
                except (EOFError, ValueError, TypeError) as e:
                    raise CorruptStorage(f"{self.path}: undecodable record: {e}") from None
                if rec[0] == "H":
                    _, term, vote, commit = rec
                    self.hard = HardState(term, None if vote < 0 else vote, commit)
                elif rec[0] == "E":
                    _, term, index, kind, body = rec
                    if index <= snap_index:
                        continue
                    first = self.entries[0].index if self.entries else snap_index + 1
                    if index < first or index > first + len(self.entries):
                        raise CorruptStorage(f"{self.path}: entry {index} does not follow the stored log")
                    del self.entries[index - first:]
                    self.entries.append(Entry(term, index, body, EntryKind(kind)))
                else:
                    raise CorruptStorage(f"{self.path}: unknown record type {rec[0]!r}")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _fsync_dir(self.dir)
        return PersistentState(self.hard, self.snapshot, list(self.entries))

    # ---- the Ready contract's step 1 ----

    def needs_sync(self, hard: HardState | None, snapshot: Snapshot | None, entries: list[Entry]) -> bool:
        """Whether persisting this must wait for the disk (otherwise it is a small buffered write)."""
        return (snapshot is not None or bool(entries)
                or (hard is not None and (hard.term, hard.vote) != (self.hard.term, self.hard.vote)))

    def persist(self, hard: HardState | None, snapshot: Snapshot | None, entries: list[Entry]) -> None:
        if snapshot is not None:
            self.snapshot = snapshot
            self.entries = []
            if hard is not None:
                self.hard = hard
            self._write_snapshot(snapshot)
            self._rewrite()
        parts = []
        # The commit index is only a hint at recovery (the core clamps it and re-learns it from the leader), so a
        # Ready that only moves it is written without an fsync: no message depends on it being durable.
        must_sync = self.needs_sync(hard, None, entries)
        if entries:
            first = self.entries[0].index if self.entries else (self.snapshot.index + 1 if self.snapshot else 1)
            del self.entries[max(0, entries[0].index - first):]
            self.entries.extend(entries)
            parts.extend(_entry(e) for e in entries)
        if hard is not None:
            self.hard = hard
            parts.append(_hard(hard))
        if parts:
            self._append(b"".join(parts), sync=must_sync)

    def compact(self, snapshot: Snapshot) -> None:
        """The state machine's snapshot at `snapshot.index`: store it, drop the entries it covers."""
        self.snapshot = snapshot
        self.entries = [e for e in self.entries if e.index > snapshot.index]
        self._write_snapshot(snapshot)
        self._rewrite()

    def _append(self, data: bytes, sync: bool = True) -> None:
        if self.lazy_flush_s is not None:
            with self._lazy_lock:
                if not self._unwritten:
                    self._unwritten_since = time.monotonic()
                self._unwritten.append(data)
            self.flush_due()
            return
        self._write(data, sync)

    def flush_due(self) -> None:
        """ack-before-log: write the held-back records once the oldest is lazy_flush_s old (a no-op otherwise)."""
        if self.lazy_flush_s is None:
            return
        with self._lazy_lock:
            if self._unwritten and time.monotonic() - self._unwritten_since >= self.lazy_flush_s:
                self._flush_unwritten()

    def _flush_unwritten(self) -> None:
        data, self._unwritten = b"".join(self._unwritten), []
        if data:
            self._write(data, True)

    def _write(self, data: bytes, sync: bool) -> None:
        fd = self._fd
        assert fd is not None, "recover() first"
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if sync:
            os.fsync(fd)

    def _write_snapshot(self, snap: Snapshot) -> None:
        body = marshal.dumps((snap.index, snap.term, snap.data), _MARSHAL)
        tmp = self.dir / "raft.snap.tmp"
        with open(tmp, "wb") as f:
            f.write(_CRC.pack(zlib.crc32(body)))
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.snap_path)
        _fsync_dir(self.dir)

    def _rewrite(self) -> None:
        with self._lazy_lock:
            # The in-memory mirror already holds whatever ack-before-log kept back; the new file gets all of it.
            self._unwritten = []
            self._rewrite_file()

    def _rewrite_file(self) -> None:
        tmp = self.dir / "raft.log.tmp"
        with open(tmp, "wb") as f:
            f.write(b"".join(_entry(e) for e in self.entries) + _hard(self.hard))
            f.flush()
            os.fsync(f.fileno())
        if self._fd is not None:
            os.close(self._fd)
        os.replace(tmp, self.path)
        _fsync_dir(self.dir)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o644)

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())

    def close(self) -> None:
        if self._fd is not None:
            with self._lazy_lock:
                self._flush_unwritten()   # a clean shutdown loses nothing, even with ack-before-log
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
