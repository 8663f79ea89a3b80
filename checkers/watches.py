"""Watch delivery: watchers see versions in order, see a notification before the new data, miss no final.

ZooKeeper promises that a client sees a watch event for a znode before it sees the znode's new data, that
events follow the order of updates, and (with a client that re-reads and re-arms after each event or
reconnect, as kazoo's DataWatch does) a watcher ends up at the final version.

Op shapes (``key`` = the watched znode's path in all of them; several paths are judged independently).
The watched znode must not be deleted during the test (its version would restart).
  - Writers: ``f="write"``, ok records ``version`` (stat.version after the setData).
  - ``f="final-read"`` (optional, recommended): after the final heal, one ok read with ``version``; it
    fixes the final version. Without it the final version is the highest ok write's version, and is
    unknown if some write was ``info`` (it may have taken effect later).
  - Watcher reads: ``f="watch-read"``, ok records ``version``; each one (re)arms a data watch on the path.
  - Notifications: ``f="watch-event"``, recorded as an invoke immediately followed by its ok, under a
    process of their own (they arrive while a read may be open); ``value={"type": T}`` with T a data
    event (``NodeDataChanged``, ``NodeCreated``, ``NodeDeleted``) or a connection state change
    (anything else: ``Disconnected``, ``Expired``, ``suspended``, ``lost`` ...), which drops the armed
    watch (kazoo drops its watches on SUSPENDED). Optionally ``version`` when the client supplied a stat.
  - All of one watcher's reads and events carry ``"watcher": <name>`` (in ``extra``); without it the
    process is the watcher.
  - Order: the order in which the client received replies and events. If every one of a watcher's ok
    reads and events carries an integer ``"seq"``, that order is used (an event before a read of equal
    seq); otherwise the positions of the reads' completions and the events in the history. kazoo runs watch callbacks on its callback thread,
    possibly after the reader thread handed the next reply over: measured against ZooKeeper 3.8, 24 of
    300 polled reads of new data were recorded before their watch callback. The recipe that fixes it
    (0 of 300): wrap ``client.handler.dispatch_callback`` -- called on the reader thread, in wire order
    with replies -- to bump a counter for each ``"watch"`` callback and hand its value to the callback as
    the event's seq; give each read the counter's value read just after the reply returned. (An event
    that arrives just after the reply may then sort before the read; that can only hide an anomaly.)
    Without ``seq``, a kazoo watcher must read only in response to an event or a reconnection (as
    DataWatch does), never poll.

Anomalies, per watcher and path:
  - ``went-back``: a version lower than one the watcher saw before;
  - ``data-before-notification``: a read returned a newer version than the read that armed the watch,
    with no data event and no connection-state event received in between;
  - ``missed-final``: the last version the watcher saw is below the final version;
  - ``beyond-final``: the last version the watcher saw is above the final version (never written);
  - ``final-read-below-write`` (per path): the final read returned a version below an acknowledged
    write's (a lost write; the watchers are then judged against the final read).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from checkers.checker import EXAMPLES, UNKNOWN, hashable, indexed, int_field, merge_valid
from checkers.history import INFO, OK, Op, pairs


class WatchChecker:
    def __init__(self, name: str = "watches") -> None:
        self.name = name

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        ps = pairs(indexed(history))
        ok_versions: dict[Any, list[int]] = defaultdict(list)
        uncertain_write: set[Any] = set()
        final_read: dict[Any, tuple[int, int]] = {}
        observed: dict[tuple[Any, Any], list[Op]] = defaultdict(list)  # (watcher, key) -> its ok reads/events
        for p in ps:
            f, key = p.invoke.f, hashable(p.invoke.key)
            if f == "write":
                if p.type == OK and int_field(p.complete, "version") is not None:
                    ok_versions[key].append(int_field(p.complete, "version"))
                elif p.type == INFO:
                    uncertain_write.add(key)
            elif f == "final-read" and p.type == OK:
                v = int_field(p.complete, "version")
                if v is not None:
                    final_read[key] = (v, p.complete.index)
            elif f in ("watch-read", "watch-event") and p.type == OK:
                op = p.complete
                watcher = op.extra.get("watcher", p.invoke.extra.get("watcher", op.process))
                observed[(hashable(watcher), key)].append(op)

        anomalies: list[dict] = []
        finals: dict[Any, int | None] = {}
        for key in {k for _, k in observed}:
            if key in final_read:
                finals[key] = final_read[key][0]
                if ok_versions[key] and max(ok_versions[key]) > finals[key]:
                    anomalies.append({"kind": "final-read-below-write", "key": key,
                                      "op": final_read[key][1], "version": finals[key],
                                      "written_version": max(ok_versions[key])})
            elif key in uncertain_write or not ok_versions[key]:
                finals[key] = None
            else:
                finals[key] = max(ok_versions[key])

        verdicts = [False] if anomalies else []
        for (watcher, key), ops in sorted(observed.items(), key=lambda kv: kv[1][0].index):
            if all(isinstance(o.extra.get("seq"), int) for o in ops):
                ops = sorted(ops, key=lambda o: (o.extra["seq"], o.f != "watch-event", o.index))
            else:  # a reply is received when its op completes, not when it was invoked
                ops = sorted(ops, key=lambda o: o.index)
            found = self._judge(watcher, key, ops, finals[key])
            anomalies += found
            verdicts.append(False if found else (UNKNOWN if finals[key] is None else True))
        valid = merge_valid(verdicts) if verdicts else UNKNOWN
        result: dict[str, Any] = {
            "valid": valid,
            "watchers": len({w for w, _ in observed}),
            "final_versions": {str(k): v for k, v in finals.items()},
            "anomaly_count": len(anomalies),
            "anomaly_kinds": dict(Counter(a["kind"] for a in anomalies)),
            "anomalies": anomalies[:EXAMPLES],
        }
        if not verdicts:
            result["error"] = "no ok watch-read or watch-event in the history"
        elif valid == UNKNOWN:
            result["error"] = "final version unknown (no final-read, and a write was info or none was ok)"
        return result

    @staticmethod
    def _judge(watcher: Any, key: Any, ops: list[Op], final: int | None) -> list[dict]:
        found: list[dict] = []
        top: tuple[int, int] | None = None   # (highest version seen, op index)
        last: tuple[int, int] | None = None  # (latest version seen, op index)
        armed: tuple[int, int] | None = None  # (version, op index) of the read whose watch is pending
        for op in ops:
            v = int_field(op, "version")
            if op.f == "watch-event":
                armed = None  # a data event fires the one-shot watch; a state change drops it
            if v is not None:
                if top is not None and v < top[0]:
                    found.append({"kind": "went-back", "watcher": watcher, "key": key, "op": op.index,
                                  "version": v, "earlier_op": top[1], "earlier_version": top[0]})
                if top is None or v > top[0]:
                    top = (v, op.index)
                last = (v, op.index)
            if op.f == "watch-read" and v is not None:
                if armed is not None and v > armed[0]:
                    found.append({"kind": "data-before-notification", "watcher": watcher, "key": key,
                                  "op": op.index, "version": v, "armed_by": armed[1], "armed_version": armed[0]})
                armed = (v, op.index)
        if final is not None and last is not None and last[0] != final:
            found.append({"kind": "missed-final" if last[0] < final else "beyond-final", "watcher": watcher,
                          "key": key, "last_version": last[0], "last_op": last[1], "final_version": final})
        return found
