"""Hostile input: the decoders raise DecodeError (and nothing else) on random bytes and on mutated valid messages,
and lying lengths/counts fail at once without allocating what they announce."""
from __future__ import annotations

import struct
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec_strategies import connect_requests, mutated, ordinary_xids, replies, requests
from reference.codec import messages as M
from reference.codec import records as R
from reference.codec.constants import OpCode
from reference.codec.errors import DecodeError, FrameTooLarge, UnknownOpcode
from reference.codec.framing import FrameReader, frame, is_four_letter_word
from reference.codec.jute import Reader

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL_OPS = sorted(set(M.REQUEST_RECORDS) | set(M.RESPONSE_RECORDS))


def _decode_all_ways(payload: bytes, opcode: int) -> None:
    """Run every decoder on payload; each either succeeds or raises DecodeError. A successful decode must
    re-encode to something that decodes to the same thing (the decoded value is well-formed)."""
    for decode in (M.decode_connect_request, M.decode_connect_response):
        try:
            rec = decode(payload)
        except DecodeError:
            pass
        else:
            assert decode(rec_bytes(rec)) == rec
    try:
        header, rec = M.decode_request(payload)
    except DecodeError:
        pass
    else:
        again = M.decode_request(M.encode_request(header.xid, header.type, rec)[4:])
        assert again == (header, rec)
    try:
        header, rec = M.decode_reply(payload, opcode)
    except DecodeError:
        pass
    else:
        assert isinstance(header, R.ReplyHeader)


def rec_bytes(rec) -> bytes:
    if isinstance(rec, R.ConnectRequest):
        return M.encode_connect_request(rec)[4:]
    return M.encode_connect_response(rec)[4:]


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(ALL_OPS))
def test_random_bytes_raise_only_decode_error(payload, opcode):
    _decode_all_ways(payload, opcode)


@FUZZ
@given(st.data(), requests, ordinary_xids)
def test_mutated_requests_raise_only_decode_error(data, op_rec, xid):
    op, rec = op_rec
    payload = data.draw(mutated(M.encode_request(xid, op, rec)[4:]))
    _decode_all_ways(payload, op)


@FUZZ
@given(st.data(), replies, ordinary_xids)
def test_mutated_replies_raise_only_decode_error(data, op_rec, xid):
    op, rec = op_rec
    payload = data.draw(mutated(M.encode_reply(R.ReplyHeader(xid, 5, 0), rec)[4:]))
    _decode_all_ways(payload, op)


@FUZZ
@given(st.data(), connect_requests)
def test_mutated_connect_requests_raise_only_decode_error(data, req):
    _decode_all_ways(data.draw(mutated(M.encode_connect_request(req)[4:])), OpCode.CREATE)


def _with_count(prefix: bytes, count: int) -> bytes:
    return prefix + struct.pack(">i", count)


def _assert_fails_small(payload: bytes, decode) -> None:
    """The decoder rejects payload without allocating anything near the size the payload declares."""
    tracemalloc.start()
    try:
        try:
            decode(payload)
        except DecodeError:
            pass
        else:
            raise AssertionError("lying payload decoded")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"decoder allocated {peak} bytes on a {len(payload)}-byte payload"


def test_huge_vector_counts_fail_fast():
    header = struct.pack(">iqi", 1, 1, 0)
    for count in (2**31 - 1, 2**30, 10**6):
        _assert_fails_small(_with_count(header, count), lambda p: M.decode_reply(p, OpCode.GET_CHILDREN))
        # SetWatches: long relativeZxid then a lying vector<ustring>
        req = struct.pack(">iiq", -8, OpCode.SET_WATCHES, 0)
        _assert_fails_small(_with_count(req, count), M.decode_request)
        # a vector<ACL> nested inside a create nested inside a multi
        create = R.CreateRequest("/a", b"", [], 0)
        body = bytearray(M.encode_request(1, OpCode.MULTI, R.MultiRequest([(OpCode.CREATE, create)]))[4:])
        acl_at = 8 + 9 + 4 + 2 + 4  # header, multi header, path, data
        body[acl_at:acl_at + 4] = struct.pack(">i", count)
        _assert_fails_small(bytes(body), M.decode_request)


def test_huge_and_negative_field_lengths_fail():
    for n in (2**31 - 1, 2**20, -2, -(2**31)):
        payload = struct.pack(">iii", 1, OpCode.GET_DATA, n) + b"/a\x00"
        _assert_fails_small(payload, M.decode_request)
        payload = struct.pack(">iqii", 1, 1, 0, n)
        _assert_fails_small(payload, lambda p: M.decode_reply(p, OpCode.GET_DATA))


def test_field_limit_is_enforced_even_when_bytes_are_present():
    r = Reader(struct.pack(">i", 100) + b"x" * 100, max_field=99)
    try:
        r.buffer()
    except DecodeError as e:
        assert "exceeds limit" in str(e)
    else:
        raise AssertionError("oversized field accepted")


def test_specific_errors_are_clear():
    cases = [
        (b"\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00\x02\xff\xfe\x00", "invalid UTF-8"),
        (struct.pack(">ii", 1, OpCode.GET_DATA), "truncated"),
        (struct.pack(">ii", 1, OpCode.PING) + b"x", "no body"),
        (struct.pack(">iii", 1, OpCode.DELETE, 0) + b"\x00\x00\x00\x00\x00", "trailing"),
        (struct.pack(">iiibi", 1, OpCode.MULTI, OpCode.SYNC, 0, -1), "multi sub-op"),
        (b"\x00\x00", "shorter than"),
    ]
    for payload, words in cases:
        try:
            M.decode_request(payload)
        except DecodeError as e:
            assert words in str(e), (payload, str(e))
        else:
            raise AssertionError(f"{payload!r} decoded")


@given(ordinary_xids, st.integers(-(2**31), 2**31 - 1).filter(lambda op: op not in M.REQUEST_RECORDS))
def test_unknown_opcode_carries_xid_and_opcode(xid, opcode):
    try:
        M.decode_request(struct.pack(">ii", xid, opcode) + b"whatever")
    except UnknownOpcode as e:
        assert (e.xid, e.opcode) == (xid, opcode)
        assert isinstance(e, DecodeError)
    else:
        raise AssertionError("unknown opcode decoded")


# ---------------------------------------------------------------- framing

@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=10), st.data())
def test_frame_reader_is_independent_of_chunking(payloads, data):
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    reader = FrameReader()
    got: list[bytes] = []
    prev = 0
    for cut in cuts + [len(stream)]:
        got += reader.feed(stream[prev:cut])
        prev = cut
    assert got == payloads
    assert reader.buffered() == 0


@FUZZ
@given(st.binary(max_size=40), st.one_of(st.integers(-(2**31), -1), st.integers(1025, 2**31 - 1)),
       st.integers(1, 4))
def test_frame_reader_rejects_bad_length_as_soon_as_header_arrives(prefix_payload, n, split):
    reader = FrameReader(max_frame=1024)
    assert reader.feed(frame(prefix_payload)) == [prefix_payload]
    head = struct.pack(">i", n)
    try:
        assert reader.feed(head[:split]) == [] or split == 4
        reader.feed(head[split:])
    except FrameTooLarge as e:
        assert e.length == n
    else:
        raise AssertionError("bad frame length accepted")


def test_default_frame_limit_is_jute_maxbuffer():
    reader = FrameReader()
    assert reader.feed(struct.pack(">i", 0xFFFFF)) == []
    try:
        FrameReader().feed(struct.pack(">i", 0x100000))
    except FrameTooLarge:
        pass
    else:
        raise AssertionError("1 MiB frame accepted")


def test_four_letter_words():
    for word in (b"ruok", b"srvr", b"stat", b"mntr", b"isro", b"dump"):
        assert is_four_letter_word(word)
        # read as a frame header, every word is far beyond the frame limit
        assert struct.unpack(">i", word)[0] > 0xFFFFF
    for not_word in (b"\x00\x00\x00\x2d", b"RUOK", b"ruo", b"xxxx"):
        assert not is_four_letter_word(not_word)


# ---------------------------------------------------------------- fast paths agree with the general decoder

def _general_request(payload: bytes, op: int):
    try:
        r = Reader(payload, pos=8)
        rec = M.REQUEST_RECORDS[op].read(r)
        r.expect_end()
        return rec
    except DecodeError:
        return "error"


FAST_OPS = sorted(M._FAST_REQUESTS)


@FUZZ
@given(st.data(), st.sampled_from(FAST_OPS), ordinary_xids)
def test_fast_request_paths_agree_with_general_decoder(data, op, xid):
    from codec_strategies import request_bodies
    rec = data.draw(request_bodies[op])
    valid = M.encode_request(xid, op, rec)[4:]
    payload = data.draw(st.one_of(st.just(valid), mutated(valid)))
    if len(payload) < 8 or struct.unpack_from(">i", payload, 4)[0] != op:
        return
    fast = M._FAST_REQUESTS[op](payload)
    general = _general_request(payload, op)
    assert fast is None or fast == general
    if payload == valid and getattr(rec, "data", b"") is not None:  # null data is left to the general path
        assert fast == general


@FUZZ
@given(st.data(), ordinary_xids)
def test_fast_get_data_response_agrees_with_general_decoder(data, xid):
    from codec_strategies import get_data_resp
    rec = data.draw(get_data_resp)
    valid = M.encode_reply(R.ReplyHeader(xid, 1, 0), rec)[4:]
    payload = data.draw(st.one_of(st.just(valid), mutated(valid)))
    fast = M._fast_get_data_response(payload)
    try:
        r = Reader(payload, pos=16)
        general = R.GetDataResponse.read(r)
        r.expect_end()
    except DecodeError:
        general = "error"
    assert fast is None or fast == general
    if payload == valid and rec.data is not None:
        assert fast == general


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), requests, ordinary_xids)
def test_decoding_allocates_in_proportion_to_input(data, op_rec, xid):
    """Whatever a payload declares, decoding it never allocates much more than the payload itself."""
    op, rec = op_rec
    payload = data.draw(mutated(M.encode_request(xid, op, rec)[4:]))
    tracemalloc.start()
    try:
        try:
            M.decode_request(payload)
        except DecodeError:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 + 100 * len(payload), f"{peak} bytes allocated decoding {len(payload)} bytes"
