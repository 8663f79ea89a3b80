"""Four-letter words on the client port, formatted like Apache ZooKeeper 3.8 prints them (compared by eye and
by the compat tests against a running ZooKeeper)."""
from __future__ import annotations

import os
import platform
import socket
import sys
import time
from typing import Any

from reference.codec.constants import OpCode
from reference.server.core import VERSION, Server

# ZooKeeper's short names for the last operation in `cons` (ServerCnxn / Request.op2String, first 4 letters).
_LOP = {OpCode.CREATE: "CREA", OpCode.CREATE2: "CREA", OpCode.DELETE: "DELE", OpCode.EXISTS: "EXIS",
        OpCode.GET_DATA: "GETD", OpCode.SET_DATA: "SETD", OpCode.GET_ACL: "GETA", OpCode.SET_ACL: "SETA",
        OpCode.GET_CHILDREN: "GETC", OpCode.GET_CHILDREN2: "GETC", OpCode.SYNC: "SYNC", OpCode.PING: "PING",
        OpCode.MULTI: "MULT", OpCode.CLOSE_SESSION: "CLOS", OpCode.AUTH: "AUTH", OpCode.SET_WATCHES: "SETW"}


def _latency(server: Server) -> tuple[int, float, int]:
    s = server.stats
    avg = s["lat_sum"] / s["lat_n"] if s["lat_n"] else 0.0
    return s["lat_min"], round(avg, 4), s["lat_max"]


def _node_count(server: Server) -> int:
    # ZooKeeper's node map holds the root twice ("" and "/"); its counts include both.
    return server.tree.node_count() + 1


def _clients(server: Server, detailed: bool) -> str:
    lines = []
    for c in list(server.connections):
        host, port = c.peer
        base = f" /{host}:{port}[{1 if c.connected else 0}](queued={len(c.queue)},recved={c.received},sent={c.sent}"
        if detailed and c.connected:
            lop = _LOP.get(c.last_op, "NA") if c.last_op is not None else "NA"
            base += (f",sid=0x{c.session_id & 0xFFFFFFFFFFFFFFFF:x},lop={lop},est={c.established},to={c.timeout},"
                     f"lcxid=0x{c.last_cxid:x},lzxid=0x{c.last_zxid:x},lresp=0,llat=0,minlat=0,avglat=0,maxlat=0")
        lines.append(base + ")")
    return "\n".join(lines) + "\n"


NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"


def srvr(server: Server, with_clients: bool) -> str:
    mode = server.mode()
    if mode is None:
        return NOT_SERVING
    lmin, lavg, lmax = _latency(server)
    out = f"Zookeeper version: {VERSION}\n"
    if with_clients:
        out += "Clients:\n" + _clients(server, False) + "\n"
    out += (f"Latency min/avg/max: {lmin}/{lavg}/{lmax}\n"
            f"Received: {server.stats['received']}\n"
            f"Sent: {server.stats['sent']}\n"
            f"Connections: {len(server.connections)}\n"
            f"Outstanding: {server.outstanding()}\n"
            f"Zxid: 0x{server.tree.last_zxid:x}\n"
            f"Mode: {mode}\n"
            f"Node count: {_node_count(server)}\n")
    if server.config.bugs:
        out += f"Injected bugs: {','.join(server.config.bugs)}\n"
    return out


def mntr(server: Server) -> str:
    mode = server.mode()
    if mode is None:
        return NOT_SERVING
    lmin, lavg, lmax = _latency(server)
    _conns, _paths, watches = server.watches.counts()
    data_size = sum(len(p) + len(n.data or b"") for p, n in server.tree.nodes.items())
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = 0
    try:
        import resource
        max_fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, ValueError):
        max_fds = 0
    rows = [
        ("zk_version", VERSION),
        ("zk_server_state", mode),
        ("zk_ephemerals_count", server.tree.ephemeral_count()),
        ("zk_num_alive_connections", len(server.connections)),
        ("zk_avg_latency", lavg),
        ("zk_outstanding_requests", server.outstanding()),
        ("zk_znode_count", _node_count(server)),
        ("zk_global_sessions", len(server.sessions)),
        ("zk_packets_sent", server.stats["sent"]),
        ("zk_packets_received", server.stats["received"]),
        ("zk_watch_count", watches),
        ("zk_min_latency", lmin),
        ("zk_max_latency", lmax),
        ("zk_approximate_data_size", data_size),
        ("zk_open_file_descriptor_count", fds),
        ("zk_max_file_descriptor_count", max_fds),
        ("zk_local_sessions", 0),
        ("zk_uptime", int((time.monotonic() - server.started) * 1000)),
        # Not in ZooKeeper's list: the position of this server's state, for the harness.
        ("zk_last_zxid", server.tree.last_zxid),
        ("zk_epoch", server.epoch()),
    ]
    if server.config.bugs:
        rows.append(("zk_injected_bugs", ",".join(server.config.bugs)))
    return "".join(f"{k}\t{v}\n" for k, v in rows)


def envi(server: Server) -> str:
    rows = [
        ("zookeeper.version", VERSION),
        ("host.name", socket.gethostname()),
        ("python.version", platform.python_version()),
        ("python.executable", sys.executable),
        ("os.name", platform.system()),
        ("os.arch", platform.machine()),
        ("os.version", platform.release()),
        ("user.dir", os.getcwd()),
    ]
    return "Environment:\n" + "".join(f"{k}={v}\n" for k, v in rows)


def conf(server: Server) -> str:
    c = server.config
    data_dir = os.path.abspath(c.data_dir)
    rows = [
        ("clientPort", c.port),
        ("secureClientPort", -1),
        ("dataDir", data_dir),
        ("dataDirSize", server.data_dir_size()),
        ("dataLogDir", data_dir),
        ("dataLogSize", server.data_dir_size()),
        ("tickTime", c.tick_ms),
        ("maxClientCnxns", c.max_connections),
        ("minSessionTimeout", server.sessions.min_timeout),
        ("maxSessionTimeout", server.sessions.max_timeout),
        ("clientPortListenBacklog", -1),
        ("serverId", 0),
    ]
    return "".join(f"{k}={v}\n" for k, v in rows)


def wchs(server: Server) -> str:
    conns, paths, total = server.watches.counts()
    return f"{conns} connections watching {paths} paths\nTotal watches:{total}\n"


def _by(server: Server, by_path: bool) -> str:
    table: dict[Any, set[str]] = {}
    w = server.watches
    for t in (w.data, w.child, w.persistent, w.recursive):
        for path, conns in t.items():
            for c in conns:
                if by_path:
                    table.setdefault(path, set()).add(f"0x{c.session_id & 0xFFFFFFFFFFFFFFFF:x}")
                else:
                    table.setdefault(f"0x{c.session_id & 0xFFFFFFFFFFFFFFFF:x}", set()).add(path)
    return "".join(f"{k}\n" + "".join(f"\t{v}\n" for v in sorted(vs)) for k, vs in sorted(table.items()))


def dump(server: Server) -> str:
    out = "SessionTracker dump:\nSession Sets (" + str(len(server.sessions)) + ")/(0):\n"
    out += "ephemeral nodes dump:\n"
    out += f"Sessions with Ephemerals ({len(server.tree.ephemerals)}):\n"
    for sid, paths in sorted(server.tree.ephemerals.items()):
        out += f"0x{sid & 0xFFFFFFFFFFFFFFFF:x}:\n" + "".join(f"\t{p}\n" for p in sorted(paths))
    out += "Connections dump:\nConnections Sets (0)/(0):\n"
    return out


def answer(server: Server, word: str, conn: Any) -> str:
    if word == "ruok":
        return "imok"
    if word == "srvr":
        return srvr(server, False)
    if word == "stat":
        return srvr(server, True)
    if word == "mntr":
        return mntr(server)
    if word == "envi":
        return envi(server)
    if word == "conf":
        return conf(server)
    if word == "cons":
        return _clients(server, True) + "\n"
    if word == "wchs":
        return wchs(server)
    if word == "wchc":
        return _by(server, False)
    if word == "wchp":
        return _by(server, True)
    if word == "dump":
        return dump(server)
    if word == "isro":
        return "rw"
    if word == "dirs":
        size = server.data_dir_size()
        return f"datadir_size: {size}\nlogdir_size: {size}\n"
    if word == "crst":
        return "Connection stats reset.\n"
    if word == "srst":
        for k in ("lat_min", "lat_max", "lat_sum", "lat_n", "received", "sent"):
            server.stats[k] = 0
        return "Server stats reset.\n"
    if word in ("gtmk", "stmk"):
        return "0\n"
    return ""
