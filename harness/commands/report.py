"""`harness report RUN_DIR...`: (re-)render report.html for stored runs (e.g. store/latest) from their history,
results.json and test.json. Prints each report's path. Exit status 0, or 254 when a directory is not a run
or the report cannot be written."""
from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_BAD_ARGS = 254


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="render report.html for stored runs", description=__doc__)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="a run directory, e.g. store/latest")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from reports import NotARun, write_report
    status = 0
    for run in args.runs:
        try:
            print(write_report(run))
        except NotARun as exc:
            print(f"harness report: {exc}", file=sys.stderr)
            status = EXIT_BAD_ARGS
        except OSError as exc:
            print(f"harness report: {run}: cannot write the report: {exc}", file=sys.stderr)
            status = EXIT_BAD_ARGS
    return status
