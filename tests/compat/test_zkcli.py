"""Apache's own command-line client, zkCli.sh in one-shot mode, against both servers: output and exit codes.

zkCli.sh prints results on stdout and "Created ..." / error messages on stderr; it exits 0 on success and 1 on
an error from the server. Each call runs under the test's chroot (the Java client supports host:port/chroot).
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

import pytest

from tests.servers import ZKCLI

pytestmark = pytest.mark.cluster


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def stat(self) -> dict[str, str]:
        """The `name = value` lines `get -s` and `ls -s` print."""
        return dict(re.findall(r"^(\w+) = (.*)$", self.out, flags=re.M))


def zkcli(zk, *args: str) -> CliResult:
    if not ZKCLI.exists():
        pytest.fail(f"{ZKCLI} is missing: install the Debian package `zookeeper`")
    proc = subprocess.run([str(ZKCLI), "-server", zk.hosts, *args], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


_BANNER = ("Connecting to ", "WATCHER::", "WatchedEvent state:", "SLF4J:")


def payload(result: CliResult) -> list[str]:
    """stdout without zkCli's connection banner. zkCli prints the banner ("WATCHER::", "WatchedEvent
    state:SyncConnected type:None path:null") from its event thread, so it may come before or after the
    command's own output: drop its lines wherever they are."""
    return [line for line in result.out.splitlines() if line and not line.startswith(_BANNER)]


def test_create_get_set_and_stat(zk):
    created = zkcli(zk, "create", "/x", "hello")
    assert created.code == 0, created.text
    assert "Created /x" in created.text
    assert zk.client.get("/x")[0] == b"hello"

    got = zkcli(zk, "get", "/x")
    assert got.code == 0, got.text
    assert payload(got) == ["hello"]

    updated = zkcli(zk, "set", "/x", "world")
    assert updated.code == 0, updated.text
    assert zk.client.get("/x")[0] == b"world"

    detailed = zkcli(zk, "get", "-s", "/x")
    assert detailed.code == 0, detailed.text
    assert payload(detailed)[0] == "world"
    stat = detailed.stat()
    expected = zk.client.exists("/x")
    assert int(stat["cZxid"], 16) == expected.czxid
    assert int(stat["mZxid"], 16) == expected.mzxid > expected.czxid
    assert int(stat["pZxid"], 16) == expected.pzxid
    assert (stat["dataVersion"], stat["cversion"], stat["aclVersion"]) == ("1", "0", "0")
    assert (stat["ephemeralOwner"], stat["dataLength"], stat["numChildren"]) == ("0x0", "5", "0")


def test_ls_delete_and_deleteall(zk):
    for path in ("/d", "/d/a", "/d/b", "/d/b/deep"):
        zk.client.create(path)

    listed = zkcli(zk, "ls", "/d")
    assert listed.code == 0, listed.text
    assert payload(listed) == ["[a, b]"]

    with_stat = zkcli(zk, "ls", "-s", "/d")
    assert with_stat.code == 0, with_stat.text
    assert payload(with_stat)[0] == "[a, b]"
    assert with_stat.stat()["numChildren"] == "2" and with_stat.stat()["cversion"] == "2"

    refused = zkcli(zk, "delete", "/d")
    assert refused.code == 1
    assert "Node not empty: /d" in refused.text
    assert zk.client.exists("/d") is not None

    deleted = zkcli(zk, "delete", "/d/a")
    assert deleted.code == 0, deleted.text
    assert zk.client.exists("/d/a") is None

    wiped = zkcli(zk, "deleteall", "/d")
    assert wiped.code == 0, wiped.text
    assert zk.client.exists("/d") is None


def test_errors_exit_one(zk):
    missing = zkcli(zk, "get", "/nope")
    assert missing.code == 1
    assert "Node does not exist: /nope" in missing.text

    zk.client.create("/dup")
    again = zkcli(zk, "create", "/dup", "x")
    assert again.code == 1
    assert "Node already exists: /dup" in again.text

    stale = zkcli(zk, "set", "-v", "5", "/dup", "x")
    assert stale.code == 1
    assert "version No is not valid : /dup" in stale.text


def test_sequential_and_ephemeral_flags(zk):
    zk.client.create("/flags")
    seq = zkcli(zk, "create", "-s", "/flags/s-", "d")
    assert seq.code == 0, seq.text
    assert "Created /flags/s-0000000000" in seq.text

    eph = zkcli(zk, "create", "-e", "/flags/e", "d")
    assert eph.code == 0, eph.text
    # zkCli.sh exits without closing its session, so the node outlives the process until the session expires.
    stat = zk.client.exists("/flags/e")
    assert stat is not None and stat.ephemeralOwner != 0


def test_acl_sync_and_stat_commands(zk):
    zk.client.create("/guarded", b"g")
    acl = zkcli(zk, "getAcl", "/guarded")
    assert acl.code == 0, acl.text
    assert payload(acl) == ["'world,'anyone", ": cdrwa"]

    assert zkcli(zk, "setAcl", "/guarded", "world:anyone:r").code == 0
    denied = zkcli(zk, "set", "/guarded", "x")
    assert denied.code == 1
    assert "Insufficient permission : /guarded" in denied.text

    synced = zkcli(zk, "sync", "/guarded")
    assert synced.code == 0 and payload(synced) == ["Sync is OK"]

    stat = zkcli(zk, "stat", "/guarded")
    assert stat.code == 0, stat.text
    assert (stat.stat()["aclVersion"], stat.stat()["dataLength"]) == ("1", "1")


def test_newer_opcodes_through_zkcli(zk):
    """Calls kazoo 2.11 never makes: createContainer, createTTL, getAllChildrenNumber, getEphemerals, whoAmI."""
    container = zkcli(zk, "create", "-c", "/box", "")
    assert container.code == 0 and "Created /box" in container.text
    ttl = zkcli(zk, "create", "-t", "1000", "/ttl", "")  # TTL nodes need zookeeper.extendedTypesEnabled
    assert ttl.code == 1 and "KeeperErrorCode = Unimplemented for /ttl" in ttl.text
    zk.client.create("/box/a")
    zk.client.create("/box/a/b")

    count = zkcli(zk, "getAllChildrenNumber", "/box")
    assert count.code == 0 and payload(count) == ["2"]
    tree = zkcli(zk, "ls", "-R", "/box")
    assert tree.code == 0 and payload(tree) == ["/box", "/box/a", "/box/a/b"]
    ephemerals = zkcli(zk, "getEphemerals", "/")
    assert ephemerals.code == 0 and payload(ephemerals) == ["[]"]
    whoami = zkcli(zk, "whoami")
    assert whoami.code == 0 and payload(whoami) == ["Auth scheme: User", "ip: 127.0.0.1"]
