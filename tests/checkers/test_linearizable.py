"""The linearizability checker against histories other people judged, and against a brute-force oracle."""
from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.formats import read_history
from checkers.history import FAIL, INFO, INVOKE, OK, Op, index_history, pairs
from checkers.linearizable import check
from checkers.models import make_model

REPO = Path(__file__).resolve().parents[2]
VERDICTS = REPO.parent / "shared" / "histories" / "verdicts.tsv"


def _verdict_rows() -> list[dict[str, str]]:
    if not VERDICTS.is_file():
        return []
    with open(VERDICTS, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def model_for_row(row: dict[str, str]) -> Any:
    m = row["model"]
    if m.startswith("cas-register"):
        # Knossos's EDN histories read nil when the client learnt nothing; etcd's register really holds nil.
        return make_model("cas-register", 0 if "(initial 0)" in m else None,
                          nil_read_matches_any=row["format"] == "edn")
    if m.startswith("kv"):
        return make_model("kv")
    if m.startswith("multi-register"):
        return make_model("multi-register", {"x": 0, "y": 0})
    if m.startswith("mutex"):
        return make_model("mutex")
    raise AssertionError(f"verdicts.tsv names a model the test does not know: {m}")


ROWS = _verdict_rows()


def test_verdicts_table_is_complete(shared_dir: Path) -> None:
    rows = _verdict_rows()
    assert len(rows) >= 150
    listed = {r["path"] for r in rows}
    on_disk = {str(p.relative_to(shared_dir / "histories")) for p in (shared_dir / "histories").rglob("*")
               if p.is_file() and p.suffix in (".log", ".txt", ".edn")}
    assert listed == on_disk


@pytest.mark.parametrize("row", ROWS, ids=[r["path"] for r in ROWS])
def test_known_verdict(shared_dir: Path, row: dict[str, str]) -> None:
    ops = read_history(shared_dir / "histories" / row["path"], row["format"])
    res = check(ops, model_for_row(row), time_limit=60)
    expected = {"valid": True, "invalid": False}[row["expected"]]
    assert res["valid"] is expected, res.get("reason")
    if expected is False:
        ce = res["counterexample"]
        assert ce is not None and ce["op"]["index"] >= 0
        assert ce["states"], "a counterexample names the states possible before the failing op"
        _assert_is_a_linearization(ops, model_for_row(row), ce)


def _assert_is_a_linearization(ops: list[Op], model: Any, ce: dict) -> None:
    """The counterexample's prefix is a real linearization: it respects real-time order, every op in it can
    take effect in turn, and it ends in one of the reported states."""
    by_index = {p.invoke.index: p for p in pairs(ops)}
    order = ce["linearized"]
    assert len(set(order)) == len(order)
    pos = {i: k for k, i in enumerate(order)}
    key = by_index[ce["op"]["index"]].invoke.key
    for i in order:
        inv = by_index[i].invoke
        assert inv.key == key
        for p in by_index.values():  # every completed op that returned before i was invoked comes first
            c = p.complete
            if (c is not None and c.type == OK and c.index < inv.index and p.invoke.key == key
                    and model.prepare(p) is not None):
                assert p.invoke.index in pos and pos[p.invoke.index] < pos[i], (i, p.invoke.index)
    groups = model.partition(list(by_index.values()))
    init = model.initial(next(k for k, g in groups.items() if any(p.invoke.index == ce["op"]["index"] for p in g)))
    states = {init}
    for i in order:
        states = {s2 for s in states for s2 in model.step(s, model.prepare(by_index[i]))}
        assert states, f"op {i} cannot take effect where the counterexample puts it"
    # states[0] is where this prefix ends; the others end other prefixes of the same length
    describe = getattr(model, "describe_state", lambda s: s)
    if ce["states"][0] != "<unread>":
        assert any(describe(s) == ce["states"][0] for s in states)


# ----------------------------------------------------------------------------------------- the oracle

def _oracle_register(history: list[Op], init: Any) -> bool:
    """Brute force: try every order of the ops that respects real-time precedence, per key.

    Semantics written out plainly: ok ops happen once inside their interval; failed ops did not happen unless
    marked observed (then the compare happened and failed); crashed ops (info / never completed) may happen once
    at any point after invocation, or not at all; crashed reads say nothing.
    """
    keys: dict[Any, list] = {}
    for p in pairs(history):
        c = p.complete
        kind = "info" if c is None or c.type == INFO else ("obsfail" if c.type == FAIL and c.extra.get("observed")
                                                            else c.type)
        if kind == FAIL or (kind == "info" and p.invoke.f == "read"):
            continue
        ret = float("inf") if kind == "info" else c.index
        value = c.value if kind == OK else p.invoke.value
        keys.setdefault(p.invoke.key, []).append((p.invoke.index, ret, p.invoke.f, value, kind))
    return all(_oracle_one(ops, init) for ops in keys.values())


def _apply(state: Any, f: str, value: Any, kind: str) -> tuple[bool, Any]:
    if f == "read":
        return state == value, state
    if f == "write":
        return True, value
    old, new = value
    if kind == "obsfail":
        return state != old, state
    return state == old, new if state == old else state


def _oracle_one(ops: list, init: Any) -> bool:
    n = len(ops)

    def search(done: frozenset, state: Any) -> bool:
        if all(i in done or ops[i][4] == "info" for i in range(n)):
            return True
        for i in range(n):
            if i in done:
                continue
            # i may go next only if no undone op returned before i was invoked
            if any(j not in done and j != i and ops[j][1] < ops[i][0] for j in range(n)):
                continue
            ok, nxt = _apply(state, ops[i][2], ops[i][3], ops[i][4])
            if ok and search(done | {i}, nxt):
                return True
        return False

    return search(frozenset(), init)


@st.composite
def register_histories(draw: Any) -> list[Op]:
    """Histories of a real register run with random interleavings, then sometimes corrupted."""
    nproc = draw(st.integers(1, 4))
    nkeys = draw(st.integers(1, 2))
    n_ops = draw(st.integers(1, 7))
    observed_fail = draw(st.booleans())  # porcupine-etcd semantics for failed cas
    state = {k: 0 for k in range(nkeys)}
    history: list[Op] = []
    open_: dict[int, dict] = {}  # process -> op being executed
    next_proc = list(range(nproc))
    started = 0
    while started < n_ops or open_:
        choices = []
        if started < n_ops and len(open_) < nproc:
            choices.append("invoke")
        for p, o in open_.items():
            choices.append(("step", p))
        act = draw(st.sampled_from(choices))
        if act == "invoke":
            p = next(q for q in next_proc if q not in open_)
            f = draw(st.sampled_from(["read", "write", "cas"]))
            key = draw(st.integers(0, nkeys - 1))
            value = None if f == "read" else (draw(st.integers(0, 2)) if f == "write"
                                               else [draw(st.integers(0, 2)), draw(st.integers(0, 2))])
            history.append(Op(INVOKE, p, f, value, key=key))
            open_[p] = {"f": f, "key": key, "value": value, "applied": False, "result": None}
            started += 1
            continue
        p = act[1]
        o = open_[p]
        if not o["applied"] and draw(st.booleans()):
            o["applied"] = True  # the linearization point
            k = o["key"]
            if o["f"] == "read":
                o["result"] = state[k]
            elif o["f"] == "write":
                state[k] = o["value"]
            else:
                o["result"] = state[k] == o["value"][0]
                if o["result"]:
                    state[k] = o["value"][1]
            continue
        # Mostly the truth, sometimes a lie: the oracle, not the generator, says what is valid.
        outcome = draw(st.sampled_from([OK, OK, OK, INFO, FAIL]))
        if not o["applied"] and outcome == OK:
            outcome = INFO
        if o["applied"] and outcome == FAIL and not (o["f"] == "cas" and o["result"] is False):
            outcome = INFO
        if o["f"] == "cas" and o["result"] is False and outcome == OK:
            outcome = FAIL
        if draw(st.integers(0, 12)) == 0:
            outcome = OK  # a lie: claims success
        value = o["value"]
        if o["f"] == "read" and outcome == OK:
            value = o["result"] if o["applied"] else draw(st.integers(0, 2))
            if draw(st.integers(0, 9)) == 0:
                value = draw(st.integers(0, 2))  # a corrupted read
        extra = {"observed": True} if outcome == FAIL and o["f"] == "cas" and observed_fail else {}
        history.append(Op(outcome, p, o["f"], value, key=o["key"], extra=extra))
        del open_[p]
        if outcome == INFO:  # a crashed process never comes back; its worker goes on under a new id
            next_proc[next_proc.index(p)] = max(next_proc) + 1
    if draw(st.booleans()) and history:  # sometimes cut the history short: open ops become indeterminate
        history = history[:draw(st.integers(1, len(history)))]
    return index_history(history)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(register_histories())
def test_agrees_with_brute_force_on_registers(history: list[Op]) -> None:
    expected = _oracle_register(history, 0)
    res = check(history, make_model("cas-register", 0), time_limit=30)
    assert res["valid"] is expected, [o.to_dict() for o in history]


@st.composite
def mutex_histories(draw: Any) -> list[Op]:
    """Arbitrary acquire/release histories (mostly invalid or barely valid) with crashes and failures."""
    n = draw(st.integers(1, 6))
    events: list[tuple[str, int]] = []
    for i in range(n):
        events += [("i", i), ("c", i)]
    order = draw(st.permutations(events))
    fs = [draw(st.sampled_from(["acquire", "release"])) for _ in range(n)]
    outs = [draw(st.sampled_from([OK, OK, INFO, FAIL])) for _ in range(n)]
    # completions go after their invocations: replay in the drawn order, deferring premature ones
    history = []
    done_inv: set[int] = set()
    deferred: list[int] = []
    for kind, i in order:
        if kind == "i":
            history.append(Op(INVOKE, i, fs[i]))
            done_inv.add(i)
            for j in [d for d in deferred if d == i]:
                history.append(Op(outs[j], j, fs[j]))
                deferred.remove(j)
        elif i in done_inv:
            history.append(Op(outs[i], i, fs[i]))
        else:
            deferred.append(i)
    return index_history(history)


def _oracle_generic(history: list[Op], model: Any) -> bool:
    items = []
    for p in pairs(history):
        m = model.prepare(p)
        if m is None:
            continue
        info = p.complete is None or p.complete.type == INFO
        items.append((p.invoke.index, float("inf") if info else p.complete.index, m, info))
    n = len(items)
    for order in itertools.chain.from_iterable(itertools.permutations(range(n), r) for r in range(n + 1)):
        chosen = set(order)
        if any(not items[i][3] and i not in chosen for i in range(n)):
            continue
        pos = {i: k for k, i in enumerate(order)}
        if any(items[j][1] < items[i][0] and (j not in pos or pos[j] > pos[i]) and not items[j][3]
               for i in order for j in range(n)):
            continue
        states = {model.initial(None)}
        for i in order:
            states = {s2 for s in states for s2 in model.step(s, items[i][2])}
        if states:
            return True
    return False


@settings(max_examples=120, deadline=None)
@given(mutex_histories())
def test_agrees_with_brute_force_on_mutexes(history: list[Op]) -> None:
    model = make_model("mutex")
    assert check(history, model)["valid"] is _oracle_generic(history, model)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["enqueue", "dequeue"]), st.integers(0, 2),
                          st.sampled_from([OK, OK, INFO, FAIL]), st.booleans()), min_size=1, max_size=5))
def test_agrees_with_brute_force_on_queues(spec: list[tuple[str, int, str, bool]]) -> None:
    # Each op is invoked in order; `overlap` says whether the next op is invoked before this one completes.
    history: list[Op] = []
    pending: list[Op] = []
    for pid, (f, v, outcome, overlap) in enumerate(spec):
        history.append(Op(INVOKE, pid, f, v if f == "enqueue" else None))
        pending.append(Op(outcome, pid, f, v))
        if not overlap:
            history.extend(pending)
            pending = []
    history.extend(pending)
    history = index_history(history)
    model = make_model("fifo-queue")
    assert check(history, model)["valid"] is _oracle_generic(history, model)


def test_budget_gives_unknown_not_a_hang() -> None:
    # 11 concurrent writes, then reads of 1 and then 2: each read alone could fit, both cannot, and proving it
    # means trying the orders of the writes.
    history = [Op(INVOKE, p, "write", p + 1) for p in range(11)] + [Op(OK, p, "write", p + 1) for p in range(11)]
    history += [Op(INVOKE, 100, "read", None), Op(OK, 100, "read", 1),
                Op(INVOKE, 100, "read", None), Op(OK, 100, "read", 2)]
    res = check(index_history(history), make_model("register", 0), max_configs=500)
    assert res["valid"] == "unknown"
    assert "memory" in res["reason"]
    assert check(index_history(history), make_model("register", 0))["valid"] is False


def test_counterexample_points_at_the_stale_read() -> None:
    h = index_history([
        Op(INVOKE, 0, "write", 1), Op(OK, 0, "write", 1),
        Op(INVOKE, 1, "write", 2), Op(OK, 1, "write", 2),
        Op(INVOKE, 0, "read", None), Op(OK, 0, "read", 1),
    ])
    res = check(h, make_model("register", 0))
    assert res["valid"] is False
    ce = res["counterexample"]
    assert ce["op"]["index"] == 4
    assert ce["linearized"] == [0, 2]
    assert ce["states"] == [2]


def test_crashed_write_may_take_effect_much_later() -> None:
    h = index_history([
        Op(INVOKE, 0, "write", 5), Op(INFO, 0, "write", 5),
        Op(INVOKE, 1, "write", 1), Op(OK, 1, "write", 1),
        Op(INVOKE, 1, "read", None), Op(OK, 1, "read", 1),
        Op(INVOKE, 1, "read", None), Op(OK, 1, "read", 5),
    ])
    assert check(h, make_model("register", 0))["valid"] is True
    h2 = index_history(h[:2] + [Op(INVOKE, 1, "read", None), Op(OK, 1, "read", 5),
                                Op(INVOKE, 1, "read", None), Op(OK, 1, "read", 0)])
    assert check(h2, make_model("register", 0))["valid"] is False  # it cannot happen twice


def test_keys_are_checked_independently_and_reported() -> None:
    h = index_history([
        Op(INVOKE, 0, "write", 1, key="a"), Op(OK, 0, "write", 1, key="a"),
        Op(INVOKE, 1, "read", None, key="b"), Op(OK, 1, "read", 0, key="b"),
        Op(INVOKE, 0, "read", None, key="a"), Op(OK, 0, "read", 1, key="a"),
    ])
    res = check(h, make_model("register", 0))
    assert res["valid"] is True and res["keys"] == 2
    assert set(res["per_key"]) == {"a", "b"}


def test_parallel_processes_agree_with_serial() -> None:
    h: list[Op] = []
    for k in range(4):
        for i in range(100):
            h += [Op(INVOKE, k, "write", i, key=k), Op(OK, k, "write", i, key=k),
                  Op(INVOKE, k, "read", None, key=k), Op(OK, k, "read", i, key=k)]
    h[-1] = Op(OK, 3, "read", 7, key=3)  # the last read of key 3 is stale
    h = index_history(h)
    serial = check(h, make_model("register", 0), processes=1)
    parallel = check(h, make_model("register", 0), processes=2)
    assert serial["valid"] is False and parallel["valid"] is False
    assert serial["counterexample"]["op"]["index"] == parallel["counterexample"]["op"]["index"] == len(h) - 2


def test_checker_interface() -> None:
    from checkers.linearizable import LinearizableChecker
    h = index_history([Op(INVOKE, 0, "write", 1), Op(OK, 0, "write", 1),
                       Op(INVOKE, 0, "read", None), Op(OK, 0, "read", 0)])
    c = LinearizableChecker(make_model("register", 0))
    assert c.name == "linearizable"
    assert c.check(h, {})["valid"] is False


@st.composite
def kv_histories(draw: Any) -> list[Op]:
    """One key of Porcupine's kv store, run for real with random interleavings, sometimes with a lying get."""
    n = draw(st.integers(1, 6))
    state = ""
    history: list[Op] = []
    open_: dict[int, dict] = {}
    started = 0
    pid = 0
    while started < n or open_:
        if started < n and (not open_ or draw(st.booleans())):
            f = draw(st.sampled_from(["get", "get", "append", "append", "put"]))
            v = None if f == "get" else draw(st.sampled_from(["a", "b", "c"]))
            history.append(Op(INVOKE, pid, f, v, key="k"))
            open_[pid] = {"f": f, "v": v, "applied": False, "res": None}
            pid += 1
            started += 1
            continue
        p = draw(st.sampled_from(sorted(open_)))
        o = open_[p]
        if not o["applied"] and draw(st.booleans()):
            o["applied"] = True
            if o["f"] == "get":
                o["res"] = state
            elif o["f"] == "put":
                state = o["v"]
            else:
                state += o["v"]
            continue
        outcome = OK if o["applied"] else draw(st.sampled_from([INFO, FAIL]))
        if draw(st.integers(0, 5)) == 0:
            outcome = draw(st.sampled_from([OK, INFO, FAIL]))
        value = o["v"]
        if o["f"] == "get" and outcome == OK:
            value = o["res"] if o["res"] is not None else ""
            if draw(st.integers(0, 6)) == 0:
                value = draw(st.sampled_from(["", "a", "ab", "ba", "c"]))
        history.append(Op(outcome, p, o["f"], value, key="k"))
        del open_[p]
    return index_history(history)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kv_histories())
def test_agrees_with_brute_force_on_kv(history: list[Op]) -> None:
    model = make_model("kv")
    assert check(history, model)["valid"] is _oracle_generic(history, model)


def test_read_of_a_value_nothing_wrote_is_invalid_without_a_long_search() -> None:
    # 16 concurrent writes then a read of a value none of them wrote: 16! orders, but the read can never fit.
    h = [Op(INVOKE, p, "write", p + 1) for p in range(16)] + [Op(INVOKE, 99, "read", None)]
    h += [Op(OK, p, "write", p + 1) for p in range(16)] + [Op(OK, 99, "read", 42)]
    res = check(index_history(h), make_model("register", 0))
    assert res["valid"] is False
    assert res["counterexample"]["op"]["index"] == 16
    assert res["per_key"]["all"]["impossible_ops"] == [16]
    # a cas from 7 to 7 does not produce the 7 it needs
    h2 = index_history([Op(INVOKE, 0, "cas", [7, 7]), Op(OK, 0, "cas", [7, 7])])
    assert check(h2, make_model("cas-register", 0))["valid"] is False
    h3 = index_history([Op(INVOKE, 1, "write", 7), Op(INVOKE, 0, "cas", [7, 7]), Op(OK, 0, "cas", [7, 7]),
                        Op(INFO, 1, "write", 7)])
    assert check(h3, make_model("cas-register", 0))["valid"] is True


@st.composite
def txn_histories(draw: Any) -> list[Op]:
    """Multi-register transactions over x and y, run for real, sometimes with a lying read."""
    n = draw(st.integers(1, 5))
    regs = {"x": 0, "y": 0}
    history: list[Op] = []
    open_: dict[int, dict] = {}
    started = pid = 0
    while started < n or open_:
        if started < n and (not open_ or draw(st.booleans())):
            micro = [[draw(st.sampled_from(["read", "write"])), draw(st.sampled_from(["x", "y"])),
                      draw(st.integers(0, 2))] for _ in range(draw(st.integers(1, 2)))]
            for m in micro:
                if m[0] == "read":
                    m[2] = None
            history.append(Op(INVOKE, pid, "txn", micro))
            open_[pid] = {"micro": micro, "done": None}
            pid += 1
            started += 1
            continue
        p = draw(st.sampled_from(sorted(open_)))
        o = open_[p]
        if o["done"] is None and draw(st.booleans()):
            done = []
            for f, k, v in o["micro"]:
                if f == "read":
                    done.append([f, k, regs[k]])
                else:
                    regs[k] = v
                    done.append([f, k, v])
            o["done"] = done
            continue
        outcome = OK if o["done"] is not None else draw(st.sampled_from([INFO, FAIL]))
        value = o["done"] if o["done"] is not None else o["micro"]
        if outcome == OK and draw(st.integers(0, 5)) == 0:
            value = [[f, k, draw(st.integers(0, 2)) if f == "read" else v] for f, k, v in value]
        history.append(Op(outcome, p, "txn", value))
        del open_[p]
    return index_history(history)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(txn_histories())
def test_agrees_with_brute_force_on_multi_registers(history: list[Op]) -> None:
    # The oracle checks x and y together; the checker splits them where no txn joins them.
    model = make_model("multi-register", {"x": 0, "y": 0})
    assert check(history, model)["valid"] is _oracle_generic(history, model)


class _DyingRegister:
    """A register whose checker process dies on key "b" (as if killed by the OOM killer)."""
    def __init__(self) -> None:
        self.inner = make_model("register", 0)
        self.name = "register"

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet while unpickling
            raise AttributeError(name)
        return getattr(self.inner, name)

    def step(self, state: Any, mop: Any) -> Any:
        if mop == ("w", 666):
            import os
            os._exit(3)
        return self.inner.step(state, mop)


def test_a_dead_worker_makes_its_key_unknown_not_a_hang() -> None:
    h = index_history([Op(INVOKE, 0, "write", 1, key="a"), Op(OK, 0, "write", 1, key="a"),
                       Op(INVOKE, 1, "write", 666, key="b"), Op(OK, 1, "write", 666, key="b")])
    res = check(h, _DyingRegister(), processes=2)
    assert res["valid"] == "unknown"
    assert "died" in res["per_key"]["b"]["reason"] and res["per_key"]["a"]["valid"] is True
