"""Our codec against a real client's serializer: kazoo's requests decode to the right records, and kazoo's
deserializers read our replies. This is what the server will see from (and send to) kazoo."""
from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st
from kazoo.protocol import serialization as K
from kazoo.security import ACL as KACL
from kazoo.security import Id as KId

from codec_strategies import data, i32, i64, ordinary_xids, path, stats
from reference.codec import messages as M
from reference.codec import records as R
from reference.codec.constants import OpCode

bin_data = st.binary(max_size=64)
# kazoo writes "" as null, which we read back as ""; both sides agree on any non-empty text.
kacls = st.lists(st.builds(lambda p, s, i: KACL(p, KId(s, i)),
                           i32, st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8)), max_size=3)


def _kazoo_request(xid: int, req) -> bytes:
    return struct.pack(">ii", xid, req.type) + bytes(req.serialize())


def _ours_acl(kacl_list):
    return [R.ACL(a.perms, R.Id(a.id.scheme, a.id.id)) for a in kacl_list]


def _stat_tuple(stat: R.Stat) -> tuple:
    return (stat.czxid, stat.mzxid, stat.ctime, stat.mtime, stat.version, stat.cversion, stat.aversion,
            stat.ephemeral_owner, stat.data_length, stat.num_children, stat.pzxid)


@given(ordinary_xids, path, bin_data, kacls, st.integers(0, 6))
def test_kazoo_create(xid, p, d, acl, flags):
    header, rec = M.decode_request(_kazoo_request(xid, K.Create(p, d, acl, flags)))
    assert (header.xid, header.type) == (xid, OpCode.CREATE)
    assert rec == R.CreateRequest(p, d, _ours_acl(acl), flags)
    header, rec = M.decode_request(_kazoo_request(xid, K.Create2(p, d, acl, flags)))
    assert header.type == OpCode.CREATE2 and rec == R.CreateRequest(p, d, _ours_acl(acl), flags)


@given(ordinary_xids, path, st.booleans())
def test_kazoo_path_watch_requests(xid, p, watch):
    for kcls, ours in ((K.GetData, R.GetDataRequest), (K.Exists, R.ExistsRequest),
                       (K.GetChildren, R.GetChildrenRequest), (K.GetChildren2, R.GetChildren2Request)):
        header, rec = M.decode_request(_kazoo_request(xid, kcls(p, watch)))
        assert header.type == kcls.type and rec == ours(p, watch)


@given(ordinary_xids, path, bin_data, i32)
def test_kazoo_set_data_delete_sync(xid, p, d, version):
    assert M.decode_request(_kazoo_request(xid, K.SetData(p, d, version)))[1] == R.SetDataRequest(p, d, version)
    assert M.decode_request(_kazoo_request(xid, K.Delete(p, version)))[1] == R.DeleteRequest(p, version)
    assert M.decode_request(_kazoo_request(xid, K.Sync(p)))[1] == R.SyncRequest(p)
    assert M.decode_request(_kazoo_request(xid, K.GetACL(p)))[1] == R.GetACLRequest(p)


@given(ordinary_xids, path, bin_data, i32, kacls)
def test_kazoo_transaction(xid, p, d, version, acl):
    txn = K.Transaction([K.Create(p, d, acl, 1), K.Delete(p, version), K.SetData(p, d, version),
                         K.CheckVersion(p, version)])
    header, rec = M.decode_request(_kazoo_request(xid, txn))
    assert header.type == OpCode.MULTI
    assert rec == R.MultiRequest([
        (OpCode.CREATE, R.CreateRequest(p, d, _ours_acl(acl), 1)), (OpCode.DELETE, R.DeleteRequest(p, version)),
        (OpCode.SET_DATA, R.SetDataRequest(p, d, version)), (OpCode.CHECK, R.CheckVersionRequest(p, version))])


def test_kazoo_connect_auth_ping_close():
    connect = K.Connect(0, 0x100000005, 10000, 0, b"\x00" * 16, False)
    assert M.decode_connect_request(bytes(connect.serialize())) == R.ConnectRequest(
        0, 0x100000005, 10000, 0, b"\x00" * 16, False)
    header, rec = M.decode_request(_kazoo_request(-4, K.Auth(0, "digest", "user:pw")))
    assert (header.xid, header.type, rec) == (-4, OpCode.AUTH, R.AuthPacket(0, "digest", b"user:pw"))
    assert M.decode_request(_kazoo_request(-2, K.Ping()))[1] is None
    assert M.decode_request(_kazoo_request(9, K.Close()))[0].type == OpCode.CLOSE_SESSION


@given(i32, i64, st.binary(min_size=16, max_size=16), st.booleans())
def test_kazoo_reads_connect_response(timeout, session_id, passwd, ro):
    framed = M.encode_connect_response(R.ConnectResponse(0, timeout, session_id, passwd, ro))
    kresp, _ = K.Connect.deserialize(framed[4:], 0)
    assert (kresp.time_out, kresp.session_id, kresp.passwd, kresp.read_only) == (timeout, session_id, passwd, ro)


@given(ordinary_xids, i64, data, stats)
def test_kazoo_reads_get_data_reply(xid, zxid, d, stat):
    payload = M.encode_reply(R.ReplyHeader(xid, zxid, 0), R.GetDataResponse(d, stat))[4:]
    kheader, offset = K.ReplyHeader.deserialize(payload, 0)
    assert tuple(kheader) == (xid, zxid, 0)
    kdata, kstat = K.GetData.deserialize(payload, offset)
    assert kdata == d and tuple(kstat) == _stat_tuple(stat)


@given(st.lists(path, max_size=6), stats)
def test_kazoo_reads_children_replies(children, stat):
    payload = M.encode_reply(R.ReplyHeader(1, 1, 0), R.GetChildren2Response(children, stat))[4:]
    kids, kstat = K.GetChildren2.deserialize(payload, 16)
    assert kids == children and tuple(kstat) == _stat_tuple(stat)
    payload = M.encode_reply(R.ReplyHeader(1, 1, 0), R.GetChildrenResponse(children))[4:]
    assert K.GetChildren.deserialize(payload, 16) == children


@given(st.integers(1, 7), path)
def test_kazoo_reads_notification(event_type, p):
    payload = M.encode_notification(R.WatcherEvent(event_type, 3, p))[4:]
    kheader, offset = K.ReplyHeader.deserialize(payload, 0)
    assert kheader.xid == -1
    watch, _ = K.Watch.deserialize(payload, offset)
    assert tuple(watch) == (event_type, 3, p)


@given(path, stats)
def test_kazoo_reads_multi_results(p, stat):
    ok = R.MultiResponse([(OpCode.CREATE, 0, R.CreateResponse(p)), (OpCode.DELETE, 0, None),
                          (OpCode.SET_DATA, 0, R.SetDataResponse(stat)), (OpCode.CHECK, 0, None)])
    payload = M.encode_reply(R.ReplyHeader(3, 3, 0), ok)[4:]
    results = K.Transaction.deserialize(payload, 16)
    assert results[0] == p and results[1] is True and tuple(results[2]) == _stat_tuple(stat) and results[3] is True
    failed = R.MultiResponse([(-1, 0, R.ErrorResponse(0)), (-1, -103, R.ErrorResponse(-103))])
    results = K.Transaction.deserialize(M.encode_reply(R.ReplyHeader(3, 3, 0), failed)[4:], 16)
    assert [type(r).__name__ for r in results] == ["RolledBackError", "BadVersionError"]
