"""Round-trip every record and message through encode/decode, and check byte-exact frames from the notes."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec_strategies import (
    connect_requests, connect_responses, i64, ordinary_xids, replies, request_bodies, requests,
    response_bodies, watcher_events,
)
from reference.codec import messages as M
from reference.codec import records as R
from reference.codec.constants import OpCode
from reference.codec.framing import FrameReader
from reference.codec.jute import Reader, Writer


def _payload(framed: bytes) -> bytes:
    (payload,) = FrameReader().feed(framed)
    return payload


def test_strategies_cover_every_opcode():
    assert set(request_bodies) == set(M.REQUEST_RECORDS)
    assert set(response_bodies) == set(M.RESPONSE_RECORDS)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(requests, ordinary_xids)
def test_request_roundtrip(op_rec, xid):
    op, rec = op_rec
    header, back = M.decode_request(_payload(M.encode_request(xid, op, rec)))
    assert (header.xid, header.type) == (xid, op)
    assert back == rec


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(replies, ordinary_xids, i64)
def test_reply_roundtrip(op_rec, xid, zxid):
    op, rec = op_rec
    header = R.ReplyHeader(xid, zxid, 0)
    back_header, back = M.decode_reply(_payload(M.encode_reply(header, rec)), op)
    assert back_header == header
    assert back == rec


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(replies, ordinary_xids, i64, st.integers(-(2**31), -1))
def test_error_reply_has_no_body(op_rec, xid, zxid, err):
    op, rec = op_rec
    framed = M.encode_reply(R.ReplyHeader(xid, zxid, err), rec)
    assert len(framed) == 20
    assert M.decode_reply(framed[4:], op) == (R.ReplyHeader(xid, zxid, err), None)


@given(connect_requests)
def test_connect_request_roundtrip(req):
    assert M.decode_connect_request(_payload(M.encode_connect_request(req))) == req


@given(connect_responses)
def test_connect_response_roundtrip(resp):
    assert M.decode_connect_response(_payload(M.encode_connect_response(resp))) == resp


@given(watcher_events, i64)
def test_notification_roundtrip(event, zxid):
    header, back = M.decode_reply(_payload(M.encode_notification(event, zxid)), OpCode.GET_DATA)
    assert (header.xid, header.zxid, header.err) == (-1, zxid, 0)
    assert back == event


@given(st.lists(st.one_of(st.none(), st.binary(max_size=40)), max_size=6))
def test_jute_buffer_vector_roundtrip(items):
    w = Writer()
    w.vector(items, Writer.buffer)
    r = Reader(w.getvalue())
    assert r.vector(Reader.buffer) == items
    r.expect_end()


def test_null_vector_and_string():
    w = Writer()
    w.vector(None, Writer.ustring)
    w.ustring(None)
    w.buffer(None)
    r = Reader(w.getvalue())
    assert (r.vector(Reader.ustring), r.ustring(), r.buffer()) == (None, None, None)
    assert r.remaining() == 0


# ---------------------------------------------------------------- byte-exact frames (notes T1, T5, T8)

def test_connect_request_frame_is_49_bytes():
    req = R.ConnectRequest(0, 0, 10000, 0, b"\x00" * 16, False)
    framed = M.encode_connect_request(req)
    assert len(framed) == 49
    assert framed == bytes.fromhex(
        "0000002d" "00000000" "0000000000000000" "00002710" "0000000000000000" "00000010" + "00" * 16 + "00")
    assert M.decode_connect_request(framed[4:]) == req


def test_old_client_connect_without_read_only():
    req = R.ConnectRequest(0, 0, 10000, 0, b"\x00" * 16, None)
    framed = M.encode_connect_request(req)
    assert len(framed) == 48
    assert M.decode_connect_request(framed[4:]).read_only is None
    resp = M.encode_connect_response(R.ConnectResponse(0, 4000, 0x1000000000001, b"\x07" * 16, None))
    assert len(resp) == 4 + 36


def test_notification_frame_matches_observed_bytes():
    path = "/probe-1f2f2389"
    framed = M.encode_notification(R.WatcherEvent(3, 3, path))
    expected = bytes.fromhex("ffffffff" "ffffffffffffffff" "00000000" "00000003" "00000003" "0000000f") + path.encode()
    assert framed[4:] == expected
    assert framed[:4] == len(expected).to_bytes(4, "big")


def test_failed_multi_response_matches_observed_bytes():
    resp = R.MultiResponse([(-1, 0, R.ErrorResponse(0)), (-1, -103, R.ErrorResponse(-103)),
                            (-1, -2, R.ErrorResponse(-2))])
    framed = M.encode_reply(R.ReplyHeader(5, 0x100000009, 0), resp)
    body = framed[4 + 16:]
    assert body == bytes.fromhex(
        "ffffffff00" "00000000" "00000000"
        "ffffffff00" "ffffff99" "ffffff99"
        "ffffffff00" "fffffffe" "fffffffe"
        "ffffffff01" "ffffffff")
    assert M.decode_reply(framed[4:], OpCode.MULTI)[1] == resp


def test_error_result_without_record_writes_error_response():
    resp = R.MultiResponse([(-1, -101, None)])
    body = M.encode_reply(R.ReplyHeader(1, 1, 0), resp)[20:]
    assert body == bytes.fromhex("ffffffff00ffffff9bffffff9b" "ffffffff01ffffffff")


def test_get_data_on_missing_node_is_16_byte_reply():
    framed = M.encode_reply(R.ReplyHeader(7, 42, -101), None)
    assert framed == bytes.fromhex("00000010" "00000007" "000000000000002a" "ffffff9b")


def test_stat_is_68_bytes():
    assert R.Stat.SIZE == 68
    w = Writer()
    R.Stat(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11).write(w)
    assert len(w.getvalue()) == 68


def test_ping_request_and_reply():
    framed = M.encode_request(-2, OpCode.PING, None)
    assert framed == bytes.fromhex("00000008" "fffffffe" "0000000b")
    header, rec = M.decode_request(framed[4:])
    assert (header.xid, header.type, rec) == (-2, 11, None)
    assert M.decode_reply(M.encode_reply(R.ReplyHeader(-2, 9, 0))[4:], OpCode.PING) == (R.ReplyHeader(-2, 9, 0), None)


def test_get_data_request_bytes():
    framed = M.encode_request(1, OpCode.GET_DATA, R.GetDataRequest("/a", True))
    assert framed == bytes.fromhex("0000000f" "00000001" "00000004" "00000002" "2f61" "01")
