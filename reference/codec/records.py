"""ZooKeeper's jute records (zookeeper.jute, org.apache.zookeeper.{data,proto}) as slotted dataclasses.

Each record has write(w: Writer) and classmethod read(r: Reader). Field order is the wire order.
Fields the protocol types as ustring/vector but that a server needs as str/list decode null as ""/[]
(kazoo encodes "" as null); fields that are legitimately nullable (data buffers, WatcherEvent.path, the
reconfig strings) keep None.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .constants import OpCode
from .errors import DecodeError
from .jute import INT, Reader, Writer

_STAT = struct.Struct(">qqqqiiiqiiq")
_MULTI_HEADER = struct.Struct(">i?i")
_MULTI_HEADER_READ = struct.Struct(">iBi")
_pack_int = INT.pack


def _acls(r: Reader) -> list["ACL"]:
    acl = r.vector(ACL.read, 12)
    return [] if acl is None else acl


@dataclass(slots=True)
class Id:
    scheme: str
    id: str

    def write(self, w: Writer) -> None:
        w.ustring(self.scheme)
        w.ustring(self.id)

    @classmethod
    def read(cls, r: Reader) -> "Id":
        return cls(r.string(), r.string())


@dataclass(slots=True)
class ACL:
    perms: int
    id: Id

    def write(self, w: Writer) -> None:
        w.int_(self.perms)
        w.ustring(self.id.scheme)
        w.ustring(self.id.id)

    @classmethod
    def read(cls, r: Reader) -> "ACL":
        return cls(r.int_(), Id(r.string(), r.string()))


@dataclass(slots=True)
class Stat:
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    data_length: int
    num_children: int
    pzxid: int

    SIZE: ClassVar[int] = _STAT.size  # 68

    def pack(self) -> bytes:
        return _STAT.pack(self.czxid, self.mzxid, self.ctime, self.mtime, self.version, self.cversion,
                          self.aversion, self.ephemeral_owner, self.data_length, self.num_children, self.pzxid)

    def write(self, w: Writer) -> None:
        w.buf += self.pack()

    @classmethod
    def read(cls, r: Reader) -> "Stat":
        return cls(*r.unpack(_STAT))


# ---------------------------------------------------------------- session handshake and headers

@dataclass(slots=True)
class ConnectRequest:
    protocol_version: int
    last_zxid_seen: int
    timeout: int
    session_id: int
    passwd: bytes
    read_only: bool | None = False  # None: the optional trailing byte is absent (old client)

    def write(self, w: Writer) -> None:
        w.int_(self.protocol_version)
        w.long_(self.last_zxid_seen)
        w.int_(self.timeout)
        w.long_(self.session_id)
        w.buffer(self.passwd)
        if self.read_only is not None:
            w.bool_(self.read_only)

    @classmethod
    def read(cls, r: Reader) -> "ConnectRequest":
        pv, zxid, timeout, sid = r.int_(), r.long_(), r.int_(), r.long_()
        passwd = r.buffer()
        ro = r.bool_() if r.remaining() else None
        return cls(pv, zxid, timeout, sid, b"" if passwd is None else passwd, ro)


@dataclass(slots=True)
class ConnectResponse:
    protocol_version: int
    timeout: int
    session_id: int
    passwd: bytes
    read_only: bool | None = False  # None: omit the trailing byte (answering an old client)

    def write(self, w: Writer) -> None:
        w.int_(self.protocol_version)
        w.int_(self.timeout)
        w.long_(self.session_id)
        w.buffer(self.passwd)
        if self.read_only is not None:
            w.bool_(self.read_only)

    @classmethod
    def read(cls, r: Reader) -> "ConnectResponse":
        pv, timeout, sid = r.int_(), r.int_(), r.long_()
        passwd = r.buffer()
        ro = r.bool_() if r.remaining() else None
        return cls(pv, timeout, sid, b"" if passwd is None else passwd, ro)


@dataclass(slots=True)
class RequestHeader:
    xid: int
    type: int

    def write(self, w: Writer) -> None:
        w.int_(self.xid)
        w.int_(self.type)

    @classmethod
    def read(cls, r: Reader) -> "RequestHeader":
        return cls(r.int_(), r.int_())


@dataclass(slots=True)
class ReplyHeader:
    xid: int
    zxid: int
    err: int

    def write(self, w: Writer) -> None:
        w.int_(self.xid)
        w.long_(self.zxid)
        w.int_(self.err)

    @classmethod
    def read(cls, r: Reader) -> "ReplyHeader":
        return cls(r.int_(), r.long_(), r.int_())


# ---------------------------------------------------------------- requests and responses

@dataclass(slots=True)
class CreateRequest:
    path: str
    data: bytes | None
    acl: list[ACL]
    flags: int

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.buffer(self.data)
        w.record_vector(self.acl)
        w.int_(self.flags)

    @classmethod
    def read(cls, r: Reader) -> "CreateRequest":
        return cls(r.string(), r.buffer(), _acls(r), r.int_())


@dataclass(slots=True)
class CreateTTLRequest:
    path: str
    data: bytes | None
    acl: list[ACL]
    flags: int
    ttl: int

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.buffer(self.data)
        w.record_vector(self.acl)
        w.int_(self.flags)
        w.long_(self.ttl)

    @classmethod
    def read(cls, r: Reader) -> "CreateTTLRequest":
        return cls(r.string(), r.buffer(), _acls(r), r.int_(), r.long_())


@dataclass(slots=True)
class CreateResponse:
    path: str

    def write(self, w: Writer) -> None:
        w.ustring(self.path)

    @classmethod
    def read(cls, r: Reader) -> "CreateResponse":
        return cls(r.string())


@dataclass(slots=True)
class Create2Response:
    path: str
    stat: Stat

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.buf += self.stat.pack()

    @classmethod
    def read(cls, r: Reader) -> "Create2Response":
        return cls(r.string(), Stat(*r.unpack(_STAT)))


@dataclass(slots=True)
class DeleteRequest:
    path: str
    version: int

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.int_(self.version)

    @classmethod
    def read(cls, r: Reader) -> "DeleteRequest":
        return cls(r.string(), r.int_())


@dataclass(slots=True)
class _PathWatch:
    """Shared shape {ustring path; boolean watch}."""
    path: str
    watch: bool

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.bool_(self.watch)

    @classmethod
    def read(cls, r: Reader):
        return cls(r.string(), r.bool_())


@dataclass(slots=True)
class ExistsRequest(_PathWatch):
    pass


@dataclass(slots=True)
class GetDataRequest(_PathWatch):
    pass


@dataclass(slots=True)
class GetChildrenRequest(_PathWatch):
    pass


@dataclass(slots=True)
class GetChildren2Request(_PathWatch):
    pass


@dataclass(slots=True)
class _StatOnly:
    stat: Stat

    def write(self, w: Writer) -> None:
        w.buf += self.stat.pack()

    @classmethod
    def read(cls, r: Reader):
        return cls(Stat(*r.unpack(_STAT)))


@dataclass(slots=True)
class ExistsResponse(_StatOnly):
    pass


@dataclass(slots=True)
class SetDataResponse(_StatOnly):
    pass


@dataclass(slots=True)
class SetACLResponse(_StatOnly):
    pass


@dataclass(slots=True)
class GetDataResponse:
    data: bytes | None
    stat: Stat

    def write(self, w: Writer) -> None:
        w.buffer(self.data)
        w.buf += self.stat.pack()

    @classmethod
    def read(cls, r: Reader) -> "GetDataResponse":
        return cls(r.buffer(), Stat(*r.unpack(_STAT)))


@dataclass(slots=True)
class SetDataRequest:
    path: str
    data: bytes | None
    version: int

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.buffer(self.data)
        w.int_(self.version)

    @classmethod
    def read(cls, r: Reader) -> "SetDataRequest":
        return cls(r.string(), r.buffer(), r.int_())


@dataclass(slots=True)
class _PathOnly:
    path: str

    def write(self, w: Writer) -> None:
        w.ustring(self.path)

    @classmethod
    def read(cls, r: Reader):
        return cls(r.string())


@dataclass(slots=True)
class GetACLRequest(_PathOnly):
    pass


@dataclass(slots=True)
class SyncRequest(_PathOnly):
    pass


@dataclass(slots=True)
class SyncResponse(_PathOnly):
    pass


@dataclass(slots=True)
class GetAllChildrenNumberRequest(_PathOnly):
    pass


@dataclass(slots=True)
class GetACLResponse:
    acl: list[ACL]
    stat: Stat

    def write(self, w: Writer) -> None:
        w.record_vector(self.acl)
        w.buf += self.stat.pack()

    @classmethod
    def read(cls, r: Reader) -> "GetACLResponse":
        return cls(_acls(r), Stat(*r.unpack(_STAT)))


@dataclass(slots=True)
class SetACLRequest:
    path: str
    acl: list[ACL]
    version: int

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.record_vector(self.acl)
        w.int_(self.version)

    @classmethod
    def read(cls, r: Reader) -> "SetACLRequest":
        return cls(r.string(), _acls(r), r.int_())


@dataclass(slots=True)
class GetChildrenResponse:
    children: list[str]

    def write(self, w: Writer) -> None:
        w.ustring_vector(self.children)

    @classmethod
    def read(cls, r: Reader) -> "GetChildrenResponse":
        return cls(r.ustring_vector())


@dataclass(slots=True)
class GetChildren2Response:
    children: list[str]
    stat: Stat

    def write(self, w: Writer) -> None:
        w.ustring_vector(self.children)
        w.buf += self.stat.pack()

    @classmethod
    def read(cls, r: Reader) -> "GetChildren2Response":
        return cls(r.ustring_vector(), Stat(*r.unpack(_STAT)))


@dataclass(slots=True)
class CheckVersionRequest:
    path: str
    version: int

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.int_(self.version)

    @classmethod
    def read(cls, r: Reader) -> "CheckVersionRequest":
        return cls(r.string(), r.int_())


@dataclass(slots=True)
class SetWatches:
    relative_zxid: int
    data_watches: list[str]
    exist_watches: list[str]
    child_watches: list[str]

    def write(self, w: Writer) -> None:
        w.long_(self.relative_zxid)
        w.ustring_vector(self.data_watches)
        w.ustring_vector(self.exist_watches)
        w.ustring_vector(self.child_watches)

    @classmethod
    def read(cls, r: Reader) -> "SetWatches":
        return cls(r.long_(), r.ustring_vector(), r.ustring_vector(), r.ustring_vector())


@dataclass(slots=True)
class SetWatches2:
    relative_zxid: int
    data_watches: list[str]
    exist_watches: list[str]
    child_watches: list[str]
    persistent_watches: list[str]
    persistent_recursive_watches: list[str]

    def write(self, w: Writer) -> None:
        w.long_(self.relative_zxid)
        w.ustring_vector(self.data_watches)
        w.ustring_vector(self.exist_watches)
        w.ustring_vector(self.child_watches)
        w.ustring_vector(self.persistent_watches)
        w.ustring_vector(self.persistent_recursive_watches)

    @classmethod
    def read(cls, r: Reader) -> "SetWatches2":
        return cls(r.long_(), r.ustring_vector(), r.ustring_vector(), r.ustring_vector(),
                   r.ustring_vector(), r.ustring_vector())


@dataclass(slots=True)
class AddWatchRequest:
    path: str
    mode: int

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.int_(self.mode)

    @classmethod
    def read(cls, r: Reader) -> "AddWatchRequest":
        return cls(r.string(), r.int_())


@dataclass(slots=True)
class _PathType:
    path: str
    type: int

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.int_(self.type)

    @classmethod
    def read(cls, r: Reader):
        return cls(r.string(), r.int_())


@dataclass(slots=True)
class RemoveWatchesRequest(_PathType):
    pass


@dataclass(slots=True)
class CheckWatchesRequest(_PathType):
    pass


@dataclass(slots=True)
class AuthPacket:
    type: int
    scheme: str
    auth: bytes | None

    def write(self, w: Writer) -> None:
        w.int_(self.type)
        w.ustring(self.scheme)
        w.buffer(self.auth)

    @classmethod
    def read(cls, r: Reader) -> "AuthPacket":
        return cls(r.int_(), r.string(), r.buffer())


@dataclass(slots=True)
class ClientInfo:
    auth_scheme: str
    user: str

    def write(self, w: Writer) -> None:
        w.ustring(self.auth_scheme)
        w.ustring(self.user)

    @classmethod
    def read(cls, r: Reader) -> "ClientInfo":
        return cls(r.string(), r.string())


@dataclass(slots=True)
class WhoAmIResponse:
    client_info: list[ClientInfo]

    def write(self, w: Writer) -> None:
        w.record_vector(self.client_info)

    @classmethod
    def read(cls, r: Reader) -> "WhoAmIResponse":
        infos = r.vector(ClientInfo.read, 8)
        return cls([] if infos is None else infos)


@dataclass(slots=True)
class GetEphemeralsRequest:
    prefix_path: str

    def write(self, w: Writer) -> None:
        w.ustring(self.prefix_path)

    @classmethod
    def read(cls, r: Reader) -> "GetEphemeralsRequest":
        return cls(r.string())


@dataclass(slots=True)
class GetEphemeralsResponse:
    ephemerals: list[str]

    def write(self, w: Writer) -> None:
        w.ustring_vector(self.ephemerals)

    @classmethod
    def read(cls, r: Reader) -> "GetEphemeralsResponse":
        return cls(r.ustring_vector())


@dataclass(slots=True)
class GetAllChildrenNumberResponse:
    total_number: int

    def write(self, w: Writer) -> None:
        w.int_(self.total_number)

    @classmethod
    def read(cls, r: Reader) -> "GetAllChildrenNumberResponse":
        return cls(r.int_())


@dataclass(slots=True)
class ErrorResponse:
    err: int

    def write(self, w: Writer) -> None:
        w.int_(self.err)

    @classmethod
    def read(cls, r: Reader) -> "ErrorResponse":
        return cls(r.int_())


@dataclass(slots=True)
class ReconfigRequest:
    joining_servers: str | None
    leaving_servers: str | None
    new_members: str | None
    cur_config_id: int

    def write(self, w: Writer) -> None:
        w.ustring(self.joining_servers)
        w.ustring(self.leaving_servers)
        w.ustring(self.new_members)
        w.long_(self.cur_config_id)

    @classmethod
    def read(cls, r: Reader) -> "ReconfigRequest":
        return cls(r.ustring(), r.ustring(), r.ustring(), r.long_())


@dataclass(slots=True)
class _Token:
    token: bytes | None

    def write(self, w: Writer) -> None:
        w.buffer(self.token)

    @classmethod
    def read(cls, r: Reader):
        return cls(r.buffer())


@dataclass(slots=True)
class GetSASLRequest(_Token):
    pass


@dataclass(slots=True)
class SetSASLResponse(_Token):
    pass


@dataclass(slots=True)
class WatcherEvent:
    type: int
    state: int
    path: str | None

    def write(self, w: Writer) -> None:
        w.int_(self.type)
        w.int_(self.state)
        w.ustring(self.path)

    @classmethod
    def read(cls, r: Reader) -> "WatcherEvent":
        return cls(r.int_(), r.int_(), r.ustring())


# ---------------------------------------------------------------- multi (notes T8)

# Sub-operation bodies a multi / multiRead may carry. Which ones are *allowed* in which kind of multi is the
# server's decision; the codec decodes every kind it can frame.
MULTI_SUB_REQUESTS: dict[int, type] = {
    OpCode.CREATE: CreateRequest,
    OpCode.CREATE2: CreateRequest,
    OpCode.CREATE_CONTAINER: CreateRequest,
    OpCode.CREATE_TTL: CreateTTLRequest,
    OpCode.DELETE: DeleteRequest,
    OpCode.SET_DATA: SetDataRequest,
    OpCode.CHECK: CheckVersionRequest,
    OpCode.GET_DATA: GetDataRequest,
    OpCode.GET_CHILDREN: GetChildrenRequest,
}

# Result bodies by the result's MultiHeader type; None = no body. Type -1 (error) carries ErrorResponse.
MULTI_SUB_RESULTS: dict[int, type | None] = {
    OpCode.CREATE: CreateResponse,
    OpCode.CREATE2: Create2Response,
    OpCode.CREATE_CONTAINER: Create2Response,
    OpCode.CREATE_TTL: Create2Response,
    OpCode.DELETE: None,
    OpCode.CHECK: None,
    OpCode.SET_DATA: SetDataResponse,
    OpCode.GET_DATA: GetDataResponse,
    OpCode.GET_CHILDREN: GetChildrenResponse,
    OpCode.ERROR: ErrorResponse,
}

_MULTI_END = _MULTI_HEADER.pack(-1, True, -1)


@dataclass(slots=True)
class MultiRequest:
    ops: list[tuple[int, Any]] = field(default_factory=list)  # (opcode, sub-request record)

    def write(self, w: Writer) -> None:
        buf = w.buf
        for op, rec in self.ops:
            buf += _MULTI_HEADER.pack(op, False, -1)
            rec.write(w)
        buf += _MULTI_END

    @classmethod
    def read(cls, r: Reader) -> "MultiRequest":
        ops = []
        while True:
            start = r.pos
            op, done, _err = r.unpack(_MULTI_HEADER_READ)
            if done:
                return cls(ops)
            sub = MULTI_SUB_REQUESTS.get(op)
            if sub is None:
                raise DecodeError(f"multi sub-op with opcode {op} not allowed (at offset {start})")
            ops.append((op, sub.read(r)))


@dataclass(slots=True)
class MultiResponse:
    # (opcode or -1, err, sub-result record or None). For -1 a missing record is written as ErrorResponse(err).
    results: list[tuple[int, int, Any]] = field(default_factory=list)

    def write(self, w: Writer) -> None:
        buf = w.buf
        for op, err, rec in self.results:
            buf += _MULTI_HEADER.pack(op, False, err)
            if op == -1:
                buf += _pack_int(rec.err if rec is not None else err)
            elif rec is not None:
                rec.write(w)
        buf += _MULTI_END

    @classmethod
    def read(cls, r: Reader) -> "MultiResponse":
        results = []
        while True:
            start = r.pos
            op, done, err = r.unpack(_MULTI_HEADER_READ)
            if done:
                return cls(results)
            if op not in MULTI_SUB_RESULTS:
                raise DecodeError(f"multi result with opcode {op} not allowed (at offset {start})")
            sub = MULTI_SUB_RESULTS[op]
            results.append((op, err, None if sub is None else sub.read(r)))
