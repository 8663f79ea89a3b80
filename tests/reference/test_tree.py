"""The data tree and its write path (txn.prepare + txn.apply) against ZooKeeper's observed behaviour (notes T4-T8)
and against a simple dict model under random operation sequences."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reference import acl as aclmod
from reference.acl import OPEN_ACL_UNSAFE, KeeperError
from reference.codec.constants import Err, EventType, OpCode
from reference.tree import Tree, path_error
from reference.txn import Pending, apply, prepare

import pytest

OPEN = list(OPEN_ACL_UNSAFE)


class Db:
    """A tree with the single-server write path: prepare then apply at once."""

    def __init__(self) -> None:
        self.tree = Tree()
        self.pending = Pending(self.tree)
        self.zxid = 0

    def write(self, op: int, req, session: int = 0x100, auth=()):
        self.zxid += 1
        t = prepare(self.pending, self.zxid, 1000 + self.zxid, session, auth, op, req)
        result, triggers = apply(self.tree, t)
        self.pending.applied(self.zxid)
        return result, triggers

    def create(self, path: str, data: bytes = b"", flags: int = 0, acl=OPEN, **kw):
        return self.write(OpCode.CREATE, (path, data, acl, flags), **kw)

    def delete(self, path: str, version: int = -1, **kw):
        return self.write(OpCode.DELETE, (path, version), **kw)

    def set(self, path: str, data: bytes, version: int = -1, **kw):
        return self.write(OpCode.SET_DATA, (path, data, version), **kw)


def err(result) -> int:
    return result[0][0]


def test_fresh_tree_looks_like_zookeeper():
    t = Tree()
    # Observed on ZooKeeper 3.8.0: root cversion -1, /zookeeper cversion -2, /zookeeper/config aversion -1, r-only.
    assert t.nodes["/"].stat() == (0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0)
    assert t.nodes["/zookeeper"].stat()[5] == -2
    assert t.nodes["/zookeeper/config"].stat()[6] == -1
    assert t.nodes["/zookeeper/config"].acl == ((1, "world", "anyone"),)
    assert t.get_children("/zookeeper", ())[0] == ["config", "quota"]


@pytest.mark.parametrize("path,ok", [
    ("/", True), ("/a", True), ("/a/b.c", True), ("/a/..b", True), ("", False), ("a", False), ("/a/", False),
    ("//a", False), ("/a/./b", False), ("/a/..", False), ("/.", False), ("/b\x00", False), ("/b\x1e", False),
    ("/b\x7f", False), ("/b\ud800", False), ("/\U0001F600", False), ("/\ufff0", False), ("/é", True),
])
def test_path_validation(path, ok):
    assert (path_error(path) is None) == ok


def test_create_error_codes_in_zookeepers_order():
    db = Db()
    assert err(db.create("/a")) == 0
    assert err(db.create("/a")) == Err.NODE_EXISTS
    assert err(db.create("/x/y")) == Err.NO_NODE
    assert err(db.create("bad/path")) == Err.NO_NODE        # parent lookup runs before path validation
    assert err(db.create("noslash")) == Err.BAD_ARGUMENTS
    assert err(db.create("/b\x00")) == Err.BAD_ARGUMENTS
    assert err(db.create("/b\x1e")) == Err.BAD_ARGUMENTS
    assert err(db.create("/x/y", acl=[])) == Err.INVALID_ACL  # ACL fixup comes before the parent lookup
    assert err(db.create("/e", flags=1)) == 0
    assert err(db.create("/e/c")) == Err.NO_CHILDREN_FOR_EPHEMERALS
    assert err(db.create("/f", flags=7)) == Err.BAD_ARGUMENTS
    assert err(db.create("/ttl", flags=5)) == Err.UNIMPLEMENTED
    assert err(db.write(OpCode.CREATE_TTL, ("/ttl", b"", OPEN, 5))) == Err.UNIMPLEMENTED


def test_every_write_consumes_a_zxid_even_failed_ones():
    db = Db()
    db.create("/a")
    db.create("/a")
    db.set("/a", b"x", version=7)
    assert db.tree.last_zxid == 3
    assert db.tree.nodes["/a"].mzxid == 1


def test_delete_and_set_errors():
    db = Db()
    db.create("/a")
    db.create("/a/b")
    assert err(db.delete("/a")) == Err.NOT_EMPTY
    assert err(db.delete("/a/b", version=3)) == Err.BAD_VERSION
    assert err(db.delete("/nope")) == Err.NO_NODE
    assert err(db.delete("/zookeeper")) == Err.BAD_ARGUMENTS
    assert err(db.delete("/")) == Err.BAD_ARGUMENTS
    assert err(db.set("/a", b"1", version=0)) == 0
    assert err(db.set("/a", b"2", version=0)) == Err.BAD_VERSION
    assert err(db.set("rel", b"2")) == Err.BAD_ARGUMENTS
    assert db.tree.nodes["/a"].version == 1
    assert err(db.delete("/a/b", version=0)) == 0


def test_sequential_names_use_the_internal_create_counter():
    db = Db()
    db.create("/t")
    (_, (p1, _)), _ = db.create("/t/s-", flags=2)
    db.create("/t/a")
    db.delete("/t/a")
    (_, (p2, _)), _ = db.create("/t/s-", flags=2)
    assert (p1, p2) == ("/t/s-0000000000", "/t/s-0000000002")    # notes T6
    stat = db.tree.nodes["/t"].stat()
    assert stat[5] == 4 and stat[9] == 2                          # visible cversion = creates + deletes


def test_ephemerals_and_session_close():
    db = Db()
    db.write(OpCode.CREATE_SESSION, (4000,), session=7)
    db.create("/p")
    (_, (path, stat)), _ = db.create("/p/e-", flags=3, session=7)
    assert stat[7] == 7
    assert db.tree.get_ephemerals(7, "/") == [path]
    result, triggers = db.write(OpCode.CLOSE_SESSION, (), session=7)
    assert result == (0, None)
    assert path not in db.tree.nodes and 7 not in db.tree.sessions
    assert (int(EventType.NODE_DELETED), path) in triggers
    assert (int(EventType.NODE_CHILDREN_CHANGED), "/p") in triggers


def test_container_owner_is_hidden():
    db = Db()
    (_, (_, stat)), _ = db.write(OpCode.CREATE_CONTAINER, ("/c", b"", OPEN, 4))
    assert stat[7] == 0
    assert "/c" in db.tree.containers
    db.create("/c/x")
    db.delete("/c/x")
    assert err(db.write(OpCode.DELETE_CONTAINER, ("/c",))) == 0
    assert "/c" not in db.tree.nodes


def test_multi_is_atomic_with_zookeepers_failure_layout():
    db = Db()
    db.create("/m")
    before = db.tree.dump()
    result, triggers = db.write(OpCode.MULTI, [
        (OpCode.CREATE, ("/m/a", b"", OPEN, 0)),
        (OpCode.SET_DATA, ("/m", b"x", 5)),
        (OpCode.DELETE, ("/m", -1)),
    ])
    assert result == (0, [(-1, 0, None), (-1, Err.BAD_VERSION, None), (-1, Err.RUNTIME_INCONSISTENCY, None)])
    assert triggers == []
    after = db.tree.dump()
    assert after[1] == before[1] + 1 and after[2:] == before[2:]   # only the zxid moved
    result, _ = db.write(OpCode.MULTI, [
        (OpCode.CREATE, ("/m/a", b"", OPEN, 0)),
        (OpCode.CHECK, ("/m/a", 0)),
        (OpCode.SET_DATA, ("/m/a", b"y", 0)),
        (OpCode.DELETE, ("/m/a", 1)),
    ])
    assert [r[1] for r in result[1]] == [0, 0, 0, 0]
    assert "/m/a" not in db.tree.nodes
    assert db.tree.nodes["/m"].stat()[5] == 2


def test_acl_enforcement_and_digest_auth():
    db = Db()
    alice = ("digest", aclmod.digest("alice:secret"))
    creator_all = [(31, "auth", "")]
    assert err(db.create("/s", acl=creator_all)) == Err.INVALID_ACL      # auth scheme with no authenticated id
    assert err(db.create("/s", acl=creator_all, auth=(alice,))) == 0
    assert db.tree.nodes["/s"].acl == ((31, "digest", alice[1]),)
    assert err(db.create("/s/x")) == Err.NO_AUTH
    assert err(db.set("/s", b"x")) == Err.NO_AUTH
    assert err(db.create("/s/x", auth=(alice,))) == 0
    with pytest.raises(KeeperError) as e:
        db.tree.get_data("/s", ())
    assert e.value.err == Err.NO_AUTH
    assert db.tree.get_data("/s", (aclmod.SUPER_ID,))[0] == b""
    # duplicates collapse; setACL checks aversion
    assert err(db.write(OpCode.SET_ACL, ("/s", [(1, "world", "anyone"), (1, "world", "anyone")], 1),
                        auth=(alice,))) == Err.BAD_VERSION
    assert err(db.write(OpCode.SET_ACL, ("/s", [(1, "world", "anyone"), (1, "world", "anyone")], 0),
                        auth=(alice,))) == 0
    assert db.tree.nodes["/s"].acl == ((1, "world", "anyone"),)
    assert err(db.write(OpCode.SET_ACL, ("/s", [], -1))) == Err.INVALID_ACL
    assert err(db.create("/ip", acl=[(31, "ip", "10.0.0.0/8")])) == 0
    assert err(db.create("/ip/x", auth=(("ip", "10.1.2.3"),))) == 0
    assert err(db.create("/ip/y", auth=(("ip", "192.168.0.1"),))) == Err.NO_AUTH
    assert err(db.create("/bad", acl=[(31, "nosuch", "x")])) == Err.INVALID_ACL


def test_digest_matches_zookeeper():
    # DigestAuthenticationProvider.generateDigest("super:test") is the well-known superDigest of kazoo's harness
    assert aclmod.digest("super:test") == "super:D/InIHSb7yEEbrWz8b9l71RjZJU="


# ---- model-based: random op sequences vs a dict model ----

NAMES = ["/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/z"]

op_strategy = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(NAMES), st.binary(max_size=3), st.sampled_from([0, 1, 2])),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.integers(-1, 2)),
    st.tuples(st.just("set"), st.sampled_from(NAMES), st.binary(max_size=3), st.integers(-1, 2)),
    st.tuples(st.just("close"),),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(op_strategy, max_size=40))
def test_random_ops_match_a_dict_model(ops):
    db = Db()
    session = 0x55
    db.write(OpCode.CREATE_SESSION, (4000,), session=session)
    model: dict[str, dict] = {}          # path -> {data, version, owner}
    seq: dict[str, int] = {}

    def parent(p):
        return p.rsplit("/", 1)[0] or "/"

    def exists(p):
        return p == "/" or p in model

    for op in ops:
        if op[0] == "create":
            _, path, data, flags = op
            if flags == 2:
                expected_path = f"{path}{seq.get(parent(path), 0):010d}"
            else:
                expected_path = path
            if not exists(parent(path)):
                want = Err.NO_NODE
            elif expected_path in model:
                want = Err.NODE_EXISTS
            elif parent(path) != "/" and model[parent(path)]["owner"]:
                want = Err.NO_CHILDREN_FOR_EPHEMERALS
            else:
                want = 0
            result, _ = db.create(path, data, flags, session=session)
            assert result[0] == want, (op, result)
            if want == 0:
                assert result[1][0] == expected_path
                model[expected_path] = {"data": data, "version": 0, "owner": session if flags == 1 else 0}
                seq[parent(path)] = seq.get(parent(path), 0) + 1
        elif op[0] == "delete":
            _, path, version = op
            if path not in model:
                want = Err.NO_NODE
            elif version not in (-1, model[path]["version"]):
                want = Err.BAD_VERSION
            elif any(parent(p) == path for p in model):
                want = Err.NOT_EMPTY
            else:
                want = 0
            assert err(db.delete(path, version)) == want, op
            if want == 0:
                del model[path]
        elif op[0] == "set":
            _, path, data, version = op
            if path not in model:
                want = Err.NO_NODE
            elif version not in (-1, model[path]["version"]):
                want = Err.BAD_VERSION
            else:
                want = 0
            assert err(db.set(path, data, version)) == want, op
            if want == 0:
                model[path]["data"] = data
                model[path]["version"] += 1
        else:
            db.write(OpCode.CLOSE_SESSION, (), session=session)
            for p in [p for p, n in model.items() if n["owner"] == session]:
                del model[p]
            session += 1
            db.write(OpCode.CREATE_SESSION, (4000,), session=session)
    user_paths = {p for p in db.tree.nodes if p != "/" and not p.startswith("/zookeeper")}
    assert user_paths == set(model)
    for p, n in model.items():
        node = db.tree.nodes[p]
        assert (node.data, node.version, node.ephemeral_owner) == (n["data"], n["version"], n["owner"])
        assert node.stat()[9] == sum(1 for q in model if parent(q) == p)
    assert db.tree.ephemeral_count() == sum(1 for n in model.values() if n["owner"])


def test_null_data_stays_null():
    db = Db()
    db.create("/n", None)
    assert db.tree.get_data("/n", ()) == (None, db.tree.nodes["/n"].stat())
    assert db.tree.nodes["/n"].stat()[8] == 0
    db.set("/n", b"x")
    db.set("/n", None)
    assert db.tree.get_data("/n", ())[0] is None


def test_get_acl_hides_digests_without_admin():
    db = Db()
    alice = ("digest", aclmod.digest("alice:pw"))
    db.create("/r", acl=[(1, "world", "anyone"), (31, "digest", alice[1])])
    assert db.tree.get_acl("/r", ())[0] == ((1, "world", "anyone"), (31, "digest", "alice:x"))
    assert db.tree.get_acl("/r", (alice,))[0] == ((1, "world", "anyone"), (31, "digest", alice[1]))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(["/", ".", "a", "\x00", "\x1e", "\x7f", "é", "\ud7ff", "\uf8ff", "\uf900",
                                         "\ufff0", "\U0001f600"]), max_size=8))
def test_fast_path_check_agrees_with_the_exact_rules(path):
    from reference.tree import exact_path_error
    assert (path_error(path) is None) == (exact_path_error(path) is None)
