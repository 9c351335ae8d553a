"""`concat`, `add`, `subtract`, `multiply` and `split` after `->` are the
layers they make, fed by the pipe; `concat` takes a tuple or list of tensors
as torch.cat does. Each form compiles to the same graph as the call."""

import pytest

import nnd
from nnd import api

HEAD = "model M {\n    input x: [N, 4, 8]\n    input y: [N, 2, 8]\n"


def _bytes(body: str) -> bytes:
    m = nnd.compile(text=HEAD + body + "}\n")
    for n in m.graph.node:
        n.doc_string = ""   # the source position, which differs
    return m.SerializeToString(deterministic=True)


@pytest.mark.parametrize("form,call", [
    ("output z = (x, y) -> concat", "output z = concat(x, y)"),
    ("output z = (x, y) -> concat(axis = 1)", "output z = concat(x, y, axis = 1)"),
    ("output z = concat((x, y))", "output z = concat(x, y)"),
    ("output z = concat([x, y], axis = 1)", "output z = concat(x, y, axis = 1)"),
    ("output z = (x, x) -> concat(axis = -1) -> ReLU", "output z = concat(x, x, axis = -1) -> ReLU"),
    ("output z = (x, x) -> add", "output z = add(x, x)"),
    ("output z = (x, x, x) -> multiply", "output z = multiply(x, x, x)"),
    ("a, b = x -> split(2)\n    output z = b", "a, b = split(x, 2)\n    output z = b"),
    ("a, b = x -> split([1, 3], axis = 1)\n    output z = b", "a, b = split(x, [1, 3], axis = 1)\n    output z = b"),
])
def test_pipe_forms_are_the_calls(form, call):
    assert _bytes(form + "\n") == _bytes(call + "\n")


def test_split_in_a_pipe_gives_its_parts_shapes():
    from nnd.shapes import fmt_shape
    res = api.check(text=HEAD + "    a, b = x -> split([1, 3])\n    output p = a\n    output q = b\n}\n")
    assert res.ok, res.diagnostics
    shapes = [fmt_shape(res.ir.node(o.node)["shapes"][o.port]) for o in res.ir.outputs]
    assert shapes == ["[N, 1, 8]", "[N, 3, 8]"]


@pytest.mark.parametrize("stmt,code,col,help", [
    ("z = x -> concat(y)", "E0117", 14, "`(a, b) -> concat`"),
    ("a, b = x -> split(x, 2)", "E0117", 17, "`x -> split(3)`"),
    ("a, b = x -> split", "E0104", 17, "`x -> split(2)`"),
])
def test_pipe_forms_misused(stmt, code, col, help):
    res = api.check(text=HEAD + f"    {stmt}\n    output o = x\n}}\n")
    d = [d for d in res.diagnostics if d.code == code]
    assert len(d) == 1 and d[0].span.line == 4 and d[0].span.column == col
    assert help in d[0].help
