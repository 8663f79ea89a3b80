"""Jute binary encoding primitives (ZooKeeper's BinaryOutputArchive / BinaryInputArchive), big-endian.

int = 4 bytes, long = 8, boolean = 1, buffer/ustring = int length (-1 = null) + bytes, vector = int count
(-1 = null) + items. Every read is bounds-checked: truncated input, negative or oversized lengths and invalid UTF-8
raise DecodeError, and a vector's declared count is checked against the bytes left before any item is read, so a
lying count fails at once instead of looping or allocating.
"""
from __future__ import annotations

import struct
from typing import Callable, Iterable, TypeVar

from .constants import MAX_FRAME
from .errors import DecodeError

T = TypeVar("T")

INT = struct.Struct(">i")
LONG = struct.Struct(">q")
_pack_int = INT.pack
_pack_long = LONG.pack
_unpack_int = INT.unpack_from
_unpack_long = LONG.unpack_from

# ZooKeeper checks single fields against maxbuffer + extrasize (default extrasize = maxbuffer).
DEFAULT_MAX_FIELD = 2 * MAX_FRAME

_NULL = _pack_int(-1)
_TRUE = b"\x01"
_FALSE = b"\x00"


class Writer:
    """Appends jute-encoded values to a growing buffer."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def int_(self, v: int) -> None:
        self.buf += _pack_int(v)

    def long_(self, v: int) -> None:
        self.buf += _pack_long(v)

    def bool_(self, v: bool) -> None:
        self.buf += _TRUE if v else _FALSE

    def buffer(self, b: bytes | None) -> None:
        if b is None:
            self.buf += _NULL
        else:
            self.buf += _pack_int(len(b))
            self.buf += b

    def ustring(self, s: str | None) -> None:
        if s is None:
            self.buf += _NULL
        else:
            e = s.encode("utf-8")
            self.buf += _pack_int(len(e))
            self.buf += e

    def raw(self, b: bytes) -> None:
        """Append pre-encoded bytes (e.g. a Struct-packed run of fields)."""
        self.buf += b

    def vector(self, items: Iterable[T] | None, write_item: Callable[["Writer", T], None]) -> None:
        """write_item(writer, item) encodes one item; e.g. Writer.ustring or lambda w, a: a.write(w)."""
        if items is None:
            self.buf += _NULL
            return
        items = list(items)
        self.buf += _pack_int(len(items))
        for item in items:
            write_item(self, item)

    def ustring_vector(self, items: Iterable[str] | None) -> None:
        if items is None:
            self.buf += _NULL
            return
        items = list(items)
        buf = self.buf
        buf += _pack_int(len(items))
        for s in items:
            e = s.encode("utf-8")
            buf += _pack_int(len(e))
            buf += e

    def record_vector(self, items: Iterable | None) -> None:
        """A vector of records, each with a write(w) method."""
        if items is None:
            self.buf += _NULL
            return
        items = list(items)
        self.buf += _pack_int(len(items))
        for item in items:
            item.write(self)

    def getvalue(self) -> bytes:
        return bytes(self.buf)

    def framed(self) -> bytes:
        """The content with the 4-byte length prefix that every wire message carries."""
        return _pack_int(len(self.buf)) + self.buf


class Reader:
    """Reads jute values from a buffer, strictly bounds-checked."""

    __slots__ = ("buf", "pos", "end", "max_field")

    def __init__(self, buf: bytes | bytearray | memoryview, max_field: int = DEFAULT_MAX_FIELD, pos: int = 0) -> None:
        # Slicing bytes gives bytes directly; normalising once keeps every field read simple and fast.
        self.buf = buf if type(buf) is bytes else bytes(buf)
        self.pos = pos
        self.end = len(self.buf)
        self.max_field = max_field

    def _short(self, what: str, need: int) -> DecodeError:
        return DecodeError(f"truncated {what} at offset {self.pos}: need {need} bytes, {self.end - self.pos} left")

    def int_(self) -> int:
        pos = self.pos
        if pos + 4 > self.end:
            raise self._short("int", 4)
        self.pos = pos + 4
        return _unpack_int(self.buf, pos)[0]

    def long_(self) -> int:
        pos = self.pos
        if pos + 8 > self.end:
            raise self._short("long", 8)
        self.pos = pos + 8
        return _unpack_long(self.buf, pos)[0]

    def bool_(self) -> bool:
        pos = self.pos
        if pos >= self.end:
            raise self._short("boolean", 1)
        self.pos = pos + 1
        # Java's DataInput.readBoolean: any non-zero byte is true.
        return self.buf[pos] != 0

    def unpack(self, st: struct.Struct) -> tuple:
        """Read a fixed run of fields with one precompiled Struct."""
        pos = self.pos
        if pos + st.size > self.end:
            raise self._short(f"{st.size}-byte record", st.size)
        self.pos = pos + st.size
        return st.unpack_from(self.buf, pos)

    def _length(self, what: str) -> int:
        """Read a buffer/ustring length prefix (-1 = null) and check it against the limit and the bytes left."""
        pos = self.pos
        if pos + 4 > self.end:
            raise self._short(f"{what} length", 4)
        n = _unpack_int(self.buf, pos)[0]
        self.pos = pos + 4
        if n < 0:
            if n == -1:
                return -1
            raise DecodeError(f"negative {what} length {n} at offset {pos}")
        if n > self.max_field:
            raise DecodeError(f"{what} length {n} at offset {pos} exceeds limit {self.max_field}")
        if pos + 4 + n > self.end:
            raise DecodeError(f"{what} at offset {pos} declares {n} bytes, only {self.end - pos - 4} left")
        return n

    def buffer(self) -> bytes | None:
        n = self._length("buffer")
        if n == -1:
            return None
        pos = self.pos
        self.pos = pos + n
        return self.buf[pos:pos + n]

    def ustring(self) -> str | None:
        n = self._length("ustring")
        if n == -1:
            return None
        pos = self.pos
        self.pos = pos + n
        try:
            return self.buf[pos:pos + n].decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(f"invalid UTF-8 in ustring at offset {pos - 4}: {e.reason}") from None

    def string(self) -> str:
        """A ustring where the record needs a str: null reads as "" (kazoo writes "" as null)."""
        n = self._length("ustring")
        if n <= 0:
            return ""
        pos = self.pos
        self.pos = pos + n
        try:
            return self.buf[pos:pos + n].decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(f"invalid UTF-8 in ustring at offset {pos - 4}: {e.reason}") from None

    def _count(self, min_item: int) -> int:
        start = self.pos
        n = self.int_()
        if n < -1:
            raise DecodeError(f"negative vector count {n} at offset {start}")
        if n * min_item > self.end - self.pos:
            raise DecodeError(
                f"vector at offset {start} declares {n} items, only {self.end - self.pos} bytes left")
        return n

    def vector(self, read_item: Callable[["Reader"], T], min_item: int = 1) -> list[T] | None:
        """read_item(reader) decodes one item; min_item is the smallest encoded item size, used to reject
        counts that cannot fit in the remaining bytes before reading any item."""
        n = self._count(min_item)
        if n == -1:
            return None
        return [read_item(self) for _ in range(n)]

    def ustring_vector(self) -> list[str]:
        """vector<ustring> where the record needs a list of str (null vector -> [], null item -> "")."""
        n = self._count(4)
        if n <= 0:
            return []
        string = self.string
        return [string() for _ in range(n)]

    def remaining(self) -> int:
        return self.end - self.pos

    def expect_end(self, what: str = "message") -> None:
        if self.pos != self.end:
            raise DecodeError(f"{self.end - self.pos} unexpected trailing bytes after {what} at offset {self.pos}")
