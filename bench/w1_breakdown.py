"""Where a lightly loaded replicated write spends its time: one session, one write in flight, against the
leader and against a follower of a 3-server cluster, for the reference server and Apache ZooKeeper.

    python3 bench/w1_breakdown.py                         # both targets
    TMPDIR=/dev/shm python3 bench/w1_breakdown.py reference  # data dirs on tmpfs: fsync costs nothing

Comparing the two reference runs separates the cost of the disk (two fsyncs in a row on the write's path:
the leader's, then a follower's) from the cost of processing. See docs/benchmarks.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import TARGETS, start_cluster  # noqa: E402
from zkload import LoadConfig, run_load  # noqa: E402


def main(targets: list[str]) -> int:
    for target in targets:
        if target not in TARGETS:
            print(f"w1_breakdown: unknown target {target!r}; expected one of {', '.join(TARGETS)}", file=sys.stderr)
            return 2
    for target in targets:
        cluster = start_cluster(target, 3)
        try:
            modes = cluster.modes()
            hosts = cluster.hosts
            # Warm up (ZooKeeper's JIT) with a saturating load before measuring.
            run_load(LoadConfig(hosts=hosts, read_pct=0, procs=2, conns=3, window=20, duration=5, warmup=1))
            for role in ("leader", "follower"):
                host = hosts[modes.index(role)]
                r = run_load(LoadConfig(hosts=[host], read_pct=0, procs=1, conns=1, window=1, duration=3, warmup=1))
                print(f"{target:9s} n=3 one session on the {role:8s}: {r.summary()}", flush=True)
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(TARGETS)))
