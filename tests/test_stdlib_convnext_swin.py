"""std.convnext and std.swin against torchvision itself (tests/tv.py):
torchvision's model, its weights made non-trivial (layer scales, LayerNorm
affine parameters and relative position bias tables drawn at random: at
ConvNeXt's initial 1e-6 scale the residual branches would vanish, and any
error in them would go unseen), saved with safetensors, bound with strict
`--weights`, run on onnxruntime; every logit within 1e-4 max relative error
of torch's, and the same top-1 for each image of the batch. Exact parameter
counts at the canonical 224x224 with 1000 classes come from `nnd.check` (no
weights) and equal torchvision's own."""

from __future__ import annotations

import numpy as np
import pytest

import nnd
from nnd.weights import parameter_count
from torch_harness import TORCH_REASON, compile_with_torch_weights

torch = pytest.importorskip("torch", reason=TORCH_REASON)
pytest.importorskip("safetensors", reason="safetensors is a test extra: pip install -e '.[test]'")


def _tv():
    from tv import torchvision
    return torchvision()


# (std module, model, torchvision builder, published count)
COUNTS = [
    ("convnext", "ConvNeXtTiny", "convnext_tiny", 28_589_128),
    ("convnext", "ConvNeXtSmall", "convnext_small", 50_223_688),
    ("swin", "SwinT", "swin_t", 28_288_354),
]


@pytest.mark.parametrize("module,model,builder,published", COUNTS, ids=[c[1] for c in COUNTS])
def test_names_shapes_and_counts_equal_torchvision(module, model, builder, published):
    res = nnd.check(text=f"import std.{module}\nmodel Chosen = {model}\n", model="Chosen")
    assert res.ok, "\n".join(f"{d.code} {d.message}" for d in res.errors)
    ours = {name: tuple(w.shape) for name, (_, _, w) in res.ir.parameters().items()}
    with torch.device("meta"):
        tmod = getattr(_tv().models, builder)()
    theirs = {k: tuple(v.shape) for k, v in tmod.state_dict().items()}
    assert ours == theirs
    assert parameter_count(res.ir) == published == sum(p.numel() for p in tmod.parameters())


def _perturb(module, seed: int = 0) -> None:
    """Random layer scales and LayerNorm affine parameters (BatchNorm has
    none here; the harness randomizes it where there is)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif name.endswith("relative_position_bias_table"):
                p.copy_(torch.randn(p.shape, generator=g))
        for m in module.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)


# (std module, model, nnd params, torchvision builder, its kwargs, input shape)
RUNS = [
    ("std.convnext", "ConvNeXtTiny", {"classes": 10, "size": 32}, "convnext_tiny", {"num_classes": 10},
     [2, 3, 32, 32]),
    ("std.convnext", "ConvNeXtSmall", {"classes": 10, "size": 32}, "convnext_small", {"num_classes": 10},
     [2, 3, 32, 32]),
    # 36x36: maps of 9, 5, 3, 2, padded to windows of 7 (14, then 7), the
    # first stage's odd blocks shifted (a 2x2 grid of windows, masked), odd
    # sizes padded before patch merging; 64x64 and 224x224 agree as well
    # (checked once; each run writes 28M parameters, so the test keeps one).
    ("std.swin", "SwinT", {"classes": 10, "size": 36}, "swin_t", {"num_classes": 10}, [2, 3, 36, 36]),
]


@pytest.mark.parametrize("mod,model,params,builder,kwargs,shape", RUNS, ids=[r[1] for r in RUNS])
def test_computes_what_torchvision_computes(mod, model, params, builder, kwargs, shape, tmp_path):
    from helpers import rel_err, run_onnx
    torch.manual_seed(0)
    tmod = getattr(_tv().models, builder)(**kwargs)
    _perturb(tmod)
    onnx_model = compile_with_torch_weights(mod, model, tmod, tmp_path, params=params)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    (got,) = run_onnx(onnx_model, {onnx_model.graph.input[0].name: x})
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    assert rel_err(got, want) <= 1e-4
    assert (got.argmax(1) == want.argmax(1)).all()


def test_layer_scale_is_a_learned_tensor_initialized_as_torchvision():
    """`layer_scale` is a `param` (counted, bound by name), [dim, 1, 1],
    filled with the model's `layer_scale` (torchvision's default 1e-6)."""
    model = nnd.compile(text="import std.convnext\nmodel Chosen = ConvNeXtTiny(classes = 10, size = 32, "
                             "layer_scale = 0.25)\n", model="Chosen", optimize=False)
    from onnx import numpy_helper
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert inits["features.1.0.layer_scale"].shape == (96, 1, 1)
    assert inits["features.7.2.layer_scale"].shape == (768, 1, 1)
    assert np.all(inits["features.5.8.layer_scale"] == np.float32(0.25))


def test_relative_position_index_is_torchvisions_buffer():
    """The index RelativePositionBias computes at compile time equals the
    buffer torchvision registers (and saves in its state_dict)."""
    from nnd.layers.window import relative_position_index
    attn = _tv().models.swin_transformer.ShiftedWindowAttention(96, [7, 7], [3, 3], 3)
    assert relative_position_index(7) == attn.relative_position_index.tolist()
    assert "relative_position_index" in dict(attn.named_buffers())


def test_swin_shifts_only_where_the_windows_tile_more_than_one():
    """Blocks 1, 3, ... shift by window // 2 where the (padded) map holds
    more than one window: at 224 the maps of stages 1-3 (56, 28, 14), not the
    7x7 of stage 4, as torchvision."""
    res = nnd.check(text="import std.swin\nmodel Chosen = SwinT\n", model="Chosen")
    assert res.ok
    shifts = {d["name"]: d["attrs"]["shift"] for _, d in res.ir.g.nodes(data=True)
              if d["kind"] == "RelativePositionBias"}
    assert shifts == {"features.1.0.attn": 0, "features.1.1.attn": 3, "features.3.0.attn": 0,
                      "features.3.1.attn": 3, **{f"features.5.{j}.attn": 3 * (j % 2) for j in range(6)},
                      "features.7.0.attn": 0, "features.7.1.attn": 0}


def test_relative_position_bias_needs_the_map_size_with_a_shift():
    res = nnd.check(text="model M {\n    input x: [N, 2, 9, 9]\n"
                         "    output y = x -> RelativePositionBias(3, 2, shift = 1)\n}\n")
    assert [d.code for d in res.errors] == ["E0107"]
    assert "`size` must be the (H, W) of the map" in res.errors[0].message


def test_roll_needs_known_sizes_and_one_dim_per_shift():
    res = nnd.check(text="model M {\n    input x: [N, 4, H]\n    output y = x.roll(1, 2)\n"
                         "    output z = x.roll((1, 2), 1)\n    output w = x.roll(-5, 1)\n}\n")
    assert [d.code for d in res.errors] == ["E0305", "E0107"]
    assert "`roll` needs the size of dimension 2 of [N, 4, H]" in res.errors[0].message
    assert "got 2 shifts and 1 dims" in res.errors[1].message
