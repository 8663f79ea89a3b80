"""Hypothesis strategies producing every codec record, shared by the codec and fuzz tests."""
from __future__ import annotations

import struct

from hypothesis import strategies as st

from reference.codec import records as R
from reference.codec.constants import OpCode

i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
text = st.text(max_size=20)
path = st.text(max_size=20).map(lambda s: "/" + s)
data = st.one_of(st.none(), st.binary(max_size=64))
strs = st.lists(path, max_size=5)

ids = st.builds(R.Id, text, text)
acls = st.builds(R.ACL, i32, ids)
acl_list = st.lists(acls, max_size=4)
stats = st.builds(R.Stat, i64, i64, i64, i64, i32, i32, i32, i64, i32, i32, i64)


def _pw(cls):
    return st.builds(cls, path, st.booleans())


create_req = st.builds(R.CreateRequest, path, data, acl_list, i32)
create_ttl_req = st.builds(R.CreateTTLRequest, path, data, acl_list, i32, i64)
delete_req = st.builds(R.DeleteRequest, path, i32)
set_data_req = st.builds(R.SetDataRequest, path, data, i32)
check_req = st.builds(R.CheckVersionRequest, path, i32)
get_data_req = _pw(R.GetDataRequest)
get_children_req = _pw(R.GetChildrenRequest)

multi_sub_requests = {
    OpCode.CREATE: create_req, OpCode.CREATE2: create_req, OpCode.CREATE_CONTAINER: create_req,
    OpCode.CREATE_TTL: create_ttl_req, OpCode.DELETE: delete_req, OpCode.SET_DATA: set_data_req,
    OpCode.CHECK: check_req, OpCode.GET_DATA: get_data_req, OpCode.GET_CHILDREN: get_children_req,
}
multi_op = st.sampled_from(sorted(multi_sub_requests)).flatmap(
    lambda op: multi_sub_requests[op].map(lambda rec: (op, rec)))
multi_req = st.builds(R.MultiRequest, st.lists(multi_op, max_size=5))

create_resp = st.builds(R.CreateResponse, path)
create2_resp = st.builds(R.Create2Response, path, stats)
set_data_resp = st.builds(R.SetDataResponse, stats)
get_data_resp = st.builds(R.GetDataResponse, data, stats)
get_children_resp = st.builds(R.GetChildrenResponse, strs)
multi_sub_results = {
    OpCode.CREATE: create_resp, OpCode.CREATE2: create2_resp, OpCode.CREATE_CONTAINER: create2_resp,
    OpCode.CREATE_TTL: create2_resp, OpCode.DELETE: st.none(), OpCode.CHECK: st.none(),
    OpCode.SET_DATA: set_data_resp, OpCode.GET_DATA: get_data_resp, OpCode.GET_CHILDREN: get_children_resp,
}
multi_ok_result = st.sampled_from(sorted(multi_sub_results)).flatmap(
    lambda op: multi_sub_results[op].map(lambda rec: (op, 0, rec)))
multi_err_result = i32.map(lambda e: (-1, e, R.ErrorResponse(e)))
multi_resp = st.builds(R.MultiResponse, st.lists(st.one_of(multi_ok_result, multi_err_result), max_size=5))

# opcode -> strategy for its request body (None for body-less opcodes)
request_bodies = {
    OpCode.CREATE: create_req, OpCode.DELETE: delete_req, OpCode.EXISTS: _pw(R.ExistsRequest),
    OpCode.GET_DATA: get_data_req, OpCode.SET_DATA: set_data_req,
    OpCode.GET_ACL: st.builds(R.GetACLRequest, path),
    OpCode.SET_ACL: st.builds(R.SetACLRequest, path, acl_list, i32),
    OpCode.GET_CHILDREN: get_children_req, OpCode.SYNC: st.builds(R.SyncRequest, path),
    OpCode.PING: st.none(), OpCode.GET_CHILDREN2: _pw(R.GetChildren2Request), OpCode.CHECK: check_req,
    OpCode.MULTI: multi_req, OpCode.CREATE2: create_req,
    OpCode.RECONFIG: st.builds(R.ReconfigRequest, st.none() | text, st.none() | text, st.none() | text, i64),
    OpCode.CHECK_WATCHES: st.builds(R.CheckWatchesRequest, path, i32),
    OpCode.REMOVE_WATCHES: st.builds(R.RemoveWatchesRequest, path, i32),
    OpCode.CREATE_CONTAINER: create_req, OpCode.CREATE_TTL: create_ttl_req, OpCode.MULTI_READ: multi_req,
    OpCode.AUTH: st.builds(R.AuthPacket, i32, text, data),
    OpCode.SET_WATCHES: st.builds(R.SetWatches, i64, strs, strs, strs),
    OpCode.SASL: st.builds(R.GetSASLRequest, data),
    OpCode.GET_EPHEMERALS: st.builds(R.GetEphemeralsRequest, path),
    OpCode.GET_ALL_CHILDREN_NUMBER: st.builds(R.GetAllChildrenNumberRequest, path),
    OpCode.SET_WATCHES2: st.builds(R.SetWatches2, i64, strs, strs, strs, strs, strs),
    OpCode.ADD_WATCH: st.builds(R.AddWatchRequest, path, i32),
    OpCode.WHO_AM_I: st.none(), OpCode.CLOSE_SESSION: st.none(),
}

# opcode -> strategy for its successful response body
response_bodies = {
    OpCode.CREATE: create_resp, OpCode.DELETE: st.none(), OpCode.EXISTS: st.builds(R.ExistsResponse, stats),
    OpCode.GET_DATA: get_data_resp, OpCode.SET_DATA: set_data_resp,
    OpCode.GET_ACL: st.builds(R.GetACLResponse, acl_list, stats),
    OpCode.SET_ACL: st.builds(R.SetACLResponse, stats), OpCode.GET_CHILDREN: get_children_resp,
    OpCode.SYNC: st.builds(R.SyncResponse, path), OpCode.GET_CHILDREN2: st.builds(R.GetChildren2Response, strs, stats),
    OpCode.CHECK: st.none(), OpCode.MULTI: multi_resp, OpCode.CREATE2: create2_resp, OpCode.RECONFIG: get_data_resp,
    OpCode.CHECK_WATCHES: st.none(), OpCode.REMOVE_WATCHES: st.none(), OpCode.CREATE_CONTAINER: create2_resp,
    OpCode.CREATE_TTL: create2_resp, OpCode.MULTI_READ: multi_resp, OpCode.SASL: st.builds(R.SetSASLResponse, data),
    OpCode.GET_EPHEMERALS: st.builds(R.GetEphemeralsResponse, strs),
    OpCode.GET_ALL_CHILDREN_NUMBER: st.builds(R.GetAllChildrenNumberResponse, i32),
    OpCode.SET_WATCHES2: st.none(), OpCode.ADD_WATCH: st.none(),
    OpCode.WHO_AM_I: st.builds(R.WhoAmIResponse, st.lists(st.builds(R.ClientInfo, text, text), max_size=3)),
    OpCode.CLOSE_SESSION: st.none(), OpCode.PING: st.none(), OpCode.AUTH: st.none(),
    OpCode.SET_WATCHES: st.none(),
}

connect_requests = st.builds(R.ConnectRequest, i32, i64, i32, i64, st.binary(max_size=16),
                             st.one_of(st.none(), st.booleans()))
connect_responses = st.builds(R.ConnectResponse, i32, i32, i64, st.binary(max_size=16),
                              st.one_of(st.none(), st.booleans()))
watcher_events = st.builds(R.WatcherEvent, i32, i32, st.one_of(st.none(), text))

# xids a client may use for ordinary requests (the special ones change how replies decode)
ordinary_xids = st.integers(0, 2**31 - 1)

requests = st.sampled_from(sorted(request_bodies)).flatmap(
    lambda op: request_bodies[op].map(lambda rec: (op, rec)))
replies = st.sampled_from(sorted(response_bodies)).flatmap(
    lambda op: response_bodies[op].map(lambda rec: (op, rec)))


# Lengths/counts a liar would declare: beyond the end, huge, negative, the int32 extremes.
LIES = [-2, -1000, -(2**31), 2**31 - 1, 2**31 - 2, 2**20, 0x7FFF_FFF0, 65536]


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """A valid payload damaged the way a broken or hostile peer would."""
    b = bytearray(valid)
    kind = draw(st.sampled_from(["truncate", "flip", "lie", "utf8", "append", "splice"]))
    if kind == "truncate" and b:
        del b[draw(st.integers(0, len(b) - 1)):]
    elif kind == "flip" and b:
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] ^= draw(st.integers(1, 255))
    elif kind == "lie" and len(b) >= 4:
        i = draw(st.integers(0, len(b) - 4))
        b[i:i + 4] = struct.pack(">i", draw(st.sampled_from(LIES)))
    elif kind == "utf8" and b:
        i = draw(st.integers(0, len(b) - 1))
        b[i:i + 1] = draw(st.sampled_from([b"\xff", b"\xc0", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"]))
    elif kind == "append":
        b += draw(st.binary(min_size=1, max_size=16))
    elif kind == "splice" and b:
        i = draw(st.integers(0, len(b)))
        b[i:i] = draw(st.binary(min_size=1, max_size=8))
    return bytes(b)
