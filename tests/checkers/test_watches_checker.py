"""Watch delivery checker."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from checkers.checker import UNKNOWN
from checkers.history import Op, index_history
from checkers.watches import WatchChecker

PATH = "/w"


def op_pair(process, f, **fields) -> list[Op]:
    value = {"type": fields.pop("type")} if "type" in fields else None
    return [Op("invoke", process, f, key=PATH), Op("ok", process, f, value=value, key=PATH, extra=fields)]


def write(v: int, process="writer") -> list[Op]:
    return op_pair(process, "write", version=v)


def read(v: int, watcher="w", **x) -> list[Op]:
    return op_pair(watcher, "watch-read", version=v, watcher=watcher, **x)


def event(t="NodeDataChanged", watcher="w", **x) -> list[Op]:
    return op_pair(f"{watcher}-events", "watch-event", type=t, watcher=watcher, **x)


def h(*chunks: list[Op]) -> list[Op]:
    return index_history([o for c in chunks for o in c])


def test_watcher_following_every_change_is_valid() -> None:
    r = WatchChecker().check(h(read(0), write(1), event(), read(1), write(2), event(), read(2),
                               op_pair("final", "final-read", version=2)))
    assert r["valid"] is True and r["final_versions"] == {PATH: 2} and r["watchers"] == 1


def test_new_data_without_notification() -> None:
    r = WatchChecker().check(h(read(0), write(1), read(1)))
    assert r["valid"] is False
    assert r["anomalies"] == [{"kind": "data-before-notification", "watcher": "w", "key": PATH, "op": 5,
                               "version": 1, "armed_by": 1, "armed_version": 0}]


def test_state_change_drops_the_watch() -> None:
    r = WatchChecker().check(h(read(0), event("Disconnected"), write(1), read(1)))
    assert r["valid"] is True


def test_went_back_and_missed_final() -> None:
    r = WatchChecker().check(h(read(0), write(1), write(2), event(), read(2), event("suspended"), read(1)))
    assert r["valid"] is False
    assert [a["kind"] for a in r["anomalies"]] == ["went-back", "missed-final"]
    assert r["anomalies"][0] == {"kind": "went-back", "watcher": "w", "key": PATH, "op": 13, "version": 1,
                                 "earlier_op": 9, "earlier_version": 2}
    assert r["anomalies"][1] == {"kind": "missed-final", "watcher": "w", "key": PATH, "last_version": 1,
                                 "last_op": 13, "final_version": 2}


def test_missed_final_version() -> None:
    r = WatchChecker().check(h(read(0), write(1), event(), read(1), write(2)))
    assert r["valid"] is False
    assert r["anomalies"] == [{"kind": "missed-final", "watcher": "w", "key": PATH, "last_version": 1,
                               "last_op": 7, "final_version": 2}]


def test_version_beyond_final() -> None:
    r = WatchChecker().check(h(read(0), event(), read(3), op_pair("final", "final-read", version=2)))
    assert [a["kind"] for a in r["anomalies"]] == ["beyond-final"]


def test_final_read_below_an_acknowledged_write() -> None:
    r = WatchChecker().check(h(read(0), write(1), event(), read(1), op_pair("final", "final-read", version=0)))
    assert r["valid"] is False
    assert r["anomalies"][0] == {"kind": "final-read-below-write", "key": PATH, "op": 9, "version": 0,
                                 "written_version": 1}


def test_info_write_without_final_read_is_unknown() -> None:
    hist = h(read(0), [Op("invoke", "writer", "write", key=PATH), Op("info", "writer", "write", key=PATH)])
    r = WatchChecker().check(hist)
    assert r["valid"] == UNKNOWN and "final version unknown" in r["error"]
    assert WatchChecker().check(h(write(1)))["valid"] == UNKNOWN


def test_without_seq_a_read_is_ordered_by_its_completion() -> None:
    # The watcher invokes its read, the notification arrives, then the read's reply with the new data.
    r0, w1, e, r1 = read(0), write(1), event(), read(1)
    r = WatchChecker().check(h(r0, w1, [r1[0]], e, [r1[1]]))
    assert r["valid"] is True
    r = WatchChecker().check(h(r0, w1, r1, e))
    assert r["anomaly_kinds"] == {"data-before-notification": 1}


def test_seq_gives_the_receive_order() -> None:
    # The event was recorded after the read's reply, but seq says the client received it first.
    hist = h(read(0, seq=1), write(1), read(1, seq=3), event(seq=2))
    assert WatchChecker().check(hist)["valid"] is True
    hist = h(read(0, seq=1), write(1), read(1, seq=2), event(seq=3))
    assert WatchChecker().check(hist)["anomaly_kinds"] == {"data-before-notification": 1}
    # Equal seq: the read took the counter after the event was dispatched, so the event came first.
    hist = h(read(0, seq=0), write(1), read(1, seq=1), event(seq=1))
    assert WatchChecker().check(hist)["valid"] is True


def test_watchers_and_paths_are_judged_apart() -> None:
    r = WatchChecker().check(h(read(0, "a"), read(0, "b"), write(1), event(watcher="a"), read(1, "a"),
                               read(1, "b")))
    assert r["watchers"] == 2
    assert [(a["kind"], a["watcher"]) for a in r["anomalies"]] == [("data-before-notification", "b")]


# --- generated: a ZooKeeper-like server with one lagging follower and a re-arming watcher.

@st.composite
def watch_runs(draw):
    chunks: list[list[Op]] = []
    leader = follower = 0
    armed = False
    connected = True
    want_read = True
    for _ in range(draw(st.integers(1, 40))):
        action = draw(st.sampled_from(["write", "apply", "apply", "read", "disconnect", "reconnect"]))
        if action == "write":
            leader += 1
            chunks.append(write(leader))
        elif action == "apply" and follower < leader:
            follower += 1
            if armed and connected:  # the follower sends the notification before any later reply
                chunks.append(event())
                armed, want_read = False, True
        elif action == "read" and connected and want_read:
            chunks.append(read(follower))
            armed, want_read = True, False
        elif action == "disconnect" and connected:
            chunks.append(event("Disconnected"))
            connected, armed = False, False
        elif action == "reconnect" and not connected:
            connected, want_read = True, True
    # The final heal: reconnect, catch up, and the watcher re-reads.
    if not connected:
        connected, want_read = True, True
    if follower < leader and armed:
        chunks.append(event())
        want_read = True
    follower = leader
    chunks.append(read(follower))
    chunks.append(op_pair("final", "final-read", version=leader))
    return h(*chunks)


@settings(max_examples=100, deadline=None)
@given(watch_runs())
def test_simulated_watcher_is_valid(hist) -> None:
    r = WatchChecker().check(hist)
    assert r["valid"] is True, r


@settings(max_examples=100, deadline=None)
@given(watch_runs(), st.data())
def test_dropping_a_notification_is_caught(hist, data) -> None:
    # Only notifications whose next observation is a read of newer data are provably missing.
    obs = [o for o in hist if o.type == "ok" and o.f in ("watch-read", "watch-event")]
    candidates = [i for i in range(1, len(obs) - 1)
                  if obs[i].f == "watch-event" and obs[i].value["type"] == "NodeDataChanged"
                  and obs[i + 1].f == "watch-read" and obs[i - 1].f == "watch-read"
                  and obs[i + 1].extra["version"] > obs[i - 1].extra["version"]]
    if not candidates:
        return
    victim = obs[data.draw(st.sampled_from(candidates))]
    pruned = [o for o in hist if not (o.process == victim.process and o.index in (victim.index - 1, victim.index))]
    r = WatchChecker().check(pruned)
    assert r["valid"] is False and "data-before-notification" in r["anomaly_kinds"]
