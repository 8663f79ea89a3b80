"""Readers for the history formats the checker accepts, all producing ``list[Op]`` (see checkers/history.py).

- ``jsonl``: the harness's own store format (``history.read_jsonl``).
- ``edn``: Jepsen's EDN histories, either one vector of op maps or one map per top-level form (usually a line).
  Parsed with the ``edn-format`` library; keywords become plain strings (``:cas`` -> ``"cas"``), vectors become lists.
  With ``independent=True`` a jepsen.independent ``[key value]`` tuple value is split into ``Op.key`` and ``Op.value``.
- ``porcupine-etcd``: the 2014 etcd Jepsen logs from Porcupine's test data
  (``INFO  jepsen.util - <process> :<type> :<f> <value>``). A ``:fail :cas`` there is an *observed* failed compare,
  so its completion carries ``extra["observed"] = True``; ``:timed-out`` completions become ``info``.
- ``porcupine-kv``: Porcupine's key-value logs, one flat EDN-like map per line with a string ``:key``.

Every reader raises ``HistoryError`` with ``<file>:<line>: <reason>`` for malformed input.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, Callable

import edn_format
from edn_format import ImmutableDict, ImmutableList, Keyword, Symbol

from checkers.history import FAIL, INFO, INVOKE, TYPES, HistoryError, Op, read_jsonl

FORMATS = ("jsonl", "edn", "porcupine-etcd", "porcupine-kv")


# ---------------------------------------------------------------------------------------------------------- EDN

def edn_to_python(value: Any) -> Any:
    """EDN values as plain Python: keywords and symbols to their names, vectors/lists to lists, maps to dicts."""
    if isinstance(value, Keyword):
        return value.name
    if isinstance(value, Symbol):
        return value.name
    if isinstance(value, (ImmutableList, list, tuple)):
        return [edn_to_python(v) for v in value]
    if isinstance(value, (ImmutableDict, dict)):
        return {_hashable(edn_to_python(k)): edn_to_python(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted((edn_to_python(v) for v in value), key=repr)
    return value


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def parse_edn_value(text: str) -> Any:
    """One EDN literal (e.g. a ``--initial`` option) as plain Python; ValueError when it is not valid EDN."""
    try:
        forms = edn_format.loads_all(text)
    except Exception as exc:  # edn-format raises several types (EDNDecodeError, NotImplementedError for tags, ...)
        raise ValueError(f"not an EDN value: {text!r} ({exc})") from None
    if len(forms) != 1:
        raise ValueError(f"expected exactly one EDN value, got {len(forms)}: {text!r}")
    return edn_to_python(forms[0])


def _top_level_chunks(text: str) -> tuple[bool, list[tuple[int, str]]]:
    """Split EDN text into its top-level forms (or, when the file is one vector or list, its elements).

    Only finds where forms start and end (brackets, strings, comments, character literals) so that each form can
    be handed to edn-format alone and an error can name its line; the parsing itself is edn-format's.
    Returns (is_one_vector, [(line, form text)]).
    """
    chunks: list[tuple[int, str]] = []
    depth = 0
    start = -1
    start_line = 0
    line = 1
    outer_vector = False
    outer_seen = False
    closer = "]"
    i, n = 0, len(text)
    base = 0  # depth at which elements are collected (1 inside an outer vector)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if c == ";":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in " \t\r,":
            if start >= 0 and depth == base:
                chunks.append((start_line, text[start:i]))
                start = -1
            i += 1
            continue
        if c in ")]}" and depth == base and start >= 0:  # a scalar element ends at the closing bracket
            chunks.append((start_line, text[start:i]))
            start = -1
        if not outer_seen:
            outer_seen = True
            if c in "[(":
                outer_vector = True
                closer = "]" if c == "[" else ")"
                base = 1
                depth = 1
                i += 1
                continue
        if start < 0 and depth == base:
            if outer_vector and c == closer and depth == 1:
                depth = 0
                i += 1
                rest = text[i:]
                stripped = re.sub(r";[^\n]*", "", rest).strip()
                if stripped:
                    raise HistoryError(f"line {line}: unexpected text after the history vector")
                return True, chunks
            start, start_line = i, line
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":
                    line += 1
                i += 1
            i += 1
        elif c == "\\":
            i += 2
        elif c in "([{":
            depth += 1
            i += 1
        elif c in ")]}":
            depth -= 1
            if depth < base:
                raise HistoryError(f"line {line}: unbalanced {c!r}")
            i += 1
            if depth == base and start >= 0:
                chunks.append((start_line, text[start:i]))
                start = -1
        else:
            i += 1
    if depth != base or (outer_vector and depth != 0):
        where = start_line if start >= 0 else line
        raise HistoryError(f"line {where}: unterminated form (missing closing bracket)")
    if start >= 0:
        chunks.append((start_line, text[start:]))
    return outer_vector, chunks


def _op_from_map(d: Any, where: str, independent: bool) -> Op:
    if not isinstance(d, dict):
        raise HistoryError(f"{where}: expected an op map, got {type(d).__name__}")
    typ = d.get("type")
    if typ not in TYPES:
        raise HistoryError(f"{where}: :type must be one of :invoke :ok :fail :info, got {typ!r}")
    if "process" not in d or "f" not in d:
        raise HistoryError(f"{where}: op needs :process and :f")
    value = d.get("value")
    key = d.get("key")
    if independent:
        if not (isinstance(value, list) and len(value) == 2):
            raise HistoryError(f"{where}: --independent needs [key value] tuple values, got {value!r}")
        key, value = _hashable(value[0]), value[1]
    process = d["process"]
    if isinstance(process, list):
        process = _hashable(process)
    known = {"type", "process", "f", "value", "key", "time", "index", "error", "node"}
    time = d.get("time")
    return Op(type=typ, process=process, f=str(d["f"]), value=value,
              time=int(time) if isinstance(time, (int, float)) else 0, key=_hashable(key),
              node=d.get("node") if isinstance(d.get("node"), str) else None, error=d.get("error"),
              extra={str(k): v for k, v in d.items() if k not in known})


def read_edn(text: str, name: str = "<edn>", independent: bool = False, lines: list[int] | None = None) -> list[Op]:
    try:
        is_vector, chunks = _top_level_chunks(text)
    except HistoryError as exc:
        raise HistoryError(f"{name}:{str(exc).removeprefix('line ')}") from None
    # One edn-format call for the whole text is ~10x faster than one per form; the per-form pass only runs to
    # find the line of a form edn-format rejects.
    try:
        forms = edn_format.loads_all(text)
        elements = list(forms[0]) if is_vector and len(forms) == 1 else forms
    except Exception:
        elements = None
    if elements is None or len(elements) != len(chunks):
        elements = []
        for line, chunk in chunks:
            try:
                elements.append(edn_format.loads(chunk))
            except Exception as exc:
                raise HistoryError(f"{name}:{line}: malformed EDN ({type(exc).__name__}: {exc})") from None
    ops: list[Op] = []
    for (line, _), form in zip(chunks, elements):
        op = _op_from_map(edn_to_python(form), f"{name}:{line}", independent)
        op.index = len(ops)  # file order is the history order (Knossos and Porcupine read it so, too)
        ops.append(op)
        if lines is not None:
            lines.append(line)
    if not ops:
        raise HistoryError(f"{name}: no operations")
    return ops


# ------------------------------------------------------------------------------------------------ porcupine-etcd

_ETCD_LINE = re.compile(r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s*(.*?)\s*$")
_ETCD_CAS = re.compile(r"^\[\s*(-?\d+|nil)\s+(-?\d+|nil)\s*\]$")


def _etcd_scalar(text: str) -> Any:
    if text == "nil":
        return None
    return int(text)


def read_porcupine_etcd(text: str, name: str = "<etcd log>", lines: list[int] | None = None) -> list[Op]:
    ops: list[Op] = []
    invoked: dict[int, Op] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _ETCD_LINE.match(line)
        if not m:
            raise HistoryError(f"{name}:{lineno}: not a jepsen.util history line: {line[:80]!r}")
        process, typ, f, raw = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        extra: dict[str, Any] = {}
        error = None
        try:
            if raw == ":timed-out":
                # Indeterminate whatever the type says (a :fail :read :timed-out too): the value is the invocation's.
                error = "timed-out"
                typ = INFO if typ != INVOKE else typ
                prior = invoked.get(process)
                value = prior.value if prior is not None else None
            elif f == "cas":
                cm = _ETCD_CAS.match(raw)
                if not cm:
                    raise ValueError(f"cas value must be [old new], got {raw!r}")
                value = [_etcd_scalar(cm.group(1)), _etcd_scalar(cm.group(2))]
            elif raw == "":
                value = None
            else:
                value = _etcd_scalar(raw)
        except ValueError as exc:
            raise HistoryError(f"{name}:{lineno}: bad value: {exc}") from None
        if typ == FAIL and f == "cas":
            extra["observed"] = True  # Porcupine's semantics: the compare happened and failed
        op = Op(type=typ, process=process, f=f, value=value, index=len(ops), error=error, extra=extra)
        if typ == INVOKE:
            invoked[process] = op
        ops.append(op)
        if lines is not None:
            lines.append(lineno)
    if not ops:
        raise HistoryError(f"{name}: no operations")
    return ops


# -------------------------------------------------------------------------------------------------- porcupine-kv

# The kv logs are flat maps of simple scalars, one per line; Porcupine's own reader is a regular expression too.
_KV_LINE = re.compile(r'^\{\s*(.*?)\s*\}$')
_KV_PAIR = re.compile(r'\s*:([a-z-]+)\s+("(?:[^"\\]|\\.)*"|:[a-z-]+|-?\d+|nil)\s*(?:,|$)')


def _kv_scalar(tok: str) -> Any:
    if tok.startswith('"'):
        return tok[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if tok.startswith(":"):
        return tok[1:]
    if tok == "nil":
        return None
    return int(tok)


def read_porcupine_kv(text: str, name: str = "<kv log>", lines: list[int] | None = None) -> list[Op]:
    ops: list[Op] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        m = _KV_LINE.match(line)
        d: dict[str, Any] = {}
        pos = 0
        body = m.group(1) if m else None
        while body is not None and pos < len(body):
            pm = _KV_PAIR.match(body, pos)
            if not pm or pm.end() == pos:
                body = None
                break
            d[pm.group(1)] = _kv_scalar(pm.group(2))
            pos = pm.end()
        if body is None:
            raise HistoryError(f"{name}:{lineno}: not a flat {{:key value, ...}} map: {line[:80]!r}")
        if d.get("f") not in ("get", "put", "append"):
            raise HistoryError(f"{name}:{lineno}: :f must be :get, :put or :append, got {d.get('f')!r}")
        if "key" not in d:
            raise HistoryError(f"{name}:{lineno}: op has no :key")
        op = _op_from_map(d, f"{name}:{lineno}", independent=False)
        op.index = len(ops)
        ops.append(op)
        if lines is not None:
            lines.append(lineno)
    if not ops:
        raise HistoryError(f"{name}: no operations")
    return ops


# ------------------------------------------------------------------------------------------------ dispatch

def detect_format(path: str | Path, head: str | None = None) -> str:
    """Guess a file's format from its extension, then from its first non-blank, non-comment line."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix == ".edn":
        return "edn"
    if head is None:
        with open(p, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    for line in head.splitlines():
        s = line.strip()
        if not s or s.startswith(";"):
            continue
        if s.startswith("INFO") and "jepsen.util" in s:
            return "porcupine-etcd"
        if s.startswith("{\"") or s.startswith("{ \""):
            return "jsonl"
        if s.startswith("{:") and re.search(r':f\s+:(get|put|append)\b', s) and ":key" in s:
            return "porcupine-kv"
        if s.startswith("[") or s.startswith("{"):
            return "edn"
        break
    raise HistoryError(f"{p}: cannot tell the history format; give --format")


def read_history(path: str | Path, fmt: str | None = None, independent: bool = False,
                 lines: list[int] | None = None) -> list[Op]:
    """Read a history file in any supported format (auto-detected when ``fmt`` is None).

    ``lines``, when given, receives each op's line number in the file (for error messages about ops)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HistoryError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise HistoryError(f"{p}: is a directory, not a history file") from None
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[:exc.start].count(b"\n") + 1
        raise HistoryError(f"{p}:{line}: not UTF-8 text") from None
    except OSError as exc:
        raise HistoryError(f"{p}: cannot read: {exc.strerror}") from None
    fmt = fmt or detect_format(p, text[:4096])
    return parse_history(text, fmt, str(p), independent, lines)


def parse_history(text: str, fmt: str, name: str = "<history>", independent: bool = False,
                  lines: list[int] | None = None) -> list[Op]:
    readers: dict[str, Callable[[], list[Op]]] = {
        "jsonl": lambda: read_jsonl(io.StringIO(text), name),
        "edn": lambda: read_edn(text, name, independent, lines),
        "porcupine-etcd": lambda: read_porcupine_etcd(text, name, lines),
        "porcupine-kv": lambda: read_porcupine_kv(text, name, lines),
    }
    if fmt not in readers:
        raise HistoryError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    ops = readers[fmt]()
    if fmt == "jsonl" and lines is not None:  # read_jsonl skips blank lines
        lines.extend(i for i, line in enumerate(text.splitlines(), 1) if line.strip())
    if fmt == "jsonl" and independent:
        for op in ops:
            if not (isinstance(op.value, list) and len(op.value) == 2):
                raise HistoryError(f"{name}: op {op.index}: --independent needs [key value] tuple values")
            op.key, op.value = _hashable(op.value[0]), op.value[1]
    if fmt == "jsonl":
        for op in ops:
            op.key = _hashable(op.key)
    return ops
