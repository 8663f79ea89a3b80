"""ACLs and authentication: world, digest, auth/CREATOR_ALL, NoAuth per permission, InvalidACL, aversion."""
from __future__ import annotations

import pytest
from kazoo.exceptions import AuthFailedError, BadVersionError, InvalidACLError, NoAuthError, RolledBackError
from kazoo.security import (
    ACL,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

pytestmark = pytest.mark.cluster

ALICE = make_digest_acl("alice", "secret", all=True)


def test_default_acl_is_world_anyone_all(zk):
    zk.client.create("/open")
    acls, stat = zk.client.get_acls("/open")
    assert acls == [ACL(Permissions.ALL, Id("world", "anyone"))]
    assert stat == zk.client.exists("/open")


def test_digest_acl_needs_matching_auth(zk):
    owner = zk.connect(auth_data=[("digest", "alice:secret")])
    owner.create("/private", b"s", acl=[ALICE])
    owner.create("/private/child")
    assert owner.get("/private")[0] == b"s"
    assert owner.get_acls("/private")[0] == [ALICE]

    stranger = zk.client
    with pytest.raises(NoAuthError):
        stranger.get("/private")
    with pytest.raises(NoAuthError):
        stranger.set("/private", b"x")
    with pytest.raises(NoAuthError):
        stranger.create("/private/other")
    with pytest.raises(NoAuthError):
        stranger.delete("/private/child")
    with pytest.raises(NoAuthError):
        stranger.set_acls("/private", OPEN_ACL_UNSAFE)
    with pytest.raises(NoAuthError):  # getACL needs READ or ADMIN
        stranger.get_acls("/private")
    assert stranger.exists("/private") is not None  # exists checks no permission
    with pytest.raises(NoAuthError):
        stranger.get_children("/private")

    wrong = zk.connect(auth_data=[("digest", "alice:wrong")])
    with pytest.raises(NoAuthError):
        wrong.get("/private")

    stranger.add_auth("digest", "alice:secret")
    assert stranger.get("/private")[0] == b"s"
    stranger.set("/private", b"t")
    assert owner.get("/private")[0] == b"t"


def test_each_permission_is_checked(zk):
    c = zk.client
    only = {
        "read": make_acl("world", "anyone", read=True),
        "write": make_acl("world", "anyone", write=True),
        "create": make_acl("world", "anyone", create=True),
        "delete": make_acl("world", "anyone", delete=True),
        "admin": make_acl("world", "anyone", admin=True),
    }
    for name, acl in only.items():
        c.create(f"/{name}", b"d")
        c.create(f"/{name}/kid")
        c.set_acls(f"/{name}", [acl])

    assert c.get("/read")[0] == b"d"
    assert c.get_children("/read") == ["kid"]
    for name in ("write", "create", "delete", "admin"):
        with pytest.raises(NoAuthError):
            c.get(f"/{name}")

    c.set("/write", b"w")
    for name in ("read", "create", "delete", "admin"):
        with pytest.raises(NoAuthError):
            c.set(f"/{name}", b"w")

    c.create("/create/new")
    for name in ("read", "write", "delete", "admin"):
        with pytest.raises(NoAuthError):
            c.create(f"/{name}/new")

    c.delete("/delete/kid")
    for name in ("read", "write", "create", "admin"):
        with pytest.raises(NoAuthError):
            c.delete(f"/{name}/kid")

    c.set_acls("/admin", OPEN_ACL_UNSAFE)
    for name in ("read", "write", "create", "delete"):
        with pytest.raises(NoAuthError):
            c.set_acls(f"/{name}", OPEN_ACL_UNSAFE)


def test_read_only_world_acl(zk):
    zk.client.create("/ro", b"r", acl=READ_ACL_UNSAFE)
    assert zk.client.get("/ro")[0] == b"r"
    with pytest.raises(NoAuthError):
        zk.client.set("/ro", b"x")


def test_creator_all_acl_uses_the_creators_identity(zk):
    owner = zk.connect(auth_data=[("digest", "bob:pw")])
    owner.create("/mine", b"m", acl=CREATOR_ALL_ACL)
    acls, _ = owner.get_acls("/mine")
    assert acls == [ACL(Permissions.ALL, Id("digest", make_digest_acl_credential("bob", "pw")))]
    with pytest.raises(NoAuthError):
        zk.client.get("/mine")
    # Without any authenticated identity there is nobody for "auth" to mean.
    with pytest.raises(InvalidACLError):
        zk.client.create("/nobody", acl=CREATOR_ALL_ACL)


def test_empty_acl_list_is_invalid(zk):
    # create() would swap [] for the default ACL; create_async() sends the empty list.
    with pytest.raises(InvalidACLError):
        zk.client.create_async("/none", acl=[]).get(timeout=15)
    assert zk.client.exists("/none") is None
    zk.client.create("/some")
    with pytest.raises(InvalidACLError):
        zk.client.set_acls("/some", [])


def test_duplicate_acls_are_collapsed(zk):
    zk.client.create("/dups", acl=[OPEN_ACL_UNSAFE[0], OPEN_ACL_UNSAFE[0]])
    assert zk.client.get_acls("/dups")[0] == OPEN_ACL_UNSAFE
    zk.client.set_acls("/dups", [ALICE, ALICE, OPEN_ACL_UNSAFE[0]])
    assert sorted(zk.client.get_acls("/dups")[0]) == sorted([ALICE, OPEN_ACL_UNSAFE[0]])


def test_set_acls_version_and_aversion(zk):
    c = zk.client
    c.create("/av", b"x")
    before = c.exists("/av")
    read_admin = make_acl("world", "anyone", read=True, admin=True)
    stat = c.set_acls("/av", [read_admin, ALICE], version=0)
    assert stat.aversion == 1
    assert stat.version == 0 and stat.mzxid == before.mzxid
    with pytest.raises(BadVersionError):
        c.set_acls("/av", OPEN_ACL_UNSAFE, version=0)
    acls, stat = c.get_acls("/av")
    assert sorted(acls) == sorted([read_admin, ALICE])
    assert stat.aversion == 1
    assert c.set_acls("/av", OPEN_ACL_UNSAFE, version=-1).aversion == 2


def test_unknown_auth_scheme_fails_the_connection(zk):
    client = zk.connect()
    with pytest.raises(AuthFailedError):
        client.add_auth("no-such-scheme", "whatever")


def test_acl_ids_are_validated(zk):
    invalid = [ACL(Permissions.ALL, Id("world", "someone")),
               ACL(Permissions.ALL, Id("digest", "no-colon")),
               ACL(Permissions.ALL, Id("no-such-scheme", "x")),
               ACL(Permissions.ALL, Id("ip", "not-an-ip"))]
    for i, acl in enumerate(invalid):
        with pytest.raises(InvalidACLError):
            zk.client.create(f"/bad{i}", acl=[acl])
    assert zk.client.get_children("/") == []


def test_ip_acl(zk):
    c = zk.client
    c.create("/mine", b"m", acl=[make_acl("ip", "127.0.0.1", all=True)])
    assert c.get("/mine")[0] == b"m"
    c.create("/theirs", b"t", acl=[make_acl("ip", "10.0.0.0/8", all=True)])
    with pytest.raises(NoAuthError):
        c.get("/theirs")


def test_multi_checks_permissions(zk):
    c = zk.client
    c.create("/locked", acl=READ_ACL_UNSAFE)
    c.create("/free")
    t = c.transaction()
    t.set_data("/free", b"x")
    t.create("/locked/kid")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, NoAuthError]
    assert c.get("/free")[1].version == 0


def test_superuser_passes_every_check(zk):
    owner = zk.connect(auth_data=[("digest", "carol:pw")])
    owner.create("/vault", b"v", acl=CREATOR_ALL_ACL)
    owner.create("/vault/kid", acl=CREATOR_ALL_ACL)
    root = zk.connect(auth_data=[("digest", "super:test")])
    assert root.get("/vault")[0] == b"v"
    root.set("/vault", b"w")
    root.delete("/vault/kid")
    root.set_acls("/vault", OPEN_ACL_UNSAFE)
    assert zk.client.get("/vault")[0] == b"w"
    # The superuser is only an identity that skips checks; nodes it creates get the ACL asked for.
    root.create("/by-root", acl=CREATOR_ALL_ACL)
    assert root.get_acls("/by-root")[0] == [ACL(Permissions.ALL, Id("digest", "super:D/InIHSb7yEEbrWz8b9l71RjZJU="))]


def test_creator_all_covers_every_digest_identity_of_the_session(zk):
    both = zk.connect(auth_data=[("digest", "dave:1"), ("digest", "erin:2")])
    both.create("/shared", acl=CREATOR_ALL_ACL)
    acls = both.get_acls("/shared")[0]
    assert sorted(acls) == sorted([ACL(Permissions.ALL, Id("digest", make_digest_acl_credential("dave", "1"))),
                                   ACL(Permissions.ALL, Id("digest", make_digest_acl_credential("erin", "2")))])
    erin = zk.connect(auth_data=[("digest", "erin:2")])
    assert erin.get("/shared")[0] == b""


def test_ip_acl_with_a_network(zk):
    zk.client.create("/loopback", b"l", acl=[make_acl("ip", "127.0.0.0/8", read=True)])
    assert zk.client.get("/loopback")[0] == b"l"
    with pytest.raises(NoAuthError):
        zk.client.set("/loopback", b"x")
