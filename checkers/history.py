"""The history model: operations as recorded by the harness, and their pairing.

A history is a list of ``Op`` in the order they happened. Every client operation appears twice: an
``invoke`` and then its completion (``ok``, ``fail`` or ``info``) by the same process. Jepsen's process
semantics hold: ``fail`` means the operation certainly did not take effect; ``info`` means we do not know
(it may take effect at any time after its invocation, or never), and the process that saw ``info`` is
considered crashed and never invokes again (the worker goes on under a new process id). Nemesis
operations use the process ``"nemesis"``.

Stored as JSONL, one op per line, with the field names of ``Op``; optional fields are omitted when None.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, TextIO

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
TYPES = (INVOKE, OK, FAIL, INFO)
NEMESIS = "nemesis"


@dataclass(slots=True)
class Op:
    type: str
    process: int | str
    f: str
    value: Any = None
    time: int = 0  # ns, monotonic from the start of the test
    index: int = -1
    key: Any = None
    node: str | None = None
    error: Any = None
    extra: dict[str, Any] = field(default_factory=dict)  # anything else a workload records (e.g. zxid)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"index": self.index, "type": self.type, "process": self.process, "f": self.f,
                             "value": self.value, "time": self.time}
        if self.key is not None:
            d["key"] = self.key
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Op":
        known = {"index", "type", "process", "f", "value", "time", "key", "node", "error"}
        if d.get("type") not in TYPES:
            raise ValueError(f"op type must be one of {', '.join(TYPES)}, got {d.get('type')!r}")
        if "process" not in d or "f" not in d:
            raise ValueError("op needs 'process' and 'f'")
        return cls(type=d["type"], process=d["process"], f=d["f"], value=d.get("value"),
                   time=int(d.get("time") or 0), index=int(d.get("index", -1)), key=d.get("key"),
                   node=d.get("node"), error=d.get("error"),
                   extra={k: v for k, v in d.items() if k not in known})

    @property
    def is_client(self) -> bool:
        return self.process != NEMESIS


class HistoryError(ValueError):
    """A history that cannot be read or does not follow the invoke/complete discipline."""


def index_history(ops: Iterable[Op]) -> list[Op]:
    """Number the ops 0..n-1 in order (the harness's store already does; readers of foreign formats need it)."""
    out = list(ops)
    for i, op in enumerate(out):
        op.index = i
    return out


@dataclass(slots=True)
class Pair:
    """An invocation and its completion; ``complete`` is None when the history ended with it still open."""
    invoke: Op
    complete: Op | None

    @property
    def type(self) -> str:
        return self.complete.type if self.complete is not None else INFO


def pairs(history: Iterable[Op], include_nemesis: bool = False) -> list[Pair]:
    """Pair every invocation with its completion, in invocation order.

    An invocation with no completion is treated as ``info`` (indeterminate). A completion without an open
    invocation, or a second invocation by a process that has one open, is an error: the history is broken.
    """
    open_: dict[Any, Pair] = {}
    out: list[Pair] = []
    for op in history:
        if not include_nemesis and not op.is_client:
            continue
        if op.type == INVOKE:
            if op.process in open_:
                raise HistoryError(f"op {op.index}: process {op.process!r} invoked while op "
                                   f"{open_[op.process].invoke.index} is still open")
            p = Pair(op, None)
            open_[op.process] = p
            out.append(p)
        else:
            p = open_.pop(op.process, None)
            if p is None:
                if not op.is_client:  # nemesis completions without invokes are fine (Jepsen logs both styles)
                    continue
                raise HistoryError(f"op {op.index}: {op.type} for process {op.process!r} with no open invocation")
            p.complete = op
    return out


def read_jsonl(stream: TextIO, name: str = "<history>") -> list[Op]:
    ops: list[Op] = []
    for lineno, line in enumerate(stream, 1):
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
            op = Op.from_dict(d)
        except (ValueError, TypeError) as exc:
            raise HistoryError(f"{name}:{lineno}: {exc}") from None
        if op.index < 0:
            op.index = len(ops)
        ops.append(op)
    return ops


def write_jsonl(ops: Iterable[Op], stream: TextIO) -> None:
    for op in ops:
        stream.write(json.dumps(op.to_dict(), separators=(",", ":"), default=str))
        stream.write("\n")


def iter_jsonl_path(path: str) -> Iterator[Op]:
    with open(path, encoding="utf-8") as f:
        yield from read_jsonl(f, path)
