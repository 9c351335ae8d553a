"""Layers on open spatial sizes: the shape nnd infers stays symbolic, the ONNX
runs at several concrete sizes, and matches PyTorch at each."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import rel_err, run_onnx


@pytest.mark.parametrize("layer,shape,want,sizes", [
    ("ConvTranspose2d(4, 4, stride = 2, padding = 1)", "[N, 3, H, W]", "[N, 4, 2*H, 2*W]", [(5, 6), (2, 9)]),
    ("ConvTranspose1d(2, 3, stride = 3, output_padding = 1)", "[N, 3, W]", "[N, 2, 3*W + 1]", [(4,), (7,)]),
    ("Upsample(scale_factor = 2, mode = \"linear\")", "[N, 3, H, W]", "[N, 3, 2*H, 2*W]", [(3, 4), (5, 2)]),
    ("Upsample(scale_factor = (1, 3))", "[N, 3, H, W]", "[N, 3, H, 3*W]", [(3, 4), (5, 2)]),
    ("AdaptiveAvgPool2d(1)", "[N, 3, H, W]", "[N, 3, 1, 1]", [(3, 4), (5, 2)]),
    ("AdaptiveMaxPool2d((1, 2))", "[N, 3, H, 8]", "[N, 3, 1, 2]", [(3, 8), (6, 8)]),
    ("AdaptiveAvgPool3d((1, 1, 3))", "[N, 2, D, H, 6]", "[N, 2, 1, 1, 3]", [(2, 3, 6), (4, 1, 6)]),
    ("Pad([(1, 0), (2, 3)], mode = \"reflect\")", "[N, 3, H, W]", "[N, 3, H + 1, W + 5]", [(4, 5), (6, 4)]),
    ("SumPool2d(2)", "[N, 3, H, W]", "[N, 3, (H - 2) // 2 + 1, (W - 2) // 2 + 1]", [(4, 6), (5, 7)]),
    # Sizes print as users write them: `ceil(...)`, not `-(-H + 3) // 2`.
    ("MaxPool2d(3, 2, ceil_mode = true)", "[N, 3, H, W]", "[N, 3, ceil((H - 3) / 2) + 1, ceil((W - 3) / 2) + 1]",
     [(5, 6), (8, 7)]),
    ("MinPool2d(3, stride = 1, padding = 1)", "[N, 3, H, W]", "[N, 3, H, W]", [(4, 6), (5, 7)]),
    ("Reshape((3, -1))", "[N, 3, H, 4]", "[N, 3, 4*H]", [(2, 4), (5, 4)]),
    ("Linear(5)", "[N, 3, 8]", "[N, 3, 5]", [(8,), (8,)]),
    ("Linear(5)", "[N, 3, L, 8]", "[N, 3, L, 5]", [(4, 8), (7, 8)]),
    ("GroupNorm(2)", "[N, 4, H, W]", "[N, 4, H, W]", [(3, 4), (5, 2)]),
    ("LayerNorm2d", "[N, 4, H, W]", "[N, 4, H, W]", [(3, 4), (5, 2)]),
    ("PixelShuffle(2)", "[N, 8, H, W]", "[N, 2, 2*H, 2*W]", [(3, 4), (5, 2)]),
    ("ChannelShuffle(2)", "[N, 4, H, W]", "[N, 4, H, W]", [(3, 4), (5, 2)]),
    ("MaxPool2d(2, stride = 1, padding = 1, dilation = 2)", "[N, 3, H, W]", "[N, 3, H, W]", [(4, 6), (5, 7)]),
])
def test_open_sizes(layer, shape, want, sizes):
    torch = pytest.importorskip("torch")
    from nnd.api import build
    from nnd.layers import REGISTRY
    from nnd.lower import lower
    from nnd.shapes import fmt_shape

    text = f"model T {{\n    input x0: {shape}\n    output y0 = x0 -> {layer} as layer\n}}\n"
    ir, _ = build(text=text, seed=1, optimize=False)
    node = next(d for _, d in ir.g.nodes(data=True) if d["name"] == "layer")
    assert fmt_shape(node["shapes"][0]) == want
    model = lower(ir)
    ref = REGISTRY[node["kind"]].reference(node["attrs"])
    params = {k: torch.from_numpy(np.array(v)) for k, v in node.get("arrays", {}).items()}
    rng = np.random.default_rng(0)
    for batch, spatial in zip((2, 3), sizes):
        dims = [batch, int(shape.split(", ")[1])] + list(spatial)
        x = rng.standard_normal(dims).astype(np.float32)
        (got,) = run_onnx(model, {"x0": x})
        with torch.no_grad():
            (w,) = ref([torch.from_numpy(x)], params)
        assert rel_err(got, w.numpy()) <= 1e-5
