"""Compose, the Checker protocol, and the CHECKERS registry."""
from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, strategies as st

from checkers import CHECKERS, make_checker
from checkers.checker import UNKNOWN, Checker, Compose, indexed, merge_valid
from checkers.history import HistoryError, Op, read_jsonl, write_jsonl


class Fixed:
    def __init__(self, name: str, valid) -> None:
        self.name, self.valid = name, valid

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        return {"valid": self.valid, "ops": len(history)}


class Broken:
    name = "broken"

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        raise HistoryError("op 3: an ok read must have a list value, got 5")


HIST = [Op("invoke", 0, "read"), Op("ok", 0, "read", value=[])]


def test_all_valid() -> None:
    r = Compose([Fixed("a", True), Fixed("b", True)]).check(HIST)
    assert r == {"valid": True, "results": {"a": {"valid": True, "ops": 2}, "b": {"valid": True, "ops": 2}},
                 "invalid": [], "unknown": []}


def test_false_wins_over_unknown() -> None:
    r = Compose({"x": Fixed("a", UNKNOWN), "y": Fixed("b", False), "z": Fixed("c", True)}).check(HIST)
    assert r["valid"] is False and r["invalid"] == ["y"] and r["unknown"] == ["x"]
    assert set(r["results"]) == {"x", "y", "z"}


def test_unknown_when_none_false() -> None:
    assert Compose([Fixed("a", True), Fixed("b", UNKNOWN)]).check(HIST)["valid"] == UNKNOWN


def test_unreadable_history_is_unknown_with_the_message() -> None:
    r = Compose([Broken(), Fixed("a", True)]).check(HIST)
    assert r["valid"] == UNKNOWN
    assert r["results"]["broken"] == {"valid": UNKNOWN, "error": "op 3: an ok read must have a list value, got 5"}
    assert r["results"]["a"]["valid"] is True


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="two checkers named 'a'"):
        Compose([Fixed("a", True), Fixed("a", False)])


def test_compose_nests() -> None:
    inner = Compose([Fixed("a", False)], name="inner")
    r = Compose([inner, Fixed("b", True)]).check(HIST)
    assert r["valid"] is False and r["results"]["inner"]["invalid"] == ["a"]


@given(st.lists(st.sampled_from([True, False, UNKNOWN])))
def test_merge_valid(values) -> None:
    expect = False if False in values else (UNKNOWN if UNKNOWN in values else True)
    assert merge_valid(values) == expect


def test_indexed_renumbers_copies_only_when_needed() -> None:
    ops = [Op("invoke", 0, "read"), Op("ok", 0, "read")]
    out = indexed(ops)
    assert [o.index for o in out] == [0, 1] and [o.index for o in ops] == [-1, -1]
    assert indexed(out)[0] is out[0]


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_every_registered_checker_follows_the_protocol(name: str) -> None:
    c = make_checker(name)
    assert isinstance(c, Checker) and c.name == name
    r = c.check([])
    assert r["valid"] in (True, False, UNKNOWN)


def test_registry_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown checker 'sett'; known: .*set"):
        make_checker("sett")
    with pytest.raises(ValueError, match="checker 'set': bad options"):
        make_checker("set", nonsense=1)
    assert make_checker("mutex", acquire_f="lock").acquire_f == "lock"


def test_documented_fields_survive_the_jsonl_store() -> None:
    # Workloads record extra fields (final, session, version, watcher, seq) at the top level of each
    # JSONL line; read back they land in Op.extra, where the checkers look for them.
    lines = [
        {"type": "invoke", "process": 0, "f": "add", "value": 1},
        {"type": "ok", "process": 0, "f": "add", "value": 1},
        {"type": "invoke", "process": 1, "f": "write", "key": "/r"},
        {"type": "ok", "process": 1, "f": "write", "key": "/r", "version": 4, "session": "0x1"},
        {"type": "invoke", "process": 1, "f": "read", "key": "/r"},
        {"type": "ok", "process": 1, "f": "read", "key": "/r", "value": [], "version": 3, "session": "0x1"},
        {"type": "invoke", "process": 2, "f": "read"},
        {"type": "ok", "process": 2, "f": "read", "value": [1], "final": True},
    ]
    hist = read_jsonl(io.StringIO("\n".join(json.dumps(d) for d in lines)))
    buf = io.StringIO()
    write_jsonl(hist, buf)
    hist = read_jsonl(io.StringIO(buf.getvalue()))
    r = Compose([make_checker("set"), make_checker("session-order"), make_checker("stats")]).check(hist)
    assert r["results"]["set"]["valid"] is True and r["results"]["set"]["final_reads"] == [7]
    assert r["results"]["session-order"]["anomalies"][0]["kind"] == "read-your-writes"
    assert r["valid"] is False and r["invalid"] == ["session-order"]
