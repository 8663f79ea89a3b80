"""The replicated mode's on-disk log and config parser, and the command line's clear errors (no cluster)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reference.consensus.core import HardState
from reference.consensus.messages import Entry, EntryKind, Snapshot
from reference.replication.config import ConfigError, parse
from reference.replication.raftlog import RaftLog
from reference.storage import StorageLocked

REPO = Path(__file__).resolve().parents[2]


def test_config_parses_servers_and_settings() -> None:
    cfg = parse("# ensemble\ntickTime=500\nserver.1=10.0.0.1:2888:2181\nserver.2=10.0.0.2:2888:2181\n")
    assert cfg.members[2].host == "10.0.0.2" and cfg.members[2].peer_port == 2888
    assert cfg.members[1].client_port == 2181
    assert cfg.int_setting("tickTime", 2000) == 500
    assert cfg.int_setting("snapCount", 7) == 7
    # Every server derives the same session secret from the same file.
    assert cfg.secret() == parse(cfg.text).secret()


@pytest.mark.parametrize("text, message", [
    ("", "no server.N"),
    ("server.1=h:1\n", "host:peer_port:client_port"),
    ("server.x=h:1:2\n", "not a number"),
    ("server.1=h:1:2\nserver.1=h:3:4\n", "defined twice"),
    ("server.1=h:99999:2\n", "not a TCP port"),
    ("just words\n", "expected key=value"),
])
def test_config_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_raftlog_recovers_entries_hard_state_truncation_and_torn_tail(tmp_path: Path) -> None:
    log = RaftLog(tmp_path)
    log.recover()
    log.persist(HardState(1, 2, 0), None, [Entry(1, 1, b"a"), Entry(1, 2, b"b"), Entry(1, 3, b"c")])
    # A new leader overwrote index 3 onwards.
    log.persist(HardState(2, 3, 2), None, [Entry(2, 3, b"C"), Entry(2, 4, b"", EntryKind.NOOP)])
    log.close()
    with open(tmp_path / "raft.log", "ab") as f:
        f.write(b"\x00\x00\x00\x50garbage")     # a torn append
    again = RaftLog(tmp_path)
    state = again.recover()
    assert state.hard_state == HardState(2, 3, 2)
    assert [(e.term, e.index, e.data) for e in state.entries] == [(1, 1, b"a"), (1, 2, b"b"), (2, 3, b"C"),
                                                                  (2, 4, b"")]
    # Compaction keeps only what the snapshot does not cover, across a restart.
    again.compact(Snapshot(2, 1, b"state"))
    again.close()
    third = RaftLog(tmp_path)
    state = third.recover()
    assert state.snapshot == Snapshot(2, 1, b"state")
    assert [e.index for e in state.entries] == [3, 4]
    with pytest.raises(StorageLocked):
        RaftLog(tmp_path)
    third.close()


@pytest.mark.parametrize("args, message", [
    (["--config", "/nonexistent/ens.cfg", "--id", "1", "--data-dir", "d"], "cannot read config"),
    (["--id", "1", "--data-dir", "d"], "needs --config, --id and --data-dir"),
])
def test_cluster_command_line_errors(args: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "reference", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_cluster_command_line_unknown_id(tmp_path: Path) -> None:
    cfg = tmp_path / "ens.cfg"
    cfg.write_text("server.1=127.0.0.1:1:2\n")
    proc = subprocess.run([sys.executable, "-m", "reference", "--config", str(cfg), "--id", "4", "--data-dir",
                           str(tmp_path / "d")], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "no server.4 line" in proc.stderr


def test_raftlog_syncs_for_votes_and_entries_but_not_for_a_commit_only_change(tmp_path: Path) -> None:
    rl = RaftLog(tmp_path)
    rl.recover()
    entry = Entry(1, 1, b"x", EntryKind.NORMAL)
    assert rl.needs_sync(HardState(1, 2, 0), None, [])          # a vote must be durable before it is sent
    assert rl.needs_sync(None, None, [entry])
    rl.persist(HardState(1, 2, 0), None, [entry])
    assert not rl.needs_sync(HardState(1, 2, 1), None, [])      # the commit index is re-learned after a crash
    rl.persist(HardState(1, 2, 1), None, [])
    rl.close()
    again = RaftLog(tmp_path)
    state = again.recover()
    assert state.hard_state == HardState(1, 2, 1) and [e.data for e in state.entries] == [b"x"]
    again.close()
