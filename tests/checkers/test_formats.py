"""History readers: EDN (vector or map per line, --independent), Porcupine's etcd and kv logs, JSONL."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.formats import detect_format, parse_edn_value, parse_history, read_history
from checkers.history import HistoryError, Op, index_history, write_jsonl


def test_edn_vector_and_map_per_line_read_the_same() -> None:
    vector = """; a comment
[{:type :invoke, :f :cas, :value [1 2], :process 3, :time 123}
 {:type :fail, :f :cas, :value [1 2], :process 3, :time 456, :error :mismatch}]
"""
    lines = """{:type :invoke, :f :cas, :value [1 2], :process 3, :time 123}
{:type :fail, :f :cas, :value [1 2], :process 3, :time 456, :error :mismatch}
"""
    a = parse_history(vector, "edn")
    b = parse_history(lines, "edn")
    assert [o.to_dict() for o in a] == [o.to_dict() for o in b]
    assert a[0].f == "cas" and a[0].value == [1, 2] and a[0].process == 3 and a[0].time == 123
    assert a[1].type == "fail" and a[1].error == "mismatch" and a[1].index == 1


def test_edn_list_and_multiline_maps() -> None:
    text = "({:type :invoke,\n :f :txn,\n :value [[:read :x nil] [:write :y 2]],\n :process 0}\n" \
           " {:type :ok, :f :txn, :value [[:read :x 0] [:write :y 2]], :process 0})"
    ops = parse_history(text, "edn")
    assert ops[1].value == [["read", "x", 0], ["write", "y", 2]]


def test_edn_independent_splits_tuples_by_key() -> None:
    text = "{:type :invoke, :f :write, :value [:k1 3], :process 0}\n{:type :ok, :f :write, :value [:k1 3], :process 0}\n"
    ops = parse_history(text, "edn", independent=True)
    assert ops[0].key == "k1" and ops[0].value == 3
    with pytest.raises(HistoryError, match=r"<history>:1: --independent"):
        parse_history("{:type :invoke, :f :write, :value 3, :process 0}\n", "edn", independent=True)


@pytest.mark.parametrize("text, line, words", [
    ("{:type :invoke, :f :read, :process 1}\n{:type :ok, :f :read, :process 1, :value 1\n", 2, "unterminated"),
    ("[{:type :invoke, :f :read, :process 1}\n {:type :ok :f :read :process 1 :value #foo 3}]", 2, "malformed EDN"),
    ("[{:type :invoke, :f :read, :process 1}\n 3]", 2, "expected an op map"),
    ("{:type :invoke, :f :read, :process 1}\n\n{:type :done, :f :read, :process 1}\n", 3, ":type must be"),
    ("{:type :invoke, :f :read}\n", 1, "needs :process"),
    ("{:type :invoke, :f :read, :process 1}}\n", 1, "unbalanced"),
])
def test_malformed_edn_names_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(HistoryError) as exc:
        parse_history(text, "edn", "h.edn")
    assert str(exc.value).startswith(f"h.edn:{line}:")
    assert words in str(exc.value)


def test_porcupine_etcd_semantics() -> None:
    text = "\n".join([
        "INFO  jepsen.util - 4\t:invoke\t:read\tnil",
        "INFO  jepsen.util - 4\t:ok\t:read\tnil",
        "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 4]",
        "INFO  jepsen.util - 0\t:fail\t:cas\t[1 4]",
        "INFO  jepsen.util - 1   :invoke :write  3",
        "INFO  jepsen.util - 1\t:info\t:write\t:timed-out",
        "INFO  jepsen.util - 2\t:invoke\t:read\tnil",
        "INFO  jepsen.util - 2\t:fail\t:read\t:timed-out",
    ])
    ops = parse_history(text, "porcupine-etcd")
    assert ops[1].value is None and ops[1].type == "ok"
    assert ops[3].type == "fail" and ops[3].extra == {"observed": True} and ops[3].value == [1, 4]
    assert ops[5].type == "info" and ops[5].value == 3 and ops[5].error == "timed-out"
    assert ops[7].type == "info"  # a timed-out read is indeterminate, not a failure
    with pytest.raises(HistoryError, match=r"e.log:2: bad value"):
        parse_history("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 4]\nINFO  jepsen.util - 0\t:ok\t:cas\t[1]", "porcupine-etcd",
                      "e.log")
    with pytest.raises(HistoryError, match=r"e.log:1: not a jepsen.util"):
        parse_history("hello\n", "porcupine-etcd", "e.log")


def test_porcupine_kv() -> None:
    text = '{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}\n' \
           '{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}\n' \
           '{:process 1, :type :invoke, :f :get, :key "3", :value nil}\n'
    ops = parse_history(text, "porcupine-kv")
    assert ops[0].key == "0" and ops[0].value == "x 0 0 y" and ops[0].f == "append"
    assert ops[2].value is None
    with pytest.raises(HistoryError, match=r"k.txt:2: :f must be"):
        parse_history(text.splitlines()[0] + '\n{:process 0, :type :ok, :f :cas, :key "0"}', "porcupine-kv", "k.txt")
    with pytest.raises(HistoryError, match=r"k.txt:1: not a flat"):
        parse_history('{:process 0, :type :ok, :f :get, :key "0", :value [1 2]}', "porcupine-kv", "k.txt")


def test_jsonl_key_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    with open(p, "w") as f:
        write_jsonl(index_history([Op("invoke", 0, "write", 1, key=[1, 2]), Op("ok", 0, "write", 1, key=[1, 2])]), f)
    ops = read_history(p)
    assert ops[0].key == (1, 2)  # keys are made hashable for grouping
    p.write_text('{"type":"invoke","process":0,"f":"read"}\n{"type":"bogus","process":0,"f":"read"}\n')
    with pytest.raises(HistoryError, match=r"h.jsonl:2:"):
        read_history(p)


def test_detect_format(tmp_path: Path, shared_dir: Path) -> None:
    h = shared_dir / "histories"
    assert detect_format(h / "porcupine/jepsen/etcd_000.log") == "porcupine-etcd"
    assert detect_format(h / "porcupine/kv/c01-ok.txt") == "porcupine-kv"
    assert detect_format(h / "knossos/mutex/bad/etcd.edn") == "edn"
    odd = tmp_path / "history.txt"
    odd.write_text("; comment\n[{:type :invoke :f :read :process 0}]\n")
    assert detect_format(odd) == "edn"
    odd.write_text("hello\n")
    with pytest.raises(HistoryError, match="give --format"):
        detect_format(odd)


def test_parse_edn_value() -> None:
    assert parse_edn_value("nil") is None
    assert parse_edn_value("0") == 0
    assert parse_edn_value("{:x 0 :y 0}") == {"x": 0, "y": 0}
    with pytest.raises(ValueError):
        parse_edn_value("{:x")
    with pytest.raises(ValueError):
        parse_edn_value("1 2")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["invoke", "ok", "fail", "info"]), st.integers(0, 5),
                          st.sampled_from(["read", "write", "cas"]),
                          st.one_of(st.none(), st.integers(-3, 3), st.lists(st.integers(0, 4), min_size=2, max_size=2))),
                min_size=1, max_size=12), st.booleans())
def test_edn_round_trip(ops: list, as_vector: bool) -> None:
    def lit(v: object) -> str:
        if v is None:
            return "nil"
        if isinstance(v, list):
            return "[" + " ".join(lit(x) for x in v) + "]"
        return str(v)
    maps = [f"{{:type :{t}, :process {p}, :f :{f}, :value {lit(v)}}}" for t, p, f, v in ops]
    text = ("[" + "\n ".join(maps) + "]") if as_vector else "\n".join(maps)
    read = parse_history(text, "edn")
    assert [(o.type, o.process, o.f, o.value) for o in read] == [tuple(x) for x in ops]
