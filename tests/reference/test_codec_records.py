"""Every record class in reference.codec.records round-trips through write/read on its own, and the strategy
table covers all of them (a new record without a strategy fails here)."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import codec_strategies as S
from reference.codec import records as R
from reference.codec.errors import DecodeError
from reference.codec.jute import Reader, Writer

RECORD_STRATEGIES = {
    R.Id: S.ids, R.ACL: S.acls, R.Stat: S.stats,
    R.ConnectRequest: S.connect_requests, R.ConnectResponse: S.connect_responses,
    R.RequestHeader: st.builds(R.RequestHeader, S.i32, S.i32),
    R.ReplyHeader: st.builds(R.ReplyHeader, S.i32, S.i64, S.i32),
    R.CreateRequest: S.create_req, R.CreateTTLRequest: S.create_ttl_req,
    R.CreateResponse: S.create_resp, R.Create2Response: S.create2_resp,
    R.DeleteRequest: S.delete_req,
    R.ExistsRequest: st.builds(R.ExistsRequest, S.path, st.booleans()),
    R.ExistsResponse: st.builds(R.ExistsResponse, S.stats),
    R.GetDataRequest: S.get_data_req, R.GetDataResponse: S.get_data_resp,
    R.SetDataRequest: S.set_data_req, R.SetDataResponse: S.set_data_resp,
    R.GetACLRequest: st.builds(R.GetACLRequest, S.path),
    R.GetACLResponse: st.builds(R.GetACLResponse, S.acl_list, S.stats),
    R.SetACLRequest: st.builds(R.SetACLRequest, S.path, S.acl_list, S.i32),
    R.SetACLResponse: st.builds(R.SetACLResponse, S.stats),
    R.GetChildrenRequest: S.get_children_req, R.GetChildrenResponse: S.get_children_resp,
    R.GetChildren2Request: st.builds(R.GetChildren2Request, S.path, st.booleans()),
    R.GetChildren2Response: st.builds(R.GetChildren2Response, S.strs, S.stats),
    R.SyncRequest: st.builds(R.SyncRequest, S.path), R.SyncResponse: st.builds(R.SyncResponse, S.path),
    R.CheckVersionRequest: S.check_req,
    R.SetWatches: st.builds(R.SetWatches, S.i64, S.strs, S.strs, S.strs),
    R.SetWatches2: st.builds(R.SetWatches2, S.i64, S.strs, S.strs, S.strs, S.strs, S.strs),
    R.AddWatchRequest: st.builds(R.AddWatchRequest, S.path, S.i32),
    R.RemoveWatchesRequest: st.builds(R.RemoveWatchesRequest, S.path, S.i32),
    R.CheckWatchesRequest: st.builds(R.CheckWatchesRequest, S.path, S.i32),
    R.AuthPacket: st.builds(R.AuthPacket, S.i32, S.text, S.data),
    R.ClientInfo: st.builds(R.ClientInfo, S.text, S.text),
    R.WhoAmIResponse: st.builds(R.WhoAmIResponse, st.lists(st.builds(R.ClientInfo, S.text, S.text), max_size=3)),
    R.GetEphemeralsRequest: st.builds(R.GetEphemeralsRequest, S.path),
    R.GetEphemeralsResponse: st.builds(R.GetEphemeralsResponse, S.strs),
    R.GetAllChildrenNumberRequest: st.builds(R.GetAllChildrenNumberRequest, S.path),
    R.GetAllChildrenNumberResponse: st.builds(R.GetAllChildrenNumberResponse, S.i32),
    R.ErrorResponse: st.builds(R.ErrorResponse, S.i32),
    R.ReconfigRequest: st.builds(R.ReconfigRequest, st.none() | S.text, st.none() | S.text, st.none() | S.text,
                                 S.i64),
    R.GetSASLRequest: st.builds(R.GetSASLRequest, S.data), R.SetSASLResponse: st.builds(R.SetSASLResponse, S.data),
    R.WatcherEvent: S.watcher_events,
    R.MultiRequest: S.multi_req, R.MultiResponse: S.multi_resp,
}


def _public_records() -> set[type]:
    return {obj for name, obj in vars(R).items()
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and not name.startswith("_")
            and obj.__module__ == R.__name__}


def test_every_record_has_a_strategy():
    assert _public_records() == set(RECORD_STRATEGIES)


@pytest.mark.parametrize("cls", sorted(RECORD_STRATEGIES, key=lambda c: c.__name__), ids=lambda c: c.__name__)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_record_roundtrip(cls, data):
    rec = data.draw(RECORD_STRATEGIES[cls])
    w = Writer()
    rec.write(w)
    encoded = w.getvalue()
    r = Reader(encoded)
    assert cls.read(r) == rec
    r.expect_end(cls.__name__)
    # every proper prefix is rejected as truncated, never misread (records are self-delimiting)
    if encoded:
        cut = data.draw(st.integers(0, len(encoded) - 1))
        try:
            short = Reader(encoded[:cut])
            cls.read(short)
            short.expect_end()
        except DecodeError:
            pass
        else:
            # only a record whose tail is optional (the readOnly byte) may stop early
            assert cls in (R.ConnectRequest, R.ConnectResponse) and cut == len(encoded) - 1
