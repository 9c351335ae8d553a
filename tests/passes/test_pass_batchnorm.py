"""fold_batchnorm_into_conv / fold_batchnorm_into_linear: numerics and node counts."""

from __future__ import annotations

import pytest

from nnd.passes import fold_batchnorm_into_conv, fold_batchnorm_into_linear
from pass_helpers import BASIC_BLOCK, apply, build, ops, weight_inputs_are_initializers


def model(inp: str, body: str) -> str:
    return f"model T {{\n    input x: {inp}\n    output y = x -> {body}\n}}\n"


@pytest.mark.parametrize("inp,body", [
    ("[N, 3, 9, 9]", "Conv2d(8, 3, padding = 1, bias = false) -> BatchNorm2d"),
    ("[N, 3, 9, 9]", "Conv2d(8, 3, stride = 2) -> BatchNorm"),
    ("[N, 4, 9, 9]", "Conv2d(8, 3, groups = 2, bias = false) -> BatchNorm2d(eps = 1e-3)"),
    ("[N, 4, 9, 9]", "DepthwiseConv2d(3, padding = 1, multiplier = 2) -> BatchNorm2d"),
    ("[N, 2, 8, 9]", "Conv2d(4, 3, padding = 2, padding_mode = \"reflect\") -> BatchNorm2d"),
    ("[N, 3, 16]", "Conv1d(5, 3, padding = 1) -> BatchNorm1d"),
    ("[N, 2, 5, 6, 6]", "Conv3d(4, 3, padding = 1, bias = false) -> BatchNorm3d"),
])
def test_conv_batchnorm_folds(inp, body):
    ir = build(model(inp, body))
    changed, before, after, opt = apply(ir, fold_batchnorm_into_conv)
    assert changed == 1
    assert ops(before)["BatchNormalization"] == 1 and ops(after)["BatchNormalization"] == 0
    assert len(after.graph.node) == len(before.graph.node) - 1
    assert opt.g.number_of_nodes() == ir.g.number_of_nodes() - 1
    conv = next(d for _, d in opt.g.nodes(data=True) if "Conv" in d["kind"])
    assert conv["attrs"]["bias"] is True and "bias" in conv["attrs"]["weights"]
    assert {i.name for i in after.graph.initializer} >= {f"{conv['name']}.weight", f"{conv['name']}.bias"}
    assert not weight_inputs_are_initializers(after)
    # the source IR is untouched (the pass edits its own copy of attrs and arrays)
    assert any(d["kind"].startswith("BatchNorm") for _, d in ir.g.nodes(data=True))


def test_linear_batchnorm_folds():
    ir = build(model("[N, 6]", "Linear(5, bias = false) -> BatchNorm1d -> ReLU -> Linear(3) -> BatchNorm"))
    changed, before, after, _ = apply(ir, fold_batchnorm_into_linear)
    assert changed == 2
    assert ops(before)["BatchNormalization"] == 2 and ops(after)["BatchNormalization"] == 0
    assert ops(after) == {"Gemm": 2, "Relu": 1}


def test_linear_over_a_sequence_does_not_fold():
    # BatchNorm1d normalizes dimension 1 of [N, C, L]; the Linear's outputs are dimension 2
    ir = build(model("[N, 4, 6]", "Linear(4) -> BatchNorm1d"))
    changed, before, after, _ = apply(ir, fold_batchnorm_into_linear)
    assert changed == 0 and ops(after)["BatchNormalization"] == 1


def test_conv_read_twice_or_observable_does_not_fold():
    text = """model T {
    input x: [N, 3, 8, 8]
    c = x -> Conv2d(3, 3, padding = 1)
    output y = (c -> BatchNorm2d) + c
    d = x -> Conv2d(3, 1)
    output z = d
    output w = d -> BatchNorm2d
}
"""
    ir = build(text)
    changed, before, after, _ = apply(ir, fold_batchnorm_into_conv)
    assert changed == 0
    assert ops(after)["BatchNormalization"] == 2


def test_batchnorm_of_an_input_stays():
    ir = build(model("[N, 3, 4, 4]", "BatchNorm2d -> Conv2d(2, 1)"))
    changed, _, after, _ = apply(ir, fold_batchnorm_into_conv)
    assert changed == 0 and ops(after)["BatchNormalization"] == 1


RESNET = BASIC_BLOCK + """model R(classes = 10) {
    input image: [N, 3, 16, 16]
    f = image -> Conv2d(8, 3, padding = 1, bias = false) as conv1 -> BatchNorm2d as bn1 -> ReLU
        -> Basic(8) as layer1 -> Basic(16, stride = 2) as layer2 -> Basic(16) as layer3
    output logits = f -> GlobalAvgPool -> Flatten -> Linear(classes) as fc
}
"""


def test_resnet_chain_folds_completely():
    ir = build(RESNET)
    changed, before, after, _ = apply(ir, fold_batchnorm_into_conv)
    assert ops(before)["BatchNormalization"] == 8 and changed == 8
    assert "BatchNormalization" not in ops(after)
    assert ops(after)["Conv"] == 8
    assert len(after.graph.node) == len(before.graph.node) - 8
    assert not weight_inputs_are_initializers(after)
