"""Crash recovery of the real reference server process: every acknowledged write survives kill -9, sessions
with ephemerals come back (and expire if their client does not), and a torn log tail is dropped."""
from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from reference.codec import messages
from reference.codec.constants import OpCode
from reference.codec.framing import FrameReader
from reference.codec.records import ACL, ConnectRequest, ConnectResponse, CreateRequest, Id

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.servers import ServerProcess, reference_server  # noqa: E402
from tests.waiting import wait_for  # noqa: E402

pytestmark = pytest.mark.cluster


@pytest.fixture
def server(tmp_path):
    proc = reference_server(workdir=tmp_path / "ref")
    # a short tick so that session timeouts (2..20 ticks: 1..10 s) are short too
    proc.argv += ["--tick-ms", "500", "--snapshot-every", "50"]
    proc.start()
    try:
        yield proc
    finally:
        proc.cleanup()


def client(server: ServerProcess, **kw) -> KazooClient:
    c = KazooClient(hosts=server.address, timeout=2.0, **kw)
    c.start(timeout=15)
    return c


def log_files(server: ServerProcess) -> list[Path]:
    return sorted((server.workdir / "data").glob("log.*"))


def raw_connect(server: ServerProcess, session_id: int = 0, passwd: bytes = bytes(16),
                timeout: int = 10_000) -> tuple[ConnectResponse, socket.socket]:
    """Handshake over a raw socket; returns the ConnectResponse and the still open socket."""
    sock = socket.create_connection((server.host, server.port), timeout=10)
    sock.sendall(messages.encode_connect_request(ConnectRequest(0, 0, timeout, session_id, passwd, False)))
    return messages.decode_connect_response(read_frame(sock)), sock


def read_frame(sock: socket.socket) -> bytes:
    reader = FrameReader()
    while True:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        frames = reader.feed(data)
        if frames:
            return frames[0]


def raw_session_with_ephemeral(server: ServerProcess, path: str) -> tuple[int, bytes]:
    """Create a session and an ephemeral, then drop the socket without closing the session."""
    resp, sock = raw_connect(server)
    sock.sendall(messages.encode_request(1, OpCode.CREATE, CreateRequest(path, b"", [ACL(31, Id("world", "anyone"))],
                                                                         1)))
    header, _ = messages.decode_reply(read_frame(sock), OpCode.CREATE)
    assert header.err == 0
    sock.close()
    return resp.session_id, resp.passwd



def test_acknowledged_writes_and_sessions_survive_kill_9(server):
    c = client(server)
    c.create("/crash")
    for i in range(40):                       # crosses --snapshot-every, so a snapshot + log roll happen too
        c.create(f"/crash/s{i}", str(i).encode())
    asyncs = [c.create_async(f"/crash/a{i}", b"x") for i in range(200)]
    acked = {r.get(timeout=15) for r in asyncs}
    c.set("/crash/s0", b"changed")
    c.create("/crash/eph", b"mine", ephemeral=True)
    session = c.client_id
    c.stop()        # kazoo closes the session; its ephemeral must go

    kept_session, _ = raw_session_with_ephemeral(server, "/crash/kept")

    server.kill()
    server.start()

    c2 = client(server)
    children = set(c2.get_children("/crash"))
    assert {f"a{i}" for i in range(200)} <= children
    assert {p.rsplit("/", 1)[1] for p in acked} <= children
    assert all(f"s{i}" in children for i in range(40))
    assert c2.get("/crash/s0")[0] == b"changed"
    assert c2.get("/crash/s7")[0] == b"7"
    assert "eph" not in children
    # the session that never closed came back with its ephemeral...
    assert c2.exists("/crash/kept") is not None
    assert c2.exists("/crash/kept").ephemeralOwner == kept_session
    # ...and a closed one stays closed: re-attaching gets ZooKeeper's "expired" ConnectResponse
    resp, sock = raw_connect(server, *session)
    sock.close()
    assert (resp.timeout, resp.session_id, resp.passwd) == (0, 0, bytes(16))
    # the abandoned session expires after its timeout and takes its ephemeral with it
    wait_for(lambda: c2.exists("/crash/kept") is None, "the abandoned session to expire", 30, 0.05)
    c2.stop()


def test_reattach_after_restart_keeps_the_session(server):
    c = client(server)
    c.create("/e", b"", ephemeral=True)
    sid, passwd = c.client_id
    server.kill()
    server.start()
    again = KazooClient(hosts=server.address, client_id=(sid, passwd), timeout=2.0)
    again.start(timeout=15)
    try:
        assert again.client_id[0] == sid
        assert again.exists("/e").ephemeralOwner == sid
    finally:
        again.stop()
    c.stop()


def test_torn_log_tail_is_dropped_and_writing_continues(server):
    c = client(server)
    for i in range(10):
        c.create(f"/t{i}", b"v")
    c.stop()
    server.kill()
    last = log_files(server)[-1]
    with open(last, "ab") as f:
        f.write(b"\x00\x00\x01\x00\xde\xad\xbe\xefpartial")     # a record header promising more than is there
    server.start()
    c = client(server)
    assert all(c.exists(f"/t{i}") for i in range(10))
    c.create("/after", b"ok")
    c.stop()
    server.kill()
    server.start()
    c = client(server)
    assert c.get("/after")[0] == b"ok"
    c.stop()


def test_kill_9_under_write_load_loses_no_acknowledged_write(server):
    c = client(server)
    c.create("/load")
    acked: list[str] = []
    lock = threading.Lock()

    def on_done(result) -> None:
        try:
            path = result.get_nowait()
        except Exception:   # connection loss once the server is gone: outcome unknown, not counted
            return
        with lock:
            acked.append(path)

    i = 0
    while True:
        with lock:
            if len(acked) >= 300:
                break
        c.create_async(f"/load/n{i}", b"v").rawlink(on_done)
        i += 1
        if i % 50 == 0:
            time.sleep(0.01)    # keep a few hundred writes in flight, not an unbounded queue
    server.kill()               # writes still in flight: some acknowledged, some unknown
    with lock:
        survivors = list(acked)
    c.stop()
    server.start()
    c2 = client(server)
    present = set(c2.get_children("/load"))
    missing = [p for p in survivors if p.rsplit("/", 1)[1] not in present]
    assert missing == []
    c2.stop()


def test_sigterm_is_a_clean_shutdown(server):
    c = client(server)
    c.create("/clean", b"1")
    c.stop()
    proc = server.proc
    server.stop()                   # SIGTERM
    assert proc is not None and proc.returncode == 0
    assert "stopped at zxid" in server.log_path.read_text()
    server.start()
    c = client(server)
    assert c.get("/clean")[0] == b"1"
    c.stop()
