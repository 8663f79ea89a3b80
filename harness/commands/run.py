"""`harness run`: set up a cluster, run a workload against it (with faults), check the history.

Exit codes (Jepsen's): 0 every run valid; 1 anomalies found; 2 validity unknown, or the run broke or was
interrupted without proving an anomaly; 254 bad arguments.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import platform
import random
import sys
from pathlib import Path
from typing import Any

from reference.bugs import BUGS

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_BAD_ARGS = 0, 1, 2, 254

DEFAULT_NODE_COUNT = 3


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="run a test: cluster up, workload (+ faults), check, cluster down",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", default="zookeeper",
                   help="the service under test: zookeeper, reference, package.module:Class or a zkjepsen.dbs "
                        "entry point (default zookeeper)")
    p.add_argument("--workload", default="register", help="register, set, queue, lock, election, membership, "
                   "watch (default register)")
    p.add_argument("--nemesis", default="none",
                   help="fault schedule: none, or a comma-separated list of faults or families (partition, kill, "
                        "pause, clock, packet-loss, or shapes like partition-one), or composites of them that "
                        "happen together, joined by + (partition-leader+clock-bump-back); see docs/nemeses.md "
                        "(default none)")
    p.add_argument("--nemesis-interval", type=float, default=None,
                   help="seconds each fault lasts, and between one fault's healing and the next (default 5)")
    p.add_argument("--nemesis-schedule", default=None,
                   help="a fixed, reproducible fault sequence instead of random choices, e.g. "
                        "`partition-one:5,kill-one:3,partition-leader+clock-bump-back:8` (fault[:seconds active], "
                        "see docs/nemeses.md)")
    p.add_argument("--fake-monotonic", action="store_true",
                   help="clock faults also shift/skew CLOCK_MONOTONIC (default: only wall-clock time)")
    nodes = p.add_mutually_exclusive_group()
    nodes.add_argument("--nodes", help="comma-separated node names (default n1..nN)")
    nodes.add_argument("--node-count", type=int, help=f"how many nodes, named n1..nN (default {DEFAULT_NODE_COUNT})")
    p.add_argument("--concurrency", default=None,
                   help="worker threads; a number, or e.g. `2n` for twice the node count (default: node count)")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds of the main phase (default 60)")
    p.add_argument("--rate", type=float, default=100.0,
                   help="target client ops per second across all workers; 0 = as fast as they go (default 100)")
    p.add_argument("--seed", type=int, default=None, help="seed for the op schedule (default: random, recorded)")
    p.add_argument("--test-count", type=int, default=1, help="run the test this many times, stopping at the "
                   "first invalid one (seeds seed, seed+1, ...) (default 1)")
    p.add_argument("--backend", default=None, help="netns (default), docker, ssh")
    p.add_argument("--username", default=None,
                   help="ssh backend: login name on the nodes (default: yours; not root -> sudo -n)")
    p.add_argument("--ssh-key", default=None, help="ssh backend: private key file (default: ssh agent / ~/.ssh/id_*)")
    p.add_argument("--ssh-port", type=int, default=None, help="ssh backend: port (default 22)")
    p.add_argument("--insecure-accept-host-keys", action="store_true",
                   help="ssh backend: accept unknown host keys instead of checking known_hosts")
    p.add_argument("--known-hosts", default=None, help="ssh backend: known hosts file (default ~/.ssh/known_hosts)")
    p.add_argument("--docker-image", default=None,
                   help="docker backend: node image (default zkjepsen-node:bookworm-zk, else :bookworm)")
    p.add_argument("--store", default="store", help="where runs are stored (default ./store)")
    p.add_argument("--leave-db-running", action="store_true",
                   help="do not tear the DB and nodes down at the end (`harness cluster down` removes them)")
    p.add_argument("--read-mode", choices=("sync", "local"), default="sync",
                   help="register reads: `sync` (sync then read; all ops must be linearizable) or `local` "
                        "(plain reads; only writes/cas must be linearizable, reads must keep session order)")
    p.add_argument("--op-timeout", type=float, default=10.0,
                   help="seconds before an op is given up as indeterminate (info) (default 10)")
    p.add_argument("--client-nodes", choices=("one", "all"), default="one",
                   help="each worker's client connects to one node (round robin) or may use all (default one)")
    p.add_argument("--session-timeout", type=float, default=10.0, help="ZooKeeper session timeout, s (default 10)")
    p.add_argument("--recovery-time", type=float, default=None,
                   help="seconds to wait after healing faults before the final reads (default: the nemesis's)")
    p.add_argument("--bug", default=None, metavar="NAME",
                   help="--db reference only: switch on one of the server's deliberate faults, to check that "
                        f"the harness catches it ({', '.join(sorted(BUGS))}; docs/nemeses.md, 'Seeded bugs', says "
                        "which faults expose each). Off by default.")
    p.add_argument("--zookeeper-tarball", default=None, help="install ZooKeeper from this tarball instead of the "
                   "Debian package")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.set_defaults(func=main)


class BadArguments(ValueError):
    pass


def _nodes(args: argparse.Namespace) -> list[str]:
    if args.nodes:
        nodes = [n.strip() for n in args.nodes.split(",") if n.strip()]
        if not nodes or len(set(nodes)) != len(nodes):
            raise BadArguments(f"--nodes must list distinct node names, got {args.nodes!r}")
        return nodes
    count = DEFAULT_NODE_COUNT if args.node_count is None else args.node_count
    if count < 1:
        raise BadArguments(f"--node-count must be at least 1, got {count}")
    return [f"n{i}" for i in range(1, count + 1)]


def _concurrency(spec: str | None, node_count: int) -> int:
    if spec is None:
        return node_count
    try:
        n = int(spec[:-1]) * node_count if spec.endswith("n") else int(spec)
    except ValueError:
        raise BadArguments(f"--concurrency must be a number or like `2n`, got {spec!r}") from None
    if n < 1:
        raise BadArguments(f"--concurrency must be at least 1, got {spec!r}")
    return n


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_test(args: argparse.Namespace, seed: int) -> Any:
    """The Test for one run; raises BadArguments (or the resolvers' LookupErrors) for bad choices."""
    from harness import generators as gen
    from harness.backends.base import make_backend
    from harness.dbs.base import resolve_db
    from harness.nemesis import resolve_nemesis
    from harness.test import Test
    from workloads import make_workload

    nodes = _nodes(args)
    concurrency = _concurrency(args.concurrency, len(nodes))
    for name in ("time_limit", "op_timeout", "session_timeout"):
        if getattr(args, name) <= 0:
            raise BadArguments(f"--{name.replace('_', '-')} must be positive")
    if args.rate < 0:
        raise BadArguments("--rate must be >= 0")
    options = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    options.update(nodes=nodes, concurrency=concurrency, seed=seed)
    seeds = random.Random(seed)
    workload = make_workload(args.workload, options, seeds.getrandbits(63))
    package = resolve_nemesis(args.nemesis, options, seeds.getrandbits(63))
    db_options = {"zookeeper_tarball": args.zookeeper_tarball} if args.zookeeper_tarball else {}
    if args.bug:
        db_options["bug"] = args.bug
    db = resolve_db(args.db, **db_options)
    if args.bug and getattr(db, "bug", None) != args.bug:
        raise BadArguments(f"--bug applies to --db reference only, not to {args.db!r}")
    recovery = package.recovery_seconds if args.recovery_time is None else args.recovery_time
    generator = gen.standard_run(
        client_ops=gen.rate(args.rate, workload.generator, seeds.getrandbits(63)),
        nemesis_ops=package.generator,
        time_limit=args.time_limit,
        final_ops=workload.final,
        heal=package.final,
        recovery_seconds=recovery,
    )
    backend = make_backend(args.backend, username=args.username, ssh_key=args.ssh_key, ssh_port=args.ssh_port,
                           insecure_accept_host_keys=args.insecure_accept_host_keys or None,
                           known_hosts=args.known_hosts, image=args.docker_image)
    name = f"{db.name}-{workload.name}-{package.nemesis.name}"
    return Test(name=name, nodes=nodes, backend=backend, db=db, workload=workload, nemesis=package.nemesis,
                generator=generator, checker=workload.checker, options=options, seed=seed)


def describe_test(test: Any) -> dict[str, Any]:
    return {"name": test.name, "seed": test.seed, "workload": test.workload.name, "db": test.db.name,
            "nemesis": test.nemesis.name, "nodes": test.nodes, "backend": test.backend.name,
            "options": test.options,
            "versions": {"harness": _version("zkjepsen"), "kazoo": _version("kazoo"),
                         "python": platform.python_version()}}


def _verdict_word(valid: Any) -> str:
    return {True: "valid", False: "INVALID"}.get(valid, "unknown")


def summary(test: Any, outcome: Any) -> str:
    r = outcome.results
    run = r.get("run", {})
    secs = max(outcome.duration, 1e-9)
    lines = [f"{test.name}  seed {test.seed}  nodes {','.join(test.nodes)}  concurrency {test.concurrency}",
             f"  ops: {run.get('ok', 0) + run.get('fail', 0) + run.get('info', 0)} (ok {run.get('ok', 0)}, "
             f"fail {run.get('fail', 0)}, info {run.get('info', 0)}) in {secs:.1f} s"]
    workload = r.get("results", {}).get("workload", {})
    parts = workload.get("results") or {}
    if parts:
        lines.append("  checks: " + ", ".join(f"{k} {_verdict_word(v.get('valid'))}" for k, v in parts.items()))
    else:
        lines.append(f"  check: {_verdict_word(workload.get('valid'))}")
    for k in ("error",):
        if workload.get(k):
            lines.append(f"  checker error: {workload[k]}")
    if outcome.interrupted:
        lines.append("  interrupted: the history is partial")
    if outcome.error:
        lines.append(f"  run error: {outcome.error.strip().splitlines()[-1]}")
    for problem in run.get("teardown_errors") or []:
        lines.append(f"  teardown: {problem.strip().splitlines()[-1]}  (see harness.log; `harness cluster down` "
                     "removes leftovers)")
    left = run.get("left_running")
    if left:
        lines.append(f"  left running: {left['connect']}  (remove with `harness cluster down {left['run_id'] or ''}`)")
    lines.append(f"  results: {outcome.path / 'results.json'}")
    lines.append(f"  valid: {_verdict_word(r.get('valid'))}")
    return "\n".join(lines)


def exit_code(valid: Any) -> int:
    return {True: EXIT_VALID, False: EXIT_INVALID}.get(valid, EXIT_UNKNOWN)


def main(args: argparse.Namespace) -> int:
    from harness.backends.base import BackendUnavailable
    from harness.dbs.base import DBNotFound
    from harness.nemesis import UnknownNemesis
    from harness.runner import Runner
    from harness.store import RunStore
    from workloads import UnknownWorkload

    if args.test_count < 1:
        print("harness run: --test-count must be at least 1", file=sys.stderr)
        return EXIT_BAD_ARGS
    base_seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    worst = EXIT_VALID
    for i in range(args.test_count):
        try:
            test = build_test(args, base_seed + i)
        except (BadArguments, UnknownWorkload, UnknownNemesis, DBNotFound, ValueError, FileNotFoundError) as exc:
            print(f"harness run: {exc}", file=sys.stderr)
            return EXIT_BAD_ARGS
        except BackendUnavailable as exc:
            print(f"harness run: {exc}", file=sys.stderr)
            return EXIT_UNKNOWN
        try:
            store = RunStore(Path(args.store), test.name)
        except OSError as exc:
            print(f"harness run: cannot write the store at {args.store}: {exc}", file=sys.stderr)
            return EXIT_BAD_ARGS
        test.store_dir = store.path
        store.start_log()
        store.write_json("test.json", describe_test(test))
        outcome = Runner(test, store, progress=not args.no_progress).run()
        _write_report(store.path)
        if args.test_count > 1:
            print(f"run {i + 1}/{args.test_count}")
        print(summary(test, outcome))
        code = exit_code(outcome.results.get("valid"))
        worst = max(worst, code) if code != EXIT_INVALID else EXIT_INVALID
        if code == EXIT_INVALID or outcome.interrupted:
            break
    return worst


def _write_report(run_dir: Path) -> None:
    try:
        from reports import write_report
        write_report(run_dir)
    except Exception as exc:  # the report is a convenience; the run's verdict stands without it
        print(f"harness run: report.html not written: {exc}", file=sys.stderr)
