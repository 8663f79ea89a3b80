"""`python3 -m reference --port PORT --data-dir DIR`: run a standalone reference server;
`python3 -m reference --config FILE --id N --data-dir DIR`: run server N of a replicated ensemble."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from reference.bugs import BUGS, REPLICATED_ONLY
from reference.storage import CorruptStorage, StorageLocked


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m reference",
                                description="ZooKeeper-compatible reference server (standalone, or one member of an "
                                            "ensemble with --config/--id)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; with --config, the server's host)")
    p.add_argument("--port", type=int, help="client port")
    p.add_argument("--data-dir", help="directory for the write-ahead log and snapshots")
    p.add_argument("--tick-ms", type=int, help="tick in ms; sessions get [2, 20] ticks (default 2000, or the "
                                                 "config's tickTime)")
    p.add_argument("--min-session-timeout-ms", type=int, help="lower bound of negotiated timeouts (default 2 ticks)")
    p.add_argument("--max-session-timeout-ms", type=int, help="upper bound of negotiated timeouts (default 20 ticks)")
    p.add_argument("--snapshot-every", type=int, default=100_000, metavar="N",
                   help="take a snapshot and start a new log every N transactions (default 100000)")
    p.add_argument("--log-file", help="write the server log here instead of stderr")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.add_argument("--super-digest", metavar="USER:BASE64SHA1",
                   help="digest id that gets every permission (like -Dzookeeper.DigestAuthenticationProvider."
                        "superDigest)")
    p.add_argument("--bug", action="append", default=[], choices=sorted(BUGS), metavar="NAME",
                   help="inject a deliberate fault, for testing the tester (off by default; repeatable): "
                        + "; ".join(f"{k}: {v}" for k, v in sorted(BUGS.items())))
    p.add_argument("--config", help="ensemble config file: server.N=host:peer_port:client_port lines, "
                                    "key=value settings (tickTime, snapCount, raftTickMs, electionTicks)")
    p.add_argument("--id", type=int, help="this server's N in the config (with --config)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.config is not None or args.id is not None:
        return _main_cluster(args)
    if args.host is None:
        args.host = "127.0.0.1"
    if args.tick_ms is None:
        args.tick_ms = 2000
    if args.port is None or args.data_dir is None:
        print("error: --port and --data-dir are required", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"error: --port {args.port} is not a TCP port", file=sys.stderr)
        return 2
    if args.tick_ms <= 0 or args.snapshot_every <= 0:
        print("error: --tick-ms and --snapshot-every must be positive", file=sys.stderr)
        return 2
    lo, hi = args.min_session_timeout_ms, args.max_session_timeout_ms
    if (lo is not None and lo <= 0) or (hi is not None and hi <= 0) or (lo is not None and hi is not None and lo > hi):
        print("error: session timeout bounds must be positive and min <= max", file=sys.stderr)
        return 2
    replicated_only = sorted(set(args.bug) & REPLICATED_ONLY)
    if replicated_only:
        print(f"error: --bug {', '.join(replicated_only)} exists only in the replicated server (--config FILE --id N)",
              file=sys.stderr)
        return 2
    logging.basicConfig(filename=args.log_file, level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from reference.server import ServerConfig, serve
    config = ServerConfig(host=args.host, port=args.port, data_dir=args.data_dir, tick_ms=args.tick_ms,
                          snapshot_every=args.snapshot_every, super_digest=args.super_digest,
                          min_session_timeout_ms=lo, max_session_timeout_ms=hi,
                          bugs=tuple(dict.fromkeys(args.bug)))
    try:
        return asyncio.run(serve(config))
    except (CorruptStorage, StorageLocked) as e:
        logging.getLogger("reference").critical("%s", e)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _main_cluster(args: argparse.Namespace) -> int:
    from reference.replication.config import ConfigError, load
    if args.config is None or args.id is None or args.data_dir is None:
        print("error: replicated mode needs --config, --id and --data-dir", file=sys.stderr)
        return 2
    if args.port is not None:
        print("error: with --config the client port comes from the config file; drop --port", file=sys.stderr)
        return 2
    try:
        ensemble = load(args.config)
        member = ensemble.members.get(args.id)
        if member is None:
            raise ConfigError(f"--id {args.id} has no server.{args.id} line in {args.config} "
                              f"(servers: {sorted(ensemble.members)})")
        tick_ms = args.tick_ms or ensemble.int_setting("tickTime", 2000)
        ensemble.int_setting("snapCount", 1)
        ensemble.int_setting("raftTickMs", 1)
        if ensemble.int_setting("electionTicks", 10) < 2:
            raise ConfigError("electionTicks must be at least 2")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    lo, hi = args.min_session_timeout_ms, args.max_session_timeout_ms
    if (lo is not None and lo <= 0) or (hi is not None and hi <= 0) or (lo is not None and hi is not None and lo > hi):
        print("error: session timeout bounds must be positive and min <= max", file=sys.stderr)
        return 2
    if tick_ms <= 0:
        print("error: --tick-ms must be positive", file=sys.stderr)
        return 2
    logging.basicConfig(filename=args.log_file, level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from reference.replication.server import serve_cluster
    from reference.server import ServerConfig
    config = ServerConfig(host=args.host or member.host, port=member.client_port, data_dir=args.data_dir,
                          tick_ms=tick_ms, super_digest=args.super_digest, server_id=args.id,
                          min_session_timeout_ms=lo, max_session_timeout_ms=hi,
                          bugs=tuple(dict.fromkeys(args.bug)))
    try:
        return asyncio.run(serve_cluster(config, ensemble, args.id))
    except (CorruptStorage, StorageLocked) as e:
        logging.getLogger("reference").critical("%s", e)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
