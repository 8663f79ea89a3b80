"""The data tree: znodes with ZooKeeper's Stat, sequence counters, ephemeral owners and ACL-checked reads. Pure.

Writes are never made here directly by the server: txn.py validates a request into a transaction and applies it
through the mutation methods below, so every replica that applies the same transactions holds the same tree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from reference.acl import ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, AuthId, KeeperError, allowed, check
from reference.codec.constants import Err, Perm

# ZooKeeper marks containers with ephemeralOwner = Long.MIN_VALUE internally; clients see 0 (notes T6).
CONTAINER_OWNER = -(1 << 63)

SPECIAL_PATHS = frozenset(("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"))

Stat = tuple[int, int, int, int, int, int, int, int, int, int, int]
"""(czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, dataLength, numChildren, pzxid):
the field order of the jute Stat record."""


def int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


# Fast accept for the common case; anything it rejects goes through the exact character-by-character rules.
_PLAIN_PATH = re.compile("(?:/[^/\x00-\x1f\x7f-\x9f\ud800-\uf8ff\ufff0-\U0010ffff]+)+")


def path_error(path: str | None) -> str | None:
    """Why `path` is not a valid znode path (PathUtils.validatePath), or None when it is valid.

    Characters are judged as Java judges UTF-16 code units, so anything outside the BMP (a surrogate pair in
    Java) is rejected like ZooKeeper rejects \\ud800-\\uf8ff.
    """
    if path is None:
        return "path is null"
    if _PLAIN_PATH.fullmatch(path) and "/." not in path:
        return None
    return exact_path_error(path)


def exact_path_error(path: str) -> str | None:
    """PathUtils.validatePath's rules one character at a time (the slow path of path_error)."""
    n = len(path)
    if n == 0:
        return "path length must be > 0"
    if path[0] != "/":
        return "path must start with /"
    if n == 1:
        return None
    if path[-1] == "/":
        return "path must not end with /"
    last = "/"
    for i in range(1, n):
        c = path[i]
        o = ord(c)
        if o == 0:
            return f"null character at {i}"
        if c == "/" and last == "/":
            return f"empty node name at {i}"
        if c == "." and last == "." and path[i - 2] == "/" and (i + 1 == n or path[i + 1] == "/"):
            return f"relative path at {i}"
        if c == "." and last == "/" and (i + 1 == n or path[i + 1] == "/"):
            return f"relative path at {i}"
        if (0 < o <= 0x1F or 0x7F <= o <= 0x9F or 0xD800 <= o <= 0xF8FF or 0xFFF0 <= o):
            return f"invalid character \\u{o:04x} at {i}"
        last = c
    return None


def validate_path(path: str | None) -> None:
    if path_error(path) is not None:
        raise KeeperError(Err.BAD_ARGUMENTS, path)


def parent_of(path: str) -> str:
    i = path.rfind("/")
    return "/" if i == 0 else path[:i]


@dataclass(slots=True)
class Znode:
    data: bytes | None      # ZooKeeper keeps null data null (getData answers a null buffer)
    acl: tuple[ACL, ...]
    czxid: int = 0
    mzxid: int = 0
    ctime: int = 0
    mtime: int = 0
    version: int = 0
    aversion: int = 0
    ephemeral_owner: int = 0
    pzxid: int = 0
    # ZooKeeper's internal cversion: counts child creates only and names sequential children (notes T6).
    seq: int = 0
    children: dict[str, None] = field(default_factory=dict)

    def stat(self) -> Stat:
        num = len(self.children)
        owner = 0 if self.ephemeral_owner == CONTAINER_OWNER else self.ephemeral_owner
        # Visible cversion = creates + deletes = internal*2 - numChildren (DataNode.copyStat).
        return (self.czxid, self.mzxid, self.ctime, self.mtime, self.version, int32(self.seq * 2 - num),
                self.aversion, owner, len(self.data) if self.data is not None else 0, num, self.pzxid)


class Tree:
    """Znodes by path, plus the replicated session registry (session id -> negotiated timeout)."""

    def __init__(self) -> None:
        root = Znode(b"", OPEN_ACL_UNSAFE)
        self.nodes: dict[str, Znode] = {"/": root}
        self.ephemerals: dict[int, dict[str, None]] = {}
        self.containers: dict[str, None] = {}
        self.sessions: dict[int, int] = {}
        self.last_zxid = 0
        # ZooKeeper's own subtree exists in every fresh database (DataTree constructor, addConfigNode).
        self._add_system("/zookeeper", OPEN_ACL_UNSAFE)
        # Children listed in the order ZooKeeper's HashSet happens to give them.
        self._add_system("/zookeeper/config", READ_ACL_UNSAFE)
        self._add_system("/zookeeper/quota", OPEN_ACL_UNSAFE)
        self.nodes["/zookeeper/config"].aversion = -1   # as ZooKeeper 3.8 shows it

    def _add_system(self, path: str, acl: tuple[ACL, ...]) -> None:
        self.nodes[path] = Znode(b"", acl)
        self.nodes[parent_of(path)].children[path.rsplit("/", 1)[1]] = None

    # ---- reads (FinalRequestProcessor order: lookup, then ACL) ----

    def lookup(self, path: str) -> Znode:
        node = self.nodes.get(path)
        if node is None:
            raise KeeperError(Err.NO_NODE, path)
        return node

    def get_data(self, path: str, auth_ids: tuple[AuthId, ...] | list[AuthId]) -> tuple[bytes | None, Stat]:
        node = self.lookup(path)
        check(node.acl, Perm.READ, auth_ids, path)
        return node.data, node.stat()

    def exists(self, path: str) -> Stat | None:
        """exists has no ACL check in ZooKeeper; a NUL in the path is BadArguments."""
        if "\x00" in path:
            raise KeeperError(Err.BAD_ARGUMENTS, path)
        node = self.nodes.get(path)
        return None if node is None else node.stat()

    def get_children(self, path: str, auth_ids: tuple[AuthId, ...] | list[AuthId]) -> tuple[list[str], Stat]:
        node = self.lookup(path)
        check(node.acl, Perm.READ, auth_ids, path)
        return list(node.children), node.stat()

    def get_acl(self, path: str, auth_ids: tuple[AuthId, ...] | list[AuthId]) -> tuple[tuple[ACL, ...], Stat]:
        node = self.lookup(path)
        check(node.acl, Perm.READ | Perm.ADMIN, auth_ids, path)
        if not allowed(node.acl, Perm.ADMIN, auth_ids):
            # Without ADMIN, ZooKeeper hides digest hashes: "user:x" (FinalRequestProcessor, ZOOKEEPER-1392).
            return tuple((p, s, i.split(":", 1)[0] + ":x" if s == "digest" else i)
                         for p, s, i in node.acl), node.stat()
        return node.acl, node.stat()

    def get_ephemerals(self, session_id: int, prefix: str) -> list[str]:
        paths = self.ephemerals.get(session_id, ())
        if prefix in ("", "/"):
            return sorted(paths)
        return sorted(p for p in paths if p.startswith(prefix))

    def all_children_number(self, path: str, auth_ids: tuple[AuthId, ...] | list[AuthId]) -> int:
        node = self.lookup(path)
        check(node.acl, Perm.READ, auth_ids, path)
        prefix = "/" if path == "/" else path + "/"
        # ZooKeeper counts every descendant; the root count excludes the root itself.
        return sum(1 for p in self.nodes if p.startswith(prefix) and p != path)

    def node_count(self) -> int:
        return len(self.nodes)

    def ephemeral_count(self) -> int:
        return sum(len(v) for v in self.ephemerals.values())

    # ---- mutations, used only by txn.apply ----

    def create(self, path: str, data: bytes | None, acl: tuple[ACL, ...], owner: int, zxid: int, time: int) -> Znode:
        parent = self.nodes[parent_of(path)]
        node = Znode(data, acl, zxid, zxid, time, time, 0, 0, owner, zxid)
        self.nodes[path] = node
        parent.children[path.rsplit("/", 1)[1]] = None
        parent.seq = int32(parent.seq + 1)
        parent.pzxid = zxid
        if owner == CONTAINER_OWNER:
            self.containers[path] = None
        elif owner != 0:
            self.ephemerals.setdefault(owner, {})[path] = None
        return node

    def delete(self, path: str, zxid: int) -> None:
        node = self.nodes.pop(path)
        parent = self.nodes[parent_of(path)]
        del parent.children[path.rsplit("/", 1)[1]]
        parent.pzxid = zxid
        owner = node.ephemeral_owner
        if owner == CONTAINER_OWNER:
            self.containers.pop(path, None)
        elif owner != 0:
            owned = self.ephemerals.get(owner)
            if owned is not None:
                owned.pop(path, None)
                if not owned:
                    del self.ephemerals[owner]

    def set_data(self, path: str, data: bytes | None, zxid: int, time: int) -> Znode:
        node = self.nodes[path]
        node.data = data
        node.version = int32(node.version + 1)
        node.mzxid = zxid
        node.mtime = time
        return node

    def set_acl(self, path: str, acl: tuple[ACL, ...]) -> Znode:
        node = self.nodes[path]
        node.acl = acl
        node.aversion = int32(node.aversion + 1)
        return node

    # ---- snapshot form (plain tuples, see storage.py) ----

    def dump(self) -> tuple:
        nodes = [(p, n.data, n.acl, n.czxid, n.mzxid, n.ctime, n.mtime, n.version, n.aversion, n.ephemeral_owner,
                  n.pzxid, n.seq, tuple(n.children)) for p, n in self.nodes.items()]
        return (1, self.last_zxid, tuple(self.sessions.items()), tuple(nodes))

    @classmethod
    def load(cls, dumped: tuple) -> "Tree":
        fmt, last_zxid, sessions, nodes = dumped
        if fmt != 1:
            raise ValueError(f"unknown snapshot format {fmt}")
        t = cls.__new__(cls)
        t.nodes = {}
        t.ephemerals = {}
        t.containers = {}
        t.sessions = dict(sessions)
        t.last_zxid = last_zxid
        for p, data, acl, czxid, mzxid, ctime, mtime, version, aversion, owner, pzxid, seq, children in nodes:
            t.nodes[p] = Znode(data, tuple(tuple(a) for a in acl), czxid, mzxid, ctime, mtime, version, aversion,
                               owner, pzxid, seq, dict.fromkeys(children))
            if owner == CONTAINER_OWNER:
                t.containers[p] = None
            elif owner != 0:
                t.ephemerals.setdefault(owner, {})[p] = None
        return t

    def digest(self) -> tuple:
        """A comparable summary of the whole state (tests; replica comparison)."""
        return self.dump()
