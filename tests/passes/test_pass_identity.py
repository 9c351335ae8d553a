"""eliminate_dropout, eliminate_identity, eliminate_noop_pooling."""

from __future__ import annotations

import pytest

from nnd.passes import eliminate_dropout, eliminate_identity, eliminate_noop_pooling
from pass_helpers import apply, build, ops


def kinds(ir) -> list:
    return [ir.node(n)["kind"] for n in ir.order()]


def test_dropout_is_removed_at_inference():
    ir = build("model T {\n    input x: [N, 6]\n"
               "    output y = x -> Dropout(0.3) -> Linear(4) -> Dropout -> ReLU\n}\n")
    changed, before, after, opt = apply(ir, eliminate_dropout)
    assert changed == 2
    assert kinds(opt) == ["Input", "Linear", "ReLU"]
    assert ops(after) == ops(before) == {"Gemm": 1, "Relu": 1}


def test_stochastic_depth_is_removed_at_inference():
    ir = build("model T {\n    input x: [N, 6]\n"
               "    h = x -> Linear(6)\n    output y = x + h -> StochasticDepth(0.1)\n}\n")
    changed, before, after, opt = apply(ir, eliminate_dropout)
    assert changed == 1 and "StochasticDepth" not in kinds(opt)
    assert ops(after) == {"Gemm": 1, "Add": 1}


def test_dropout_as_the_output_is_removed():
    ir = build("model T {\n    input x: [N, 6]\n    output y = x -> Linear(4) -> Dropout(0.5)\n}\n")
    changed, _, after, opt = apply(ir, eliminate_dropout)
    assert changed == 1 and kinds(opt) == ["Input", "Linear"]
    assert [o.name for o in after.graph.output] == ["y"] and after.graph.node[-1].output[0] == "y"


def test_monte_carlo_dropout_stays():
    ir = build("model T {\n    input x: [N, 6]\n    output y = x -> Dropout(0.5, mc = true) -> Linear(4)\n}\n")
    before = ir.g.number_of_nodes()
    assert eliminate_dropout(ir) == 0
    assert ir.g.number_of_nodes() == before and "Dropout" in kinds(ir)


def test_arithmetic_with_a_number_stays():
    """`x * 0.5` is one tensor input and a number: not an identity (it was
    removed, so every optimized `x * k`, `x + k`, `x ** k` returned x)."""
    ir = build("model T {\n    input x: [N, 6]\n"
               "    output y = ((x * 0.25 + 1) ** 2 - 3) / 2\n}\n")
    changed, before, after, opt = apply(ir, eliminate_identity)
    assert changed == 0
    assert ops(after) == ops(before) == {"Mul": 1, "Add": 1, "Pow": 1, "Sub": 1, "Div": 1}


def test_identities_are_removed():
    text = """model T {
    input x: [N, 6]
    a = split(x, 1)[0]
    s = concat(a) -> Add
    output y = s -> Identity -> LinearActivation -> Flatten -> Linear(4) -> Identity
}
"""
    ir = build(text)
    changed, before, after, opt = apply(ir, eliminate_identity)
    assert changed == 7
    assert kinds(opt) == ["Input", "Linear"]
    assert ops(before)["Split"] == 1 and ops(before)["Flatten"] == 1
    assert ops(after) == {"Gemm": 1}


def test_flatten_that_flattens_stays():
    ir = build("model T {\n    input x: [N, 2, 3]\n    output y = x -> Flatten -> Identity\n}\n")
    changed, _, after, opt = apply(ir, eliminate_identity)
    assert changed == 1 and kinds(opt) == ["Input", "Flatten"]
    assert ops(after) == {"Flatten": 1}


def test_identity_of_an_input_as_the_output():
    ir = build("model T {\n    input x: [N, 3]\n    output y = x -> Identity\n}\n")
    changed, _, after, opt = apply(ir, eliminate_identity)
    assert changed == 1 and kinds(opt) == ["Input"]
    assert [o.name for o in after.graph.output] == ["y"] and ops(after) == {"Identity": 1}


POOL = "model T {{\n    input x: {inp}\n    output y = x -> {body} -> Flatten -> Linear(3)\n}}\n"


@pytest.mark.parametrize("inp,body,op", [
    ("[N, 4, 7, 7]", "AvgPool2d(7)", "GlobalAveragePool"),
    ("[N, 4, 7, 7]", "AvgPool2d(7, stride = 2, ceil_mode = true)", "GlobalAveragePool"),
    ("[N, 4, 5, 6]", "AvgPool2d((5, 6))", "GlobalAveragePool"),
    ("[N, 4, 7, 7]", "MaxPool2d(7, stride = 3)", "GlobalMaxPool"),
    ("[N, 4, 9]", "MaxPool1d(9)", "GlobalMaxPool"),
])
def test_whole_map_window_becomes_global_pooling(inp, body, op):
    ir = build(POOL.format(inp=inp, body=body))
    changed, before, after, opt = apply(ir, eliminate_noop_pooling)
    assert changed == 1
    assert opt.g.number_of_nodes() == ir.g.number_of_nodes()
    assert ops(after)[op] == 1 and "AveragePool" not in ops(after) and "MaxPool" not in ops(after)
    assert len(after.graph.node) == len(before.graph.node)


@pytest.mark.parametrize("inp,body", [
    ("[N, 4, 6, 6]", "AvgPool2d(1)"),
    ("[N, 4, 6, 6]", "MaxPool2d(1, stride = 1)"),
    ("[N, 4, 1, 1]", "GlobalAvgPool"),
    ("[N, 4, 1, 1]", "GlobalMaxPool"),
])
def test_pooling_that_pools_nothing_is_removed(inp, body):
    ir = build(POOL.format(inp=inp, body=body))
    changed, before, after, opt = apply(ir, eliminate_noop_pooling)
    assert changed == 1
    assert opt.g.number_of_nodes() == ir.g.number_of_nodes() - 1
    assert len(after.graph.node) == len(before.graph.node) - 1


@pytest.mark.parametrize("inp,body", [
    ("[N, 4, 7, 7]", "AvgPool2d(7, padding = 1)"),                   # the padding is averaged in
    ("[N, 4, 7, 7]", "AvgPool2d(7, padding = 1, count_include_pad = false)"),
    ("[N, 4, 8, 8]", "AvgPool2d(4)"),                                # 2 x 2 windows
    ("[N, 4, H, W]", "AvgPool2d(7)"),                                # size unknown
    ("[N, 4, 7, 7]", "MaxPool2d(4, dilation = 2)"),                  # 7 = 2 * 3 + 1, but dilated
    ("[N, 4, 6, 6]", "AvgPool2d(1, stride = 2)"),                    # subsamples
])
def test_real_pooling_stays(inp, body):
    ir = build(POOL.format(inp=inp, body=body).replace("-> Flatten -> Linear(3)", ""))
    changed, before, after, _ = apply(ir, eliminate_noop_pooling)
    assert changed == 0
    assert ops(after) == ops(before)
