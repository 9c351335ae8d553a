"""Default initialization of the transposed convolutions follows PyTorch's:
the weight layout [in, out / groups, *k] and the bound 1 / sqrt(fan_in), where
torch takes fan_in from the weight's dimension 1 (out / groups * prod(k))."""

from __future__ import annotations

import math

import numpy as np
import pytest


@pytest.mark.parametrize("expr,cin,torch_args", [
    ("ConvTranspose2d(6, 3, groups = 2)", 4, dict(in_channels=4, out_channels=6, kernel_size=3, groups=2)),
    ("ConvTranspose1d(5, 4, stride = 2)", 3, dict(in_channels=3, out_channels=5, kernel_size=4, stride=2)),
    ("ConvTranspose3d(2, (1, 2, 3))", 7, dict(in_channels=7, out_channels=2, kernel_size=(1, 2, 3))),
])
def test_conv_transpose_init_matches_torch(expr, cin, torch_args):
    torch = pytest.importorskip("torch")
    from nnd.api import build
    d = int(expr[len("ConvTranspose")])
    shape = [2, cin] + [5] * d
    text = f"model T {{\n    input x: [{', '.join(map(str, shape))}]\n    output y = x -> {expr} as layer\n}}\n"
    ir, _ = build(text=text, seed=0, optimize=False)
    node = next(n for _, n in ir.g.nodes(data=True) if n["name"] == "layer")
    module = getattr(torch.nn, f"ConvTranspose{d}d")(**torch_args)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
    w, b = node["attrs"]["weights"]["weight"], node["attrs"]["weights"]["bias"]
    assert w.shape == tuple(module.weight.shape) and b.shape == tuple(module.bias.shape)
    assert math.isclose(w.bound, 1 / math.sqrt(fan_in)) and math.isclose(b.bound, w.bound)
    arr = node["arrays"]["weight"]
    assert np.abs(arr).max() <= w.bound and np.abs(arr).max() > 0.8 * w.bound
