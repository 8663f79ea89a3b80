"""Length-prefixed framing (notes T1): every message is int32 big-endian length + payload."""
from __future__ import annotations

import struct

from .constants import MAX_FRAME
from .errors import FrameTooLarge

_LEN = struct.Struct(">i")
_pack_len = _LEN.pack
_unpack_len = _LEN.unpack_from

# Words the server recognises on a fresh connection instead of a ConnectRequest (notes T1). Any of them read as a
# length is > 1.8e9, so it can never be confused with a valid frame header.
FOUR_LETTER_WORDS = frozenset(
    w.encode() for w in
    "ruok srvr stat mntr envi conf cons dump wchs wchc wchp dirs isro crst srst gtmk stmk".split())


def frame(payload: bytes) -> bytes:
    return _pack_len(len(payload)) + payload


def is_four_letter_word(first4: bytes) -> bool:
    return bytes(first4) in FOUR_LETTER_WORDS


class FrameReader:
    """Incremental splitter: feed() any chunking of the stream and get the complete payloads so far.

    The length header is checked as soon as its 4 bytes arrive, so an oversize or negative length is reported
    without waiting for (or buffering) the body it announces.
    """

    __slots__ = ("max_frame", "_buf")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        end = len(buf)
        max_frame = self.max_frame
        while end - pos >= 4:
            n = _unpack_len(buf, pos)[0]
            if n < 0 or n > max_frame:
                raise FrameTooLarge(n, max_frame)
            stop = pos + 4 + n
            if stop > end:
                break
            out.append(bytes(buf[pos + 4:stop]))
            pos = stop
        if pos:
            del buf[:pos]
        return out

    def buffered(self) -> int:
        """Bytes held for a frame not yet complete (0 at a clean frame boundary)."""
        return len(self._buf)
