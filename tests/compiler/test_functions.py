"""The calling convention of tensor functions (layer entries with
`function = True`): `f(x, ...)`, `x.f(...)` and `x -> f(...)` are one layer
applied to x. Tested with a throwaway entry so that it does not depend on
which functions the catalogue has."""

import textwrap

import pytest

import nnd
from nnd.layers import REGISTRY
from nnd.layers.base import Layer, P
from nnd.shapes import fmt_shape


class _Widen(Layer):
    """`widen(x, k)`: [..., F] -> [..., F * k] (shape only; never lowered here)."""
    names = {"widen": None}
    params = (P("k", "int", 2),)
    function = True

    def infer(self, a, ins):
        return [ins[0][:-1] + (ins[0][-1] * a.k,)]


class _Pair(Layer):
    """`pair(a, b)`: two inputs of equal shape, one output."""
    names = {"pair": None}
    n_inputs = 2
    function = True

    def infer(self, a, ins):
        return [ins[0]]


@pytest.fixture(autouse=True)
def _functions():
    REGISTRY["widen"], REGISTRY["pair"] = _Widen(), _Pair()
    yield
    del REGISTRY["widen"], REGISTRY["pair"]


def output_shape(body):
    src = "model M {\n    input x: [N, 4]\n    input y: [N, 4]\n" + textwrap.indent(textwrap.dedent(body), "    ") + "}\n"
    res = nnd.check(text=src)
    assert res.ok, [d.message for d in res.diagnostics]
    out = res.ir.outputs[0]
    return fmt_shape(res.ir.node(out.node)["shapes"][out.port])


@pytest.mark.parametrize("expr", ["widen(x, 3)", "x.widen(3)", "x -> widen(3)", "x.widen(k = 3)",
                                  "widen(x, k = 3)"])
def test_three_spellings_of_one_call(expr):
    assert output_shape(f"output o = {expr}\n") == "[N, 12]"


def test_methods_chain_and_take_defaults():
    assert output_shape("output o = x.widen().widen(3)\n") == "[N, 24]"


def test_leading_tensors_are_the_inputs():
    assert output_shape("output o = pair(x, y)\n") == "[N, 4]"
    assert output_shape("output o = x.pair(y)\n") == "[N, 4]"


def test_an_unknown_method_is_located_with_a_suggestion():
    res = nnd.check(text="model M {\n    input x: [N, 4]\n    output o = x.wide(3)\n}\n")
    (d,) = res.diagnostics
    assert d.code == "E0101" and "no property or method `wide`" in d.message
    assert (d.span.line, d.span.column) == (3, 16)
    assert "did you mean `widen`?" in d.help


def test_a_layer_that_is_not_a_function_is_no_method():
    res = nnd.check(text="model M {\n    input x: [N, 4]\n    output o = x.ReLU()\n}\n")
    assert [d.code for d in res.diagnostics] == ["E0101"]
