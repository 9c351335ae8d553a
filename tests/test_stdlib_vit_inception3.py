"""std.vit and std.inception's InceptionV3 against torchvision's own models
(tests/tv.py): torchvision's random weights (made not trivial: its zero and
one initializations perturbed, BatchNorm statistics randomized) saved with
safetensors and bound with strict `--weights`; the ONNX model on onnxruntime
within max relative error 1e-4 of torchvision, with the same top-1 class.
Names, shapes and counts at the canonical sizes are in tests/test_stdlib.py.

Sizes are the smallest the architectures allow: ViT at 32x32 (2x2 patches of
16, and the class token), Inception v3 at 75x75 (torchvision's minimum) and,
with the auxiliary classifier, at 299x299 (its 5x5 convolution needs the
17x17 grid).
"""

from __future__ import annotations

import numpy as np
import pytest

from torch_harness import TORCH_REASON, compile_with_torch_weights

torch = pytest.importorskip("torch", reason=TORCH_REASON)
pytest.importorskip("safetensors", reason="safetensors is a test extra: pip install -e '.[test]'")

C = 10   # classes


def _tv():
    from tv import torchvision
    return torchvision()


def _perturb_constants(module, seed: int = 0) -> None:
    """torchvision starts ViT's class token and head at zero and LayerNorms at
    one and zero: a head of zeros would match anything. Give every constant
    parameter small random offsets."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.numel() > 1 and bool(p.min() == p.max()):
                p.add_(torch.randn(p.shape, generator=g) * 0.1)


def _assert_matches(module, std, model, params, shape, tmp_path, tol=1e-4):
    """Compile `std`'s `model` with `module`'s weights; compare every output
    (declared order) with `module`'s on one random batch."""
    from helpers import rel_err, run_onnx
    onnx_model = compile_with_torch_weights(std, model, module, tmp_path, params=params)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    got = run_onnx(onnx_model, {onnx_model.graph.input[0].name: x})
    with torch.no_grad():
        want = module(torch.from_numpy(x))
    want = list(want) if isinstance(want, tuple) else [want]
    assert [o.name for o in onnx_model.graph.output][:1] == ["logits"] and len(got) == len(want)
    errs = []
    for o, g, w in zip(onnx_model.graph.output, got, want):
        w = w.numpy()
        err = rel_err(g, w)
        assert err <= tol, f"output `{o.name}`: max relative error {err:.3g} > {tol}"
        assert (g.argmax(1) == w.argmax(1)).all(), f"output `{o.name}`: top-1 differs"
        errs.append(err)
    return errs


def test_vit_b_16_matches_torchvision(tmp_path):
    torch.manual_seed(0)
    m = _tv().models.vit_b_16(image_size=32, num_classes=C)
    _perturb_constants(m)
    _assert_matches(m, "std.vit", "ViT_B_16", {"size": 32, "classes": C}, [2, 3, 32, 32], tmp_path)


@pytest.mark.parametrize("patch,size", [(8, 32), (32, 64)])
def test_small_vision_transformer_matches_torchvision(patch, size, tmp_path):
    """The generic model at other patch sizes (ViT_B_32's 32 among them),
    narrow enough to be quick: 2 layers, 4 heads, width 64."""
    torch.manual_seed(1)
    cfg = {"patch_size": patch, "num_layers": 2, "num_heads": 4, "hidden_dim": 64, "mlp_dim": 128}
    m = _tv().models.VisionTransformer(image_size=size, num_classes=C, **cfg)
    _perturb_constants(m)
    _assert_matches(m, "std.vit", "VisionTransformer", {**cfg, "size": size, "classes": C},
                    [2, 3, size, size], tmp_path)


def test_inception_v3_matches_torchvision(tmp_path):
    torch.manual_seed(0)
    m = _tv().models.inception_v3(num_classes=C, aux_logits=False, init_weights=False)
    _assert_matches(m, "std.inception", "InceptionV3", {"size": 75, "classes": C}, [2, 3, 75, 75], tmp_path)


def test_inception_v3_aux_logits_match_torchvision(tmp_path):
    """torchvision computes AuxLogits only in training mode; in eval mode its
    output is the same head applied to Mixed_6e's output, taken by a hook."""
    torch.manual_seed(0)
    m = _tv().models.inception_v3(num_classes=C, aux_logits=True, init_weights=False)
    seen = {}
    m.Mixed_6e.register_forward_hook(lambda mod, inp, out: seen.__setitem__("x", out))
    m.register_forward_hook(lambda mod, inp, out: (out, mod.AuxLogits(seen["x"])))
    _assert_matches(m, "std.inception", "InceptionV3", {"size": 299, "classes": C, "aux_logits": True},
                    [1, 3, 299, 299], tmp_path)
