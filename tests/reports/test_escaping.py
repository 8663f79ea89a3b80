"""Whatever a server sends, the page shows it as text: property tests over the escaping helpers and the
pieces of the page that print run data."""
from __future__ import annotations

import html
import json
import re

from hypothesis import given, settings, strategies as st

from checkers.history import Op, Pair
from reports.html import esc, json_for_script
from reports.lanes import Bar, lanes_svg, op_label

nasty = st.one_of(st.text(), st.sampled_from(["<script>x</script>", "</script><script>alert(1)</script>",
                                                "<img src=x onerror=alert(1)>", "<!--", "]]>", "\"'><b>", "&amp;",
                                                "\u2028\u2029", "</SCRIPT >"]))
values = st.recursive(st.one_of(st.none(), st.integers(), nasty),
                      lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(nasty, inner, max_size=3)),
                      max_leaves=6)


@given(nasty)
def test_esc_leaves_no_markup(s: str) -> None:
    out = esc(s)
    assert "<" not in out and ">" not in out and '"' not in out and "'" not in out
    assert html.unescape(out) == s


@settings(max_examples=50)
@given(values)
def test_json_for_script_cannot_close_the_tag_and_round_trips(v: object) -> None:
    out = json_for_script(v)
    assert "<" not in out and ">" not in out and "&" not in out
    assert json.loads(out) == json.loads(json.dumps(v))


@settings(max_examples=60)
@given(st.lists(st.tuples(values, values, nasty), min_size=1, max_size=4))
def test_lane_svg_prints_values_as_text(ops: list) -> None:
    bars = []
    for i, (inv_value, out_value, node) in enumerate(ops):
        inv = Op("invoke", i, "write", inv_value, i * 1000, 2 * i, node=node)
        done = Op("ok", i, "write", out_value, i * 1000 + 500, 2 * i + 1, node=node)
        p = Pair(inv, done)
        bars.append(Bar(i, i, node, op_label("write", inv_value, out_value, "ok"), i * 1e-6, i * 1e-6 + 5e-7, "ok",
                        "bad" if i == 0 else "context", None, f"{inv_value!r} {out_value!r} {p.type}"))
    svg = lanes_svg(bars, [{"name": "<b>x</b>", "start_s": 0, "stop_s": 1e-6, "value": ops[0][0]}])
    # the only tags are the drawing's own
    assert set(re.findall(r"</?([a-zA-Z]+)", svg)) <= {"svg", "rect", "text", "g", "title", "line"}
