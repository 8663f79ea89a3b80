"""`harness serve [--store DIR] [--port N] [--host H]`: browse stored runs (an index of every run, newest
first, with links to each report and its files). Binds to 127.0.0.1 unless told otherwise; ``--port 0``
picks a free port (the URL printed first says which)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_BAD_ARGS = 254


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="browse stored runs and their reports over HTTP", description=__doc__)
    p.add_argument("--store", default="store", metavar="DIR", help="the store to serve (default ./store)")
    p.add_argument("--port", type=int, default=8080, metavar="N", help="TCP port (default 8080; 0 = any free)")
    p.add_argument("--host", default="127.0.0.1", metavar="H",
                   help="address to bind (default 127.0.0.1; the pages show server data, keep them local)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from reports.serve import serve
    store = Path(args.store)
    if not store.is_dir():
        print(f"harness serve: {store} is not a directory (give the store with --store DIR)", file=sys.stderr)
        return EXIT_BAD_ARGS
    if not 0 <= args.port <= 65535:
        print("harness serve: --port must be 0..65535", file=sys.stderr)
        return EXIT_BAD_ARGS
    try:
        return serve(store, args.host, args.port)
    except OSError as exc:
        print(f"harness serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_ARGS
