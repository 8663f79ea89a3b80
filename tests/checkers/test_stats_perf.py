"""Stats and perf checkers."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from checkers.history import Op, index_history
from checkers.perf import PerfChecker, quantile
from checkers.stats import StatsChecker

MS = 1_000_000
S = 1_000_000_000


def h(*ops: tuple) -> list[Op]:
    """(type, process, f, time_ns[, value]) -> indexed history."""
    return index_history([Op(t[0], t[1], t[2], value=t[4] if len(t) > 4 else None, time=t[3]) for t in ops])


def test_stats_counts_and_valid() -> None:
    r = StatsChecker().check(h(
        ("invoke", 0, "read", 0), ("ok", 0, "read", 1),
        ("invoke", 0, "write", 2), ("fail", 0, "write", 3),
        ("invoke", 0, "write", 4), ("ok", 0, "write", 5),
        ("invoke", 1, "write", 6), ("info", 1, "write", 7),
        ("invoke", 2, "read", 8),  # never completed: counted as info
        ("invoke", "nemesis", "start-partition", 9), ("info", "nemesis", "start-partition", 10)))
    assert r == {"valid": True, "count": 5, "ok_count": 2, "fail_count": 1, "info_count": 2, "never_ok": [],
                 "by_f": {"read": {"valid": True, "count": 2, "ok_count": 1, "fail_count": 0, "info_count": 1},
                          "write": {"valid": True, "count": 3, "ok_count": 1, "fail_count": 1, "info_count": 1}}}


def test_stats_invalid_when_some_f_never_succeeds() -> None:
    hist = h(("invoke", 0, "read", 0), ("ok", 0, "read", 1),
             ("invoke", 0, "cas", 2), ("fail", 0, "cas", 3),
             ("invoke", 0, "cas", 4), ("info", 0, "cas", 5))
    r = StatsChecker().check(hist)
    assert r["valid"] is False and r["never_ok"] == ["cas"] and r["by_f"]["cas"]["valid"] is False
    assert StatsChecker(ignore_fs=("cas",)).check(hist)["valid"] is True


def test_quantiles_nearest_rank() -> None:
    xs = [float(i) for i in range(1, 101)]
    assert (quantile(xs, 0.5), quantile(xs, 0.95), quantile(xs, 0.99), quantile(xs, 1.0)) == (50, 95, 99, 100)
    assert quantile([7.0], 0.5) == 7.0


def test_perf_latency_throughput_and_nemesis() -> None:
    r = PerfChecker().check(h(
        ("invoke", 0, "read", 0), ("ok", 0, "read", 10 * MS),
        ("invoke", "nemesis", "start-partition", 100 * MS, "majority"),
        ("info", "nemesis", "start-partition", 200 * MS, {"cut": ["n1"]}),
        ("invoke", 0, "write", S), ("fail", 0, "write", S + 30 * MS),
        ("invoke", 1, "write", S + 50 * MS), ("info", 1, "write", 2 * S + 500 * MS),
        ("invoke", "nemesis", "kill", 2 * S + 600 * MS), ("info", "nemesis", "kill", 2 * S + 700 * MS),
        ("invoke", "nemesis", "stop-partition", 3 * S), ("info", "nemesis", "stop-partition", 3 * S + 100 * MS),
        ("invoke", "nemesis", "start-clock", 3 * S + 200 * MS),
        ("invoke", 2, "read", 3 * S + 300 * MS)))
    assert r["valid"] is True
    lat = r["latency"]
    assert lat["overall"]["count"] == 3 and lat["overall"]["max_ms"] == 1450.0
    assert lat["by_f"]["read"] == {"count": 1, "p50_ms": 10.0, "p95_ms": 10.0, "p99_ms": 10.0,
                                   "max_ms": 10.0, "mean_ms": 10.0}
    assert lat["by_f"]["write"]["p50_ms"] == 30.0 and lat["by_type"]["info"]["count"] == 1
    assert r["throughput"]["buckets"] == [
        {"t_s": 0.0, "ok": 1.0, "fail": 0.0, "info": 0.0},
        {"t_s": 1.0, "ok": 0.0, "fail": 1.0, "info": 0.0},
        {"t_s": 2.0, "ok": 0.0, "fail": 0.0, "info": 1.0},
        {"t_s": 3.0, "ok": 0.0, "fail": 0.0, "info": 0.0}]
    assert [b["ok"] for b in r["throughput"]["by_f"]["read"]] == [1.0, 0.0, 0.0, 0.0]
    assert r["nemesis"]["bands"] == [
        {"name": "partition", "start_s": 0.1, "stop_s": 3.1, "start_op": 2, "stop_op": 11, "value": "majority",
         "open": False},
        {"name": "clock", "start_s": 3.2, "stop_s": 3.3, "start_op": 12, "stop_op": None, "value": None,
         "open": True}]
    assert [e["f"] for e in r["nemesis"]["events"]] == ["kill", "kill"]
    assert r["points"][0] == {"time_s": 0.0, "latency_ms": 10.0, "f": "read", "type": "ok"}


def test_perf_of_empty_history() -> None:
    r = PerfChecker().check([])
    assert r["valid"] is True and r["latency"]["overall"] == {"count": 0} and r["throughput"]["buckets"] == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5 * S), st.integers(0, 2 * S), st.sampled_from(["ok", "fail", "info"])),
                min_size=1, max_size=60))
def test_perf_counts_every_completion_once(ops) -> None:
    hist = []
    for i, (start, lat, t) in enumerate(ops):
        hist += [Op("invoke", i, "read", time=start), Op(t, i, "read", time=start + lat)]
    hist.sort(key=lambda o: o.time)
    r = PerfChecker(bucket_s=0.5, max_points=10).check(index_history(hist))
    total = sum((b["ok"] + b["fail"] + b["info"]) * 0.5 for b in r["throughput"]["buckets"])
    assert round(total) == len(ops)
    lat = r["latency"]["overall"]
    assert lat["max_ms"] == max(x[1] for x in ops) / MS and lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"]
    assert len(r["points"]) == min(10, len(ops)) and r["points_sampled"] == (len(ops) > 10)
