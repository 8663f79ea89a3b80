"""Per-session ordering, ZooKeeper's client guarantees: a session never goes back in time.

ZooKeeper is not linearizable for reads (a follower may serve stale data), but within one session it
promises: reads never go back (single system image), a session sees its own writes, and a session's
writes are applied in the order it issued them. This checker judges exactly those.

What the workload records
  - Session: ``"session"`` in the op's extra (e.g. kazoo's session id as hex) if the workload has one;
    otherwise the process is the session. (A process that saw ``info`` never comes back, so "process =
    session" is always safe; recording the real session id lets several processes share one.)
  - Reads: ``f="read"`` (configurable ``read_fs``), writes: ``f in ("write", "cas", "create")``
    (``write_fs``); ``key`` = the znode path (``None`` for a single register).
  - Ok reads and writes record, in ``extra`` or in a dict ``value``, any of:
      ``version``  stat.version of the znode after the write / as read (per znode);
      ``mzxid``    stat.mzxid of the znode after the write / as read; for an ok write it is the write's
                   own zxid, so it also orders one session's writes across znodes;
      ``zxid``     the reply header's zxid (the server's last zxid when it answered), if the client
                   exposes it; per session, over all znodes. kazoo keeps the latest as
                   ``client.last_zxid``: reading it right after the reply may give a later reply's
                   zxid, which is still sound (every later op of the session is answered after it).
    Record at least one; with none at all the verdict is ``"unknown"``. ``version`` restarts when a
    znode is deleted and created again, so workloads that delete must record ``mzxid`` instead.

What is checked, for ops a and b of the same session where a completed (ok) before b was invoked:
  - ``monotonic-reads``:   b a read of the same key as read a, and b's version/mzxid < a's;
  - ``read-your-writes``:  b a read of the key a wrote, and b's version/mzxid < a's;
  - ``writes-follow-reads``/``write-order``: b an ok write of the key a read/wrote, b's version/mzxid
    <= a's (a write makes a new version, after everything the session saw);
  - ``write-order`` across keys: b and a ok writes, b's mzxid <= a's;
  - ``zxid-order``: b's reply zxid < a's (b a write: <=).
``fail`` ops did nothing and ``info`` ops returned nothing: neither is judged. Ops of one session that
overlap in time are not ordered against each other (their issue order is not in the history).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from checkers.checker import EXAMPLES, UNKNOWN, hashable, indexed, int_field
from checkers.history import OK, Op, Pair, pairs

PER_KEY = ("version", "mzxid")

# A previous observation: (value, index of the op's completion, "read" | "write").
_Obs = tuple[int, int, str]


def _later(old: _Obs | None, value: int, index: int, kind: str) -> _Obs:
    return (value, index, kind) if old is None or value > old[0] else old


class _Session:
    __slots__ = ("per_key", "write_mzxid", "zxid")

    def __init__(self) -> None:
        self.per_key: dict[tuple[Any, str], _Obs] = {}
        self.write_mzxid: _Obs | None = None
        self.zxid: _Obs | None = None


class SessionOrderChecker:
    def __init__(self, read_fs: tuple[str, ...] = ("read",),
                 write_fs: tuple[str, ...] = ("write", "cas", "create"), name: str = "session-order") -> None:
        self.read_fs, self.write_fs, self.name = tuple(read_fs), tuple(write_fs), name

    def _kind(self, p: Pair) -> str | None:
        if p.invoke.f in self.read_fs:
            return "read"
        if p.invoke.f in self.write_fs:
            return "write"
        return None

    def check(self, history: list[Op], test_info: dict | None = None) -> dict:
        # (index, 0 = invoke / 1 = completion, pair, kind, session)
        events: list[tuple[int, int, Pair, str, Any]] = []
        for p in pairs(indexed(history)):
            kind = self._kind(p)
            if kind is None or p.type != OK:
                continue
            session = p.complete.extra.get("session", p.invoke.extra.get("session", p.invoke.process))
            events.append((p.invoke.index, 0, p, kind, hashable(session)))
            events.append((p.complete.index, 1, p, kind, hashable(session)))
        events.sort(key=lambda e: (e[0], e[1]))

        sessions: dict[Any, _Session] = defaultdict(_Session)
        # What the session had seen when each op was invoked: the bar that op must clear.
        bars: dict[int, tuple[dict[str, _Obs | None], _Obs | None, _Obs | None]] = {}
        anomalies: list[dict] = []
        judged = 0
        for index, phase, p, kind, sid in events:
            s = sessions[sid]
            key = hashable(p.invoke.key if p.invoke.key is not None else p.complete.key)
            if phase == 0:
                bars[index] = ({q: s.per_key.get((key, q)) for q in PER_KEY}, s.write_mzxid, s.zxid)
                continue
            op = p.complete
            per_key_bar, write_bar, zxid_bar = bars.pop(p.invoke.index)
            values = {q: int_field(op, q) for q in (*PER_KEY, "zxid")}
            if all(v is None for v in values.values()):
                continue
            judged += 1

            def report(anomaly: str, field: str, value: int, earlier: _Obs) -> None:
                anomalies.append({"kind": anomaly, "session": sid, "key": p.invoke.key, "field": field,
                                  "op": op.index, "value": value,
                                  "earlier_op": earlier[1], "earlier_value": earlier[0]})

            flagged: set[str] = set()
            for q in PER_KEY:
                v, bar = values[q], per_key_bar[q]
                if v is None or bar is None:
                    continue
                if kind == "read" and v < bar[0]:
                    report("monotonic-reads" if bar[2] == "read" else "read-your-writes", q, v, bar)
                elif kind == "write" and v <= bar[0]:
                    report("writes-follow-reads" if bar[2] == "read" else "write-order", q, v, bar)
                    flagged.add(q)
            mz = values["mzxid"]
            # Across keys; a same-key violation was reported just above and is not repeated.
            if kind == "write" and mz is not None and write_bar is not None and mz <= write_bar[0] \
                    and "mzxid" not in flagged:
                report("write-order", "mzxid", mz, write_bar)
            z = values["zxid"]
            if z is not None and zxid_bar is not None and (z <= zxid_bar[0] if kind == "write" else z < zxid_bar[0]):
                report("zxid-order", "zxid", z, zxid_bar)

            for q in PER_KEY:
                if values[q] is not None:
                    s.per_key[(key, q)] = _later(s.per_key.get((key, q)), values[q], op.index, kind)
            if kind == "write" and mz is not None:
                s.write_mzxid = _later(s.write_mzxid, mz, op.index, kind)
            if z is not None:
                s.zxid = _later(s.zxid, z, op.index, kind)

        result: dict[str, Any] = {
            "valid": (not anomalies) if judged else UNKNOWN,
            "sessions": len(sessions),
            "judged_count": judged,
            "anomaly_count": len(anomalies),
            "anomaly_kinds": dict(Counter(a["kind"] for a in anomalies)),
            "anomalies": anomalies[:EXAMPLES],
        }
        if not judged:
            result["error"] = "no ok read or write recorded a version, mzxid or zxid"
        return result
