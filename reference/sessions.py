"""Session table: ids, passwords, timeout negotiation, liveness and expiry decisions. Pure: time is passed in.

Which sessions exist (and their timeouts) is replicated state in the tree (createSession/closeSession
transactions); this table is the local, non-replicated part: when each session was last heard from.
"""
from __future__ import annotations

import hashlib
import hmac
import struct

_U64 = (1 << 64) - 1


def _signed64(v: int) -> int:
    v &= _U64
    return v - (1 << 64) if v >> 63 else v


class SessionTracker:
    def __init__(self, secret: bytes, tick_ms: int, server_id: int = 1,
                 min_timeout_ms: int | None = None, max_timeout_ms: int | None = None) -> None:
        self.secret = secret
        self.tick_ms = tick_ms
        self.server_id = server_id
        self.min_timeout = min_timeout_ms if min_timeout_ms is not None else 2 * tick_ms
        self.max_timeout = max_timeout_ms if max_timeout_ms is not None else 20 * tick_ms
        self.deadline: dict[int, int] = {}     # session id -> ms after which it expires
        self.timeout: dict[int, int] = {}
        self.closing: set[int] = set()          # a closeSession is ordered; no further requests
        self._next_id: int | None = None

    def negotiate(self, requested_ms: int) -> int:
        return max(self.min_timeout, min(self.max_timeout, requested_ms))

    def password(self, session_id: int) -> bytes:
        """16 bytes any server holding the same secret can recompute (ZooKeeper derives it from the id too)."""
        return hmac.new(self.secret, struct.pack(">q", session_id), hashlib.sha256).digest()[:16]

    def password_ok(self, session_id: int, passwd: bytes) -> bool:
        return hmac.compare_digest(self.password(session_id), bytes(passwd))

    def new_id(self, now_ms: int, taken: dict[int, int] | set[int]) -> int:
        """(server id << 56) | time-derived bits, then counting up (SessionTrackerImpl.initializeNextSessionId)."""
        if self._next_id is None:
            self._next_id = ((now_ms << 24) & _U64) >> 8 | (self.server_id << 56)
        while True:
            sid = _signed64(self._next_id)
            self._next_id += 1
            if sid != 0 and sid not in taken and sid not in self.deadline:
                return sid

    def add(self, session_id: int, timeout_ms: int, now_ms: int) -> None:
        self.timeout[session_id] = timeout_ms
        self.deadline[session_id] = now_ms + timeout_ms
        self.closing.discard(session_id)

    def touch(self, session_id: int, now_ms: int, timeout_ms: int | None = None) -> bool:
        """Note activity; False if the session is unknown or closing (the request must be refused)."""
        if session_id not in self.deadline or session_id in self.closing:
            return False
        if timeout_ms is not None:
            self.timeout[session_id] = timeout_ms
        self.deadline[session_id] = now_ms + self.timeout[session_id]
        return True

    def alive(self, session_id: int) -> bool:
        return session_id in self.deadline and session_id not in self.closing

    def mark_closing(self, session_id: int) -> None:
        self.closing.add(session_id)

    def remove(self, session_id: int) -> None:
        self.deadline.pop(session_id, None)
        self.timeout.pop(session_id, None)
        self.closing.discard(session_id)

    def expired(self, now_ms: int) -> list[int]:
        """Sessions silent past their timeout that are not already being closed, oldest deadline first."""
        due = [(d, sid) for sid, d in self.deadline.items() if d <= now_ms and sid not in self.closing]
        due.sort()
        return [sid for _d, sid in due]

    def restore(self, sessions: dict[int, int], now_ms: int) -> None:
        """After recovery every surviving session gets a full timeout to come back (like ZooKeeper)."""
        for sid, timeout in sessions.items():
            self.add(sid, timeout, now_ms)

    def __len__(self) -> int:
        return len(self.deadline)
