"""Deliberate faults, off by default, for testing that the harness catches a broken server.

`python3 -m reference ... --bug NAME` turns one on; the server logs a WARNING at start and lists the injected
bugs in `srvr` and `mntr` (zk_injected_bugs), so a run against a sabotaged server is never mistaken for a real one.

`stale-reads` shows in any run. The others are mistakes real replicated systems have made that stay invisible
while nothing goes wrong: a run without faults passes, and only the named faults expose them (docs/nemeses.md,
"Seeded bugs", says which workload and nemesis catch each). They live in the replicated server only.
"""
from __future__ import annotations

STALE_READ_LAG = 5
# ack-before-log: how long appended log records may sit in process memory before they are written and fsync'd.
LAZY_LOG_FLUSH_S = 1.0

BUGS: dict[str, str] = {
    "stale-reads": f"getData/exists/getChildren answer from a copy of the tree {STALE_READ_LAG} transactions "
                   "behind, even after sync (a non-linearizable read)",
    "lost-quorum-leader": "a leader never steps down when it stops hearing from a quorum (no check-quorum), and "
                          "answers sync from its own commit index without confirming with a quorum that it "
                          "still leads: an isolated leader serves stale reads after the majority moved on",
    "ack-before-quorum": "the leader applies and acknowledges a write once it is in its own log, before a quorum "
                         "has it, and answers sync from its own state without asking anyone (no check-quorum "
                         "either): an isolated leader acknowledges writes the majority never sees",
    "ack-before-log": "log records are reported durable at once but written to disk by the process about every "
                      f"{LAZY_LOG_FLUSH_S:g} s: a crash of a quorum loses acknowledged writes",
    "wall-clock-lease": "the leader answers sync without a quorum round while it holds a lease (half an election "
                        "timeout since a quorum last answered) measured with the wall clock, and does not step "
                        "down on check-quorum while the lease holds: a leader cut off while its clock is set back "
                        "serves stale reads after the majority moved on",
}

# The bugs only the replicated server (--config/--id) has; a standalone server cannot have them.
REPLICATED_ONLY = frozenset({"lost-quorum-leader", "ack-before-quorum", "ack-before-log", "wall-clock-lease"})
