"""`harness check` through the real entry point (a subprocess): exit codes, --json, errors naming the line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def harness(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "harness", "check", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def write_jsonl(path: Path, ops: list[dict]) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in ops))
    return path


def test_valid_etcd_log_exits_0(shared_dir: Path) -> None:
    r = harness(str(shared_dir / "histories/porcupine/jepsen/etcd_002.log"))
    assert r.returncode == 0, r.stderr
    assert "linearizable" in r.stdout and "NOT" not in r.stdout


def test_invalid_knossos_history_exits_1_with_json_counterexample(shared_dir: Path) -> None:
    r = harness(str(shared_dir / "histories/knossos/cas-register/bad/rethink-fail-minimal.edn"),
                "--initial", "0", "--json")
    assert r.returncode == 1, r.stderr
    res = json.loads(r.stdout)
    assert res["valid"] is False and res["model"] == "cas-register" and res["format"] == "edn"
    ce = res["counterexample"]
    assert ce["op"]["f"] == "read" and ce["op"]["value"] == 3
    assert set(ce["states"]) <= {0, 4} and ce["states"]


def test_multi_register_needs_its_initial_state(shared_dir: Path) -> None:
    f = str(shared_dir / "histories/knossos/multi-register/good/multi-register.edn")
    assert harness(f, "--initial", "{:x 0 :y 0}").returncode == 0
    assert harness(f).returncode == 1  # registers start as nil, and the history reads 0 first


def test_kv_is_guessed_and_split_by_key(shared_dir: Path) -> None:
    r = harness(str(shared_dir / "histories/porcupine/kv/c10-bad.txt"), "--json")
    assert r.returncode == 1
    res = json.loads(r.stdout)
    assert res["model"] == "kv" and res["keys"] == 10 and res["format"] == "porcupine-kv"


def test_jsonl_keys_and_independent(tmp_path: Path) -> None:
    ops = [
        {"index": 0, "type": "invoke", "process": 0, "f": "write", "value": 1, "key": "a"},
        {"index": 1, "type": "ok", "process": 0, "f": "write", "value": 1, "key": "a"},
        {"index": 2, "type": "invoke", "process": 1, "f": "read", "value": None, "key": "b"},
        {"index": 3, "type": "ok", "process": 1, "f": "read", "value": 0, "key": "b"},
    ]
    h = write_jsonl(tmp_path / "h.jsonl", ops)
    r = harness(str(h), "--initial", "0", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["keys"] == 2
    assert harness(str(h), "--json").returncode == 1  # b reads 0 but starts as nil
    tuples = [dict(o, value=[o.pop("key"), o["value"]]) for o in [dict(x) for x in ops]]
    h2 = write_jsonl(tmp_path / "t.jsonl", tuples)
    r = harness(str(h2), "--independent", "--initial", "0", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["keys"] == 2


def test_unknown_when_budget_is_spent(tmp_path: Path) -> None:
    # 12 concurrent writes, then reads of 1 and of 2: proving that impossible means trying the writes' orders
    ops = [{"type": "invoke", "process": p, "f": "write", "value": p + 1} for p in range(12)]
    ops += [{"type": "ok", "process": p, "f": "write", "value": p + 1} for p in range(12)]
    ops += [{"type": "invoke", "process": 99, "f": "read"}, {"type": "ok", "process": 99, "f": "read", "value": 1},
            {"type": "invoke", "process": 99, "f": "read"}, {"type": "ok", "process": 99, "f": "read", "value": 2}]
    h = write_jsonl(tmp_path / "h.jsonl", ops)
    r = harness(str(h), "--model", "register", "--max-configs", "100")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "unknown" in r.stdout and "memory limit" in r.stdout


@pytest.mark.parametrize("content, fmt, where", [
    ('{"type":"invoke","process":0,"f":"read"}\n{"type":"ok","process":0,"f":"read","value":0}\n{oops\n', None, ":3:"),
    ("{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value 1\n", "edn", ":2:"),
    ("INFO  jepsen.util - 1\t:invoke\t:write\t3\nINFO  jepsen.util - 1\t:ok\t:write\tbanana\n", "porcupine-etcd", ":2:"),
])
def test_malformed_file_exits_254_naming_the_line(tmp_path: Path, content: str, fmt: str | None, where: str) -> None:
    h = tmp_path / "bad.history"
    h.write_text(content)
    args = [str(h)] + (["--format", fmt] if fmt else ["--format", "jsonl"])
    r = harness(*args)
    assert r.returncode == 254
    assert r.stdout == ""
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"bad.history{where}" in err


def test_broken_history_discipline_exits_254_naming_the_line(tmp_path: Path) -> None:
    h = write_jsonl(tmp_path / "h.jsonl", [{"type": "ok", "process": 0, "f": "read", "value": 1}])
    r = harness(str(h))
    assert r.returncode == 254 and "h.jsonl:1: op 0:" in r.stderr and "no open invocation" in r.stderr
    e = tmp_path / "h.edn"
    e.write_text("{:type :invoke, :f :read, :process 1}\n\n{:type :invoke, :f :incr, :process 2}\n")
    r = harness(str(e))
    assert r.returncode == 254 and "h.edn:3: op 1:" in r.stderr and "'incr'" in r.stderr


def test_bad_options_exit_254(tmp_path: Path) -> None:
    h = write_jsonl(tmp_path / "h.jsonl", [{"type": "invoke", "process": 0, "f": "read"}])
    assert harness(str(h), "--model", "stack").returncode == 254
    r = harness(str(h), "--initial", "{:x")
    assert r.returncode == 254 and "--initial" in r.stderr
    assert harness(str(h), "--time-limit", "0").returncode == 254
    r = harness(str(tmp_path / "missing.jsonl"))
    assert r.returncode == 254 and "no such file" in r.stderr
    r = harness()
    assert r.returncode == 254
    h2 = write_jsonl(tmp_path / "cas.jsonl", [{"type": "invoke", "process": 0, "f": "cas", "value": [1, 2]}])
    r = harness(str(h2), "--model", "kv")  # cas is not a kv op
    assert r.returncode == 254 and "no operation 'cas'" in r.stderr


def test_run_dir_that_is_not_a_run_exits_254(tmp_path: Path) -> None:
    r = harness("--run", str(tmp_path))
    assert r.returncode == 254
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
