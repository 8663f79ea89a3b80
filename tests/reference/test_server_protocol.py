"""Wire-level edges of the reference server shell, over raw sockets (kazoo hides most of these)."""
from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reference.codec import messages  # noqa: E402
from reference.codec.constants import Err, EventType, OpCode, Xid  # noqa: E402
from reference.codec.framing import FrameReader  # noqa: E402
from reference.codec.records import (  # noqa: E402
    ACL, AddWatchRequest, AuthPacket, ConnectRequest, CreateRequest, GetDataRequest, Id, SetDataRequest, SetWatches,
    WatcherEvent,
)
from tests.servers import ServerProcess, four_letter_word, reference_server  # noqa: E402

pytestmark = pytest.mark.cluster
OPEN = [ACL(31, Id("world", "anyone"))]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = reference_server(workdir=tmp_path_factory.mktemp("proto"))
    proc.start()
    try:
        yield proc
    finally:
        proc.cleanup()


class Client:
    def __init__(self, server: ServerProcess, last_zxid: int = 0, session: int = 0, passwd: bytes = bytes(16)):
        self.sock = socket.create_connection((server.host, server.port), timeout=10)
        self.reader = FrameReader()
        self.frames: list[bytes] = []
        self.sock.sendall(messages.encode_connect_request(ConnectRequest(0, last_zxid, 10000, session, passwd,
                                                                         False)))

    def frame(self) -> bytes | None:
        """Next frame, or None at EOF."""
        while not self.frames:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.frames.extend(self.reader.feed(data))
        return self.frames.pop(0)

    def connect(self):
        return messages.decode_connect_response(self.frame())

    def call(self, xid: int, op: int, rec=None):
        self.sock.sendall(messages.encode_request(xid, op, rec))
        return messages.decode_reply(self.frame(), op)

    def close(self):
        self.sock.close()


def test_unknown_opcode_gets_unimplemented_then_close(server):
    c = Client(server)
    c.connect()
    c.sock.sendall(struct.pack(">iii", 8, 7, 9999))
    header, _ = messages.decode_reply(c.frame(), OpCode.PING)
    assert (header.xid, header.zxid, header.err) == (7, -1, Err.UNIMPLEMENTED)
    assert c.frame() is None


def test_oversize_frame_closes_only_that_connection(server):
    victim, bystander = Client(server), Client(server)
    victim.connect()
    bystander.connect()
    victim.sock.sendall(struct.pack(">i", 2 << 20) + b"x" * 1000)
    assert victim.frame() is None
    header, _ = bystander.call(1, OpCode.EXISTS, GetDataRequest("/", False))
    assert header.err == 0
    bystander.close()


def test_garbage_request_closes_the_connection(server):
    c = Client(server)
    c.connect()
    c.sock.sendall(struct.pack(">iii", 10, 1, OpCode.GET_DATA) + b"\xff\xff")
    assert c.frame() is None


def test_unknown_auth_scheme_fails_and_closes(server):
    c = Client(server)
    c.connect()
    header, _ = c.call(Xid.AUTH, OpCode.AUTH, AuthPacket(0, "kerberos?", b"x"))
    assert (header.xid, header.err) == (Xid.AUTH, Err.AUTH_FAILED)
    assert c.frame() is None


def test_client_ahead_of_server_is_closed_without_answer(server):
    c = Client(server, last_zxid=1 << 40)
    assert c.frame() is None


def test_close_session_replies_then_closes_and_session_is_gone(server):
    c = Client(server)
    resp = c.connect()
    header, _ = c.call(1, OpCode.CLOSE_SESSION)
    assert header.err == 0
    assert c.frame() is None
    again = Client(server, session=resp.session_id, passwd=resp.passwd)
    assert again.connect().timeout == 0
    assert again.frame() is None


def test_notification_comes_before_the_reply_that_shows_the_change(server):
    a, b = Client(server), Client(server)
    a.connect()
    b.connect()
    a.call(1, OpCode.CREATE, CreateRequest("/order", b"0", OPEN, 0))
    a.call(2, OpCode.GET_DATA, GetDataRequest("/order", True))
    b.call(1, OpCode.SET_DATA, SetDataRequest("/order", b"1", -1))
    a.sock.sendall(messages.encode_request(3, OpCode.GET_DATA, GetDataRequest("/order", False)))
    first = messages.decode_reply(a.frame(), OpCode.GET_DATA)
    assert first[0].xid == Xid.NOTIFICATION
    assert first[1] == WatcherEvent(EventType.NODE_DATA_CHANGED, 3, "/order")
    header, data = messages.decode_reply(a.frame(), OpCode.GET_DATA)
    assert header.xid == 3 and data.data == b"1"


def test_set_watches_fires_for_changes_since_relative_zxid(server):
    a = Client(server)
    a.connect()
    h1, _ = a.call(1, OpCode.CREATE, CreateRequest("/sw", b"0", OPEN, 0))
    a.call(2, OpCode.SET_DATA, SetDataRequest("/sw", b"1", -1))
    a.sock.sendall(messages.encode_request(Xid.SET_WATCHES, OpCode.SET_WATCHES,
                                           SetWatches(h1.zxid, ["/sw"], ["/sw-missing"], [])))
    # data changed after relative zxid -> NodeDataChanged right away; the missing node's exist watch is armed
    events = []
    while True:
        header, body = messages.decode_reply(a.frame(), OpCode.SET_WATCHES)
        if header.xid == Xid.NOTIFICATION:
            events.append(body)
        else:
            assert header.xid == Xid.SET_WATCHES and header.err == 0
            break
    assert events == [WatcherEvent(EventType.NODE_DATA_CHANGED, 3, "/sw")]
    a.sock.sendall(messages.encode_request(4, OpCode.CREATE, CreateRequest("/sw-missing", b"", OPEN, 0)))
    header, body = messages.decode_reply(a.frame(), OpCode.CREATE)
    assert header.xid == Xid.NOTIFICATION and body == WatcherEvent(EventType.NODE_CREATED, 3, "/sw-missing")
    header, _ = messages.decode_reply(a.frame(), OpCode.CREATE)
    assert header.xid == 4 and header.err == 0


def test_ping_reply_carries_the_last_zxid(server):
    c = Client(server)
    c.connect()
    h, _ = c.call(1, OpCode.CREATE, CreateRequest("/ping", b"", OPEN, 0))
    ping, _ = c.call(Xid.PING, OpCode.PING)
    assert ping.xid == Xid.PING and ping.zxid >= h.zxid


def test_four_letter_words(server):
    assert four_letter_word(server.port, "ruok") == "imok"
    srvr = four_letter_word(server.port, "srvr")
    for line in ("Zookeeper version: ", "Latency min/avg/max: ", "Received: ", "Sent: ", "Connections: ",
                 "Outstanding: ", "Zxid: 0x", "Mode: standalone", "Node count: "):
        assert line in srvr
    assert "Clients:" in four_letter_word(server.port, "stat")
    mntr = dict(line.split("\t", 1) for line in four_letter_word(server.port, "mntr").splitlines())
    assert mntr["zk_server_state"] == "standalone" and int(mntr["zk_znode_count"]) >= 5
    assert "zookeeper.version=3.8.0" in four_letter_word(server.port, "envi")
    assert four_letter_word(server.port, "isro") == "rw"
    assert "Total watches:" in four_letter_word(server.port, "wchs")
    assert "tickTime=2000" in four_letter_word(server.port, "conf")


def test_four_letter_word_split_across_packets(server):
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"ru")
        time.sleep(0.1)   # let the halves arrive as separate reads; correctness does not depend on it
        s.sendall(b"ok")
        assert s.recv(100) == b"imok"


def test_a_flooding_client_is_throttled_not_dropped(server):
    c = Client(server)
    c.connect()
    c.call(1, OpCode.CREATE, CreateRequest("/flood", b"", OPEN, 0))
    n = 5000
    c.sock.sendall(b"".join(messages.encode_request(i, OpCode.SET_DATA, SetDataRequest("/flood", b"x", -1))
                            for i in range(2, n + 2)))
    xids = [messages.decode_reply(c.frame(), OpCode.SET_DATA)[0].xid for _ in range(n)]
    assert xids == list(range(2, n + 2))
    c.close()


def test_add_watch_answers_an_error_response_body_and_stays(server):
    c, w = Client(server), Client(server)
    c.connect()
    w.connect()
    c.call(1, OpCode.CREATE, CreateRequest("/pw", b"", OPEN, 0))
    w.sock.sendall(messages.encode_request(1, OpCode.ADD_WATCH, AddWatchRequest("/pw", 1)))
    payload = w.frame()
    xid, _zxid, err = struct.unpack_from(">iqi", payload)
    assert (xid, err, payload[16:]) == (1, 0, b"\0\0\0\0")     # ReplyHeader + ErrorResponse(0)
    for i in range(2):   # persistent: fires every time, recursive: for descendants too
        c.call(2 + i, OpCode.CREATE, CreateRequest(f"/pw/c{i}", b"", OPEN, 0))
        header, event = messages.decode_reply(w.frame(), OpCode.ADD_WATCH)
        assert header.xid == Xid.NOTIFICATION and event == WatcherEvent(EventType.NODE_CREATED, 3, f"/pw/c{i}")


def test_who_am_i_names_the_digest_user(server):
    c = Client(server)
    c.connect()
    header, _ = c.call(Xid.AUTH, OpCode.AUTH, AuthPacket(0, "digest", b"bob:pw"))
    assert header.err == 0
    c.sock.sendall(messages.encode_request(2, OpCode.WHO_AM_I))
    _, who = messages.decode_reply(c.frame(), OpCode.WHO_AM_I)
    assert [(i.auth_scheme, i.user) for i in who.client_info] == [("ip", "127.0.0.1"), ("digest", "bob")]


def test_stale_reads_bug_switch_serves_old_data_and_says_so(tmp_path):
    from kazoo.client import KazooClient
    proc = reference_server(workdir=tmp_path / "buggy")
    proc.argv += ["--bug", "stale-reads"]
    proc.start()
    try:
        c = KazooClient(hosts=proc.address)
        c.start(timeout=15)
        c.create("/r", b"0")
        for i in range(1, 11):
            c.set("/r", str(i).encode())
        c.sync("/r")
        assert c.get("/r")[0] != b"10"          # a read after its own acknowledged write misses it
        c.stop()
        assert "zk_injected_bugs\tstale-reads" in four_letter_word(proc.port, "mntr")
        assert "Injected bugs: stale-reads" in four_letter_word(proc.port, "srvr")
        assert "INJECTED BUG stale-reads" in proc.log_path.read_text()
    finally:
        proc.cleanup()


def test_no_bug_by_default(server):
    assert "injected" not in four_letter_word(server.port, "mntr").lower()


def test_a_replicated_only_bug_is_refused_by_a_standalone_server(tmp_path):
    result = subprocess.run([sys.executable, "-m", "reference", "--port", "0", "--data-dir", str(tmp_path / "d"),
                             "--bug", "ack-before-log"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "only in the replicated server" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()
