"""eliminate_common_subexpressions."""

from __future__ import annotations

import numpy as np

from nnd.passes import eliminate_common_subexpressions as cse
from pass_helpers import apply, build, ops


def test_duplicate_chains_collapse():
    text = """model T {
    input x: [N, 3, 8, 8]
    a = x -> ReLU -> MaxPool2d(2)
    b = x -> ReLU -> MaxPool2d(2)
    c = x -> ReLU -> MaxPool2d(3, stride = 2, padding = 1)
    output y = a + b + c
}
"""
    ir = build(text)
    changed, before, after, opt = apply(ir, cse)
    assert changed == 3   # b's ReLU and MaxPool, and c's ReLU
    assert ops(before) == {"Relu": 3, "MaxPool": 3, "Add": 2}
    assert ops(after) == {"Relu": 1, "MaxPool": 2, "Add": 2}
    assert opt.g.number_of_nodes() == ir.g.number_of_nodes() - 3


def test_input_order_and_arguments_matter():
    text = """model T {
    input x: [N, 4]
    input z: [N, 4]
    a = x - z
    b = z - x
    c = x -> Softmax(axis = 1)
    d = x -> Softmax(axis = -1)
    output y = a * b + c * d
}
"""
    ir = build(text)
    changed, before, after, _ = apply(ir, cse)
    assert changed == 0 and ops(after) == ops(before)


def test_layers_with_their_own_weights_stay_apart_unless_equal():
    text = """model T {
    input x: [N, 6]
    a = x -> Linear(4) as fc1
    b = x -> Linear(4) as fc2
    output y = a + b
}
"""
    ir = build(text)
    changed, _, after, _ = apply(ir, cse)
    assert changed == 0 and ops(after)["Gemm"] == 2
    # the same weights (as a checkpoint sharing them would bind): one Gemm
    ir = build(text)
    fc1, fc2 = (next(d for _, d in ir.g.nodes(data=True) if d["name"] == n) for n in ("fc1", "fc2"))
    fc2["arrays"] = {k: v.copy() for k, v in fc1["arrays"].items()}
    changed, _, after, _ = apply(ir, cse)
    assert changed == 1 and ops(after) == {"Gemm": 1, "Add": 1}
    # equal but for one value: two Gemms
    ir = build(text)
    fc1, fc2 = (next(d for _, d in ir.g.nodes(data=True) if d["name"] == n) for n in ("fc1", "fc2"))
    fc2["arrays"] = {k: v.copy() for k, v in fc1["arrays"].items()}
    fc2["arrays"]["bias"][0] += np.float32(1e-3)
    assert cse(ir) == 0


def test_outputs_of_the_same_expression():
    text = """model T {
    input x: [N, 5]
    output p = x -> Softmax
    output q = x -> Softmax
}
"""
    ir = build(text)
    changed, _, after, opt = apply(ir, cse)
    assert changed == 1
    assert [o.name for o in after.graph.output] == ["p", "q"]
    assert ops(after) == {"Softmax": 1, "Identity": 1}
    assert opt.outputs[0].node == opt.outputs[1].node


def test_monte_carlo_dropout_is_never_merged():
    text = """model T {
    input x: [N, 5]
    a = x -> Dropout(0.5, mc = true)
    b = x -> Dropout(0.5, mc = true)
    output y = a + b
}
"""
    ir = build(text)
    assert cse(ir) == 0 and sum(d["kind"] == "Dropout" for _, d in ir.g.nodes(data=True)) == 2
