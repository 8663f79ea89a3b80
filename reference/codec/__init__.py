"""ZooKeeper wire codec: pure bytes <-> records, no I/O (notes T1-T8).

framing.py   FrameReader splits a byte stream into payloads (rejects bad lengths as soon as the header arrives)
messages.py  whole messages: handshake, requests, replies, notifications; the hot ones have struct fast paths
records.py   the jute records as slotted dataclasses, each with write(w) / read(r)
jute.py      Writer / Reader primitives; every read bounds-checked
errors.py    DecodeError (everything malformed), FrameTooLarge, UnknownOpcode
constants.py ZooKeeper's numeric constants
"""
