"""Escaping and small markup helpers. Every string that reaches the page goes through one of these: values,
error messages and node names come from servers and from the history, never trust them as markup."""
from __future__ import annotations

import html
import json
from typing import Any


def esc(value: Any) -> str:
    """Text content or a quoted attribute value: any object, shown as its str(), with <>&"' escaped."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def compact(value: Any, limit: int = 80) -> str:
    """A short one-line rendering of a JSON-ish value for labels (not escaped: pass through esc)."""
    if isinstance(value, str):
        s = value
    elif isinstance(value, int) and not isinstance(value, bool):  # the common case, 100,000 times: no json
        s = str(value)
    else:
        try:
            s = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            s = repr(value)
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def json_for_script(data: Any) -> str:
    """JSON safe inside <script type="application/json">: '<', '>' and '&' become \\u escapes, so no value
    can close the tag or open a comment; JSON.parse gives the original strings back."""
    text = json.dumps(data, separators=(",", ":"), default=str, ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.3f} s"
    return f"{seconds:.1f} s"
