"""Standard-library models against torchvision's, for run.py's compile and
inference tables: the nnd side is `import std.X` / `model M = Y` compiled
with strict `--weights`; the torch side is torchvision's builder with the
same weights, exported by torch.onnx.export (TorchScript). torchvision is
imported through tests/tv.py (see there), so these rows need the `test`
extra too (torchvision, safetensors).
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")

# run.py's name -> (stdlib module, nnd model, torchvision builder)
MODELS = {
    "mobilenet_v2": ("std.mobilenet", "MobileNetV2", "mobilenet_v2"),
    "efficientnet_b0": ("std.efficientnet", "EfficientNetB0", "efficientnet_b0"),
    "convnext_tiny": ("std.convnext", "ConvNeXtTiny", "convnext_tiny"),
    "vit_b_16": ("std.vit", "ViT_B_16", "vit_b_16"),
}
INPUT = (3, 224, 224)


def nnd_source(name: str) -> str:
    module, model, _ = MODELS[name]
    return f"import {module}\nmodel M = {model}\n"


def torch_model(name: str, weights: str | None = None):
    """torchvision's model, eval mode; with `weights`, loaded from that
    safetensors file (strictly)."""
    sys.path.insert(0, TESTS)
    from tv import torchvision
    m = getattr(torchvision().models, MODELS[name][2])().eval()
    if weights:
        from safetensors.torch import load_file
        m.load_state_dict(load_file(weights))
    return m


def save_weights(name: str, path: str) -> None:
    """torchvision's random initialization, seeded; BatchNorm given random
    affine parameters and statistics (tests/torch_harness.randomize), and
    every other constant tensor (zero heads and class tokens, LayerNorms of
    one and zero, ConvNeXt's layer scale of 1e-6) perturbed, so that no layer
    is an identity or a zero that a graph optimizer could fold away."""
    import torch
    from safetensors.torch import save_file
    sys.path.insert(0, TESTS)
    from torch_harness import randomize
    torch.manual_seed(0)
    m = torch_model(name)
    randomize(m, 0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in m.parameters():
            if p.numel() > 1 and bool(p.min() == p.max()):
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
    save_file({k: v.detach().contiguous() for k, v in m.state_dict().items()}, path)


EXPORT = """import sys
sys.path.insert(0, {here!r})
import torch
import tvmodels
m = tvmodels.torch_model({name!r}, {weights!r})
torch.backends.mha.set_fastpath_enabled(False)   # the fused attention path does not export
with torch.no_grad():
    torch.onnx.export(m, (torch.randn(1, 3, 224, 224),), {out!r}, dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={{"x": {{0: "N"}}, "y": {{0: "N"}}}})
"""


def export_script(name: str, weights: str, out: str) -> str:
    """The script a PyTorch user runs: build torchvision's model, load the
    weights, export it."""
    return EXPORT.format(here=HERE, name=name, weights=weights, out=out)
