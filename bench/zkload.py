"""Pipelined ZooKeeper load generator: raw sockets and the project's codec, many requests in flight.

kazoo spends about a core on 5-7k ops/s, so it measures itself rather than the server. This client runs
`procs` processes x `conns` sessions per process x `window` requests in flight per session; each session does
the ConnectRequest/ConnectResponse handshake, creates its own ephemeral znodes with 100-byte values, then issues
getData/setData on them in the given proportion, matching replies FIFO by xid as ZooKeeper's clients do.
Request bytes are pre-encoded with the codec, so the hot loop only patches the xid and reads the 16-byte reply
header; the first reply of each kind is decoded in full to check that the server speaks the protocol.

Two modes:
  saturate (default): keep `window` requests in flight per session; measures maximum throughput.
  paced (--rate R):   issue R requests/s in total on a fixed schedule (at most `window` in flight per session);
                      latency counts from the scheduled send time, so a server that falls behind is charged
                      for the queueing it causes. Used to compare latency at the same offered load.

Usage (one run, prints a summary):
    python3 bench/zkload.py --hosts 127.0.0.1:2181[,...] [--read-pct 50] [--procs 2] [--conns 3]
        [--window 50] [--duration 5] [--warmup 1] [--rate OPS]
All traffic goes to the hosts given (loopback in this project). Every loop is bounded by the run's deadline.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import selectors
import signal
import socket
import struct
import sys
import time
from array import array
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reference.codec import messages as M  # noqa: E402
from reference.codec import records as R  # noqa: E402
from reference.codec.constants import CreateFlag, Err, OpCode, Perm  # noqa: E402
from reference.codec.errors import DecodeError  # noqa: E402
from reference.codec.framing import FrameReader  # noqa: E402

GET, SET = OpCode.GET_DATA, OpCode.SET_DATA
OP_NAMES = {GET: "read", SET: "write"}
PING_XID = -2
NOTIFICATION_XID = -1
SESSION_TIMEOUT_MS = 10_000
OPEN_ACL = [R.ACL(Perm.ALL, R.Id("world", "anyone"))]
PARENT = "/zkload"

_reply_header = struct.Struct(">iqi").unpack_from
_pack_xid = struct.Struct(">i").pack


class LoadError(RuntimeError):
    """The load could not be set up (server unreachable, handshake refused, znodes not creatable)."""


@dataclass
class LoadConfig:
    hosts: list[tuple[str, int]]
    read_pct: float = 50.0
    procs: int = 2
    conns: int = 3
    window: int = 50
    duration: float = 5.0
    warmup: float = 1.0
    rate: float | None = None          # total requests/s over all sessions; None = saturate
    value_size: int = 100
    znodes_per_conn: int = 4
    setup_timeout: float = 20.0
    seed: int = 1


@dataclass
class LoadResult:
    config: dict[str, Any]
    ops: int                            # completed in the measurement window, all kinds
    ops_per_s: float
    by_op: dict[str, dict[str, float]]  # "read"/"write"/"all" -> count, ops_per_s, median_ms, p99_ms, mean_ms
    errors: dict[str, int]              # server error code -> count (non-zero err in a reply)
    protocol_errors: list[str]          # xid mismatch, undecodable reply, connection lost mid-run ...
    sessions: int
    offered_rate: float | None = None
    client_cpu_cores: float = 0.0       # CPU the load generator itself used during the window, in cores

    def summary(self) -> str:
        parts = [f"{self.ops_per_s:,.0f} ops/s (client used {self.client_cpu_cores:.2f} cores)"]
        for name in ("read", "write"):
            s = self.by_op.get(name)
            if s and s["count"]:
                parts.append(f"{name} {s['ops_per_s']:,.0f}/s median {s['median_ms']:.2f} ms p99 {s['p99_ms']:.2f} ms")
        if self.errors:
            parts.append(f"server errors {self.errors}")
        if self.protocol_errors:
            parts.append(f"PROTOCOL ERRORS {len(self.protocol_errors)}: {self.protocol_errors[:3]}")
        return "; ".join(parts)


def quantile(sorted_values: Sequence[int], q: float) -> float:
    """Nearest-rank quantile of an ascending sequence (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, int(q * len(sorted_values) + 0.5) - 1))
    return float(sorted_values[idx])


def parse_hosts(text: str) -> list[tuple[str, int]]:
    hosts = []
    for part in text.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"bad host {part!r}; expected HOST:PORT")
        hosts.append((host, int(port)))
    if not hosts:
        raise ValueError("no hosts given")
    return hosts


# ---------------------------------------------------------------------------------------------- one session

class _Session:
    """One ZooKeeper session with its own znodes and FIFO of requests in flight."""

    __slots__ = ("sock", "reader", "inflight", "next_xid", "get_parts", "set_parts", "out", "last_send",
                 "next_due", "alive", "checked", "closing")

    def __init__(self, sock: socket.socket, paths: list[str], value: bytes) -> None:
        self.sock = sock
        self.reader = FrameReader()
        self.inflight: deque[tuple[int, int, int]] = deque()   # (xid, opcode, start ns)
        self.next_xid = 100                                     # setup used the xids below
        # (length prefix, body after xid) per znode: only the xid differs between requests.
        self.get_parts = [_split(M.encode_request(0, GET, R.GetDataRequest(p, False))) for p in paths]
        self.set_parts = [_split(M.encode_request(0, SET, R.SetDataRequest(p, value, -1))) for p in paths]
        self.out = bytearray()
        self.last_send = time.perf_counter_ns()
        self.next_due = 0
        self.alive = True
        self.checked: set[int] = set()
        self.closing = False


def _split(framed: bytes) -> tuple[bytes, bytes]:
    return framed[:4], framed[8:]


def _recv_frame(sock: socket.socket, reader: FrameReader, deadline: float) -> bytes:
    """Blocking read of one frame during setup (before the session goes non-blocking)."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LoadError("timed out waiting for a reply during setup")
        sock.settimeout(remaining)
        data = sock.recv(65536)
        if not data:
            raise LoadError("server closed the connection during setup")
        frames = reader.feed(data)
        if frames:
            if len(frames) > 1:
                raise LoadError("unexpected extra frames during setup")
            return frames[0]


def _open_session(host: tuple[str, int], paths: list[str], value: bytes, deadline: float) -> _Session:
    where = f"{host[0]}:{host[1]}"
    try:
        sock = socket.create_connection(host, timeout=max(0.1, deadline - time.monotonic()))
    except OSError as e:
        raise LoadError(f"cannot connect to {where}: {e}") from None
    step = "handshake"
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = FrameReader()
        sock.sendall(M.encode_connect_request(R.ConnectRequest(0, 0, SESSION_TIMEOUT_MS, 0, bytes(16), False)))
        resp = M.decode_connect_response(_recv_frame(sock, reader, deadline))
        if resp.session_id == 0 or resp.timeout <= 0:
            raise LoadError(f"{where} refused the session (timeout {resp.timeout})")
        xid = 1
        for path in [PARENT, *paths]:
            step = f"create {path}"
            flags = 0 if path == PARENT else CreateFlag.EPHEMERAL
            sock.sendall(M.encode_request(xid, OpCode.CREATE, R.CreateRequest(path, value, OPEN_ACL, flags)))
            header, _ = M.decode_reply(_recv_frame(sock, reader, deadline), OpCode.CREATE)
            if header.xid != xid:
                raise LoadError(f"{where}: {step}: reply xid {header.xid} != {xid}")
            if header.err not in (0, Err.NODE_EXISTS) or (header.err and path != PARENT):
                raise LoadError(f"{where}: {step} failed with error {header.err}")
            xid += 1
        sock.setblocking(False)
        session = _Session(sock, paths, value)
        session.reader = reader
        return session
    except LoadError as e:
        sock.close()
        if str(e).startswith(where):
            raise
        raise LoadError(f"{where}: {step}: {e}") from None
    except (OSError, DecodeError) as e:
        sock.close()
        raise LoadError(f"{where}: {step}: {type(e).__name__}: {e}") from None
    except BaseException:
        sock.close()
        raise


# ---------------------------------------------------------------------------------------------- one process

def _worker(cfg: LoadConfig, index: int, conn: Any) -> None:
    """Runs in a child process: set up sessions, report ready, wait for the start time, run, send results."""
    # Ctrl-C or SIGTERM to the process group ends a worker quietly; the parent reports and cleans up.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        result = _worker_run(cfg, index, conn)
    except LoadError as e:
        result = {"setup_error": str(e)}
    except OSError as e:
        result = {"setup_error": f"{type(e).__name__}: {e}"}
    try:
        conn.send(result)
    finally:
        conn.close()


def _worker_run(cfg: LoadConfig, index: int, conn: Any) -> dict[str, Any]:
    rng = random.Random(cfg.seed * 1000 + index)
    value = bytes(rng.randrange(97, 123) for _ in range(cfg.value_size))
    deadline = time.monotonic() + cfg.setup_timeout
    sessions: list[_Session] = []
    tag = f"{os.getpid()}-{time.monotonic_ns() % 10**9}"
    try:
        for c in range(cfg.conns):
            host = cfg.hosts[(index * cfg.conns + c) % len(cfg.hosts)]
            paths = [f"{PARENT}/{tag}-{c}-{k}" for k in range(cfg.znodes_per_conn)]
            sessions.append(_open_session(host, paths, value, deadline))
        conn.send("ready")
        if not conn.poll(cfg.setup_timeout + 30):
            raise LoadError("no start signal from the parent")
        start_ns = conn.recv()
        if start_ns is None:
            return {"aborted": True}
        return _drive(cfg, sessions, rng, start_ns)
    finally:
        for s in sessions:
            s.sock.close()


def _drive(cfg: LoadConfig, sessions: list[_Session], rng: random.Random, start_ns: int) -> dict[str, Any]:
    read_frac = cfg.read_pct / 100.0
    window = cfg.window
    measure_from = start_ns + int(cfg.warmup * 1e9)
    measure_to = measure_from + int(cfg.duration * 1e9)
    hard_stop = measure_to + 5_000_000_000       # drain in-flight replies, then give up
    lat = {GET: array("q"), SET: array("q")}
    errors: dict[int, int] = {}
    protocol_errors: list[str] = []
    nsess = len(sessions)
    interval = 0
    if cfg.rate:
        # Each session gets an equal share of the total rate; stagger their schedules within one interval.
        interval = int(1e9 * cfg.procs * cfg.conns / cfg.rate)
        for i, s in enumerate(sessions):
            s.next_due = start_ns + (interval * i) // max(1, nsess) + rng.randrange(max(1, interval // nsess))
    ping_every = SESSION_TIMEOUT_MS * 1_000_000 // 3
    sel = selectors.DefaultSelector()
    for s in sessions:
        sel.register(s.sock, selectors.EVENT_READ, s)
    now = time.perf_counter_ns()
    while now < start_ns:
        time.sleep(min(0.05, (start_ns - now) / 1e9))
        now = time.perf_counter_ns()

    def fill(s: _Session, now: int) -> None:
        if s.closing:
            return
        room = window - len(s.inflight)
        if room <= 0:
            return
        chunks = []
        xid = s.next_xid
        inflight = s.inflight
        while room > 0:
            if interval:
                if s.next_due > now or s.next_due >= measure_to:
                    break
                t0 = s.next_due            # open loop: charge from the scheduled time
                s.next_due += interval
            else:
                if now >= measure_to:
                    break
                t0 = now
            if rng.random() < read_frac:
                op, parts = GET, s.get_parts
            else:
                op, parts = SET, s.set_parts
            prefix, body = parts[xid % len(parts)]
            chunks.append(prefix)
            chunks.append(_pack_xid(xid))
            chunks.append(body)
            inflight.append((xid, op, t0))
            xid += 1
            room -= 1
        if chunks:
            s.next_xid = xid
            s.out += b"".join(chunks)
            s.last_send = now
            flush(s)

    def flush(s: _Session) -> None:
        try:
            sent = s.sock.send(s.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as e:
            lose(s, f"send failed: {e}")
            return
        del s.out[:sent]
        sel.modify(s.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if s.out else 0), s)

    def lose(s: _Session, why: str) -> None:
        if s.alive:
            s.alive = False
            if not s.closing:
                protocol_errors.append(why)
            sel.unregister(s.sock)

    def on_readable(s: _Session, now: int) -> None:
        try:
            data = s.sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            lose(s, f"recv failed: {e}")
            return
        if not data:
            lose(s, "server closed the connection")
            return
        try:
            frames = s.reader.feed(data)
        except DecodeError as e:
            lose(s, f"bad frame: {e}")
            return
        inflight = s.inflight
        for payload in frames:
            if len(payload) < 16:
                lose(s, f"short reply ({len(payload)} bytes)")
                return
            xid, _zxid, err = _reply_header(payload)
            if xid == PING_XID:
                continue
            if xid == NOTIFICATION_XID:
                lose(s, "unexpected watch notification (no watch was set)")
                return
            if not inflight:
                if s.closing and xid == s.next_xid:
                    lose(s, "closed")            # closeSession answered
                    return
                lose(s, f"reply xid {xid} with nothing in flight")
                return
            want, op, t0 = inflight.popleft()
            if xid != want:
                lose(s, f"reply xid {xid} out of order (expected {want})")
                return
            if err:
                errors[err] = errors.get(err, 0) + 1
            elif op not in s.checked:
                s.checked.add(op)
                try:
                    _, record = M.decode_reply(payload, op)
                except DecodeError as e:
                    lose(s, f"undecodable {OP_NAMES[op]} reply: {e}")
                    return
                if op == GET and (record is None or len(record.data or b"") != cfg.value_size):
                    lose(s, "getData returned a value of the wrong size")
                    return
            if measure_from <= now < measure_to and t0 >= measure_from:
                lat[op].append(now - t0)

    closed_sent = False
    cpu_from = cpu_to = None
    while True:
        now = time.perf_counter_ns()
        if cpu_from is None and now >= measure_from:
            cpu_from = time.process_time()
        if cpu_to is None and now >= measure_to:
            cpu_to = time.process_time()
        live = [s for s in sessions if s.alive]
        if not live or now >= hard_stop:
            break
        if now >= measure_to:
            drained = all(not s.inflight and not s.out for s in live)
            if drained and not closed_sent:
                # closeSession removes the ephemerals now rather than after the session timeout.
                for s in live:
                    s.closing = True
                    s.out += M.encode_request(s.next_xid, OpCode.CLOSE_SESSION)
                    flush(s)
                closed_sent = True
                hard_stop = min(hard_stop, now + 2_000_000_000)
        for s in live:
            if s.alive and not s.out:
                fill(s, now)
                if not interval and s.alive and not s.inflight and now - s.last_send > ping_every:
                    s.out += M.encode_request(PING_XID, OpCode.PING)
                    s.last_send = now
                    flush(s)
        timeout = 0.1
        if interval:
            due = min((s.next_due for s in live if len(s.inflight) < window and s.next_due < measure_to),
                      default=None)
            if due is not None:
                timeout = max(0.0, min(timeout, (due - now) / 1e9))
        for key, events in sel.select(timeout):
            s = key.data
            if not s.alive:
                continue
            if events & selectors.EVENT_READ:
                on_readable(s, time.perf_counter_ns())
            if s.alive and events & selectors.EVENT_WRITE and s.out:
                flush(s)
    sel.close()
    unfinished = sum(len(s.inflight) for s in sessions if s.alive and not s.closing)
    if unfinished:
        protocol_errors.append(f"{unfinished} requests unanswered at the end")
    return {
        "lat": {int(op): a.tobytes() for op, a in lat.items()},
        "errors": {int(k): v for k, v in errors.items()},
        "protocol_errors": protocol_errors,
        "sessions": nsess,
        "cpu_s": (cpu_to or time.process_time()) - (cpu_from or 0.0) if cpu_from is not None else 0.0,
    }


# ---------------------------------------------------------------------------------------------- orchestration

def run_load(cfg: LoadConfig) -> LoadResult:
    """Run one load in `cfg.procs` child processes and merge their measurements. Raises LoadError on setup failure."""
    if not 0 <= cfg.read_pct <= 100:
        raise ValueError("read_pct must be within 0..100")
    if cfg.procs < 1 or cfg.conns < 1 or cfg.window < 1 or cfg.duration <= 0 or cfg.warmup < 0:
        raise ValueError("procs, conns, window and duration must be positive")
    if cfg.rate is not None and cfg.rate <= 0:
        raise ValueError("rate must be positive")
    ctx = mp.get_context("fork")
    pipes, procs = [], []
    try:
        for i in range(cfg.procs):
            parent_end, child_end = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(cfg, i, child_end), daemon=True)
            p.start()
            child_end.close()
            pipes.append(parent_end)
            procs.append(p)
        setup_errors = []
        for end in pipes:
            if not end.poll(cfg.setup_timeout + 5):
                setup_errors.append("a worker did not finish setup in time")
                continue
            msg = end.recv()
            if msg != "ready":
                setup_errors.append(msg.get("setup_error", str(msg)))
        start_ns = time.perf_counter_ns() + 50_000_000
        for end in pipes:
            try:
                end.send(None if setup_errors else start_ns)
            except OSError:
                pass
        if setup_errors:
            raise LoadError("; ".join(dict.fromkeys(setup_errors)))
        wait = cfg.warmup + cfg.duration + 15 + cfg.setup_timeout
        outputs = []
        for end in pipes:
            if not end.poll(wait):
                raise LoadError("a worker did not report within the run's time limit")
            outputs.append(end.recv())
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
        for end in pipes:
            end.close()
    return _merge(cfg, outputs)


def _merge(cfg: LoadConfig, outputs: list[dict[str, Any]]) -> LoadResult:
    lat: dict[int, array] = {GET: array("q"), SET: array("q")}
    errors: dict[str, int] = {}
    protocol_errors: list[str] = []
    sessions = 0
    cpu = 0.0
    for out in outputs:
        if "setup_error" in out:
            raise LoadError(out["setup_error"])
        for op, raw in out["lat"].items():
            lat[op].frombytes(raw)
        for code, n in out["errors"].items():
            name = Err(code).name if code in Err._value2member_map_ else str(code)
            errors[name] = errors.get(name, 0) + n
        protocol_errors += out["protocol_errors"]
        sessions += out["sessions"]
        cpu += out["cpu_s"]
    by_op: dict[str, dict[str, float]] = {}
    everything = sorted(lat[GET].tolist() + lat[SET].tolist())
    for name, values in (("read", sorted(lat[GET])), ("write", sorted(lat[SET])), ("all", everything)):
        by_op[name] = {
            "count": len(values),
            "ops_per_s": len(values) / cfg.duration,
            "median_ms": quantile(values, 0.5) / 1e6,
            "p99_ms": quantile(values, 0.99) / 1e6,
            "mean_ms": (sum(values) / len(values) / 1e6) if values else 0.0,
        }
    cfg_dict = {k: v for k, v in vars(cfg).items() if k != "hosts"}
    cfg_dict["hosts"] = [f"{h}:{p}" for h, p in cfg.hosts]
    return LoadResult(config=cfg_dict, ops=len(everything), ops_per_s=len(everything) / cfg.duration,
                      by_op=by_op, errors=errors, protocol_errors=protocol_errors, sessions=sessions,
                      offered_rate=cfg.rate, client_cpu_cores=cpu / cfg.duration)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", required=True, help="HOST:PORT[,HOST:PORT...]; sessions are spread over them")
    p.add_argument("--read-pct", type=float, default=50.0, help="percentage of getData requests (default 50)")
    p.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    p.add_argument("--conns", type=int, default=3, help="sessions per process (default 3)")
    p.add_argument("--window", type=int, default=50, help="requests in flight per session (default 50)")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first (default 1)")
    p.add_argument("--rate", type=float, help="paced mode: total requests/s (default: saturate)")
    p.add_argument("--value-size", type=int, default=100, help="bytes per znode value (default 100)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    try:
        cfg = LoadConfig(hosts=parse_hosts(args.hosts), read_pct=args.read_pct, procs=args.procs,
                         conns=args.conns, window=args.window, duration=args.duration, warmup=args.warmup,
                         rate=args.rate, value_size=args.value_size)
        result = run_load(cfg)
    except (ValueError, LoadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(vars(result), indent=1) if args.json else result.summary())
    return 1 if result.protocol_errors else 0


if __name__ == "__main__":
    sys.exit(main())
