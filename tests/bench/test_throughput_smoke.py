"""The pipelined load generator (bench/zkload.py) against a real reference server: it completes requests with
no protocol errors, and the per-kind counts follow the read percentage. Speed is not asserted here."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from tests.servers import running_server  # noqa: E402
from zkload import LoadConfig, LoadError, parse_hosts, run_load  # noqa: E402


@pytest.mark.cluster
def test_load_generator_completes_requests_without_protocol_errors() -> None:
    with running_server("reference") as server:
        nodes_before = _node_count(server.four_letter_word("srvr"))
        cfg = LoadConfig(hosts=[(server.host, server.port)], read_pct=50, procs=1, conns=2, window=8,
                         duration=1.0, warmup=0.2)
        result = run_load(cfg)
        assert result.protocol_errors == []
        assert result.errors == {}
        assert result.by_op["read"]["count"] > 0 and result.by_op["write"]["count"] > 0
        assert result.ops == result.by_op["read"]["count"] + result.by_op["write"]["count"]
        assert result.by_op["all"]["p99_ms"] >= result.by_op["all"]["median_ms"] > 0
        # closeSession at the end removed every session's ephemeral znodes; only their parent /zkload is left.
        assert _node_count(server.four_letter_word("srvr")) == nodes_before + 1


def _node_count(srvr: str) -> int:
    return int(next(line for line in srvr.splitlines() if line.startswith("Node count:")).split(":")[1])


@pytest.mark.cluster
def test_only_reads_sends_no_writes() -> None:
    with running_server("reference") as server:
        result = run_load(LoadConfig(hosts=[(server.host, server.port)], read_pct=100, procs=1, conns=1,
                                     window=4, duration=0.5, warmup=0.1))
        assert result.protocol_errors == []
        assert result.by_op["read"]["count"] > 0 and result.by_op["write"]["count"] == 0


def test_unreachable_server_is_a_clear_setup_error() -> None:
    from tests.servers import free_port
    with pytest.raises(LoadError):
        run_load(LoadConfig(hosts=[("127.0.0.1", free_port())], procs=1, conns=1, duration=0.2, warmup=0,
                            setup_timeout=2))


def test_bad_hosts_are_rejected() -> None:
    with pytest.raises(ValueError):
        parse_hosts("127.0.0.1")
    assert parse_hosts("127.0.0.1:1,127.0.0.1:2") == [("127.0.0.1", 1), ("127.0.0.1", 2)]
