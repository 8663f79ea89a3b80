"""The run store's layout, and re-checking a stored run from its files alone."""
from __future__ import annotations

import json
import os

import pytest

from checkers.history import Op, iter_jsonl_path
from harness.store import RunStore, StoredRunError, load_run, recheck_run


def register_history(second_read: int) -> list[Op]:
    """write 1 then a read of key 0 that returns ``second_read`` (1 is linearizable, 2 is not)."""
    return [
        Op("invoke", 0, "write", 1, key=0, node="n1"),
        Op("ok", 0, "write", 1, key=0, node="n1", extra={"version": 0, "mzxid": 5}),
        Op("invoke", 1, "read", None, key=0, node="n2"),
        Op("ok", 1, "read", second_read, key=0, node="n2", extra={"version": 0, "mzxid": 5, "read_mode": "sync"}),
        Op("invoke", "nemesis", "start", None),
        Op("info", "nemesis", "start", "no faults"),
    ]


def store_run(root, ops: list[Op], name: str = "zookeeper-register-none") -> RunStore:
    store = RunStore(root, name)
    for i, op in enumerate(ops):
        op.index, op.time = i, i * 1000
        store.append(op)
    store.write_json("test.json", {"name": name, "workload": "register", "seed": 7,
                                   "options": {"read_mode": "sync", "concurrency": 2}})
    store.close()
    return store


def test_layout_and_latest_links(tmp_path):
    first = store_run(tmp_path, register_history(1))
    second = store_run(tmp_path, register_history(1))
    assert first.path != second.path and first.path.parent == tmp_path / "zookeeper-register-none"
    assert (first.path / "nodes").is_dir()
    assert (tmp_path / "latest").resolve() == second.path.resolve()
    assert (tmp_path / "zookeeper-register-none" / "latest").resolve() == second.path.resolve()
    assert not os.path.isabs(os.readlink(tmp_path / "latest"))  # the store can be moved as a whole


def test_history_lines_round_trip(tmp_path):
    ops = register_history(1)
    store = store_run(tmp_path, ops)
    back = list(iter_jsonl_path(str(store.path / "history.jsonl")))
    assert [o.to_dict() for o in back] == [o.to_dict() for o in ops]
    lines = (store.path / "history.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert list(first)[:6] == ["index", "type", "process", "f", "value", "time"]
    assert first["node"] == "n1" and first["key"] == 0
    assert json.loads(lines[4])["process"] == "nemesis" and "node" not in json.loads(lines[4])


@pytest.mark.parametrize("second_read, valid", [(1, True), (2, False)])
def test_recheck_run_judges_like_the_workload(tmp_path, second_read, valid):
    store = store_run(tmp_path, register_history(second_read))
    results = recheck_run(tmp_path / "latest")
    assert list(results)[0] == "valid"
    assert results["valid"] is valid
    assert results["results"]["workload"]["results"]["linearizable"]["valid"] is valid
    recheck_run(store.path, write=True)
    assert json.loads((store.path / "results.json").read_text())["valid"] is valid


def test_recheck_rejects_what_is_not_a_run(tmp_path):
    with pytest.raises(StoredRunError, match="not a stored run"):
        recheck_run(tmp_path)
    store = store_run(tmp_path, register_history(1))
    (store.path / "test.json").write_text("{}")
    with pytest.raises(StoredRunError, match="does not name the workload"):
        recheck_run(store.path)
    (store.path / "test.json").write_text("{not json")
    with pytest.raises(StoredRunError, match="not JSON"):
        load_run(store.path)
