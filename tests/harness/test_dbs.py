"""DB plugins by name, and the ZooKeeper DB running a real 3-node ensemble in namespaces."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.backends.base import Nodes
from harness.backends.netns import NetnsBackend
from harness.dbs.base import DBNotFound, resolve_db, srvr_mode
from harness.dbs.reference import NotSupportedYet, ReferenceDB
from harness.dbs.zookeeper import DEBIAN_CLASSPATH, ZooKeeperDB
from netns_helpers import process_exists, require_netns
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PLUGIN = REPO / "examples" / "plugin_db"
NODES = ["n1", "n2", "n3"]


def require_zookeeper() -> None:
    missing = [jar for jar in DEBIAN_CLASSPATH if not Path(jar).exists()]
    if missing:
        pytest.skip(f"Debian zookeeper package not installed ({', '.join(missing)} missing)")



# -- choosing a DB by name (quick tier) -------------------------------------------------------------------

def test_builtin_names_resolve_and_options_for_other_dbs_are_ignored():
    zk = resolve_db("zookeeper", heap_mb=128, python="python3.11")
    assert isinstance(zk, ZooKeeperDB) and zk.heap_mb == 128
    ref = resolve_db("reference", heap_mb=128, python="python3.11")
    assert isinstance(ref, ReferenceDB) and ref.python == "python3.11"


def test_module_class_path_resolves(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    db = resolve_db("standalone_zookeeper:StandaloneZooKeeper", client_port=2999)
    assert db.name == "standalone-zk" and db.client_port == 2999


def test_entry_point_resolves(monkeypatch, tmp_path):
    # A real installed-distribution layout (what pip writes), found by importlib.metadata on sys.path.
    dist = tmp_path / "zkj_example_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zkj-example-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[zkjepsen.dbs]\nstandalone-zk = standalone_zookeeper:StandaloneZooKeeper\n")
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve_db("standalone-zk").name == "standalone-zk"


@pytest.mark.parametrize("spec, message", [
    ("cassandra", "unknown DB 'cassandra'"),
    ("no_such_module_zkj:DB", "cannot import module"),
    ("harness.dbs.zookeeper:NoSuchClass", "has no 'NoSuchClass'"),
    ("collections:OrderedDict", "does not give a DB"),
    (":Thing", "expected package.module:Class"),
])
def test_bad_db_specs_get_clear_errors(spec, message):
    with pytest.raises(DBNotFound, match=re.escape(message)):
        resolve_db(spec)


def test_missing_tarball_is_refused():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ZooKeeperDB(tarball="/nonexistent/apache-zookeeper-3.8.4-bin.tar.gz")


def test_reference_db_refuses_clusters_until_replication_lands(monkeypatch):
    import harness.dbs.reference as reference_db
    monkeypatch.setattr(reference_db, "REPLICATION_LANDED", False)
    with pytest.raises(NotSupportedYet, match="single-node until replication lands"):
        ReferenceDB().install(Nodes(backend=None, nodes=["n1", "n2", "n3"]), "n1")


# -- a real ensemble ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    require_netns()
    require_zookeeper()
    backend = NetnsBackend(state_dir=str(tmp_path_factory.mktemp("state")))
    db = ZooKeeperDB(heap_mb=256)
    try:
        backend.create(NODES)
        test = Nodes(backend, NODES)
        for node in NODES:
            db.setup(test, node)
        for node in NODES:
            db.wait_ready(test, node, 120)
        yield db, test
    finally:
        if backend.state is not None:
            for node in NODES:
                try:
                    db.teardown(Nodes(backend, NODES), node)
                except Exception:
                    pass  # destroy below kills whatever is left in the namespaces
        backend.destroy()


def modes(db, test):
    return {node: srvr_mode(test.address(node), db.client_port) for node in test.nodes}


@pytest.mark.cluster
def test_config_and_myid_are_written_per_node(ensemble):
    db, test = ensemble
    for i, node in enumerate(NODES, start=1):
        cfg = Path(db.config_file(test, node)).read_text()
        assert f"server.{i}={test.address(node)}:2888:3888" in cfg
        assert "4lw.commands.whitelist=*" in cfg and "admin.enableServer=false" in cfg
        assert f"dataDir={db.data_dir(test, node)}" in cfg
        assert Path(db.data_dir(test, node), "myid").read_text().strip() == str(i)


@pytest.mark.cluster
def test_one_leader_is_elected_and_leader_finds_it(ensemble):
    db, test = ensemble
    leader = wait_for(lambda: db.leader(test), "a leader")
    seen = modes(db, test)
    assert seen[leader] == "leader"
    assert sorted(mode for node, mode in seen.items() if node != leader) == ["follower", "follower"]


@pytest.mark.cluster
def test_a_write_through_one_node_is_read_through_another(ensemble):
    from kazoo.client import KazooClient

    db, test = ensemble
    writer = KazooClient(hosts=f"{test.address('n1')}:{db.client_port}")
    reader = KazooClient(hosts=f"{test.address('n3')}:{db.client_port}")
    try:
        writer.start(30)
        reader.start(30)
        writer.create("/dbs-test", b"hello")
        reader.sync("/dbs-test")
        assert reader.get("/dbs-test")[0] == b"hello"
    finally:
        for client in (writer, reader):
            client.stop()
            client.close()


@pytest.mark.cluster
def test_kill_leader_kills_the_jvm_and_start_brings_it_back(ensemble):
    db, test = ensemble
    leader = wait_for(lambda: db.leader(test), "a leader")
    pid = db.pid(test, leader)
    assert open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].endswith(b"java")
    db.kill(test, leader)
    assert not process_exists(pid) and not db.is_running(test, leader)
    new_leader = wait_for(lambda: (lambda l: l if l not in (None, leader) else None)(db.leader(test)),
                          "a new leader among the survivors")
    assert new_leader != leader
    db.start(test, leader)
    db.wait_ready(test, leader, 120)
    assert db.is_running(test, leader) and db.pid(test, leader) != pid
    assert modes(db, test)[leader] in ("follower", "leader")


@pytest.mark.cluster
def test_pause_stops_the_jvm_and_resume_continues_it(ensemble):
    db, test = ensemble
    leader = wait_for(lambda: db.leader(test), "a leader")
    follower = next(node for node in NODES if node != leader)
    pid = db.pid(test, follower)
    db.pause(test, follower)
    try:
        state = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0]
        assert state == "T"
        assert db.is_running(test, follower)  # paused is not dead
        assert srvr_mode(test.address(follower), db.client_port, timeout=2) is None
    finally:
        db.resume(test, follower)
    assert open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] != "T"
    db.wait_ready(test, follower, 120)
    assert db.pid(test, follower) == pid


@pytest.mark.cluster
def test_version_and_log_files(ensemble):
    db, test = ensemble
    assert re.fullmatch(r"\d+\.\d+\.\d+", db.version(test))
    for node in NODES:
        paths = db.log_files(test, node)
        assert paths and all(Path(p).is_file() for p in paths)
        assert "QuorumPeer" in Path(paths[0]).read_text()


# -- the example plugin on one node -------------------------------------------------------------------------

@pytest.mark.cluster
def test_example_plugin_runs_serves_and_tears_down(monkeypatch, tmp_path):
    require_netns()
    require_zookeeper()
    from kazoo.client import KazooClient

    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    db = resolve_db("standalone_zookeeper:StandaloneZooKeeper")
    backend = NetnsBackend(state_dir=str(tmp_path))
    try:
        backend.create(["n1"])
        test = Nodes(backend, ["n1"])
        db.setup(test, "n1")
        db.wait_ready(test, "n1", 120)
        client = KazooClient(hosts=test.connect_string(db.client_port))
        try:
            client.start(30)
            client.create("/plugin", b"works")
            assert client.get("/plugin")[0] == b"works"
        finally:
            client.stop()
            client.close()
        assert db.leader(test) is None  # standalone: no leader
        pid = db.pid(test, "n1")
        db.teardown(test, "n1")
        assert not process_exists(pid)
        assert not Path(db.directory(test, "n1")).exists()
    finally:
        backend.destroy()


@pytest.mark.cluster
def test_reference_server_runs_on_one_node(tmp_path):
    require_netns()
    from kazoo.client import KazooClient

    db = resolve_db("reference")
    backend = NetnsBackend(state_dir=str(tmp_path))
    try:
        backend.create(["n1"])
        test = Nodes(backend, ["n1"])
        db.setup(test, "n1")
        db.wait_ready(test, "n1", 60)
        client = KazooClient(hosts=test.connect_string(db.client_port))
        try:
            client.start(30)
            client.create("/ref", b"ok")
            assert client.get("/ref")[0] == b"ok"
        finally:
            client.stop()
            client.close()
        pid = db.pid(test, "n1")
        db.kill(test, "n1")
        assert not process_exists(pid)
    finally:
        backend.destroy()


@pytest.mark.cluster
def test_tarball_install_path_runs_a_server(tmp_path):
    """The --zookeeper-tarball path, fed a release-shaped tarball (lib/*.jar, conf/) built from the Debian jars."""
    require_netns()
    require_zookeeper()
    import tarfile

    from kazoo.client import KazooClient

    dist = tmp_path / "apache-zookeeper-3.8.0-bin"
    (dist / "lib").mkdir(parents=True)
    (dist / "conf").mkdir()
    for jar in DEBIAN_CLASSPATH:
        (dist / "lib" / Path(jar).name).symlink_to(jar)
    (dist / "conf" / "log4j.properties").write_text(
        "log4j.rootLogger=INFO, C\nlog4j.appender.C=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.C.layout=org.apache.log4j.PatternLayout\n")
    tarball = tmp_path / "apache-zookeeper-3.8.0-bin.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(dist, arcname=dist.name)

    db = resolve_db("zookeeper", zookeeper_tarball=str(tarball), heap_mb=128)
    backend = NetnsBackend(state_dir=str(tmp_path / "state"))
    try:
        backend.create(["n1"])
        test = Nodes(backend, ["n1"])
        db.setup(test, "n1")
        db.wait_ready(test, "n1", 120)
        assert Path(db.dist_dir(test, "n1"), "lib", "zookeeper.jar").exists()
        assert f"{db.dist_dir(test, 'n1')}/lib/zookeeper.jar" in Path(f"/proc/{db.pid(test, 'n1')}/cmdline").read_text()
        assert srvr_mode(test.address("n1"), db.client_port) == "standalone"
        client = KazooClient(hosts=test.connect_string(db.client_port))
        try:
            client.start(30)
            assert client.exists("/zookeeper") is not None
        finally:
            client.stop()
            client.close()
    finally:
        backend.destroy()


@pytest.mark.cluster
def test_a_reused_pid_is_never_signalled(tmp_path):
    """Once the server is gone its PID may belong to another process; is_running/kill must tell them apart."""
    require_netns()
    db = ZooKeeperDB()
    backend = NetnsBackend(state_dir=str(tmp_path))
    try:
        backend.create(["n1"])
        test = Nodes(backend, ["n1"])
        remote = backend.remote("n1")
        stranger = remote.spawn(["sleep", "300"], log_file=f"{remote.home}/sleep.log",
                                pid_file=db.pid_file(test, "n1"))
        # As if our server had had this PID but a different start time.
        Path(db.pid_file(test, "n1") + ".start").write_text("1\n")
        assert not db.is_running(test, "n1")
        db.kill(test, "n1")
        db.pause(test, "n1")
        assert process_exists(stranger)
        assert open(f"/proc/{stranger}/stat").read().rpartition(")")[2].split()[0] != "T"
    finally:
        backend.destroy()
    assert not process_exists(stranger)
