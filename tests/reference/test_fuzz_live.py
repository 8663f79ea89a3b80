"""Hostile clients against a live server: random and mutated frames on raw sockets while a healthy kazoo session
keeps working. Each bad connection must be answered or closed within a bound (never left hanging when the
server has a complete message or an invalid header), the server process must survive, and the healthy session
must stay the same session throughout."""
from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from kazoo.client import KazooClient

from codec_strategies import mutated, requests
from reference.codec import messages as M
from reference.codec import records as R
from reference.codec.constants import MAX_FRAME, OpCode, Xid
from reference.codec.errors import FrameTooLarge
from reference.codec.framing import FrameReader, frame, is_four_letter_word

REPO = Path(__file__).resolve().parents[2]
BOUND = 10.0  # seconds a server may take to answer or close before we call it a hang
ZK_CLASSPATH = "/usr/share/java/zookeeper.jar:/usr/share/java/netty-codec.jar:/usr/share/java/slf4j-nop.jar"

pytestmark = pytest.mark.cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before listening:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"server not listening on {port} after 60 s:\n{log.read_text()[-3000:]}")


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    def assert_alive(self) -> None:
        assert self.proc.poll() is None, f"server died ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}"


@pytest.fixture(scope="module", params=["reference", "zookeeper"])
def server(request):
    tmp = Path(tempfile.mkdtemp(prefix="codec-fuzz-live-"))
    port = _free_port()
    log = tmp / "server.log"
    if request.param == "reference":
        cmd = [sys.executable, "-m", "reference", "--port", str(port), "--data-dir", str(tmp / "data")]
    else:
        if not Path("/usr/share/java/zookeeper.jar").exists():
            pytest.skip("Debian zookeeper package not installed")
        cmd = ["java", "-Xmx256m", "-Dzookeeper.4lw.commands.whitelist=*", "-cp", ZK_CLASSPATH,
               "org.apache.zookeeper.server.ZooKeeperServerMain", str(port), str(tmp / "data")]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_listening(proc, port, log)
        yield Server(proc, port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def healthy(server):
    zk = KazooClient(hosts=f"127.0.0.1:{server.port}", timeout=10)
    zk.start(timeout=30)
    path = f"/fuzz-healthy-{uuid.uuid4().hex}"
    zk.create(path, b"0")
    try:
        yield zk, path, zk.client_id[0]
    finally:
        zk.stop()
        zk.close()


# ---------------------------------------------------------------- one hostile connection

class Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
        self.frames = FrameReader(max_frame=1 << 30)  # we are the client: take whatever the server sends
        self.pending: list[bytes] = []
        self.closed_by_peer = False

    def send(self, data: bytes) -> None:
        if self.closed_by_peer:
            return
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.closed_by_peer = True  # the server hung up mid-send: a legitimate answer to garbage
        except socket.timeout:
            pytest.fail(f"server neither read nor closed within {BOUND} s")

    def _recv(self, deadline: float) -> bytes:
        """Some bytes, or b"" once the server has closed. Fails if nothing happens before the deadline."""
        if self.closed_by_peer:
            return b""
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            pytest.fail(f"server neither answered nor closed within {BOUND} s")
        if not data:
            self.closed_by_peer = True
        return data

    def expect_reaction(self) -> None:
        self._recv(time.monotonic() + BOUND)

    def expect_close(self) -> None:
        deadline = time.monotonic() + BOUND
        while self._recv(deadline):
            pass

    def next_frame(self, deadline: float) -> bytes | None:
        """The next framed payload from the server, or None when it closed."""
        while not self.pending:
            data = self._recv(deadline)
            if not data:
                return None
            self.pending += self.frames.feed(data)
        return self.pending.pop(0)

    def connect(self) -> None:
        self.send(M.encode_connect_request(R.ConnectRequest(0, 0, 4000, 0, b"\x00" * 16, False)))
        payload = self.next_frame(time.monotonic() + BOUND)
        assert payload is not None, "server closed instead of answering a valid ConnectRequest"
        resp = M.decode_connect_response(payload)
        assert resp.session_id != 0 and resp.timeout > 0

    def expect_reply(self, xid: int) -> R.ReplyHeader | None:
        """Frames until one with this xid (its header) or the server closes (None)."""
        deadline = time.monotonic() + BOUND
        while (payload := self.next_frame(deadline)) is not None:
            header, _ = _reply_header(payload)
            if header.xid == xid:
                return header
        return None

    def close(self) -> None:
        self.sock.close()


def _reply_header(payload: bytes) -> tuple[R.ReplyHeader, bytes]:
    assert len(payload) >= 16, f"server sent a {len(payload)}-byte frame, shorter than a ReplyHeader"
    return R.ReplyHeader(*struct.unpack_from(">iqi", payload)), payload[16:]


# ---------------------------------------------------------------- scenarios

@dataclass
class Scenario:
    """What to send and what the protocol obliges the server to do about it."""
    kind: str
    connect: bool = False            # open a real session first
    data: bytes = b""                # then send these bytes
    expect: str = "drop"             # react | close | ping | unimplemented | drop
    xid: int = 0
    notes: list[str] = field(default_factory=list)


def _first_contact_expectation(data: bytes) -> str:
    """Before a session: a 4-letter word or a bad header must be closed; a complete first frame must get an
    answer or a close; an incomplete one may be waited on."""
    if len(data) >= 4 and is_four_letter_word(data[:4]):
        return "close"
    try:
        frames = FrameReader().feed(data)
    except FrameTooLarge:
        return "close"
    return "react" if frames else "drop"


def _in_session_expectation(data: bytes) -> str:
    """Inside a session: a bad header must be closed; whole frames must be answered (we then ping and wait for
    the ping's reply or a close); a trailing partial frame may be waited on."""
    reader = FrameReader()
    try:
        reader.feed(data)
    except FrameTooLarge:
        return "close"
    return "ping" if reader.buffered() == 0 else "drop"


# raw noise, and noise wrapped in honest frame headers (so the server gets complete frames to choke on)
garbage = st.one_of(st.binary(min_size=1, max_size=80),
                    st.lists(st.binary(max_size=60).map(frame), min_size=1, max_size=3).map(b"".join),
                    st.tuples(st.binary(max_size=60).map(frame), st.binary(min_size=1, max_size=20)).map(b"".join))
connect_frame = M.encode_connect_request(R.ConnectRequest(0, 0, 4000, 0, b"\x00" * 16, False))
bad_lengths = st.one_of(st.integers(MAX_FRAME + 1, 2**31 - 1), st.integers(-(2**31), -1))
PATTERN = bytes(range(256))
KNOWN_OPS = {int(op) for op in OpCode}


@st.composite
def scenarios(draw) -> Scenario:
    kind = draw(st.sampled_from(["garbage", "garbage_before_connect", "garbage_after_connect", "oversize",
                                 "huge_body", "unknown_opcode", "mutated_request", "truncated", "four_letter"]))
    if kind == "garbage":
        data = draw(garbage)
        return Scenario(kind, data=data, expect=_first_contact_expectation(data))
    if kind == "garbage_before_connect":
        data = draw(garbage) + connect_frame
        return Scenario(kind, data=data, expect=_first_contact_expectation(data))
    if kind == "garbage_after_connect":
        data = draw(garbage)
        return Scenario(kind, connect=True, data=data, expect=_in_session_expectation(data))
    if kind == "oversize":
        header = struct.pack(">i", draw(bad_lengths))
        return Scenario(kind, connect=draw(st.booleans()), data=header + draw(st.binary(max_size=32)), expect="close")
    if kind == "huge_body":
        # really send more than a MiB behind the header: the server must not buffer it all before refusing
        n = draw(st.integers(MAX_FRAME + 1, MAX_FRAME + 70000))
        body = (PATTERN * (n // 256 + 1))[:n]
        return Scenario(kind, connect=draw(st.booleans()), data=struct.pack(">i", n) + body, expect="close")
    if kind == "unknown_opcode":
        xid = draw(st.integers(1, 2**31 - 1))
        opcode = draw(st.integers(-(2**31), 2**31 - 1).filter(lambda op: op not in KNOWN_OPS))
        data = frame(struct.pack(">ii", xid, opcode) + draw(st.binary(max_size=24)))
        return Scenario(kind, connect=True, data=data, expect="unimplemented", xid=xid)
    if kind == "mutated_request":
        op, rec = draw(requests)
        xid = draw(st.integers(1, 1000))
        payload = draw(mutated(M.encode_request(xid, op, rec)[4:]))
        return Scenario(kind, connect=True, data=frame(payload), expect="ping")
    if kind == "truncated":
        op, rec = draw(requests)
        framed = M.encode_request(draw(st.integers(1, 1000)), op, rec)
        cut = draw(st.integers(1, len(framed) - 1))
        return Scenario(kind, connect=draw(st.booleans()), data=framed[:cut], expect="drop")
    word = draw(st.sampled_from([b"ruok", b"srvr", b"stat", b"mntr", b"isro", b"conf"]))
    return Scenario(kind, data=word, expect="close")


def _run(server: Server, sc: Scenario) -> None:
    conn = Conn(server.port)
    try:
        if sc.connect:
            conn.connect()
        conn.send(sc.data)
        if sc.expect == "react":
            conn.expect_reaction()
        elif sc.expect == "close":
            conn.expect_close()
        elif sc.expect == "ping":
            conn.send(M.encode_request(Xid.PING, OpCode.PING, None))
            conn.expect_reply(Xid.PING)  # the ping's reply, or the server closed: both are answers
        elif sc.expect == "unimplemented":
            header = conn.expect_reply(sc.xid)
            assert header is not None, "server closed without answering the unknown opcode"
            assert header.err == -6, f"unknown opcode answered with err {header.err}, not UNIMPLEMENTED (-6)"
    finally:
        conn.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(sc=scenarios())
def test_hostile_connections(server, healthy, sc):
    event(f"{sc.kind} -> {sc.expect}")
    _run(server, sc)
    server.assert_alive()
    zk, path, session_id = healthy
    value = uuid.uuid4().bytes
    zk.set_async(path, value).get(timeout=BOUND)
    assert zk.get_async(path).get(timeout=BOUND)[0] == value
    assert zk.client_id[0] == session_id, "the healthy session was replaced"


def test_every_scenario_kind_runs(server, healthy):
    """One deterministic example per kind, so each path runs even if hypothesis's draw skips one."""
    fixed = [
        Scenario("garbage", data=b"\x00\x00\x00\x02ab", expect="react"),
        Scenario("garbage_before_connect", data=b"\x00\x00\x00\x01x" + connect_frame, expect="react"),
        Scenario("garbage_after_connect", connect=True, data=frame(b"\x01\x02\x03"), expect="ping"),
        Scenario("oversize", connect=True, data=struct.pack(">i", 0x100000), expect="close"),
        Scenario("negative", data=struct.pack(">i", -5), expect="close"),
        Scenario("unknown_opcode", connect=True, data=frame(struct.pack(">ii", 7, 9999)), expect="unimplemented",
                 xid=7),
        Scenario("truncated", connect=True, data=M.encode_request(1, OpCode.GET_DATA,
                                                                  R.GetDataRequest("/a", False))[:9]),
        Scenario("four_letter", data=b"ruok", expect="close"),
    ]
    for sc in fixed:
        _run(server, sc)
        server.assert_alive()
    zk, path, session_id = healthy
    assert zk.get_async(path).get(timeout=BOUND) is not None
    assert zk.client_id[0] == session_id
