"""Write-ahead log and snapshots: recovery gives exactly the fully written prefix, whatever the crash cut off."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.acl import OPEN_ACL_UNSAFE
from reference.codec.constants import OpCode
from reference.storage import CorruptStorage, Storage, StorageLocked, encode_record, read_records
from reference.tree import Tree
from reference.txn import Pending, apply, encode, prepare

OPEN = list(OPEN_ACL_UNSAFE)


def make_txns(n: int, start: int = 1):
    """n create/setData transactions and the tree after each prefix."""
    t = Tree()
    p = Pending(t)
    txns, dumps = [], [t.dump()]
    for z in range(start, start + n):
        op, req = ((OpCode.CREATE, (f"/n{z}", bytes([z % 256]) * (z % 7), OPEN, 0)) if z % 3
                   else (OpCode.SET_DATA, (f"/n{z - 1}", b"v", -1)))
        txn = prepare(p, z, 1000 + z, 1, (), op, req)
        apply(t, txn)
        p.applied(z)
        txns.append(txn)
        dumps.append(t.dump())
    return txns, dumps


def write_log(storage: Storage, txns) -> list[int]:
    """Append txns one record at a time; returns the file offset after each record."""
    ends = []
    for txn in txns:
        storage.write_and_sync(encode_record(encode(txn)))
        ends.append(os.path.getsize(next(storage.log_files())))
    return ends


def test_records_roundtrip_and_stop_at_damage():
    recs = [b"a", b"bb" * 100, b"c"]
    data = b"".join(encode_record(r) for r in recs)
    assert read_records(data) == (recs, len(data))
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF
    assert read_records(bytes(damaged))[0] == recs[:2]
    assert read_records(data + bytes(64))[0] == recs       # a zero-filled tail is not a record


TXNS, DUMPS = make_txns(25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=10_000), garbage=st.binary(max_size=12))
def test_recovery_after_random_truncation_is_the_written_prefix(tmp_path_factory, cut, garbage):
    d = tmp_path_factory.mktemp("wal")
    s = Storage(d)
    s.recover()
    ends = write_log(s, TXNS)
    s.close()
    log = next(s.log_files())
    size = ends[-1]
    cut = cut % (size + 1)
    with open(log, "r+b") as f:
        f.truncate(cut)
        if garbage and cut < size:
            f.seek(cut)
            f.write(garbage)       # a torn write may leave junk, not just a short file
    complete = sum(1 for e in ends if e <= cut)
    s2 = Storage(d)
    tree, replayed = s2.recover()
    assert replayed == complete
    assert tree.dump() == DUMPS[complete]
    # the torn tail is cut off, so new appends follow the good prefix and survive the next restart
    nxt = make_txns(complete + 1)[0][complete:complete + 1]
    if nxt:
        s2.write_and_sync(encode_record(encode(nxt[0])))
    s2.close()
    s3 = Storage(d)
    tree3, _ = s3.recover()
    s3.close()
    assert tree3.last_zxid == complete + (1 if nxt else 0)


def test_snapshot_then_log_recovers_and_prunes_old_files(tmp_path: Path):
    s = Storage(tmp_path, snapshot_every=10)
    tree, _ = s.recover()
    for txn in TXNS[:12]:
        s.write_and_sync(encode_record(encode(txn)))
        apply(tree, txn)
    assert s.note_applied(12)
    s.roll(tree.last_zxid)
    s.write_snapshot(tree.dump(), tree.last_zxid)
    for txn in TXNS[12:]:
        s.write_and_sync(encode_record(encode(txn)))
        apply(tree, txn)
    s.close()
    names = sorted(p.name for p in tmp_path.iterdir() if p.name not in ("secret", "lock"))
    assert names == [f"log.{13:016x}", f"snapshot.{12:016x}"]
    s2 = Storage(tmp_path)
    recovered, replayed = s2.recover()
    s2.close()
    assert replayed == len(TXNS) - 12
    assert recovered.dump() == DUMPS[-1]


def test_half_written_snapshot_falls_back_to_logs(tmp_path: Path):
    s = Storage(tmp_path)
    tree, _ = s.recover()
    for txn in TXNS:
        s.write_and_sync(encode_record(encode(txn)))
    s.close()
    (tmp_path / f"snapshot.{30:016x}").write_bytes(b"\x00\x00\x00\x01garbage")
    (tmp_path / f"snapshot.{31:016x}.tmp").write_bytes(b"partial")
    s2 = Storage(tmp_path)
    recovered, _ = s2.recover()
    s2.close()
    assert recovered.dump() == DUMPS[-1]
    assert not (tmp_path / f"snapshot.{31:016x}.tmp").exists()


def test_damage_before_the_last_log_is_refused(tmp_path: Path):
    s = Storage(tmp_path)
    tree, _ = s.recover()
    for txn in TXNS[:5]:
        s.write_and_sync(encode_record(encode(txn)))
    s.roll(5)
    for txn in TXNS[5:]:
        s.write_and_sync(encode_record(encode(txn)))
    s.close()
    first = next(s.log_files())
    data = bytearray(first.read_bytes())
    data[10] ^= 0xFF
    first.write_bytes(bytes(data))
    s2 = Storage(tmp_path)
    with pytest.raises(CorruptStorage):
        s2.recover()
    s2.close()


def test_secret_is_stable(tmp_path: Path):
    secrets = []
    for _ in range(2):
        s = Storage(tmp_path)
        secrets.append(s.secret())
        s.close()
    assert secrets[0] == secrets[1] and len(secrets[0]) == 32


def test_a_data_dir_serves_one_server_at_a_time(tmp_path: Path):
    first = Storage(tmp_path)
    with pytest.raises(StorageLocked):
        Storage(tmp_path)
    first.close()
    Storage(tmp_path).close()
