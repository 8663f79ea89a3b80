"""Deliberate faults, off by default, for testing that the harness catches a broken server.

`python3 -m reference ... --bug NAME` turns one on; the server logs a WARNING at start and lists the injected
bugs in `srvr` and `mntr` (zk_injected_bugs), so a run against a sabotaged server is never mistaken for a real one.
"""
from __future__ import annotations

STALE_READ_LAG = 5

BUGS: dict[str, str] = {
    "stale-reads": f"getData/exists/getChildren answer from a copy of the tree {STALE_READ_LAG} transactions "
                   "behind, even after sync (a non-linearizable read)",
}
