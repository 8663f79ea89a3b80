"""`harness check`: is a history linearizable? Or: judge a stored run again.

  harness check FILE [--model M] [--initial EDN] [--format F] [--independent] [--json] [--time-limit S]
  harness check --run RUN_DIR [--json]

FILE is our JSONL (an op's ``key`` field splits it by key), a Jepsen EDN history (``--independent`` splits
jepsen.independent ``[key value]`` tuples), or one of Porcupine's logs (porcupine-etcd, porcupine-kv); the
format is guessed from the extension and the first line when ``--format`` is not given. ``--initial`` is the
model's starting state as an EDN literal (``0``, ``nil``, ``{:x 0 :y 0}``); registers start as nil by default,
a kv store's keys as "". In EDN histories a register read of nil says nothing (Knossos's convention).

Exit status: 0 valid, 1 invalid, 2 unknown (time or memory budget spent), 254 unreadable or malformed input or
bad options (one line on stderr naming the file and line).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_BAD_ARGS = 0, 1, 2, 254


def register(subparsers: Any) -> None:
    from checkers.formats import FORMATS
    from checkers.models import MODELS
    p = subparsers.add_parser("check", help="check a history for linearizability, or re-check a stored run",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", metavar="FILE", help="history file (jsonl, edn, porcupine-etcd/-kv)")
    p.add_argument("--run", metavar="RUN_DIR", help="re-check a stored harness run (e.g. store/latest) with the "
                                                     "checker it was run with")
    p.add_argument("--model", choices=MODELS, help="sequential model (default: guessed from the ops' :f; "
                                                   "cas-register for read/write/cas)")
    p.add_argument("--initial", metavar="EDN", help="initial state as an EDN literal (default nil; kv: \"\")")
    p.add_argument("--format", choices=FORMATS, help="history format (default: guessed)")
    p.add_argument("--independent", action="store_true",
                   help="values are jepsen.independent [key value] tuples: check each key alone")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                   help="give up with 'unknown' after S seconds (default 60)")
    p.add_argument("--max-configs", type=int, default=None, metavar="N",
                   help="give up with 'unknown' past N memoised search configurations per key (bounds memory)")
    p.set_defaults(func=main)


def _fail(message: str) -> int:
    print(f"harness check: {message}", file=sys.stderr)
    return EXIT_BAD_ARGS


def exit_code(valid: Any) -> int:
    return {True: EXIT_VALID, False: EXIT_INVALID}.get(valid, EXIT_UNKNOWN) if isinstance(valid, bool) \
        else EXIT_UNKNOWN


def recheck_stored_run(run_dir: str) -> dict[str, Any]:
    """The ``--run`` hook: judge a stored run again with the checker recorded in its test.json."""
    from harness.store import recheck_run
    return recheck_run(run_dir, write=False)


def main(args: argparse.Namespace) -> int:
    if args.run:
        if args.file:
            return _fail("give either FILE or --run RUN_DIR, not both")
        try:
            result = recheck_stored_run(args.run)
        except (ValueError, OSError) as exc:  # StoredRunError is a ValueError
            return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if args.json:
            print(json.dumps(result, indent=2, default=str))
        else:
            word = {True: "valid", False: "INVALID"}.get(result.get("valid"), "unknown") \
                if isinstance(result.get("valid"), bool) else "unknown"
            checker = f" (checker {result['checker']})" if result.get("checker") else ""
            print(f"{args.run}: {word}{checker}")
        return exit_code(result.get("valid"))
    if not args.file:
        return _fail("give a history FILE (or --run RUN_DIR)")
    if args.time_limit is not None and args.time_limit <= 0:
        return _fail("--time-limit must be positive")
    if args.max_configs is not None and args.max_configs <= 0:
        return _fail("--max-configs must be positive")

    from checkers.formats import detect_format, parse_edn_value, read_history
    from checkers.history import HistoryError
    from checkers.linearizable import DEFAULT_MAX_CONFIGS, check
    from checkers.models import ModelError, default_model_for, make_model

    try:
        initial = parse_edn_value(args.initial) if args.initial is not None else None
    except ValueError as exc:
        return _fail(f"--initial: {exc}")
    lines: list[int] = []
    try:
        fmt = args.format or detect_format(args.file)
        ops = read_history(args.file, fmt, independent=args.independent, lines=lines)
        model_name = args.model or default_model_for(ops)
        model = make_model(model_name, initial, nil_read_matches_any=(fmt == "edn"))
        result = check(ops, model, time_limit=args.time_limit,
                       max_configs=args.max_configs or DEFAULT_MAX_CONFIGS)
    except FileNotFoundError:
        return _fail(f"{args.file}: no such file")
    except (HistoryError, ModelError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not message.startswith(args.file):
            message = f"{_where(args.file, message, ops if 'ops' in locals() else [], lines)}: {message}"
        return _fail(message)
    result["file"] = args.file
    result["format"] = fmt
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(summary(result))
    return exit_code(result["valid"])


def _where(path: str, message: str, ops: list, lines: list[int]) -> str:
    """``FILE:LINE`` for a message about ``op N`` (the history's op index), else ``FILE``."""
    m = re.match(r"op (-?\d+)\b", message)
    if m and len(lines) == len(ops):
        index = int(m.group(1))
        for op, line in zip(ops, lines):
            if op.index == index:
                return f"{path}:{line}"
    return path


def _verdict_word(valid: Any) -> str:
    return {True: "linearizable", False: "NOT linearizable"}.get(valid, "unknown") if isinstance(valid, bool) \
        else "unknown"


def summary(result: dict[str, Any]) -> str:
    """A few lines for people: the verdict, what was checked, and where it broke."""
    lines = [f"{result.get('file', 'history')}: {_verdict_word(result['valid'])} "
             f"({result['model']}, {result['ops']} ops, {result['keys']} key{'s' if result['keys'] != 1 else ''}, "
             f"{result['elapsed_s']:.3f} s)"]
    if result["valid"] == "unknown":
        lines.append(f"  gave up: {result.get('reason', 'budget spent')}")
    ce = result.get("counterexample")
    if ce:
        op = ce["op"]
        where = f" on key {ce['key']}" if result["keys"] > 1 else ""
        lines.append(f"  {ce['message']}{where} (process {op.get('process')})")
        if ce["states"]:
            lines.append(f"  the model's state could have been: "
                         f"{', '.join(json.dumps(s, default=str) for s in ce['states'])}")
        if ce["linearized_ops"]:
            tail = "; ".join(f"{d.get('index')}: {d.get('op')}" for d in ce["linearized_ops"])
            lines.append(f"  last ops linearized: {tail}")
        if ce["concurrent"]:
            lines.append(f"  concurrent ops: {', '.join(str(i) for i in ce['concurrent'][:30])}"
                         + (" ..." if len(ce["concurrent"]) > 30 else ""))
    return "\n".join(lines)
