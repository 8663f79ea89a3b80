"""Binary encoding of consensus messages: round trips, and clear errors on malformed input."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

# No per-example deadline: the machine is shared and timing is not what these tests check.
relaxed = settings(deadline=None)

from reference.consensus.messages import (
    Append, AppendResp, DecodeError, Entry, EntryKind, Heartbeat, HeartbeatResp, InstallSnapshot, PreVote,
    PreVoteResp, ReadIndex, ReadIndexResp, Snapshot, Vote, VoteResp, decode, decode_entry, encode, encode_entry,
)
from reference.consensus.core import HardState

ids = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
i63 = st.integers(0, 2**63 - 1)
blobs = st.binary(max_size=64)
entries = st.builds(Entry, u64, u64, blobs, st.sampled_from(list(EntryKind)))

messages = st.one_of(
    st.builds(PreVote, ids, ids, u64, u64, u64),
    st.builds(PreVoteResp, ids, ids, u64, st.booleans()),
    st.builds(Vote, ids, ids, u64, u64, u64),
    st.builds(VoteResp, ids, ids, u64, st.booleans()),
    st.builds(Append, ids, ids, u64, u64, u64, st.lists(entries, max_size=5).map(tuple), u64),
    st.builds(AppendResp, ids, ids, u64, u64, st.booleans(), u64, u64),
    st.builds(Heartbeat, ids, ids, u64, u64, blobs),
    st.builds(HeartbeatResp, ids, ids, u64, blobs),
    st.builds(InstallSnapshot, ids, ids, u64, st.builds(Snapshot, u64, u64, blobs)),
    st.builds(ReadIndex, ids, ids, u64, blobs),
    st.builds(ReadIndexResp, ids, ids, u64, u64, blobs),
)


@relaxed
@given(messages)
def test_round_trip(msg) -> None:
    assert decode(encode(msg)) == msg


@relaxed
@given(messages, st.data())
def test_truncation_is_a_clear_error(msg, data) -> None:
    raw = encode(msg)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError):
        decode(raw[:cut])


@relaxed
@given(messages)
def test_trailing_bytes_are_refused(msg) -> None:
    with pytest.raises(DecodeError, match="trailing"):
        decode(encode(msg) + b"\0")


@relaxed
@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_but_decode_error(raw: bytes) -> None:
    try:
        decode(raw)
    except DecodeError:
        pass


def test_unknown_type_and_huge_entry_count() -> None:
    with pytest.raises(DecodeError, match="unknown message type"):
        decode(bytes([99]) + bytes(16))
    head = encode(Append(1, 2, 3, 4, 5, (), 6))
    with pytest.raises(DecodeError, match="claims"):
        decode(head[:-4] + (2**32 - 1).to_bytes(4, "big"))


def test_entries_are_compact() -> None:
    msg = Append(1, 2, 7, 10, 6, tuple(Entry(7, 11 + i, b"x" * 10) for i in range(100)), 9)
    # 21 fixed bytes per entry plus the data; no per-field tags.
    assert len(encode(msg)) == 17 + 24 + 4 + 100 * (21 + 10)


@relaxed
@given(entries)
def test_entry_records_round_trip(e: Entry) -> None:
    assert decode_entry(encode_entry(e)) == e
    with pytest.raises(DecodeError):
        decode_entry(encode_entry(e)[:-1])


@relaxed
@given(u64, st.none() | i63, u64)
def test_hard_state_records_round_trip(term: int, vote: int | None, commit: int) -> None:
    hs = HardState(term, vote, commit)
    assert HardState.decode(hs.encode()) == hs
    with pytest.raises(ValueError, match="hard state record"):
        HardState.decode(hs.encode() + b"\0")
