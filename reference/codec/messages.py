"""Whole wire messages: the handshake, requests, replies and notifications (notes T1-T3, T8).

Encoders return framed bytes (4-byte length + payload) ready to write to a socket; decoders take one payload as
produced by framing.FrameReader. All decoders raise only DecodeError (or its subclass UnknownOpcode).
"""
from __future__ import annotations

import struct
from typing import Any

from .constants import OpCode, Xid
from .errors import DecodeError, UnknownOpcode
from .jute import DEFAULT_MAX_FIELD, Reader, Writer
from .records import (
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, ConnectRequest, ConnectResponse,
    Create2Response, CreateRequest, CreateResponse, CreateTTLRequest, DeleteRequest, ExistsRequest, ExistsResponse,
    GetACLRequest, GetACLResponse, GetAllChildrenNumberRequest, GetAllChildrenNumberResponse, GetChildren2Request,
    GetChildren2Response, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse,
    GetEphemeralsRequest, GetEphemeralsResponse, GetSASLRequest, MultiRequest, MultiResponse, ReconfigRequest,
    RemoveWatchesRequest, ReplyHeader, RequestHeader, SetACLRequest, SetACLResponse, SetDataRequest, SetDataResponse,
    SetSASLResponse, SetWatches, SetWatches2, Stat, SyncRequest, SyncResponse, WatcherEvent, WhoAmIResponse,
)

_REQ_HEADER = struct.Struct(">ii")
_REPLY_HEADER = struct.Struct(">iqi")
_FRAMED_REQ_HEADER = struct.Struct(">iii")      # length, xid, type
_FRAMED_REPLY_HEADER = struct.Struct(">iiqi")   # length, xid, zxid, err
_pack_framed_req = _FRAMED_REQ_HEADER.pack
_pack_framed_reply = _FRAMED_REPLY_HEADER.pack
_unpack_req = _REQ_HEADER.unpack_from
_unpack_reply = _REPLY_HEADER.unpack_from
_unpack_int = struct.Struct(">i").unpack_from
_unpack_stat = struct.Struct(">qqqqiiiqiiq").unpack_from

# opcode -> request body record; None = the request has no body.
REQUEST_RECORDS: dict[int, type | None] = {
    OpCode.CREATE: CreateRequest,
    OpCode.DELETE: DeleteRequest,
    OpCode.EXISTS: ExistsRequest,
    OpCode.GET_DATA: GetDataRequest,
    OpCode.SET_DATA: SetDataRequest,
    OpCode.GET_ACL: GetACLRequest,
    OpCode.SET_ACL: SetACLRequest,
    OpCode.GET_CHILDREN: GetChildrenRequest,
    OpCode.SYNC: SyncRequest,
    OpCode.PING: None,
    OpCode.GET_CHILDREN2: GetChildren2Request,
    OpCode.CHECK: CheckVersionRequest,
    OpCode.MULTI: MultiRequest,
    OpCode.CREATE2: CreateRequest,
    OpCode.RECONFIG: ReconfigRequest,
    OpCode.CHECK_WATCHES: CheckWatchesRequest,
    OpCode.REMOVE_WATCHES: RemoveWatchesRequest,
    OpCode.CREATE_CONTAINER: CreateRequest,
    OpCode.CREATE_TTL: CreateTTLRequest,
    OpCode.MULTI_READ: MultiRequest,
    OpCode.AUTH: AuthPacket,
    OpCode.SET_WATCHES: SetWatches,
    OpCode.SASL: GetSASLRequest,
    OpCode.GET_EPHEMERALS: GetEphemeralsRequest,
    OpCode.GET_ALL_CHILDREN_NUMBER: GetAllChildrenNumberRequest,
    OpCode.SET_WATCHES2: SetWatches2,
    OpCode.ADD_WATCH: AddWatchRequest,
    OpCode.WHO_AM_I: None,
    OpCode.CLOSE_SESSION: None,
}

# opcode -> successful response body record; None = ReplyHeader only.
RESPONSE_RECORDS: dict[int, type | None] = {
    OpCode.CREATE: CreateResponse,
    OpCode.DELETE: None,
    OpCode.EXISTS: ExistsResponse,
    OpCode.GET_DATA: GetDataResponse,
    OpCode.SET_DATA: SetDataResponse,
    OpCode.GET_ACL: GetACLResponse,
    OpCode.SET_ACL: SetACLResponse,
    OpCode.GET_CHILDREN: GetChildrenResponse,
    OpCode.SYNC: SyncResponse,
    OpCode.PING: None,
    OpCode.GET_CHILDREN2: GetChildren2Response,
    OpCode.CHECK: None,
    OpCode.MULTI: MultiResponse,
    OpCode.CREATE2: Create2Response,
    OpCode.RECONFIG: GetDataResponse,
    OpCode.CHECK_WATCHES: None,
    OpCode.REMOVE_WATCHES: None,
    OpCode.CREATE_CONTAINER: Create2Response,
    OpCode.CREATE_TTL: Create2Response,
    OpCode.MULTI_READ: MultiResponse,
    OpCode.AUTH: None,
    OpCode.SET_WATCHES: None,
    OpCode.SASL: SetSASLResponse,
    OpCode.GET_EPHEMERALS: GetEphemeralsResponse,
    OpCode.GET_ALL_CHILDREN_NUMBER: GetAllChildrenNumberResponse,
    OpCode.SET_WATCHES2: None,
    OpCode.ADD_WATCH: None,
    OpCode.WHO_AM_I: WhoAmIResponse,
    OpCode.CLOSE_SESSION: None,
}

# Special xids whose replies never carry a body, whatever opcode the caller thinks it sent.
_BODYLESS_XIDS = frozenset((Xid.PING, Xid.AUTH, Xid.SET_WATCHES))


# ---------------------------------------------------------------- fast paths
# The hot messages of a read/write workload decoded with direct struct calls instead of a Reader. Each returns
# None for anything unusual (null fields, bad lengths, bad UTF-8, trailing bytes), and the caller then runs the
# general decoder, which produces the precise DecodeError. So these change speed only, never results.

def _fast_path_watch(payload: bytes, cls: type) -> Any:
    if len(payload) < 13:
        return None
    n = _unpack_int(payload, 8)[0]
    if n < 0 or n > DEFAULT_MAX_FIELD or 13 + n != len(payload):
        return None
    try:
        path = payload[12:12 + n].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return cls(path, payload[12 + n] != 0)


def _fast_set_data(payload: bytes) -> SetDataRequest | None:
    end = len(payload)
    if end < 20:
        return None
    n = _unpack_int(payload, 8)[0]
    if n < 0 or n > DEFAULT_MAX_FIELD or 20 + n > end:
        return None
    d = 16 + n
    m = _unpack_int(payload, 12 + n)[0]
    if m < 0 or m > DEFAULT_MAX_FIELD or d + m + 4 != end:
        return None
    try:
        path = payload[12:12 + n].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return SetDataRequest(path, payload[d:d + m], _unpack_int(payload, d + m)[0])


_FAST_REQUESTS = {
    OpCode.GET_DATA: lambda p: _fast_path_watch(p, GetDataRequest),
    OpCode.EXISTS: lambda p: _fast_path_watch(p, ExistsRequest),
    OpCode.GET_CHILDREN: lambda p: _fast_path_watch(p, GetChildrenRequest),
    OpCode.GET_CHILDREN2: lambda p: _fast_path_watch(p, GetChildren2Request),
    OpCode.SET_DATA: _fast_set_data,
}


_STAT_ONLY_RESPONSES = frozenset((ExistsResponse, SetDataResponse, SetACLResponse))


def _fast_get_data_response(payload: bytes) -> GetDataResponse | None:
    if len(payload) < 20:
        return None
    n = _unpack_int(payload, 16)[0]
    if n < 0 or n > DEFAULT_MAX_FIELD or 88 + n != len(payload):
        return None
    return GetDataResponse(payload[20:20 + n], Stat(*_unpack_stat(payload, 20 + n)))


# ---------------------------------------------------------------- handshake

def decode_connect_request(payload: bytes) -> ConnectRequest:
    """The first client frame: ConnectRequest with no RequestHeader; 44 bytes + optional readOnly byte."""
    r = Reader(payload)
    req = ConnectRequest.read(r)
    r.expect_end("ConnectRequest")
    return req


def encode_connect_request(req: ConnectRequest) -> bytes:
    w = Writer()
    req.write(w)
    return w.framed()


def encode_connect_response(resp: ConnectResponse) -> bytes:
    w = Writer()
    resp.write(w)
    return w.framed()


def decode_connect_response(payload: bytes) -> ConnectResponse:
    r = Reader(payload)
    resp = ConnectResponse.read(r)
    r.expect_end("ConnectResponse")
    return resp


# ---------------------------------------------------------------- requests

def decode_request(payload: bytes) -> tuple[RequestHeader, Any]:
    """RequestHeader + body record (None for body-less opcodes). Trailing bytes are an error."""
    if type(payload) is not bytes:
        payload = bytes(payload)
    if len(payload) < 8:
        raise DecodeError(f"request of {len(payload)} bytes is shorter than its 8-byte header")
    xid, opcode = _unpack_req(payload, 0)
    try:
        cls = REQUEST_RECORDS[opcode]
    except KeyError:
        raise UnknownOpcode(xid, opcode) from None
    header = RequestHeader(xid, opcode)
    fast = _FAST_REQUESTS.get(opcode)
    if fast is not None:
        record = fast(payload)
        if record is not None:
            return header, record
    if cls is None:
        if len(payload) != 8:
            raise DecodeError(f"opcode {opcode} takes no body but {len(payload) - 8} bytes follow the header")
        return header, None
    r = Reader(payload, pos=8)
    record = cls.read(r)
    if r.pos != r.end:
        r.expect_end(cls.__name__)
    return header, record


def encode_request(xid: int, opcode: int, record: Any = None) -> bytes:
    if record is None:
        return _pack_framed_req(8, xid, opcode)
    w = Writer()
    record.write(w)
    body = w.buf
    return _pack_framed_req(8 + len(body), xid, opcode) + body


# ---------------------------------------------------------------- replies

def encode_reply(header: ReplyHeader, record: Any = None) -> bytes:
    """ReplyHeader + record; the record is omitted when header.err != 0, as ZooKeeper does."""
    if record is None or header.err != 0:
        return _pack_framed_reply(16, header.xid, header.zxid, header.err)
    w = Writer()
    record.write(w)
    body = w.buf
    return _pack_framed_reply(16 + len(body), header.xid, header.zxid, header.err) + body


def decode_reply(payload: bytes, opcode: int) -> tuple[ReplyHeader, Any]:
    """Client side. opcode is the one the matching request used; notifications (xid -1) decode as WatcherEvent
    and ping/auth/setWatches replies (xids -2/-4/-8) as header only, regardless of opcode."""
    if type(payload) is not bytes:
        payload = bytes(payload)
    if len(payload) < 16:
        raise DecodeError(f"reply of {len(payload)} bytes is shorter than its 16-byte header")
    header = ReplyHeader(*_unpack_reply(payload, 0))
    if header.xid == Xid.NOTIFICATION:
        cls: type | None = WatcherEvent
    elif header.err != 0 or header.xid in _BODYLESS_XIDS:
        cls = None
    else:
        try:
            cls = RESPONSE_RECORDS[opcode]
        except KeyError:
            raise UnknownOpcode(header.xid, opcode) from None
    if cls is GetDataResponse:
        record = _fast_get_data_response(payload)
        if record is not None:
            return header, record
    elif cls in _STAT_ONLY_RESPONSES and len(payload) == 84:
        return header, cls(Stat(*_unpack_stat(payload, 16)))
    if cls is None:
        if len(payload) != 16:
            raise DecodeError(f"reply to opcode {opcode} has {len(payload) - 16} unexpected body bytes")
        return header, None
    r = Reader(payload, pos=16)
    record = cls.read(r)
    r.expect_end(cls.__name__)
    return header, record


def encode_notification(event: WatcherEvent, zxid: int = -1) -> bytes:
    """A watch event: ReplyHeader{xid -1, zxid, err 0} + WatcherEvent. ZooKeeper 3.8 sends zxid -1."""
    return encode_reply(ReplyHeader(Xid.NOTIFICATION, zxid, 0), event)
