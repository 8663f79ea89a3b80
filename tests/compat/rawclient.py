"""A minimal ZooKeeper wire client for checks kazoo hides: frame layouts, headers, and when a server closes.

Only what the wire tests need: framing (notes T1), a ConnectRequest, and requests as (xid, opcode, body).
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

TIMEOUT = 15.0


def int32(value: int) -> bytes:
    return struct.pack(">i", value)


def int64(value: int) -> bytes:
    return struct.pack(">q", value)


def boolean(value: bool) -> bytes:
    return b"\1" if value else b"\0"


def buffer(data: bytes | None) -> bytes:
    return int32(-1) if data is None else int32(len(data)) + data


def ustring(text: str) -> bytes:
    return buffer(text.encode("utf-8"))


OPEN_ACL = int32(1) + int32(31) + ustring("world") + ustring("anyone")


@dataclass
class Reply:
    xid: int
    zxid: int
    err: int
    body: bytes

    @property
    def frame_length(self) -> int:
        return 16 + len(self.body)


class RawSession:
    """One connection with a session; connect() sends the ConnectRequest and keeps its reply body."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.connect_body = b""

    def connect(self, timeout_ms: int = 10000, last_zxid: int = 0, read_only_byte: bool = True,
                session_id: int = 0, password: bytes = b"\0" * 16) -> bytes:
        body = int32(0) + int64(last_zxid) + int32(timeout_ms) + int64(session_id) + buffer(password)
        if read_only_byte:
            body += boolean(False)
        self.sock.sendall(int32(len(body)) + body)
        frame = self.read_frame()
        if frame is None:
            raise ConnectionError("server closed the connection instead of answering ConnectRequest")
        self.connect_body = frame
        return frame

    @property
    def session_id(self) -> int:
        return struct.unpack_from(">q", self.connect_body, 8)[0]

    @property
    def password(self) -> bytes:
        (length,) = struct.unpack_from(">i", self.connect_body, 16)
        return self.connect_body[20:20 + length]

    def send(self, xid: int, opcode: int, body: bytes = b"") -> None:
        payload = int32(xid) + int32(opcode) + body
        self.sock.sendall(int32(len(payload)) + payload)

    def read_frame(self) -> bytes | None:
        """The next frame's payload, or None if the server closed the connection."""
        head = self._read_exactly(4)
        if head is None:
            return None
        (length,) = struct.unpack(">i", head)
        payload = self._read_exactly(length)
        if payload is None:
            raise ConnectionError("server closed the connection in the middle of a frame")
        return payload

    def read_reply(self) -> Reply | None:
        frame = self.read_frame()
        if frame is None:
            return None
        xid, zxid, err = struct.unpack_from(">iqi", frame)
        return Reply(xid, zxid, err, frame[16:])

    def call(self, xid: int, opcode: int, body: bytes = b"") -> Reply:
        self.send(xid, opcode, body)
        reply = self.read_reply()
        if reply is None:
            raise ConnectionError(f"server closed the connection instead of answering opcode {opcode}")
        return reply

    def closed_by_server(self) -> bool:
        """True once the server has closed its side (reads EOF); False if it sends anything else."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _read_exactly(self, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            buf += chunk
        return buf

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
