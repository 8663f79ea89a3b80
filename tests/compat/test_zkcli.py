"""Apache's own command-line client, zkCli.sh, against both servers: output and exit codes.

zkCli.sh prints results on stdout and "Created ..." / error messages on stderr; it exits 0 when its (last)
command succeeded and 1 when the server answered it with an error. Each call runs under the test's chroot (the
Java client supports host:port/chroot).

A JVM start costs seconds on a loaded machine, so each test runs its commands in one zkCli.sh process: the
commands go to its stdin (its interactive mode without a terminal, which runs each line exactly as the one-shot
mode runs its arguments), separated by a `get` of a missing marker node whose error message splits the merged
output into one part per command. The exit code is that of the last command, so each batch ends with the
command whose exit code the test checks.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

import pytest

from tests.servers import ZKCLI

pytestmark = pytest.mark.cluster

_MARK = "/zkcli-batch-separator-"
_MARK_LINE = re.compile(r"^Node does not exist: " + re.escape(_MARK) + r"(\d+)$", re.M)
# zkCli's banner: printed at start ("Connecting to", "Welcome", "JLine") and by its event thread ("WATCHER::",
# "WatchedEvent state:SyncConnected type:None path:null"), which may come before or after a command's output.
_BANNER = ("Connecting to ", "Welcome to ZooKeeper!", "JLine support is", "WATCHER::", "WatchedEvent state:",
           "SLF4J:")


@dataclass
class CliOutput:
    """What one command of a batch printed (stdout and stderr, in order), banner lines removed."""
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def stat(self) -> dict[str, str]:
        """The `name = value` lines `get -s`, `ls -s` and `stat` print."""
        return dict(re.findall(r"^(\w+) = (.*)$", self.text, flags=re.M))

    def payload(self) -> list[str]:
        """The lines that are not a stat."""
        return [line for line in self.lines if not re.match(r"^\w+ = ", line)]


@dataclass
class Batch:
    code: int           # the exit code, i.e. that of the last command
    outputs: list[CliOutput]
    raw: str


def zkcli(zk, *commands: str) -> Batch:
    """Run `commands` (zkCli command lines) in one zkCli.sh process against the test's chroot."""
    if not ZKCLI.exists():
        pytest.fail(f"{ZKCLI} is missing: install the Debian package `zookeeper`")
    script = []
    for i, command in enumerate(commands):
        if i:
            script.append(f"get {_MARK}{i - 1}")
        script.append(command)
    proc = subprocess.run([str(ZKCLI), "-server", zk.hosts], input="\n".join(script) + "\n",
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    parts = _MARK_LINE.split(proc.stdout)
    # split() with one group: text, index, text, index, ...; the indexes must be 0, 1, 2... in order
    marks = [int(m) for m in parts[1::2]]
    assert marks == list(range(len(commands) - 1)), f"zkCli ran {marks} of {len(commands)} commands:\n{proc.stdout}"
    outputs = [CliOutput([line for line in text.splitlines() if line.strip() and not line.startswith(_BANNER)])
               for text in parts[0::2]]
    return Batch(proc.returncode, outputs, proc.stdout)


def test_create_get_set_and_stat(zk):
    run = zkcli(zk, "create /x hello", "get /x", "set /x world", "get -s /x")
    created, got, updated, detailed = run.outputs
    assert run.code == 0, run.raw
    assert "Created /x" in created.text
    assert got.lines == ["hello"], run.raw
    assert updated.lines == [], run.raw
    assert zk.client.get("/x")[0] == b"world"
    assert detailed.payload() == ["world"], run.raw
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

    run = zkcli(zk, "ls /d", "ls -s /d", "delete /d", "ls /d", "delete /d/a", "ls /d", "deleteall /d")
    listed, with_stat, refused, still, deleted, after, wiped = run.outputs
    assert listed.lines == ["[a, b]"], run.raw
    assert with_stat.payload() == ["[a, b]"]
    assert with_stat.stat()["numChildren"] == "2" and with_stat.stat()["cversion"] == "2"
    assert "Node not empty: /d" in refused.text
    assert still.lines == ["[a, b]"], run.raw
    assert deleted.lines == [], run.raw
    assert after.lines == ["[b]"], run.raw
    assert wiped.lines == [], run.raw
    assert run.code == 0, run.raw
    assert zk.client.exists("/d") is None


def test_errors_exit_one(zk):
    zk.client.create("/dup")
    run = zkcli(zk, "get /nope", "create /dup x", "set -v 5 /dup x")
    missing, again, stale = run.outputs
    assert "Node does not exist: /nope" in missing.text
    assert "Node already exists: /dup" in again.text
    assert "version No is not valid : /dup" in stale.text
    assert run.code == 1, run.raw
    assert zk.client.get("/dup")[0] == b""


def test_sequential_and_ephemeral_flags(zk):
    zk.client.create("/flags")
    run = zkcli(zk, "create -s /flags/s- d", "create -e /flags/e d")
    seq, eph = run.outputs
    assert "Created /flags/s-0000000000" in seq.text
    assert "Created /flags/e" in eph.text
    assert run.code == 0, run.raw
    # zkCli.sh exits without closing its session, so the node outlives the process until the session expires.
    stat = zk.client.exists("/flags/e")
    assert stat is not None and stat.ephemeralOwner != 0


def test_acl_sync_and_stat_commands(zk):
    zk.client.create("/guarded", b"g")
    run = zkcli(zk, "getAcl /guarded", "setAcl /guarded world:anyone:r", "set /guarded x", "sync /guarded",
                "stat /guarded")
    acl, set_acl, denied, synced, stat = run.outputs
    assert acl.lines == ["'world,'anyone", ": cdrwa"], run.raw
    assert set_acl.lines == [], run.raw
    assert "Insufficient permission : /guarded" in denied.text
    assert synced.lines == ["Sync is OK"], run.raw
    assert (stat.stat()["aclVersion"], stat.stat()["dataLength"]) == ("1", "1")
    assert run.code == 0, run.raw


def test_newer_opcodes_through_zkcli(zk):
    """Calls kazoo 2.11 never makes: createContainer, createTTL, getAllChildrenNumber, getEphemerals, whoAmI."""
    run = zkcli(zk, 'create -c /box ""', 'create -t 1000 /ttl ""', "create /box/a", "create /box/a/b",
                "getAllChildrenNumber /box", "ls -R /box", "getEphemerals /", "whoami")
    container, ttl, _, _, count, tree, ephemerals, whoami = run.outputs
    assert "Created /box" in container.text
    assert "KeeperErrorCode = Unimplemented for /ttl" in ttl.text  # TTL nodes need zookeeper.extendedTypesEnabled
    assert count.lines == ["2"], run.raw
    assert tree.lines == ["/box", "/box/a", "/box/a/b"], run.raw
    assert ephemerals.lines == ["[]"], run.raw
    assert whoami.lines == ["Auth scheme: User", "ip: 127.0.0.1"], run.raw
    assert run.code == 0, run.raw
    assert zk.client.exists("/box").ephemeralOwner == 0
