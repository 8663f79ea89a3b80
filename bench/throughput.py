"""Throughput and latency of the reference server against Apache ZooKeeper 3.8, same machine, same run, same client.

For each cluster size (1, 3, 5 servers) this starts every target on 127.0.0.1 (Apache ZooKeeper from the Debian
package; the reference server via `python3 -m reference`, or `--config FILE --id N` for an ensemble) and drives
it with the pipelined load generator in bench/zkload.py (raw sockets + the project's codec):

  saturated   procs x conns sessions, `window` getData/setData in flight each (100-byte values): max ops/s,
              with median and p99 latency (mostly queueing at that load, by Little's law);
  same load   paced (open-loop) run at `--paced-frac` (default 0.5) of the slower target's saturated rate, on
              every target: the latency comparison "at the same load" (p99 write latency target: <= 2x ZooKeeper);
  W=1         closed loop, one request in flight per session: the latency of an unloaded request.

It prints every figure, reference/ZooKeeper ratios, the project's targets (>= 0.5x ZooKeeper's 3-server read and
write throughput; p99 write latency <= 2x ZooKeeper's at the same load) and what the 1 -> 3 -> 5 server runs show
about the cost of a write. With --out it writes results.json (and throughput.png with --plot: ops/s against
read percentage, one panel per cluster size).

Every server, every client and the network share one machine, so adding servers cannot add read capacity here;
only the rising write cost shows. The machine may be shared with other work, so figures are noisy: compare
ratios within one run rather than absolute numbers across runs.

Usage:
    python3 bench/throughput.py [--quick] [--servers 1,3,5] [--targets reference,zookeeper]
        [--read-pct 0,50,100] [--plot] [--out DIR] [--duration S] [--procs P --conns C --window W]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from tests.servers import (  # noqa: E402
    HOST, ServerProcess, ServerStartError, four_letter_word, free_port, reference_server, zookeeper_available,
    zookeeper_ensemble, zookeeper_server,
)
from zkload import LoadConfig, LoadError, LoadResult, run_load  # noqa: E402

TARGETS = ("reference", "zookeeper")
CURVE_PCTS = (0, 25, 50, 75, 90, 100)
ZK_HEAP = "-Xmx512m"


class Unavailable(Exception):
    """This target cannot run at this cluster size on this machine/build; the message says why."""


# ---------------------------------------------------------------------------------------------- clusters

@dataclass
class Cluster:
    target: str
    size: int
    members: list[ServerProcess]
    workdir: Path

    @property
    def hosts(self) -> list[tuple[str, int]]:
        return [(HOST, m.port) for m in self.members]

    def modes(self) -> list[str]:
        out = []
        for m in self.members:
            try:
                text = four_letter_word(m.port, "srvr", timeout=1.0)
            except OSError:
                out.append("down")
                continue
            mode = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Mode:")),
                        "not serving")
            out.append(mode)
        return out

    def stop(self) -> None:
        for m in self.members:
            m.stop(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _tune_zookeeper(member: ServerProcess) -> None:
    # tests/servers.py starts ZooKeeper small and quick to boot for the test suite (256 MB, C1 only, serial GC);
    # a benchmark wants the JVM as a user runs it: full JIT, default GC, 512 MB.
    argv = [a for a in member.argv if a not in ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")]
    member.argv = [ZK_HEAP if a.startswith("-Xmx") else a for a in argv]


def _wait_for_quorum(cluster: Cluster, timeout: float) -> None:
    """Until every member answers srvr and exactly one is the leader (standalone: it says standalone)."""
    deadline = time.monotonic() + timeout
    while True:
        dead = [m for m in cluster.members if not m.running]
        if dead:
            m = dead[0]
            raise Unavailable(f"{cluster.target} server on port {m.port} exited with {m.proc.returncode}: "
                              f"{_last_lines(m, 3)}")
        modes = cluster.modes()
        if cluster.size == 1 and modes[0] == "standalone":
            return
        if modes.count("leader") == 1 and modes.count("follower") == cluster.size - 1:
            return
        if time.monotonic() > deadline:
            raise Unavailable(f"{cluster.target} {cluster.size}-server cluster had no leader after {timeout:.0f}s "
                              f"(modes {modes})")
        time.sleep(0.2)


def _last_lines(member: ServerProcess, n: int) -> str:
    return " | ".join(line.strip() for line in member.log_tail(n).splitlines() if line.strip())


def start_cluster(target: str, size: int, timeout: float = 90.0) -> Cluster:
    """Start `target` with `size` servers on loopback and wait for it to serve; raises Unavailable."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{target}{size}-"))
    if target == "zookeeper":
        if not zookeeper_available():
            raise Unavailable("Apache ZooKeeper (Debian package `zookeeper`) or java is not installed")
        if size == 1:
            members = [zookeeper_server(workdir=workdir / "zk1", wait_ready=False)]
        else:
            members = zookeeper_ensemble(size, workdir=workdir)
        for m in members:
            _tune_zookeeper(m)
    elif target == "reference":
        members = [reference_server(workdir=workdir / "ref1")] if size == 1 else _reference_ensemble(size, workdir)
        for m in members:
            m.wait_ready = False
    else:
        raise ValueError(f"unknown target {target!r}; expected one of {TARGETS}")
    cluster = Cluster(target, size, members, workdir)
    try:
        for m in members:
            m.start(timeout)
        _wait_for_quorum(cluster, timeout)
    except (Unavailable, ServerStartError, OSError) as e:
        cluster.stop()
        raise Unavailable(str(e)) from None
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _reference_ensemble(size: int, workdir: Path) -> list[ServerProcess]:
    """Reference servers in replicated mode: one config of `server.N=127.0.0.1:peer_port:client_port` lines."""
    ports = [(free_port(), free_port()) for _ in range(size)]
    config = workdir / "ensemble.cfg"
    config.write_text("".join(f"server.{i + 1}={HOST}:{peer}:{client}\n" for i, (peer, client) in enumerate(ports)))
    members = []
    for i, (_, client) in enumerate(ports):
        member = reference_server(client, workdir / f"ref{i + 1}")
        data = member.workdir / "data"
        member.argv = [sys.executable, "-m", "reference", "--config", str(config), "--id", str(i + 1),
                       "--data-dir", str(data)]
        members.append(member)
    return members


# ---------------------------------------------------------------------------------------------- measurements

@dataclass
class Row:
    target: str
    size: int
    read_pct: float
    kind: str                         # "saturated" | "paced" | "w1"
    ops_per_s: float
    read: dict[str, float]
    write: dict[str, float]
    client_cpu_cores: float
    errors: dict[str, int]
    protocol_errors: list[str]
    offered_rate: float | None = None
    load_average: float = 0.0         # the machine's 1-minute load average after the run (noise indicator)
    samples: list[float] | None = None  # ops/s of every repetition; the row holds the median one


@dataclass
class Options:
    servers: list[int]
    targets: list[str]
    read_pcts: list[float]
    curve_pcts: list[float]
    procs: int
    conns: int
    window: int
    duration: float
    warmup: float
    w1_duration: float
    cluster_warmup: float
    paced_frac: float
    paced: bool
    w1: bool
    repeat: int
    out: Path | None
    plot: bool


def measure(cluster: Cluster, opts: Options, read_pct: float, kind: str, rate: float | None = None) -> Row:
    window = 1 if kind == "w1" else opts.window
    duration = opts.w1_duration if kind == "w1" else opts.duration
    cfg = LoadConfig(hosts=cluster.hosts, read_pct=read_pct, procs=opts.procs, conns=opts.conns, window=window,
                     duration=duration, warmup=opts.warmup, rate=rate)
    # Repetitions damp the noise of a shared machine: the row is the run with the median throughput.
    runs: list[LoadResult] = []
    for _ in range(opts.repeat if kind == "saturated" else 1):
        r = run_load(cfg)
        runs.append(r)
        print(f"  {cluster.target:9s} n={cluster.size} read {read_pct:5.1f}% {kind:9s}"
              + (f" @{rate:,.0f}/s" if rate else "") + f": {r.summary()}", flush=True)
    r = sorted(runs, key=lambda x: x.ops_per_s)[len(runs) // 2]
    errors: dict[str, int] = {}
    for x in runs:
        for k, v in x.errors.items():
            errors[k] = errors.get(k, 0) + v
    return Row(cluster.target, cluster.size, read_pct, kind, r.ops_per_s, r.by_op["read"], r.by_op["write"],
               r.client_cpu_cores, errors, [e for x in runs for e in x.protocol_errors], rate,
               os.getloadavg()[0], [x.ops_per_s for x in runs])


def run_size(size: int, opts: Options, rows: list[Row], notes: list[str]) -> None:
    clusters: dict[str, Cluster] = {}
    try:
        for target in opts.targets:
            print(f"starting {target} with {size} server(s) ...", flush=True)
            try:
                clusters[target] = start_cluster(target, size)
            except Unavailable as e:
                msg = f"SKIP {target} n={size}: {e}"
                if target == "reference" and size > 1:
                    msg = (f"SKIP reference n={size}: replicated mode (`python3 -m reference --config FILE --id N "
                           f"--data-dir DIR`) is not available yet: {e}")
                print(msg, flush=True)
                notes.append(msg)
        if not clusters:
            return
        for target in list(clusters):
            if not _warm_up(clusters[target], opts, notes):
                clusters.pop(target).stop()
        if not clusters:
            return
        pcts = sorted(set(opts.read_pcts) | (set(opts.curve_pcts) if opts.plot else set()))
        order = list(clusters)
        saturated: dict[tuple[str, float], float] = {}
        for i, pct in enumerate(pcts):
            # Alternate which target goes first so slow drift in background load does not favour one.
            for target in (order if i % 2 == 0 else order[::-1]):
                row = _safe_measure(clusters[target], opts, pct, "saturated", notes)
                if row is not None:
                    rows.append(row)
                    saturated[(target, pct)] = row.ops_per_s
        if opts.paced and len(clusters) > 1:
            for pct in opts.read_pcts:
                rates = [saturated.get((t, pct)) for t in order]
                if None in rates or min(rates) <= 0:
                    continue
                rate = opts.paced_frac * min(rates)
                for target in order:
                    row = _safe_measure(clusters[target], opts, pct, "paced", notes, rate)
                    if row is not None:
                        rows.append(row)
        if opts.w1:
            for pct in opts.read_pcts:
                for target in order:
                    row = _safe_measure(clusters[target], opts, pct, "w1", notes)
                    if row is not None:
                        rows.append(row)
    finally:
        # A second Ctrl-C/SIGTERM must not cut the cleanup short and leave JVMs or temp dirs behind; it is
        # delivered once the clusters are stopped.
        deferred = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, deferred)
        try:
            for c in clusters.values():
                c.stop()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, deferred)


def _warm_up(cluster: Cluster, opts: Options, notes: list[str]) -> bool:
    """Unreported mixed load right after start: a fresh JVM compiles its hot paths and a fresh ensemble finishes
    syncing followers in the first seconds, which would otherwise land in the first measured run."""
    if opts.cluster_warmup <= 0:
        return True
    cfg = LoadConfig(hosts=cluster.hosts, read_pct=50, procs=opts.procs, conns=opts.conns, window=opts.window,
                     duration=opts.cluster_warmup, warmup=0)
    try:
        r = run_load(cfg)
        print(f"  {cluster.target:9s} n={cluster.size} warm-up {opts.cluster_warmup:g} s: {r.ops_per_s:,.0f} ops/s "
              f"(not reported)", flush=True)
    except LoadError as e:
        msg = f"SKIP {cluster.target} n={cluster.size}: it started, but the warm-up load failed: {e}"
        print(msg, flush=True)
        notes.append(msg)
        return False
    return True


def _safe_measure(cluster: Cluster, opts: Options, pct: float, kind: str, notes: list[str],
                  rate: float | None = None) -> Row | None:
    try:
        return measure(cluster, opts, pct, kind, rate)
    except LoadError as e:
        msg = f"FAILED {cluster.target} n={cluster.size} read {pct}% {kind}: {e}"
        print(msg, flush=True)
        notes.append(msg)
        return None


# ---------------------------------------------------------------------------------------------- reporting

def _find(rows: list[Row], target: str, size: int, pct: float, kind: str) -> Row | None:
    return next((r for r in rows if (r.target, r.size, r.read_pct, r.kind) == (target, size, pct, kind)), None)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def _lat(stats: dict[str, float]) -> str:
    if not stats or not stats.get("count"):
        return "-"
    return f"{stats['median_ms']:.2f}/{stats['p99_ms']:.2f}"


def report(rows: list[Row], opts: Options, notes: list[str]) -> list[str]:
    lines: list[str] = []
    out = lines.append
    out("")
    out("== figures (latency median/p99 in ms) ==")
    out(f"{'target':10s} {'n':>2s} {'read%':>6s} {'kind':9s} {'ops/s':>9s} {'offered':>8s} "
        f"{'read lat':>14s} {'write lat':>14s} {'client cores':>12s} {'load':>5s} errors")
    for r in sorted(rows, key=lambda r: (r.size, ["saturated", "paced", "w1"].index(r.kind), r.read_pct, r.target)):
        errs = ", ".join(f"{k}:{v}" for k, v in r.errors.items()) or ""
        if r.protocol_errors:
            errs += f" PROTOCOL:{len(r.protocol_errors)}"
        offered = f"{r.offered_rate:,.0f}" if r.offered_rate else ""
        out(f"{r.target:10s} {r.size:2d} {r.read_pct:6.1f} {r.kind:9s} {r.ops_per_s:9,.0f} {offered:>8s} "
            f"{_lat(r.read):>14s} {_lat(r.write):>14s} {r.client_cpu_cores:12.2f} {r.load_average:5.1f} {errs}")
    if "reference" in opts.targets and "zookeeper" in opts.targets:
        out("")
        out("== reference / ZooKeeper ==")
        out(f"{'n':>2s} {'read%':>6s} {'saturated ops/s':>16s} {'paced p99 read':>15s} {'paced p99 write':>16s} "
            f"{'W=1 med read':>13s} {'W=1 med write':>14s}")
        pcts = sorted({r.read_pct for r in rows})
        for size in opts.servers:
            for pct in pcts:
                ref = {k: _find(rows, "reference", size, pct, k) for k in ("saturated", "paced", "w1")}
                zk = {k: _find(rows, "zookeeper", size, pct, k) for k in ("saturated", "paced", "w1")}
                if ref["saturated"] is None or zk["saturated"] is None:
                    continue

                def field_(d: dict[str, Row | None], kind: str, op: str, key: str) -> float | None:
                    r = d[kind]
                    s = getattr(r, op) if r is not None else None
                    return s[key] if s and s.get("count") else None

                out(f"{size:2d} {pct:6.1f} {_ratio(ref['saturated'].ops_per_s, zk['saturated'].ops_per_s):>16s} "
                    f"{_ratio(field_(ref, 'paced', 'read', 'p99_ms'), field_(zk, 'paced', 'read', 'p99_ms')):>15s} "
                    f"{_ratio(field_(ref, 'paced', 'write', 'p99_ms'), field_(zk, 'paced', 'write', 'p99_ms')):>16s} "
                    f"{_ratio(field_(ref, 'w1', 'read', 'median_ms'), field_(zk, 'w1', 'read', 'median_ms')):>13s} "
                    f"{_ratio(field_(ref, 'w1', 'write', 'median_ms'), field_(zk, 'w1', 'write', 'median_ms')):>14s}")
        out("")
        out("== targets ==")
        for pct, what in ((100.0, "read"), (0.0, "write")):
            zk3 = _find(rows, "zookeeper", 3, pct, "saturated")
            ref3 = _find(rows, "reference", 3, pct, "saturated")
            if zk3 is None:
                out(f"{what} throughput >= 0.5x ZooKeeper 3-server: not measured (no ZooKeeper 3-server {pct:.0f}% "
                    f"read run)")
            elif ref3 is None:
                ref1 = _find(rows, "reference", 1, pct, "saturated")
                extra = (f"; for information, reference standalone = {ref1.ops_per_s:,.0f} ops/s = "
                         f"{_ratio(ref1.ops_per_s, zk3.ops_per_s)} ZooKeeper 3-server") if ref1 else ""
                out(f"{what} throughput >= 0.5x ZooKeeper 3-server ({zk3.ops_per_s:,.0f} ops/s): NOT MEASURABLE "
                    f"YET, no reference 3-server run{extra}")
            else:
                ratio = ref3.ops_per_s / zk3.ops_per_s if zk3.ops_per_s else 0.0
                out(f"{what} throughput >= 0.5x ZooKeeper 3-server: {ref3.ops_per_s:,.0f} / {zk3.ops_per_s:,.0f} "
                    f"= {ratio:.2f}x -> {'MET' if ratio >= 0.5 else 'NOT MET'}")
        for size in opts.servers:
            ref_p = _find(rows, "reference", size, 0.0, "paced")
            zk_p = _find(rows, "zookeeper", size, 0.0, "paced")
            if ref_p is None or zk_p is None or not ref_p.write.get("count") or not zk_p.write.get("count"):
                continue
            ratio = ref_p.write["p99_ms"] / zk_p.write["p99_ms"] if zk_p.write["p99_ms"] else float("inf")
            out(f"p99 write latency <= 2x ZooKeeper at the same load (n={size}, 100% writes at "
                f"{ref_p.offered_rate:,.0f}/s): {ref_p.write['p99_ms']:.2f} / {zk_p.write['p99_ms']:.2f} ms "
                f"= {ratio:.2f}x -> {'MET' if ratio <= 2 else 'NOT MET'}")
    out("")
    out("== the cost of a write as servers are added (one machine) ==")
    for target in opts.targets:
        sizes = sorted({r.size for r in rows if r.target == target})
        if len(sizes) < 2:
            continue
        parts = []
        for size in sizes:
            w = _find(rows, target, size, 0.0, "saturated")
            rd = _find(rows, target, size, 100.0, "saturated")
            w1 = _find(rows, target, size, 0.0, "w1")
            part = f"n={size}: writes {w.ops_per_s:,.0f}/s" if w else f"n={size}: writes -"
            if w1 is not None and w1.write.get("count"):
                part += f" (W=1 median {w1.write['median_ms']:.2f} ms)"
            if rd:
                part += f", reads {rd.ops_per_s:,.0f}/s"
            parts.append(part)
        out(f"{target}: " + "; ".join(parts))
        first = _find(rows, target, sizes[0], 0.0, "saturated")
        last = _find(rows, target, sizes[-1], 0.0, "saturated")
        if first and last and first.ops_per_s:
            verdict = "rises" if last.ops_per_s < first.ops_per_s else "does NOT rise in this run"
            out(f"  -> write cost {verdict}: {last.size} servers give {last.ops_per_s / first.ops_per_s:.2f}x the "
                f"write throughput of {first.size}")
    out("All servers and the load generator share this machine's cores, so extra servers add replication work but "
        "no read capacity: the paper's 'reads get cheaper as servers are added' needs one host per server and "
        "cannot show here. Other jobs on a shared machine make the figures noisy; compare ratios within one run.")
    if notes:
        out("")
        out("== notes ==")
        lines.extend(notes)
    return lines


def plot(rows: list[Row], opts: Options, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s for s in opts.servers if any(r.size == s and r.kind == "saturated" for r in rows)]
    if not sizes:
        return
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.5 * len(sizes), 3.8), squeeze=False, sharey=True)
    for ax, size in zip(axes[0], sizes):
        for target, style in (("zookeeper", "o-"), ("reference", "s--")):
            pts = sorted((r.read_pct, r.ops_per_s) for r in rows
                         if r.target == target and r.size == size and r.kind == "saturated")
            if pts:
                ax.plot([p for p, _ in pts], [v for _, v in pts], style, label=target)
        ax.set_title(f"{size} server{'s' if size > 1 else ''}")
        ax.set_xlabel("reads (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("ops/s (saturated, 100-byte values)")
    fig.suptitle("Throughput against read percentage (one 2-core machine, loopback)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- CLI

def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 or v > 9 for v in values):
        raise argparse.ArgumentTypeError("cluster sizes must be between 1 and 9")
    return values


def _pct_list(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated percentages, got {text!r}") from None
    if not values or any(not 0 <= v <= 100 for v in values):
        raise argparse.ArgumentTypeError("read percentages must be within 0..100")
    return values


def _targets(text: str) -> list[str]:
    values = [x.strip() for x in text.split(",") if x.strip()]
    bad = [v for v in values if v not in TARGETS]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"targets must be among {', '.join(TARGETS)}; got {text!r}")
    return values


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="bench/throughput.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="about a minute: sizes 1,3, reads 0,100%%, 1.5 s runs (explicit options still win)")
    p.add_argument("--servers", type=_int_list, help="cluster sizes (default 1,3,5)")
    p.add_argument("--targets", type=_targets, default=list(TARGETS), help="reference,zookeeper (default both)")
    p.add_argument("--read-pct", type=_pct_list, help="read percentages (default 0,50,100)")
    p.add_argument("--plot", action="store_true",
                   help=f"also measure reads {','.join(map(str, CURVE_PCTS))}%% and write throughput.png")
    p.add_argument("--out", type=Path, help="directory for results.json (and throughput.png)")
    p.add_argument("--procs", type=int, default=2, help="load generator processes (default 2)")
    p.add_argument("--conns", type=int, default=3, help="sessions per process (default 3)")
    p.add_argument("--window", type=int, default=50, help="requests in flight per session when saturating (default 50)")
    p.add_argument("--duration", type=float, help="measured seconds per run (default 4)")
    p.add_argument("--warmup", type=float, help="unmeasured seconds before each run (default 1)")
    p.add_argument("--cluster-warmup", type=float,
                   help="unreported load on each freshly started cluster, seconds (default 20: the JIT of a fresh "
                        "ZooKeeper ensemble needs it; quick 2)")
    p.add_argument("--paced-frac", type=float, default=0.5,
                   help="same-load runs offer this fraction of the slower target's saturated rate (default 0.5)")
    p.add_argument("--repeat", type=int, default=1,
                   help="repeat each saturated run N times and keep the median (default 1; 3 on a busy machine)")
    p.add_argument("--no-paced", action="store_true", help="skip the same-load latency runs")
    p.add_argument("--no-w1", action="store_true", help="skip the one-in-flight (W=1) latency runs")
    a = p.parse_args(argv)
    if a.procs < 1 or a.conns < 1 or a.window < 1 or a.repeat < 1:
        p.error("--procs, --conns, --window and --repeat must be at least 1")
    if not 0 < a.paced_frac <= 1:
        p.error("--paced-frac must be within (0, 1]")
    if (a.duration is not None and a.duration <= 0) or (a.warmup is not None and a.warmup < 0):
        p.error("--duration must be positive and --warmup not negative")
    if a.plot and a.out is None:
        p.error("--plot needs --out DIR for the PNG")
    quick = a.quick
    duration = a.duration if a.duration is not None else (1.5 if quick else 4.0)
    return Options(
        servers=a.servers or ([1, 3] if quick else [1, 3, 5]),
        targets=a.targets,
        read_pcts=a.read_pct or ([0.0, 100.0] if quick else [0.0, 50.0, 100.0]),
        curve_pcts=[float(x) for x in CURVE_PCTS],
        procs=a.procs, conns=a.conns, window=a.window,
        duration=duration,
        warmup=a.warmup if a.warmup is not None else (0.5 if quick else 1.0),
        w1_duration=min(duration, 1.0 if quick else 3.0),
        cluster_warmup=a.cluster_warmup if a.cluster_warmup is not None else (2.0 if quick else 20.0),
        paced_frac=a.paced_frac, paced=not a.no_paced, w1=not a.no_w1, repeat=a.repeat,
        out=a.out, plot=a.plot,
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.out is not None:
        opts.out.mkdir(parents=True, exist_ok=True)
    # SIGTERM (e.g. a CI timeout) should still stop the servers: turn it into an exception that unwinds.
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    print(f"load generator: {opts.procs} processes x {opts.conns} sessions x {opts.window} in flight; "
          f"{opts.warmup:g} s warm-up + {opts.duration:g} s per run; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
    rows: list[Row] = []
    notes: list[str] = []
    try:
        for size in opts.servers:
            run_size(size, opts, rows, notes)
    except KeyboardInterrupt:
        print("interrupted; reporting what was measured", flush=True)
    lines = report(rows, opts, notes)
    lines.append(f"(total {time.monotonic() - started:.0f} s; load average {os.getloadavg()[0]:.1f} at the end)")
    print("\n".join(lines), flush=True)
    if opts.out is not None:
        doc = {"options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
               "rows": [asdict(r) for r in rows], "report": lines}
        (opts.out / "results.json").write_text(json.dumps(doc, indent=1))
        print(f"wrote {opts.out / 'results.json'}")
        if opts.plot:
            plot(rows, opts, opts.out / "throughput.png")
            print(f"wrote {opts.out / 'throughput.png'}")
    bad = [r for r in rows if r.protocol_errors]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
