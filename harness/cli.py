"""The `harness` command: one subcommand per module in harness/commands/.

Each command module defines ``register(subparsers)`` which adds its parser and sets
``func`` (called with the parsed namespace, returning the exit code). Adding a command
means adding a module and naming it in ``COMMANDS``; nothing else changes here.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Exit codes follow Jepsen: 0 valid, 1 anomalies, 2 unknown / run broke, 254 bad arguments.
EXIT_BAD_ARGS = 254

COMMANDS = ["run", "check", "cluster", "report", "serve", "image"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2, which means "unknown" for us
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_ARGS, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="Jepsen-style tests for coordination services.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"harness.commands.{name}")
        except ModuleNotFoundError as exc:  # a command whose module is not written yet
            if exc.name != f"harness.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_ARGS if args.command else 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
