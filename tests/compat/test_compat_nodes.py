"""Znode operations, flags, Stat fields and error codes, identical on the reference server and ZooKeeper."""
from __future__ import annotations

import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    ConnectionLoss,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    ReconfigDisabledError,
)
from kazoo.protocol.serialization import Create, Delete, Exists, GetChildren, GetData, SetData
from kazoo.security import OPEN_ACL_UNSAFE

from tests.compat.helpers import create_container, raw_call

pytestmark = pytest.mark.cluster


def test_create_persistent_with_data(zk):
    c = zk.client
    assert c.create("/a", b"hello") == "/a"
    data, stat = c.get("/a")
    assert data == b"hello"
    assert stat.dataLength == 5
    assert (stat.version, stat.cversion, stat.aversion) == (0, 0, 0)
    assert stat.ephemeralOwner == 0
    assert stat.numChildren == 0
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.ctime == stat.mtime
    # Milliseconds since the epoch; server and test share this machine's clock.
    assert abs(stat.ctime / 1000 - time.time()) < 600


def test_create_without_data_reads_empty(zk):
    zk.client.create("/empty")
    data, stat = zk.client.get("/empty")
    assert data == b""
    assert stat.dataLength == 0


def test_create_existing_is_node_exists(zk):
    zk.client.create("/dup", b"1")
    with pytest.raises(NodeExistsError):
        zk.client.create("/dup", b"2")
    assert zk.client.get("/dup")[0] == b"1"


def test_create_missing_parent_is_no_node_and_makepath_creates_it(zk):
    with pytest.raises(NoNodeError):
        zk.client.create("/missing/child")
    assert zk.client.create("/missing/deep/child", b"x", makepath=True) == "/missing/deep/child"
    assert zk.client.exists("/missing/deep") is not None
    assert zk.client.get("/missing/deep/child")[0] == b"x"


def test_create2_returns_the_stat_exists_reports(zk):
    path, stat = zk.client.create("/c2", b"abc", include_data=True)
    assert path == "/c2"
    assert stat == zk.client.exists("/c2")
    assert stat.dataLength == 3 and stat.version == 0 and stat.czxid == stat.mzxid


def test_ephemeral_is_owned_by_session_and_cannot_have_children(zk):
    c = zk.client
    c.create("/eph", b"e", ephemeral=True)
    stat = c.exists("/eph")
    assert stat.ephemeralOwner == c.client_id[0]
    assert stat.ephemeralOwner != 0
    with pytest.raises(NoChildrenForEphemeralsError):
        c.create("/eph/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        c.create("/eph/child", ephemeral=True)


def test_sequential_names_are_ten_digit_counters(zk):
    c = zk.client
    c.create("/seq")
    assert c.create("/seq/s-", sequence=True) == "/seq/s-0000000000"
    assert c.create("/seq/s-", sequence=True) == "/seq/s-0000000001"
    assert c.create("/seq/", sequence=True) == "/seq/0000000002"
    path = c.create("/seq/e-", b"d", ephemeral=True, sequence=True)
    assert path == "/seq/e-0000000003"
    assert c.exists(path).ephemeralOwner == c.client_id[0]
    assert sorted(c.get_children("/seq")) == ["0000000002", "e-0000000003", "s-0000000000", "s-0000000001"]


def test_sequence_counter_counts_creates_not_deletes(zk):
    """Notes T6: the suffix is the parent's internal create counter; deletes bump only the visible cversion."""
    c = zk.client
    c.create("/p")
    assert c.create("/p/s-", sequence=True) == "/p/s-0000000000"
    assert c.exists("/p").cversion == 1
    c.create("/p/a")
    assert c.exists("/p").cversion == 2
    c.delete("/p/a")
    assert c.exists("/p").cversion == 3
    assert c.create("/p/s-", sequence=True) == "/p/s-0000000002"
    assert c.exists("/p").cversion == 4


def test_sequence_counter_survives_deleting_sequential_children(zk):
    c = zk.client
    c.create("/q")
    first = c.create("/q/n-", sequence=True)
    c.delete(first)
    assert c.create("/q/n-", sequence=True) == "/q/n-0000000001"


def test_container_node(zk):
    path, stat = create_container(zk.client, "/box", b"c")
    assert path == "/box"
    assert stat.ephemeralOwner == 0
    assert stat == zk.client.exists("/box")
    assert zk.client.get("/box")[0] == b"c"
    zk.client.create("/box/item")
    assert zk.client.get_children("/box") == ["item"]


def test_delete_with_version(zk):
    c = zk.client
    c.create("/d", b"0")
    c.set("/d", b"1")
    with pytest.raises(BadVersionError):
        c.delete("/d", version=0)
    assert c.exists("/d") is not None
    c.delete("/d", version=1)
    assert c.exists("/d") is None


def test_delete_any_version_missing_and_not_empty(zk):
    c = zk.client
    with pytest.raises(NoNodeError):
        c.delete("/nothing")
    c.create("/parent/kid", makepath=True)
    with pytest.raises(NotEmptyError):
        c.delete("/parent")
    c.delete("/parent/kid", version=-1)
    c.delete("/parent", version=-1)
    assert c.exists("/parent") is None


def test_exists_get_on_missing(zk):
    assert zk.client.exists("/ghost") is None
    with pytest.raises(NoNodeError):
        zk.client.get("/ghost")
    with pytest.raises(NoNodeError):
        zk.client.get_children("/ghost")


def test_set_increments_version_and_checks_it(zk):
    c = zk.client
    created = c.create("/v", b"a", include_data=True)[1]
    stat = c.set("/v", b"bb")
    assert stat.version == 1
    assert stat.dataLength == 2
    assert stat.czxid == created.czxid
    assert stat.mzxid > created.mzxid
    assert stat.pzxid == created.pzxid
    assert stat.ctime == created.ctime and stat.mtime >= created.mtime
    stat = c.set("/v", b"ccc", version=1)
    assert stat.version == 2
    with pytest.raises(BadVersionError):
        c.set("/v", b"x", version=1)
    data, now = c.get("/v")
    assert data == b"ccc" and now == stat
    with pytest.raises(NoNodeError):
        c.set("/not-there", b"x")


def test_get_children_and_children2_stat(zk):
    c = zk.client
    c.create("/kids")
    for name in ("b", "a", "c"):
        c.create(f"/kids/{name}")
    assert sorted(c.get_children("/kids")) == ["a", "b", "c"]
    children, stat = c.get_children("/kids", include_data=True)
    assert sorted(children) == ["a", "b", "c"]
    assert stat == c.exists("/kids")
    assert stat.numChildren == 3 and stat.cversion == 3
    assert c.get_children("/kids/a") == []


def test_parent_stat_tracks_children(zk):
    c = zk.client
    parent = c.create("/fam", b"p", include_data=True)[1]
    child = c.create("/fam/x", include_data=True)[1]
    after_create = c.exists("/fam")
    assert child.czxid > parent.czxid
    assert after_create.pzxid == child.czxid
    assert after_create.cversion == 1 and after_create.numChildren == 1
    assert after_create.mzxid == parent.mzxid and after_create.version == 0
    c.delete("/fam/x")
    after_delete = c.exists("/fam")
    assert after_delete.pzxid > child.czxid
    assert after_delete.cversion == 2 and after_delete.numChildren == 0
    assert after_delete.mzxid == parent.mzxid
    c.set("/fam", b"q")
    assert c.exists("/fam").pzxid == after_delete.pzxid


def test_zxids_increase_across_writes(zk):
    c = zk.client
    zxids = [c.create(f"/z{i}", include_data=True)[1].czxid for i in range(3)]
    zxids.append(c.set("/z0", b"m").mzxid)
    assert zxids == sorted(zxids) and len(set(zxids)) == 4


def test_sync_returns_path(zk):
    zk.client.create("/s")
    assert zk.client.sync("/s") == "/s"


def test_invalid_paths_are_bad_arguments(zk):
    for path in ("/b\x00", "/b\x1e"):
        with pytest.raises(BadArgumentsError):
            zk.client.create(path)


def test_relative_paths_sent_raw(zk):
    """kazoo would prefix "/", so the request goes out as-is; ZooKeeper checks the parent before the syntax."""
    acl = OPEN_ACL_UNSAFE
    with pytest.raises(BadArgumentsError):
        raw_call(zk.client, Create("relative", b"", acl, 0))
    with pytest.raises(NoNodeError):
        raw_call(zk.client, Create("bad/path", b"", acl, 0))


def test_large_values(zk):
    """512 KiB fits under jute.maxbuffer (1 MiB); 2 MiB makes the server drop the connection."""
    c = zk.client
    c.create("/big", b"a" * (512 * 1024))
    assert c.exists("/big").dataLength == 512 * 1024
    with pytest.raises(ConnectionLoss):
        c.create("/huge", b"a" * (2 * 1024 * 1024))
    # The session survives the dropped connection: the client reconnects and carries on.
    assert c.retry(c.exists, "/big").dataLength == 512 * 1024
    assert c.retry(c.exists, "/huge") is None


def _raw_error(client, request):
    """The exception class a raw request fails with, or None if it succeeds."""
    try:
        raw_call(client, request)
    except Exception as exc:  # noqa: BLE001 - the class is what is compared
        return type(exc)
    return None


def test_path_syntax_is_checked_by_the_server(zk):
    """Sent raw (kazoo would normalise them). ZooKeeper finds the parent before it checks the syntax, so
    "/a/./b" and "<chroot>//a" are NoNode (no parent "/a/." or "<chroot>/") while a bad last component is
    BadArguments."""
    c = zk.client
    c.create("/a")
    root = zk.chroot
    outcomes = {
        path: _raw_error(c, Create(root + path, b"", OPEN_ACL_UNSAFE, 0))
        for path in ("/a/", "//a", "/a\x1e", "/a\x7f", "/a\ue000", "/a\uffff", "/a/./b", "/a/../b")
    }
    assert outcomes == {
        "/a/": BadArgumentsError, "//a": NoNodeError, "/a\x1e": BadArgumentsError,
        "/a\x7f": BadArgumentsError, "/a\ue000": BadArgumentsError, "/a\uffff": BadArgumentsError,
        "/a/./b": NoNodeError, "/a/../b": NoNodeError,
    }
    assert sorted(c.get_children("/")) == ["a"]


def test_which_ops_check_path_syntax(zk):
    """exists and setData reject a NUL byte, getData and getChildren just find nothing; setData also checks
    the whole syntax, delete checks the parent ("rel" has none)."""
    c = zk.client
    bad = zk.chroot + "/b\x00"
    assert _raw_error(c, Exists(bad, None)) is BadArgumentsError
    assert _raw_error(c, GetData(bad, None)) is NoNodeError
    assert _raw_error(c, GetChildren(bad, None)) is NoNodeError
    assert _raw_error(c, SetData(bad, b"", -1)) is BadArgumentsError
    assert _raw_error(c, SetData(zk.chroot + "/x/", b"", -1)) is BadArgumentsError
    assert _raw_error(c, Exists(zk.chroot + "/b\x1e", None)) is None  # exists() answers "no node"
    assert _raw_error(c, Delete("rel", -1)) is BadArgumentsError


def test_root_and_zookeeper_nodes_cannot_be_deleted(zk):
    c = zk.client
    assert _raw_error(c, Delete("/", -1)) is BadArgumentsError
    assert _raw_error(c, Delete("/zookeeper", -1)) is BadArgumentsError


def _create_frame_length(path: str, data_len: int) -> int:
    """Bytes after the length prefix of a create with the open ACL: header, path, data, ACL vector, flags."""
    acl = 4 + (4 + len("world")) + (4 + len("anyone"))
    return 8 + (4 + len(path.encode())) + (4 + data_len) + 4 + acl + 4


def test_frame_limit_is_jute_maxbuffer(zk):
    """A request frame of exactly jute.maxbuffer (0xfffff) bytes is served; one byte more drops the
    connection."""
    c = zk.client
    limit = 0xFFFFF
    fits = limit - _create_frame_length(zk.chroot + "/edge", 0)
    value = bytes(range(256)) * (fits // 256) + b"e" * (fits % 256)
    c.create("/edge", value)
    data, stat = c.get("/edge")
    assert stat.dataLength == fits and data == value
    with pytest.raises(ConnectionLoss):
        c.create("/over", b"o" * (fits + 1))
    assert c.retry(c.exists, "/over") is None


def test_failed_writes_consume_a_zxid(zk):
    """ZooKeeper logs an error transaction for a failed write (notes T1): the next zxid skips one.
    Other sessions may write meanwhile, so only a lower bound holds."""
    c = zk.client
    first = c.create("/f1", include_data=True)[1].czxid
    with pytest.raises(NodeExistsError):
        c.create("/f1")
    second = c.create("/f2", include_data=True)[1].czxid
    with pytest.raises(BadVersionError):
        c.set("/f2", b"x", version=7)
    third = c.create("/f3", include_data=True)[1].czxid
    assert second - first >= 2
    assert third - second >= 2


def test_replies_carry_the_servers_last_zxid(zk):
    """Every reply header carries the last zxid; kazoo keeps it as last_zxid and sends it on reconnect."""
    reader = zk.connect()
    reader.exists("/")
    stat = zk.client.create("/newer", include_data=True)[1]
    reader.exists("/anything")
    assert reader.last_zxid >= stat.czxid


def test_get_children_of_an_ephemeral(zk):
    zk.client.create("/lonely", ephemeral=True)
    children, stat = zk.client.get_children("/lonely", include_data=True)
    assert children == [] and stat.numChildren == 0 and stat.ephemeralOwner == zk.client.client_id[0]


def test_set_with_same_data_still_bumps_version(zk):
    zk.client.create("/same", b"v")
    assert zk.client.set("/same", b"v").version == 1
    assert zk.client.set("/same", b"v").version == 2


def test_reconfig_is_disabled_by_default(zk):
    """reconfigEnabled defaults to false, so reconfig answers ReconfigDisabled (-123) whatever it asks."""
    with pytest.raises(ReconfigDisabledError):
        zk.client.reconfig(joining=None, leaving="2", new_members=None)


def test_null_data_stays_null(zk):
    """A create or setData whose data buffer is null (length -1) reads back as null, unlike empty data."""
    c = zk.client
    raw_call(c, Create(zk.chroot + "/null", None, OPEN_ACL_UNSAFE, 0))
    data, stat = c.get("/null")
    assert data is None and stat.dataLength == 0
    c.set("/null", b"x")
    raw_call(c, SetData(zk.chroot + "/null", None, -1))
    data, stat = c.get("/null")
    assert data is None and stat.dataLength == 0 and stat.version == 2
    c.create("/not-null", b"")
    assert c.get("/not-null")[0] == b""


def test_unicode_paths_and_binary_data(zk):
    """ZooKeeper checks UTF-16 code units: surrogates (so every emoji), \ud800-\uf8ff and \ufff0-\uffff
    are refused; other non-ASCII characters are fine."""
    c = zk.client
    names = ["caf\u00e9", "\u65e5\u672c", "sp ace", "dot.ted", "-", "...", "\u00a0", "\uf900"]
    for name in names:
        c.create(f"/{name}", name.encode("utf-8") + bytes(range(256)))
    for name in ("emoji-\U0001F600", "\uf8ff", "\ufffd"):
        with pytest.raises(BadArgumentsError):
            c.create(f"/{name}")
    assert sorted(c.get_children("/")) == sorted(names)
    for name in names:
        assert c.get(f"/{name}")[0] == name.encode("utf-8") + bytes(range(256))


def test_many_children(zk):
    c = zk.client
    c.create("/wide")
    pending = [c.create_async(f"/wide/child-{i:04d}-" + "x" * 40) for i in range(1000)]
    for p in pending:
        p.get(timeout=30)
    children, stat = c.get_children("/wide", include_data=True)
    assert len(children) == 1000 == stat.numChildren
    assert sorted(children) == [f"child-{i:04d}-" + "x" * 40 for i in range(1000)]
    for p in [c.delete_async(f"/wide/{child}") for child in children]:  # pipelined: a fast teardown
        p.get(timeout=30)
