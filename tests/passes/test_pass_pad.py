"""fold_pad_into_conv / fold_pad_into_pool."""

from __future__ import annotations

import pytest

from nnd.layers import load_all
from nnd.passes import fold_pad_into_conv, fold_pad_into_pool
from pass_helpers import apply, build, ops

pytestmark = pytest.mark.skipif("Pad" not in load_all(), reason="the Pad layer is not in the catalogue yet")

M = "model T {{\n    input x: {inp}\n    output y = x -> {body}\n}}\n"


def conv_of(ir):
    return next(d for _, d in ir.g.nodes(data=True) if "Conv" in d["kind"])


@pytest.mark.parametrize("inp,body,pads", [
    ("[N, 3, 8, 8]", "Pad(1) -> Conv2d(4, 3)", [(1, 1), (1, 1)]),
    ("[N, 3, 8, 8]", "Pad([(0, 1), (0, 1)]) -> Conv2d(4, 3, stride = 2)", [(0, 1), (0, 1)]),
    ("[N, 3, 8, 8]", "Pad((2, 0)) -> Conv2d(4, 3, padding = 1, bias = false)", [(3, 3), (1, 1)]),
    ("[N, 4, 8, 8]", "Pad(1) -> DepthwiseConv2d(3, stride = 2)", [(1, 1), (1, 1)]),
    ("[N, 3, 8, 8]", "Pad(1) -> Conv2d(4, 3, padding_mode = \"reflect\")", [(1, 1), (1, 1)]),   # no own padding
    ("[N, 3, 8, 8]", "Pad(1) -> Conv2d(4, 3, padding = 1, padding_mode = \"constant\")", [(2, 2), (2, 2)]),
    ("[N, 3, 10]", "Pad([(2, 1)]) -> Conv1d(4, 3)", [(2, 1)]),
])
def test_zero_pad_folds_into_conv(inp, body, pads):
    ir = build(M.format(inp=inp, body=body))
    changed, before, after, opt = apply(ir, fold_pad_into_conv)
    assert changed == 1
    # a conv with constant padding lowers to its own Pad + Conv: both Pads go
    assert ops(before)["Pad"] >= 1 and "Pad" not in ops(after) and ops(after)["Conv"] == 1
    assert len(after.graph.node) == len(before.graph.node) - ops(before)["Pad"]
    assert opt.g.number_of_nodes() == ir.g.number_of_nodes() - 1
    assert conv_of(opt)["attrs"]["pads"] == pads


@pytest.mark.parametrize("inp,body", [
    ("[N, 3, 8, 8]", "Pad(1, value = 0.5) -> Conv2d(4, 3)"),
    ("[N, 3, 8, 8]", "Pad(1, mode = \"reflect\") -> Conv2d(4, 3)"),
    ("[N, 3, 8, 8]", "Pad(1) -> Conv2d(4, 3, padding = 1, padding_mode = \"replicate\")"),
    ("[N, 3, 8, 8]", "Pad(1) -> Conv2d(4, 3, padding = 1, padding_mode = \"constant\", pad_value = 2)"),
])
def test_other_pads_stay_before_conv(inp, body):
    ir = build(M.format(inp=inp, body=body))
    changed, before, after, _ = apply(ir, fold_pad_into_conv)
    assert changed == 0 and ops(after) == ops(before)


def test_pad_read_twice_stays():
    text = """model T {
    input x: [N, 3, 8, 8]
    p = x -> Pad(1)
    output y = p -> Conv2d(4, 3)
    output z = p -> MaxPool2d(2)
}
"""
    ir = build(text)
    assert fold_pad_into_conv(ir) == 0 and fold_pad_into_pool(ir) == 0


@pytest.mark.parametrize("inp,body,pads", [
    ("[N, 3, 9, 9]", "Pad(1) -> AvgPool2d(3, stride = 2)", [(1, 1), (1, 1)]),
    ("[N, 3, 9, 9]", "Pad([(0, 1), (1, 0)]) -> AvgPool2d(2)", [(0, 1), (1, 0)]),
    ("[N, 3, 9, 9]", "Pad(1) -> AvgPool2d(3, stride = 2, count_include_pad = false)", [(1, 1), (1, 1)]),
    ("[N, 3, 9, 9]", "Pad(1) -> AvgPool2d(5, stride = 2, padding = 1)", [(2, 2), (2, 2)]),
    ("[N, 3, 9, 9]", "ReLU -> Pad(1) -> MaxPool2d(3, stride = 2)", [(1, 1), (1, 1)]),
    ("[N, 3, 9, 9]", "Sigmoid -> Pad([(1, 0), (0, 1)]) -> MaxPool2d(2, padding = 0)", [(1, 0), (0, 1)]),
    ("[N, 3, 9, 9]", "Pad(1, value = -inf) -> MaxPool2d(3, stride = 2, padding = 1)", [(2, 2), (2, 2)]),
])
def test_pad_folds_into_pool(inp, body, pads):
    ir = build(M.format(inp=inp, body=body))
    changed, before, after, opt = apply(ir, fold_pad_into_pool)
    assert changed == 1
    assert ops(before)["Pad"] == 1 and "Pad" not in ops(after)
    assert len(after.graph.node) == len(before.graph.node) - 1
    pool = next(d for _, d in opt.g.nodes(data=True) if "Pool" in d["kind"])
    assert pool["attrs"]["pads"] == pads
    if pool["kind"].startswith("AvgPool"):
        assert pool["attrs"]["count_include_pad"] is True


@pytest.mark.parametrize("inp,body", [
    ("[N, 3, 9, 9]", "Pad(1) -> MaxPool2d(3, stride = 2)"),                     # x may be negative
    ("[N, 3, 9, 9]", "Tanh -> Pad(1) -> MaxPool2d(3, stride = 2)"),
    ("[N, 3, 9, 9]", "ReLU -> Pad(1, value = 1) -> MaxPool2d(3, stride = 2)"),
    ("[N, 3, 9, 9]", "ReLU -> Pad(2) -> MaxPool2d(3, stride = 2, dilation = 2)"),
    ("[N, 3, 9, 9]", "Pad(1) -> AvgPool2d(3, stride = 2, padding = 1, count_include_pad = false)"),
    ("[N, 3, 9, 9]", "Pad(1, value = 1) -> AvgPool2d(3, stride = 2)"),
    ("[N, 3, 10, 10]", "Pad(1) -> AvgPool2d(3, stride = 2, ceil_mode = true)"),
    ("[N, 3, 9, 9]", "Pad(1, mode = \"replicate\") -> AvgPool2d(3)"),
])
def test_other_pads_stay_before_pool(inp, body):
    ir = build(M.format(inp=inp, body=body))
    changed, before, after, _ = apply(ir, fold_pad_into_pool)
    assert changed == 0 and ops(after) == ops(before)


def test_pad_as_large_as_the_window_stays():
    # onnxruntime rejects pooling pads >= the kernel. (Its own Pad fusion makes
    # that very node out of this graph, so the unoptimized model fails there.)
    ir = build(M.format(inp="[N, 3, 9, 9]", body="Pad(2) -> AvgPool2d(2)"))
    assert fold_pad_into_pool(ir) == 0
    assert sorted(d["kind"] for _, d in ir.g.nodes(data=True)) == ["AvgPool2d", "Input", "Pad"]
