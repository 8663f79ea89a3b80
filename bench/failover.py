"""Failover time of a 3-server reference ensemble on loopback: kill -9 the leader, measure until another
server says `Mode: leader` (srvr) and until a kazoo client connected to all three completes a write.

  python3 bench/failover.py [--rounds N]

Prints per-round seconds and the median. Each round restarts the killed server and waits for a stable leader.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kazoo.client import KazooClient  # noqa: E402
from kazoo.retry import KazooRetry  # noqa: E402

from tests.cluster_servers import running_cluster  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    elections, writes = [], []
    with running_cluster(3) as cluster:
        client = KazooClient(hosts=cluster.all_addresses, timeout=10,
                             connection_retry=KazooRetry(max_tries=-1, delay=0.02, max_delay=0.2),
                             command_retry=KazooRetry(max_tries=-1, delay=0.02, max_delay=0.2))
        client.start(30)
        try:
            for r in range(args.rounds):
                old = cluster.wait_leader()
                client.create(f"/before-{r}", b"")
                t0 = time.monotonic()
                cluster.members[old].kill()
                cluster.wait_leader(timeout=60, exclude=old)
                t1 = time.monotonic()
                client.retry(client.create, f"/after-{r}", b"")
                t2 = time.monotonic()
                elections.append(t1 - t0)
                writes.append(t2 - t0)
                print(f"round {r + 1}: killed server {old}; new leader after {t1 - t0:.2f}s, "
                      f"first write acknowledged after {t2 - t0:.2f}s", flush=True)
                cluster.members[old].start()
                cluster.wait_leader(timeout=60)
        finally:
            client.stop()
            client.close()
    print(f"median: new leader {statistics.median(elections):.2f}s, "
          f"first write {statistics.median(writes):.2f}s over {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
