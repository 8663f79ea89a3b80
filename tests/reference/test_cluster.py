"""A 3-server reference ensemble as real processes on loopback: election, replication, roles in srvr/mntr,
kill -9 of the leader, kazoo failover with session and ephemerals, whole-cluster crash, snapshot catch-up."""
from __future__ import annotations

import shutil
import struct
import threading

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry

from tests.cluster_servers import ReferenceCluster, running_cluster
from tests.compat.rawclient import OPEN_ACL, RawSession, buffer, int32, ustring

pytestmark = pytest.mark.cluster


def _client(hosts: str, **options) -> KazooClient:
    options.setdefault("connection_retry", KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5))
    client = KazooClient(hosts=hosts, **options)
    client.start(timeout=20)
    return client


def _stop(*clients: KazooClient) -> None:
    for c in clients:
        try:
            c.stop()
        finally:
            c.close()


def _mntr(cluster: ReferenceCluster, i: int) -> dict[str, str]:
    text = cluster.members[i].four_letter_word("mntr")
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


@pytest.fixture(scope="module")
def shared_cluster():
    with running_cluster(3) as c:
        yield c


@pytest.fixture
def cluster(shared_cluster: ReferenceCluster) -> ReferenceCluster:
    """The module's ensemble, all three members running and agreeing on a leader (tests kill members; starting
    the ones they killed is cheaper than a new ensemble per test). Tests use paths of their own."""
    for member in shared_cluster.members.values():
        member.start()  # a no-op for a running member
    shared_cluster.wait_leader(timeout=30)
    return shared_cluster


def test_one_leader_writes_replicate_and_reads_are_local(cluster: ReferenceCluster) -> None:
    modes = cluster.modes()
    assert sorted(modes.values()) == ["follower", "follower", "leader"]
    leader = cluster.leader_id()
    follower = next(i for i, m in modes.items() if m == "follower")
    clients = {i: _client(m.address) for i, m in cluster.members.items()}
    try:
        # A write sent to a follower is ordered by the leader and answered after the follower applied it.
        stat = clients[follower].create("/via-follower", b"v1")
        assert clients[follower].get("/via-follower")[0] == b"v1"     # read-your-writes on the same server
        assert stat is not None
        for i, c in clients.items():
            c.sync("/")
            data, st = c.get("/via-follower")
            assert data == b"v1"
            assert st.czxid >> 32 >= 1          # epoch in the high 32 bits
        # Identical Stats everywhere: every replica applies the same transaction.
        stats = {i: c.get("/via-follower")[1] for i, c in clients.items()}
        assert len({(s.czxid, s.mzxid, s.ctime) for s in stats.values()}) == 1
        # Version checks are made by the leader against everything already ordered.
        clients[leader].set("/via-follower", b"v2", version=0)
        with pytest.raises(Exception) as excinfo:
            clients[follower].set("/via-follower", b"v3", version=0)
        assert type(excinfo.value).__name__ == "BadVersionError"
        # Sequence numbers come from one place too.
        paths = [clients[i % 3 + 1].create("/seq-", b"", sequence=True) for i in range(6)]
        assert len(set(paths)) == 6 and paths == sorted(paths)
        m = _mntr(cluster, leader)
        assert m["zk_server_state"] == "leader"
        assert int(m["zk_epoch"]) >= 1
        assert int(m["zk_last_zxid"]) >> 32 == int(m["zk_epoch"])
        assert int(m["zk_global_sessions"]) >= 3
        assert _mntr(cluster, follower)["zk_server_state"] == "follower"
    finally:
        _stop(*clients.values())


def test_kill_leader_keeps_every_acknowledged_write(cluster: ReferenceCluster) -> None:
    old = cluster.leader_id()
    client = _client(cluster.address)
    acked: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            path = f"/w{n:05d}"
            try:
                client.create(path, b"x")
                acked.append(path)
            except Exception:
                pass            # indeterminate or refused; only acknowledged writes must survive
            n += 1

    try:
        t = threading.Thread(target=writer)
        t.start()
        while len(acked) < 30:
            threading.Event().wait(0.02)
        cluster.members[old].kill()
        new = cluster.wait_leader(timeout=30, exclude=old)
        before = len(acked)
        while len(acked) < before + 20:          # writes go on under the new leader
            threading.Event().wait(0.02)
        stop.set()
        t.join()
        assert new != old
        check = _client(cluster.members[new].address)
        try:
            check.sync("/")
            present = set(check.get_children("/"))
            missing = [p for p in acked if p[1:] not in present]
            assert not missing, f"acknowledged writes lost: {missing[:10]}"
        finally:
            _stop(check)
        # The old leader comes back as a follower and catches up.
        cluster.members[old].start()
        cluster.wait_leader(timeout=30)
        back = _client(cluster.members[old].address)
        try:
            back.sync("/")
            assert {p[1:] for p in acked} <= set(back.get_children("/"))
        finally:
            _stop(back)
    finally:
        stop.set()
        _stop(client)


def test_kazoo_fails_over_keeping_session_and_ephemerals(cluster: ReferenceCluster) -> None:
    client = _client(cluster.address, timeout=10)
    states: list[str] = []
    client.add_listener(lambda s: states.append(s))
    try:
        client.create("/eph", b"mine", ephemeral=True)
        sid = client.client_id[0]
        port = client._connection._socket.getpeername()[1]
        connected_to = next(i for i, m in cluster.members.items() if m.port == port)
        leader = cluster.leader_id()
        # Kill the leader; if the client sits on a follower, bring the old leader back and then kill the
        # client's own server too, so the client must move either way.
        cluster.members[leader].kill()
        cluster.wait_leader(timeout=30, exclude=leader)
        if connected_to != leader:
            cluster.members[leader].start()
            cluster.wait_leader(timeout=30)
            cluster.members[connected_to].kill()
            cluster.wait_leader(timeout=30, exclude=connected_to)
        client.retry(client.get, "/eph")
        assert client.client_id[0] == sid
        assert client.get("/eph")[0] == b"mine"
        assert client.get("/eph")[1].ephemeralOwner == sid
        assert KazooState.LOST not in states
    finally:
        _stop(client)


def test_set_watches_on_another_server_after_its_server_died(cluster: ReferenceCluster) -> None:
    """A session moves from a dead follower to another server and re-registers its watch with SetWatches
    (xid -8, opcode 101); the change it missed fires at once, a later change fires its exist watch."""
    followers = [i for i, m in cluster.modes().items() if m == "follower"]
    first_id, second_id = followers
    kz = _client(cluster.address)
    try:
        kz.create("/sw", b"0")
        kz.sync("/")
        with RawSession(cluster.members[first_id].port) as first:
            first.connect(timeout_ms=10000)
            sid, password = first.session_id, first.password
            seen = first.call(1, 4, ustring("/sw") + b"\1").zxid        # getData with a watch
            assert seen > 0
            cluster.members[first_id].kill()
        kz.set("/sw", b"1")
        kz.sync("/")
        with RawSession(cluster.members[second_id].port) as second:
            second.connect(session_id=sid, password=password, last_zxid=seen)
            assert second.session_id == sid
            vec = lambda paths: int32(len(paths)) + b"".join(ustring(p) for p in paths)  # noqa: E731
            second.send(-8, 101, struct.pack(">q", seen) + vec(["/sw"]) + vec(["/sw-new"]) + vec([]))
            events = []
            while True:
                reply = second.read_reply()
                assert reply is not None, "server closed the connection after SetWatches"
                if reply.xid == -8:
                    assert reply.err == 0
                    break
                events.append(struct.unpack_from(">ii", reply.body) + (reply.body[8:],))
            assert events == [(3, 3, ustring("/sw"))]         # NodeDataChanged, SyncConnected
            kz.create("/sw-new")
            reply = second.read_reply()
            assert reply is not None and reply.xid == -1
            assert struct.unpack_from(">ii", reply.body) + (reply.body[8:],) == (1, 3, ustring("/sw-new"))
    finally:
        _stop(kz)


def test_session_expiry_deletes_ephemerals_on_every_server(cluster: ReferenceCluster) -> None:
    follower = next(i for i, m in cluster.modes().items() if m == "follower")
    readers = {i: _client(m.address) for i, m in cluster.members.items()}
    try:
        # A raw session on a follower creates an ephemeral, then goes silent without closing its session:
        # the leader must expire it by its own clock (it hears of the session only through the follower).
        with RawSession(cluster.members[follower].port) as raw:
            raw.connect(timeout_ms=2000)
            body = ustring("/expiring") + buffer(b"") + OPEN_ACL + int32(1)
            assert raw.call(1, 1, body).err == 0
        for c in readers.values():
            c.sync("/")
        for _ in range(300):
            if all(c.exists("/expiring") is None for c in readers.values()):
                break
            threading.Event().wait(0.05)
            for c in readers.values():
                c.sync("/")
        assert all(c.exists("/expiring") is None for c in readers.values())
    finally:
        _stop(*readers.values())


def test_kill_all_and_restart_keeps_acknowledged_writes() -> None:
    # snapCount=15: every server compacts its log twice or more, so recovery starts from a snapshot plus a log.
    with running_cluster(3, settings=["snapCount=15"]) as cluster:
        client = _client(cluster.address)
        try:
            for i in range(40):
                client.create(f"/d{i}", str(i).encode())
            client.set("/d7", b"seven")
        finally:
            _stop(client)
        for m in cluster.members.values():
            m.kill()
        assert all((cluster.data_dir(i) / "raft.snap").exists() for i in cluster.members)
        for m in cluster.members.values():
            m.start()
        cluster.wait_leader(timeout=30)
        for i, m in cluster.members.items():
            c = _client(m.address)
            try:
                c.sync("/")
                assert {f"d{i}" for i in range(40)} <= set(c.get_children("/"))
                assert c.get("/d7")[0] == b"seven"
                assert c.get("/d8")[0] == b"8"
            finally:
                _stop(c)


def test_wiped_follower_catches_up_by_snapshot() -> None:
    with running_cluster(3, settings=["snapCount=20"]) as cluster:
        leader = cluster.leader_id()
        victim = next(i for i in cluster.members if i != leader)
        client = _client(cluster.members[leader].address)
        try:
            for i in range(60):
                client.create(f"/s{i}", b"x" * 10)
            cluster.members[victim].kill()
            shutil.rmtree(cluster.data_dir(victim))
            for i in range(60, 70):
                client.create(f"/s{i}", b"y")
        finally:
            _stop(client)
        cluster.members[victim].start()
        cluster.wait_leader(timeout=30)
        c = _client(cluster.members[victim].address)
        try:
            c.sync("/")
            assert {f"s{i}" for i in range(70)} <= set(c.get_children("/"))
        finally:
            _stop(c)
        log = cluster.members[victim].log_path.read_text()
        assert "installing snapshot" in log


def test_a_server_without_quorum_serves_nothing(cluster: ReferenceCluster) -> None:
    survivor = 1
    client = _client(cluster.members[survivor].address)
    try:
        client.create("/before", b"")
        for i in (2, 3):
            cluster.members[i].kill()
        # Within an election timeout the survivor notices it has no leader and stops serving.
        for _ in range(400):
            if cluster.mode(survivor) is None:
                break
            threading.Event().wait(0.05)
        assert "not currently serving requests" in cluster.members[survivor].four_letter_word("srvr")
        assert "not currently serving requests" in cluster.members[survivor].four_letter_word("mntr")
        # A new session is refused (the server closes the connection instead of guessing).
        with RawSession(cluster.members[survivor].port) as raw:
            with pytest.raises(ConnectionError):
                raw.connect()
    finally:
        _stop(client)
    for i in (2, 3):
        cluster.members[i].start()
    cluster.wait_leader(timeout=30)
    again = _client(cluster.address)
    try:
        again.sync("/")
        assert again.exists("/before") is not None
    finally:
        _stop(again)


def test_stale_reads_bug_makes_synced_reads_stale_on_the_ensemble() -> None:
    with running_cluster(3, extra_args=["--bug", "stale-reads"]) as cluster:
        assert "Injected bugs: stale-reads" in cluster.leader().four_letter_word("srvr")
        client = _client(cluster.address)
        try:
            client.create("/r", b"0")
            for i in range(1, 10):
                client.set("/r", str(i).encode())
            client.sync("/r")
            assert client.get("/r")[0] != b"9"
        finally:
            _stop(client)
