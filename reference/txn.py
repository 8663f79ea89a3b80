"""Requests -> deterministic transactions -> tree changes. Pure.

`prepare` validates a write against "the tree plus writes already ordered but not yet applied" (a `Pending`
view, the idea of ZooKeeper's outstandingChanges) and resolves everything a replica could not recompute on its
own: zxid, wall time, session id, the final sequential path, the expanded ACL, the ephemerals a closing session
owns. `apply` replays such a transaction on any tree with identical results, returning the client result and
the watch triggers. A failed write becomes an ERROR transaction, which consumes a zxid like in ZooKeeper.

Transactions are plain tuples (`Txn`), serialized with `encode`/`decode` for the write-ahead log and, later,
the replication log.
"""
from __future__ import annotations

import marshal
from dataclasses import dataclass
from typing import Any, NamedTuple

from reference.acl import ACL, AuthId, KeeperError, check, fixup_acl
from reference.codec.constants import CreateFlag, Err, EventType, OpCode, Perm
from reference.tree import CONTAINER_OWNER, SPECIAL_PATHS, Tree, int32, parent_of, validate_path

# Transaction kinds (reuse ZooKeeper's opcodes where one exists).
CREATE = int(OpCode.CREATE)
DELETE = int(OpCode.DELETE)
SET_DATA = int(OpCode.SET_DATA)
SET_ACL = int(OpCode.SET_ACL)
CHECK = int(OpCode.CHECK)
MULTI = int(OpCode.MULTI)
CREATE_SESSION = int(OpCode.CREATE_SESSION)
CLOSE_SESSION = int(OpCode.CLOSE_SESSION)
ERROR = int(OpCode.ERROR)

CREATE_OPS = frozenset((OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER, OpCode.CREATE_TTL))
MULTI_WRITE_OPS = frozenset((OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER, OpCode.CREATE_TTL,
                             OpCode.DELETE, OpCode.SET_DATA, OpCode.CHECK))
WRITE_OPS = frozenset((*CREATE_OPS, OpCode.DELETE, OpCode.SET_DATA, OpCode.SET_ACL, OpCode.MULTI,
                       OpCode.DELETE_CONTAINER, OpCode.CLOSE_SESSION, OpCode.CREATE_SESSION, OpCode.CHECK))

WIRE_FORMAT = 4  # marshal format 4 has been stable since Python 3.4


class Txn(NamedTuple):
    zxid: int
    time: int          # leader's wall clock, ms since the epoch (ctime/mtime)
    session: int       # session that issued the request (0 for server-internal)
    kind: int
    body: Any          # kind-specific tuple, see prepare_* below


def encode(txn: Txn) -> bytes:
    return marshal.dumps(tuple(txn), WIRE_FORMAT)


def decode(data: bytes) -> Txn:
    try:
        t = marshal.loads(data)
    except (EOFError, ValueError, TypeError) as e:
        raise ValueError(f"undecodable transaction: {e}") from None
    if not isinstance(t, tuple) or len(t) != 5:
        raise ValueError("undecodable transaction: not a 5-tuple")
    return Txn(*t)


# ---------------------------------------------------------------------------------------------------------------
# The view a write is validated against.

@dataclass(slots=True)
class Rec:
    """What validation needs to know about a znode (ZooKeeper's ChangeRecord)."""
    version: int
    aversion: int
    seq: int
    num_children: int
    owner: int
    acl: tuple[ACL, ...]


class _View:
    def get(self, path: str) -> Rec | None:
        raise NotImplementedError

    def must(self, path: str) -> Rec:
        rec = self.get(path)
        if rec is None:
            raise KeeperError(Err.NO_NODE, path)
        return rec


class Pending(_View):
    """The tree plus the effects of transactions that are ordered (logged or proposed) but not yet applied."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.records: dict[str, tuple[int, Rec | None]] = {}   # path -> (zxid of last ordered change, record)
        self.touched: list[tuple[int, list[str]]] = []          # in zxid order

    def get(self, path: str) -> Rec | None:
        hit = self.records.get(path)
        if hit is not None:
            return hit[1]
        n = self.tree.nodes.get(path)
        if n is None:
            return None
        return Rec(n.version, n.aversion, n.seq, len(n.children), n.ephemeral_owner, n.acl)

    def commit(self, zxid: int, overlay: "Overlay") -> None:
        if overlay.records:
            for path, rec in overlay.records.items():
                self.records[path] = (zxid, rec)
            self.touched.append((zxid, list(overlay.records)))

    def applied(self, zxid: int) -> None:
        """Forget changes the tree now reflects (every transaction up to `zxid` has been applied)."""
        i = 0
        touched = self.touched
        while i < len(touched) and touched[i][0] <= zxid:
            z, paths = touched[i]
            for p in paths:
                hit = self.records.get(p)
                if hit is not None and hit[0] <= zxid:
                    del self.records[p]
            i += 1
        if i:
            del touched[:i]

    def reset(self) -> None:
        self.records.clear()
        self.touched.clear()

    def observe(self, txn: Txn) -> None:
        """Record the effect of an already-ordered transaction without re-validating it (for example, entries a
        new leader finds in its log but has not applied yet), so later writes are validated after it."""
        ov = Overlay(self)
        kind, body = txn.kind, txn.body
        if kind == MULTI:
            for sub_kind, sub_body in body:
                _observe_one(ov, sub_kind, sub_body)
        elif kind == CLOSE_SESSION:
            for p in body[1]:
                _observe_one(ov, DELETE, (p,))
        else:
            _observe_one(ov, kind, body)
        self.commit(txn.zxid, ov)

    def ephemerals_of(self, session: int) -> list[str]:
        paths = dict.fromkeys(self.tree.ephemerals.get(session, ()))
        for p, (_z, rec) in self.records.items():
            if rec is not None and rec.owner == session:
                paths[p] = None
        return sorted(p for p in paths if (r := self.get(p)) is not None and r.owner == session)


class Overlay(_View):
    """Scratch changes of one transaction (several for a multi), dropped if it fails."""

    def __init__(self, parent: _View) -> None:
        self.parent = parent
        self.records: dict[str, Rec | None] = {}

    def get(self, path: str) -> Rec | None:
        if path in self.records:
            return self.records[path]
        return self.parent.get(path)

    def mutable(self, path: str) -> Rec:
        rec = self.records.get(path)
        if rec is None:
            base = self.must(path)
            rec = Rec(base.version, base.aversion, base.seq, base.num_children, base.owner, base.acl)
            self.records[path] = rec
        return rec


def _observe_one(ov: Overlay, kind: int, body: tuple) -> None:
    if kind == CREATE:
        path, _data, acl, owner = body
        parent = ov.mutable(parent_of(path))
        parent.seq = int32(parent.seq + 1)
        parent.num_children += 1
        ov.records[path] = Rec(0, 0, 0, 0, owner, acl)
    elif kind == DELETE:
        path = body[0]
        if ov.get(path) is not None:
            ov.mutable(parent_of(path)).num_children -= 1
            ov.records[path] = None
    elif kind == SET_DATA:
        rec = ov.mutable(body[0])
        rec.version = int32(rec.version + 1)
    elif kind == SET_ACL:
        rec = ov.mutable(body[0])
        rec.aversion = int32(rec.aversion + 1)
        rec.acl = body[1]


# ---------------------------------------------------------------------------------------------------------------
# prepare: request -> transaction body (raising KeeperError), in PrepRequestProcessor's check order.

def _check_version(current: int, expected: int, path: str) -> None:
    if expected != -1 and expected != current:
        raise KeeperError(Err.BAD_VERSION, path)


def _prep_create(ov: Overlay, op: int, req: tuple, session: int, auth: tuple[AuthId, ...]) -> tuple[int, tuple]:
    path, data, acl, flags = req[0], req[1], req[2], req[3]
    if flags not in (0, 1, 2, 3, 4, 5, 6):
        raise KeeperError(Err.BAD_ARGUMENTS, path)
    ttl_mode = flags in (CreateFlag.PERSISTENT_WITH_TTL, CreateFlag.PERSISTENT_SEQUENTIAL_WITH_TTL)
    if op == OpCode.CREATE_TTL or ttl_mode:
        # TTL nodes need zookeeper.extendedTypesEnabled, which is off by default in ZooKeeper 3.8.
        raise KeeperError(Err.UNIMPLEMENTED, path)
    container = flags == CreateFlag.CONTAINER
    last = path.rfind("/") if path is not None else -1
    if last == -1 or "\x00" in path:
        raise KeeperError(Err.BAD_ARGUMENTS, path)
    # ZooKeeper looks the parent up before validating the path: "bad/path" has parent "bad" -> NoNode.
    parent_path = path[:last] or "/"
    fixed = fixup_acl(acl, auth)
    parent = ov.must(parent_path)
    check(parent.acl, Perm.CREATE, auth, path)
    if flags in (CreateFlag.PERSISTENT_SEQUENTIAL, CreateFlag.EPHEMERAL_SEQUENTIAL):
        path = f"{path}{parent.seq:010d}"
    validate_path(path)
    if ov.get(path) is not None:
        raise KeeperError(Err.NODE_EXISTS, path)
    if parent.owner != 0 and parent.owner != CONTAINER_OWNER:
        raise KeeperError(Err.NO_CHILDREN_FOR_EPHEMERALS, path)
    owner = session if flags in (CreateFlag.EPHEMERAL, CreateFlag.EPHEMERAL_SEQUENTIAL) else (
        CONTAINER_OWNER if container else 0)
    p = ov.mutable(parent_path)
    p.seq = int32(p.seq + 1)
    p.num_children += 1
    ov.records[path] = Rec(0, 0, 0, 0, owner, fixed)
    return CREATE, (path, data, fixed, owner)   # null data stays null, as in ZooKeeper


def _prep_delete(ov: Overlay, req: tuple, auth: tuple[AuthId, ...], container_only: bool = False) -> tuple[int, tuple]:
    path, version = req
    last = path.rfind("/") if path is not None else -1
    if last == -1 or "\x00" in path or path in SPECIAL_PATHS:
        raise KeeperError(Err.BAD_ARGUMENTS, path)
    parent_path = path[:last] or "/"
    parent = ov.must(parent_path)
    if not container_only:
        check(parent.acl, Perm.DELETE, auth, path)
    node = ov.must(path)
    _check_version(node.version, version, path)
    if node.num_children > 0:
        raise KeeperError(Err.NOT_EMPTY, path)
    if container_only and node.owner not in (0, CONTAINER_OWNER):
        raise KeeperError(Err.BAD_VERSION, path)    # sic: ZooKeeper answers BadVersion for a session's ephemeral
    ov.mutable(parent_path).num_children -= 1
    ov.records[path] = None
    return DELETE, (path,)


def _prep_set_data(ov: Overlay, req: tuple, auth: tuple[AuthId, ...]) -> tuple[int, tuple]:
    path, data, version = req
    validate_path(path)
    node = ov.must(path)
    check(node.acl, Perm.WRITE, auth, path)
    _check_version(node.version, version, path)
    ov.mutable(path).version = int32(node.version + 1)
    return SET_DATA, (path, data)


def _prep_set_acl(ov: Overlay, req: tuple, auth: tuple[AuthId, ...]) -> tuple[int, tuple]:
    path, acl, version = req
    validate_path(path)
    fixed = fixup_acl(acl, auth)
    node = ov.must(path)
    check(node.acl, Perm.ADMIN, auth, path)
    _check_version(node.aversion, version, path)
    rec = ov.mutable(path)
    rec.aversion = int32(node.aversion + 1)
    rec.acl = fixed
    return SET_ACL, (path, fixed)


def _prep_check(ov: Overlay, req: tuple, auth: tuple[AuthId, ...]) -> tuple[int, tuple]:
    path, version = req
    validate_path(path)
    node = ov.must(path)
    check(node.acl, Perm.READ, auth, path)
    _check_version(node.version, version, path)
    return CHECK, (path,)


def _prep_one(ov: Overlay, op: int, req: Any, session: int, auth: tuple[AuthId, ...]) -> tuple[int, tuple]:
    if op in CREATE_OPS:
        return _prep_create(ov, op, req, session, auth)
    if op == OpCode.DELETE:
        return _prep_delete(ov, req, auth)
    if op == OpCode.SET_DATA:
        return _prep_set_data(ov, req, auth)
    if op == OpCode.SET_ACL:
        return _prep_set_acl(ov, req, auth)
    if op == OpCode.CHECK:
        return _prep_check(ov, req, auth)
    if op == OpCode.DELETE_CONTAINER:
        return _prep_delete(ov, (req[0], -1), auth, container_only=True)
    if op == OpCode.RECONFIG:
        raise KeeperError(Err.RECONFIG_DISABLED)    # reconfigEnabled=false, ZooKeeper's default
    raise KeeperError(Err.UNIMPLEMENTED)


def prepare(pending: Pending, zxid: int, time: int, session: int, auth: tuple[AuthId, ...] | list[AuthId],
            op: int, req: Any) -> Txn:
    """Validate write request `op` (ZooKeeper opcode) against `pending` and order it at `zxid`.

    Request forms (plain tuples; the server converts wire records):
      create*: (path, data, acl[(perms, scheme, id)], flags)   delete: (path, version)
      setData: (path, data, version)   setACL: (path, acl, version)   check: (path, version)
      multi: [(op, req), ...]   deleteContainer: (path,)   createSession: (timeout,)   closeSession: ()
    On success the change is recorded in `pending`; on failure an ERROR transaction is returned (for a multi,
    a MULTI of per-op ERRORs laid out as in notes T8). Either way the zxid is used.
    """
    auth = tuple(auth)
    if op == OpCode.CREATE_SESSION:
        return Txn(zxid, time, session, CREATE_SESSION, (session, req[0]))
    if op == OpCode.CLOSE_SESSION:
        paths = pending.ephemerals_of(session)
        ov = Overlay(pending)
        for p in paths:
            if ov.get(p) is not None:
                ov.mutable(parent_of(p)).num_children -= 1
                ov.records[p] = None
        pending.commit(zxid, ov)
        return Txn(zxid, time, session, CLOSE_SESSION, (session, tuple(paths)))
    if op == OpCode.MULTI:
        ov = Overlay(pending)
        subs: list[tuple[int, tuple]] = []
        failed_at = -1
        err = 0
        for i, (sub_op, sub_req) in enumerate(req):
            if sub_op not in MULTI_WRITE_OPS:
                err, failed_at = int(Err.BAD_ARGUMENTS), i
                break
            try:
                subs.append(_prep_one(ov, sub_op, sub_req, session, auth))
            except KeeperError as e:
                err, failed_at = e.err, i
                break
        if failed_at >= 0:
            errors = [(ERROR, (0,))] * failed_at + [(ERROR, (err,))] + \
                     [(ERROR, (int(Err.RUNTIME_INCONSISTENCY),))] * (len(req) - failed_at - 1)
            return Txn(zxid, time, session, MULTI, tuple(errors))
        pending.commit(zxid, ov)
        return Txn(zxid, time, session, MULTI, tuple(subs))
    ov = Overlay(pending)
    try:
        kind, body = _prep_one(ov, op, req, session, auth)
    except KeeperError as e:
        return Txn(zxid, time, session, ERROR, (e.err,))
    pending.commit(zxid, ov)
    return Txn(zxid, time, session, kind, body)


# ---------------------------------------------------------------------------------------------------------------
# apply: transaction -> tree change, client result, watch triggers.

Trigger = tuple[int, str]   # (EventType, path)
Result = tuple[int, Any]    # (err, payload): create (path, stat); setData/setACL stat; multi [(kind, err, payload)]

_CREATED, _DELETED, _CHANGED, _CHILDREN = (int(EventType.NODE_CREATED), int(EventType.NODE_DELETED),
                                           int(EventType.NODE_DATA_CHANGED), int(EventType.NODE_CHILDREN_CHANGED))


def _apply_one(tree: Tree, zxid: int, time: int, kind: int, body: tuple, triggers: list[Trigger]) -> Result:
    if kind == CREATE:
        path, data, acl, owner = body
        node = tree.create(path, data, acl, owner, zxid, time)
        triggers.append((_CREATED, path))
        triggers.append((_CHILDREN, parent_of(path)))
        return 0, (path, node.stat())
    if kind == DELETE:
        path = body[0]
        tree.delete(path, zxid)
        triggers.append((_DELETED, path))
        triggers.append((_CHILDREN, parent_of(path)))
        return 0, None
    if kind == SET_DATA:
        path, data = body
        triggers.append((_CHANGED, path))
        return 0, tree.set_data(path, data, zxid, time).stat()
    if kind == SET_ACL:
        path, acl = body
        return 0, tree.set_acl(path, acl).stat()
    if kind == CHECK:
        return 0, None
    if kind == ERROR:
        return body[0], None
    raise ValueError(f"unknown transaction kind {kind}")


def apply(tree: Tree, txn: Txn) -> tuple[Result, list[Trigger]]:
    """Apply `txn` to `tree`. Deterministic: the same transactions on equal trees give equal trees and results."""
    zxid, time, _session, kind, body = txn
    triggers: list[Trigger] = []
    if zxid <= tree.last_zxid:
        raise ValueError(f"transaction 0x{zxid:x} is not after the tree's 0x{tree.last_zxid:x}")
    tree.last_zxid = zxid
    if kind == MULTI:
        results = []
        for sub_kind, sub_body in body:
            err, payload = _apply_one(tree, zxid, time, sub_kind, sub_body, triggers)
            results.append((sub_kind, err, payload))
        return (0, results), triggers
    if kind == CREATE_SESSION:
        sid, timeout = body
        tree.sessions[sid] = timeout
        return (0, None), triggers
    if kind == CLOSE_SESSION:
        sid, paths = body
        leftover = [p for p in tree.ephemerals.get(sid, ()) if p not in paths]
        for p in (*paths, *sorted(leftover)):
            if p in tree.nodes:
                tree.delete(p, zxid)
                triggers.append((_DELETED, p))
                triggers.append((_CHILDREN, parent_of(p)))
        tree.sessions.pop(sid, None)
        return (0, None), triggers
    return _apply_one(tree, zxid, time, kind, body, triggers), triggers

