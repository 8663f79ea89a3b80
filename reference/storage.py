"""Write-ahead log and snapshots on disk.

Layout of a data directory:
  log.<first zxid, 16 hex>       records: u32 length, u32 crc32(payload), payload (an encoded transaction)
  snapshot.<last zxid, 16 hex>   u32 crc32(body) + body (marshal of Tree.dump()), written to a temp name,
                                 fsync'd and renamed, so a visible snapshot is always complete
  secret                         the session-password secret, created once
  lock                           flock()ed by the server using the directory

A log is only ever appended to, and the server fsyncs before it acknowledges (many transactions per fsync:
group commit). On recovery the newest valid snapshot is loaded and the logs replayed after it; the first record
that is short, zero-length or fails its CRC ends the log (a torn write from a crash) and is cut off, so the next
append does not follow garbage. A bad record anywhere but at the end of the newest log is corruption, not a
torn tail, and recovery refuses to guess.
"""
from __future__ import annotations

import fcntl
import logging
import marshal
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from reference import txn as txnmod
from reference.tree import Tree

log = logging.getLogger(__name__)

_REC = struct.Struct(">II")
_CRC = struct.Struct(">I")
MAX_RECORD = 64 << 20


class CorruptStorage(RuntimeError):
    """The data directory is damaged in a way a crash cannot explain."""


class StorageLocked(RuntimeError):
    """Another live process holds this data directory."""


def encode_record(payload: bytes) -> bytes:
    return _REC.pack(len(payload), zlib.crc32(payload)) + payload


def read_records(data: bytes) -> tuple[list[bytes], int]:
    """Complete, intact records of a log image and the byte length they cover (the valid prefix)."""
    out: list[bytes] = []
    pos = 0
    n = len(data)
    while pos + 8 <= n:
        length, crc = _REC.unpack_from(data, pos)
        end = pos + 8 + length
        if length == 0 or length > MAX_RECORD or end > n:
            break
        payload = data[pos + 8:end]
        if zlib.crc32(payload) != crc:
            break
        out.append(payload)
        pos = end
    return out, pos


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _zxid_of(name: str) -> int:
    return int(name.split(".", 1)[1], 16)


class Storage:
    def __init__(self, data_dir: str | os.PathLike, snapshot_every: int = 100_000) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.snapshot_every = snapshot_every
        self._fd: int | None = None
        self._since_snapshot = 0
        # Two servers appending to one log would interleave records; the kernel drops this lock when we die.
        self._lock_fd: int | None = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StorageLocked(f"{self.dir} is in use by another server process") from None

    # ---- startup ----

    def secret(self) -> bytes:
        path = self.dir / "secret"
        if path.exists():
            return path.read_bytes()
        value = os.urandom(32)
        tmp = self.dir / "secret.tmp"
        tmp.write_bytes(value)
        fd = os.open(tmp, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(self.dir)
        return value

    def _files(self, prefix: str) -> list[Path]:
        out = []
        for p in self.dir.iterdir():
            name = p.name
            if name.startswith(prefix + ".") and not name.endswith(".tmp"):
                try:
                    _zxid_of(name)
                except ValueError:
                    continue
                out.append(p)
        return sorted(out, key=lambda p: _zxid_of(p.name))

    def _load_snapshot(self) -> Tree:
        for path in reversed(self._files("snapshot")):
            data = path.read_bytes()
            if len(data) >= 4 and _CRC.unpack_from(data)[0] == zlib.crc32(data[4:]):
                try:
                    return Tree.load(marshal.loads(data[4:]))
                except (ValueError, EOFError, TypeError) as e:
                    log.warning("snapshot %s unreadable (%s); trying an older one", path.name, e)
            else:
                log.warning("snapshot %s fails its checksum; trying an older one", path.name)
        return Tree()

    def recover(self) -> tuple[Tree, int]:
        """Load the newest valid snapshot, replay the logs after it; returns (tree, transactions replayed)."""
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink()
        tree = self._load_snapshot()
        logs = self._files("log")
        replayed = 0
        for i, path in enumerate(logs):
            data = path.read_bytes()
            records, valid = read_records(data)
            if valid != len(data):
                if i != len(logs) - 1:
                    raise CorruptStorage(f"{path}: bad record at byte {valid} of {len(data)}, and newer logs "
                                         "exist; this is not a torn tail of the last write")
                log.warning("%s: dropping a torn tail of %d bytes at offset %d", path.name, len(data) - valid, valid)
                with open(path, "r+b") as f:
                    f.truncate(valid)
                    f.flush()
                    os.fsync(f.fileno())
            for payload in records:
                t = txnmod.decode(payload)
                if t.zxid <= tree.last_zxid:
                    continue
                txnmod.apply(tree, t)
                replayed += 1
        self._since_snapshot = replayed
        self._open_log(logs[-1] if logs else None, tree.last_zxid + 1)
        return tree, replayed

    def _open_log(self, existing: Path | None, next_zxid: int) -> None:
        path = existing if existing is not None else self.dir / f"log.{next_zxid:016x}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if existing is None:
            _fsync_dir(self.dir)

    # ---- the write path ----

    def write_and_sync(self, data: bytes) -> None:
        """Append already-framed records and make them durable. Blocking; the server runs it off the loop."""
        fd = self._fd
        assert fd is not None, "recover() first"
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)

    def note_applied(self, count: int) -> bool:
        """Count applied transactions; True when a snapshot is due."""
        self._since_snapshot += count
        return self._since_snapshot >= self.snapshot_every

    def roll(self, last_zxid: int) -> None:
        """Start a new log after `last_zxid`; called right before a snapshot of that state is taken."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._open_log(None, last_zxid + 1)
        self._since_snapshot = 0

    def write_snapshot(self, dumped: tuple, last_zxid: int) -> None:
        """Persist a Tree.dump() taken at `last_zxid`, then drop the files it makes unnecessary. Blocking."""
        body = marshal.dumps(dumped, txnmod.WIRE_FORMAT)
        path = self.dir / f"snapshot.{last_zxid:016x}"
        tmp = self.dir / (path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(_CRC.pack(zlib.crc32(body)))
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.dir)
        for old in self._files("snapshot"):
            if _zxid_of(old.name) < last_zxid:
                old.unlink()
        for old in self._files("log"):
            if _zxid_of(old.name) <= last_zxid:
                old.unlink()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def log_files(self) -> Iterator[Path]:
        return iter(self._files("log"))
