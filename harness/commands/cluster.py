"""`harness cluster up|down|status`: a cluster to poke at by hand, outside any test run.

``up`` creates the nodes, starts the DB on each, waits until every node answers, prints the connect string, and
leaves the cluster running after it exits. ``down`` removes clusters made by ``up`` and the leftovers of runs
that died without cleaning up (crash, kill -9), but never a run whose owner process is still alive unless
``--force`` is given. ``status`` lists what exists. Runs are found through the backend's state files.
"""
from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from harness.backends.base import BACKENDS, BackendUnavailable, Nodes, make_backend, netns_problem, state_dir_default
from harness.dbs.base import DBNotFound, resolve_db

EXIT_BROKEN = 2
EXIT_BAD_ARGS = 254


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("cluster", help="create, remove or list clusters for manual use",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", default="netns", choices=BACKENDS, help="where nodes live (default netns)")
        p.add_argument("--state-dir", default=None,
                       help="where runs are recorded (default $ZKJEPSEN_STATE_DIR or /var/tmp/zkjepsen)")

    def login(p: argparse.ArgumentParser) -> None:
        p.add_argument("--nodes", default=None, help="ssh backend: the hosts, comma-separated (required there)")
        p.add_argument("--username", default=None, help="ssh backend: login name (default: yours)")
        p.add_argument("--ssh-key", default=None, help="ssh backend: private key file")
        p.add_argument("--ssh-port", type=int, default=None, help="ssh backend: port (default 22)")
        p.add_argument("--insecure-accept-host-keys", action="store_true",
                       help="ssh backend: accept unknown host keys instead of checking known_hosts")
        p.add_argument("--known-hosts", default=None, help="ssh backend: known hosts file")
        p.add_argument("--docker-image", default=None, help="docker backend: node image")

    up = actions.add_parser("up", help="create nodes, start the DB, print the connect string")
    common(up)
    up.add_argument("--db", default="zookeeper",
                    help="zookeeper | reference | package.module:Class | a zkjepsen.dbs entry point")
    up.add_argument("--node-count", type=int, default=3, help="number of nodes, named n1..nN (default 3)")
    up.add_argument("--zookeeper-tarball", default=None, help="Apache ZooKeeper -bin tarball instead of the "
                                                              "Debian package")
    up.add_argument("--ready-timeout", type=float, default=120.0, help="seconds to wait for every node")
    login(up)
    up.set_defaults(func=cmd_up)

    down = actions.add_parser("down", help="remove clusters and leftovers of crashed runs")
    common(down)
    down.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="only these runs (default: all that are "
                                                                   "not in use by a live process)")
    down.add_argument("--force", action="store_true", help="also remove runs whose owner process is alive")
    down.set_defaults(func=cmd_down)

    status = actions.add_parser("status", help="list recorded runs and what of them exists")
    common(status)
    status.set_defaults(func=cmd_status)


def _fail(message: str, code: int) -> int:
    print(f"harness cluster: {message}", file=sys.stderr)
    return code


def _runs_module(args: argparse.Namespace) -> Any:
    """The backend module whose ``find_runs``/``remove_run`` handle this backend's recorded runs; raises
    BackendUnavailable when it cannot work here."""
    if args.backend == "netns":
        problem = netns_problem()
        if problem:
            raise BackendUnavailable(problem)
        from harness.backends import netns
        return netns
    if args.backend == "docker":
        from harness.backends import docker
        return docker
    from harness.backends import ssh
    return ssh


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"state_dir": args.state_dir, "username": args.username, "ssh_key": args.ssh_key,
            "ssh_port": args.ssh_port, "insecure_accept_host_keys": args.insecure_accept_host_keys or None,
            "known_hosts": args.known_hosts, "image": args.docker_image}


def cmd_up(args: argparse.Namespace) -> int:
    if args.node_count < 1:
        return _fail("--node-count must be at least 1", EXIT_BAD_ARGS)
    if args.backend == "ssh":
        nodes = [n.strip() for n in (args.nodes or "").split(",") if n.strip()]
        if not nodes:
            return _fail("the ssh backend needs the hosts: --nodes host1,host2,...", EXIT_BAD_ARGS)
    elif args.nodes:
        return _fail("--nodes is for --backend ssh; use --node-count", EXIT_BAD_ARGS)
    else:
        nodes = [f"n{i}" for i in range(1, args.node_count + 1)]
    try:
        db = resolve_db(args.db, zookeeper_tarball=args.zookeeper_tarball)
        backend = make_backend(args.backend, **_backend_options(args))
    except (DBNotFound, BackendUnavailable, FileNotFoundError) as exc:
        return _fail(str(exc), EXIT_BAD_ARGS)
    # SIGTERM unwinds like Ctrl-C, so the finally below removes a half-made cluster.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    detached = False
    try:
        backend.create(nodes)
        cluster = Nodes(backend, nodes, {"db": args.db})
        for node in nodes:
            db.setup(cluster, node)
        for node in nodes:
            db.wait_ready(cluster, node, args.ready_timeout)
        connect = cluster.connect_string(db.client_port)
        backend.detach(db=args.db, connect=connect)
        detached = True
        run_id = backend.run_id
        print(f"cluster {run_id} up: {db.name} {db.version(cluster)} on {len(nodes)} node(s), backend {backend.name}")
        for node in nodes:
            hint = backend.shell_hint(node) if hasattr(backend, "shell_hint") else \
                f"ip netns exec zkj-{run_id}-{node} ..."
            print(f"  {node}  {backend.address(node)}  ({hint})")
        leader = db.leader(cluster)
        if leader:
            print(f"leader: {leader}")
        print(f"connect: {connect}")
        print(f"remove with: harness cluster down {run_id}"
              + (f" --backend {args.backend}" if args.backend != "netns" else "")
              + (f" --state-dir {args.state_dir}" if args.state_dir else ""))
        return 0
    except Exception as exc:
        return _fail(f"cluster up failed: {exc}", EXIT_BROKEN)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if not detached:
            backend.destroy()


def _describe_owner(run: Any) -> str:
    if run.owner_pid is None:
        return "cluster up"
    if run.owner_alive():
        return f"in use by pid {run.owner_pid}"
    return f"leftover (pid {run.owner_pid} is gone)"


def cmd_down(args: argparse.Namespace) -> int:
    try:
        module = _runs_module(args)
    except BackendUnavailable as exc:
        return _fail(str(exc), EXIT_BAD_ARGS)
    problems: list[str] = []
    runs = module.find_runs(args.state_dir, problems)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if args.run_ids:
        known = {r.run_id for r in runs}
        unknown = [i for i in args.run_ids if i not in known]
        if unknown:
            return _fail(f"no such run(s) {', '.join(unknown)} in {args.state_dir or state_dir_default()}",
                         EXIT_BAD_ARGS)
        runs = [r for r in runs if r.run_id in args.run_ids]
    code = EXIT_BROKEN if problems else 0
    for run in runs:
        if run.owner_alive() and not args.force:
            print(f"{run.run_id}: skipped, {_describe_owner(run)} (use --force to remove it anyway)")
            continue
        try:
            module.remove_run(run)
            print(f"{run.run_id}: removed ({_describe_owner(run)}, nodes {' '.join(run.nodes)})")
        except Exception as exc:
            print(f"{run.run_id}: {exc}", file=sys.stderr)
            code = EXIT_BROKEN
    if not runs:
        print("nothing to remove")
    return code


def cmd_status(args: argparse.Namespace) -> int:
    try:
        module = _runs_module(args)
    except BackendUnavailable as exc:
        return _fail(str(exc), EXIT_BAD_ARGS)
    problems: list[str] = []
    runs = module.find_runs(args.state_dir, problems)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not runs:
        print("no runs")
    if args.backend != "netns":
        return _status_other(args, runs)
    for run in runs:
        present = run.existing_namespaces()
        print(f"{run.run_id}  {_describe_owner(run)}  subnet {run.subnet}  "
              f"namespaces {len(present)}/{len(run.namespaces)}  processes {len(run.pids())}"
              + (f"  db {run.notes['db']}" if "db" in run.notes else ""))
        for node, ip in run.nodes.items():
            print(f"  {node}  {ip}  {'up' if run.namespace(node) in present else 'missing'}")
        if "connect" in run.notes:
            print(f"  connect: {run.notes['connect']}")
    return 0


def _status_other(args: argparse.Namespace, runs: list[Any]) -> int:
    """docker: which of the recorded containers and network exist; ssh: the recorded hosts."""
    client = None
    if args.backend == "docker" and runs:
        from harness.backends.docker import DockerUnavailable, connect
        try:
            client = connect()
        except DockerUnavailable as exc:
            return _fail(str(exc), EXIT_BAD_ARGS)
    for run in runs:
        line = f"{run.run_id}  {_describe_owner(run)}"
        present: list[str] = []
        if client is not None:
            present, network = run.existing(client)
            line += f"  subnet {run.subnet}  image {run.image}  containers {len(present)}/{len(run.nodes)}  " \
                    f"network {'up' if network else 'missing'}"
        else:
            line += f"  login {run.login.get('username')}@:{run.login.get('port')}"
        print(line + (f"  db {run.notes['db']}" if "db" in run.notes else ""))
        for node, ip in run.nodes.items():
            state = ("up" if run.container(node) in present else "missing") if client is not None else "host"
            print(f"  {node}  {ip}  {state}")
        if "connect" in run.notes:
            print(f"  connect: {run.notes['connect']}")
    return 0
