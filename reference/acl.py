"""ACL schemes and checks, the way ZooKeeper's PrepRequestProcessor.fixupACL and ZooKeeperServer.checkACL do them.

An ACL entry is the plain tuple (perms, scheme, id); an identity a connection holds is (scheme, id). Plain tuples
keep the tree and the transaction log free of codec types and cheap to copy, hash and serialize.
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress

from reference.codec.constants import Err, Perm

ACL = tuple[int, str, str]          # (perms, scheme, id)
AuthId = tuple[str, str]            # (scheme, id) held by a connection

OPEN_ACL_UNSAFE: tuple[ACL, ...] = ((int(Perm.ALL), "world", "anyone"),)
READ_ACL_UNSAFE: tuple[ACL, ...] = ((int(Perm.READ), "world", "anyone"),)
SUPER_ID: AuthId = ("super", "")

KNOWN_AUTH_SCHEMES = ("digest", "ip")


class KeeperError(Exception):
    """A ZooKeeper error code (KeeperException.Code) raised by a pure check; `path` is for messages only."""

    def __init__(self, err: int, path: str | None = None) -> None:
        super().__init__(f"{Err(err).name} {path or ''}".strip())
        self.err = int(err)
        self.path = path


def digest(user_password: str) -> str:
    """`user:base64(sha1(user:password))`, the id the digest scheme stores (DigestAuthenticationProvider)."""
    user = user_password.split(":", 1)[0]
    sha = hashlib.sha1(user_password.encode("utf-8")).digest()
    return f"{user}:{base64.b64encode(sha).decode('ascii')}"


def _valid_ip(id_: str) -> bool:
    try:
        ipaddress.ip_network(id_, strict=False)
    except ValueError:
        return False
    return True


def _valid_id(scheme: str, id_: str) -> bool:
    if scheme == "world":
        return id_ == "anyone"
    if scheme == "digest":
        return id_.count(":") == 1
    if scheme == "ip":
        return _valid_ip(id_)
    return False


def fixup_acl(acl: list[ACL] | tuple[ACL, ...] | None, auth_ids: list[AuthId] | tuple[AuthId, ...]) -> tuple[ACL, ...]:
    """Validate a client-supplied ACL list and resolve the `auth` scheme; raises KeeperError(INVALID_ACL).

    Duplicates are collapsed (ZooKeeper > 3.4); `auth` expands to every authenticated id of the connection
    (only digest ids count as authenticated, as in ZooKeeper where the ip provider is not "authenticated").
    """
    if not acl:
        raise KeeperError(Err.INVALID_ACL)
    unique: list[ACL] = []
    for p, s, i in acl:
        # plain ints/strs only: ACLs end up in marshal-encoded transactions
        entry = (int(p), str(s), str(i))
        if entry not in unique:
            unique.append(entry)
    out: list[ACL] = []
    for perms, scheme, id_ in unique:
        if scheme == "auth":
            expanded = [(perms, s, i) for s, i in auth_ids if s == "digest"]
            if not expanded:
                raise KeeperError(Err.INVALID_ACL)
            for e in expanded:
                if e not in out:
                    out.append(e)
        else:
            if not _valid_id(scheme, id_):
                raise KeeperError(Err.INVALID_ACL)
            if (perms, scheme, id_) not in out:
                out.append((perms, scheme, id_))
    return tuple(out)


def _ip_matches(client_ip: str, acl_id: str) -> bool:
    try:
        return ipaddress.ip_address(client_ip) in ipaddress.ip_network(acl_id, strict=False)
    except ValueError:
        return False


def allowed(acl: tuple[ACL, ...], perm: int, auth_ids: list[AuthId] | tuple[AuthId, ...]) -> bool:
    """Whether an identity set may do `perm` (any bit of it) on a node with this ACL (ZooKeeperServer.checkACL)."""
    if not acl:
        return True
    if SUPER_ID in auth_ids:
        return True
    for perms, scheme, id_ in acl:
        if not perms & perm:
            continue
        if scheme == "world" and id_ == "anyone":
            return True
        for s, i in auth_ids:
            if s != scheme:
                continue
            if scheme == "ip":
                if _ip_matches(i, id_):
                    return True
            elif i == id_:
                return True
    return False


def check(acl: tuple[ACL, ...], perm: int, auth_ids: list[AuthId] | tuple[AuthId, ...], path: str | None = None) -> None:
    if not allowed(acl, perm, auth_ids):
        raise KeeperError(Err.NO_AUTH, path)


def authenticate(scheme: str, auth: bytes, client_ip: str, super_digest: str | None = None) -> list[AuthId]:
    """Ids an AuthPacket adds to a connection; raises KeeperError(AUTH_FAILED) for an unknown scheme."""
    if scheme == "digest":
        try:
            text = auth.decode("utf-8")
        except UnicodeDecodeError:
            raise KeeperError(Err.AUTH_FAILED) from None
        d = digest(text)
        ids: list[AuthId] = [("digest", d)]
        if super_digest is not None and d == super_digest:
            ids.append(SUPER_ID)
        return ids
    if scheme == "ip":
        return [("ip", client_ip)]
    raise KeeperError(Err.AUTH_FAILED)
