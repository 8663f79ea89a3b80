"""Errors raised by the wire codec.

Everything malformed raises DecodeError (a ValueError), so a connection handler needs exactly one except clause
to turn hostile or broken input into "close this connection" instead of a traceback.
"""
from __future__ import annotations


class DecodeError(ValueError):
    """Input bytes do not form a valid message; the message says what was wrong and at which offset."""


class FrameTooLarge(DecodeError):
    """A frame header declared a length below 0 or above the frame limit."""

    def __init__(self, length: int, max_frame: int) -> None:
        super().__init__(f"frame length {length} outside [0, {max_frame}]")
        self.length = length
        self.max_frame = max_frame


class UnknownOpcode(DecodeError):
    """The request header was readable but names an opcode we do not serve.

    Carries xid and opcode so the server can answer {xid, zxid, UNIMPLEMENTED} the way ZooKeeper does.
    """

    def __init__(self, xid: int, opcode: int) -> None:
        super().__init__(f"unknown opcode {opcode} (xid {xid})")
        self.xid = xid
        self.opcode = opcode
