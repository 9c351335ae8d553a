"""Every standard-library model against code we did not write: torchvision's
own builders (TORCHVISION, imported through tests/tv.py) wherever torchvision
has the model, and otherwise a torch.nn twin written from the paper
(tests/torch_models.py: LeNet-5, MobileNet v1, U-Net, wide-and-deep). The
reference's random weights (BatchNorm not the identity) are saved with
safetensors, bound with strict `--weights` and run on onnxruntime; every
output is within max relative error 1e-4 of torch in float32, with the same
top-1 class for torchvision's models.

Inputs are as small as the architecture allows, batch 2: 64x64 in general;
AlexNet at 96 and VGG at 64, so that adaptive pooling spreads a 2x2 map over
6x6 and 7x7; GoogLeNet's auxiliary heads at 80, where they pool 5x5 to 4x4
(uneven windows). ResNet-50 also runs once at the canonical 224x224 with 1000
classes. VGG's fully connected layers (25088 x 4096) do not shrink with the
input, so one VGG and one VGG-BN are run here (writing their weights is most
of their time); tests/test_stdlib.py checks every variant's parameter names,
shapes and counts against torchvision.
"""

from __future__ import annotations

import os

import pytest

from torch_harness import TORCH_REASON, assert_matches_torch, std_path

torch = pytest.importorskip("torch", reason=TORCH_REASON)
pytest.importorskip("safetensors", reason="safetensors is a test extra: pip install -e '.[test]'")
torch_models = pytest.importorskip("torch_models", reason="tests/torch_models.py (the stdlib's torch twins) "
                                                          "has not landed")

C = 10   # classes: a small head keeps the weights files small
S = {"classes": C, "size": 64}
T = {"num_classes": C}

# Models torchvision does not have keep a torch.nn twin (tests/torch_models.py:
# torch code written from the papers and their common PyTorch layouts, not a
# transcription of torchvision): (std module, model, nnd params, factory, its
# kwargs, input shapes). Every other model is in TORCHVISION below.
MODELS = [
    ("std.lenet", "LeNet5", {}, "lenet5", {}, [[2, 1, 32, 32]]),
    ("std.mobilenet", "MobileNetV1", S, "mobilenet_v1", T, [[2, 3, 64, 64]]),
    ("std.unet", "UNet", {"size": 64}, "unet", {}, [[1, 1, 64, 64]]),
    ("std.unet", "UNet", {"size": 64, "batch_norm": True}, "unet", {"batch_norm": True}, [[1, 1, 64, 64]]),
    ("std.wide_deep", "WideAndDeep", {}, "wide_and_deep", {}, [[4, 5], [4, 6]]),
]


def _id(row):
    mod, model, params, *_ = row
    extra = [k for k, v in params.items() if v is True]
    return "-".join([model] + extra)


def _skip_unless_present(mod: str, model: str, factory: str, params: dict | None = None):
    if not os.path.isfile(std_path(mod)):
        pytest.skip(f"{mod} is not in the standard library yet")
    if not hasattr(torch_models, factory):
        pytest.skip(f"tests/torch_models.py has no `{factory}`")
    import nnd
    res = nnd.check(text=f"import {mod}\nmodel Chosen = {model}\n", model="Chosen", params=params)
    missing = [d.message for d in res.errors if d.code == "E0102"]
    if missing:   # a layer written on another branch
        pytest.skip("; ".join(missing))


@pytest.mark.parametrize("mod,model,params,factory,kwargs,inputs", MODELS, ids=[_id(r) for r in MODELS])
def test_stdlib_model_matches_torch(mod, model, params, factory, kwargs, inputs, tmp_path):
    _skip_unless_present(mod, model, factory, params)
    torch.manual_seed(0)
    twin = getattr(torch_models, factory)(**kwargs)
    errs = assert_matches_torch(mod, model, twin, inputs, tmp_path, params=params)
    print(f"{_id((mod, model, params))}: max relative error {max(errs):.2e}")


# Models checked against torchvision's own builders (tests/tv.py): (std
# module, model, nnd params, torchvision builder, its kwargs, input shapes).
TORCHVISION = [
    # 96 -> 23 -> 11 -> 5 -> 2: adaptive pooling spreads 2x2 over 6x6
    ("std.alexnet", "AlexNet", {**S, "size": 96}, "alexnet", T, [[2, 3, 96, 96]]),
    # 2x2 -> 7x7 (overlapping windows). Every VGG's names, shapes and count
    # are checked against torchvision in tests/test_stdlib.py; here one of each
    # kind, since their 25088 x 4096 layers (~500 MB of weights) do not shrink.
    ("std.vgg", "VGG11", S, "vgg11", T, [[2, 3, 64, 64]]),
    ("std.vgg", "VGG16BN", S, "vgg16_bn", T, [[2, 3, 64, 64]]),
    ("std.resnet", "ResNet18", S, "resnet18", T, [[2, 3, 64, 64]]),
    ("std.resnet", "ResNet34", S, "resnet34", T, [[2, 3, 64, 64]]),
    ("std.resnet", "ResNet50", S, "resnet50", T, [[2, 3, 64, 64]]),
    ("std.resnet", "ResNet101", S, "resnet101", T, [[2, 3, 64, 64]]),
    ("std.resnet", "ResNet152", S, "resnet152", T, [[2, 3, 64, 64]]),
    ("std.resnet", "ResNeXt50_32x4d", S, "resnext50_32x4d", T, [[2, 3, 64, 64]]),
    ("std.resnet", "WideResNet50_2", S, "wide_resnet50_2", T, [[2, 3, 64, 64]]),
    ("std.inception", "GoogLeNet", S, "googlenet", {**T, "aux_logits": False, "init_weights": True},
     [[2, 3, 64, 64]]),
    # 80 -> 40 -> 20 -> 10 -> 5: the auxiliary heads pool 5x5 to 4x4 (uneven windows)
    ("std.inception", "GoogLeNet", {**S, "size": 80, "aux_logits": True}, "googlenet",
     {**T, "aux_logits": True, "init_weights": True}, [[2, 3, 80, 80]]),
    ("std.densenet", "DenseNet121", S, "densenet121", T, [[2, 3, 64, 64]]),
    ("std.densenet", "DenseNet161", S, "densenet161", T, [[2, 3, 64, 64]]),
    ("std.densenet", "DenseNet169", S, "densenet169", T, [[2, 3, 64, 64]]),
    ("std.densenet", "DenseNet201", S, "densenet201", T, [[2, 3, 64, 64]]),
    ("std.mobilenet", "MobileNetV2", S, "mobilenet_v2", T, [[2, 3, 64, 64]]),
    ("std.mobilenet", "MobileNetV2", {**S, "width_mult": 0.35}, "mobilenet_v2", {**T, "width_mult": 0.35},
     [[2, 3, 64, 64]]),
    ("std.mobilenet", "MobileNetV3Large", S, "mobilenet_v3_large", T, [[2, 3, 64, 64]]),
    ("std.mobilenet", "MobileNetV3Large", {**S, "dilated": True, "reduced_tail": True}, "mobilenet_v3_large",
     {**T, "dilated": True, "reduced_tail": True}, [[2, 3, 64, 64]]),
    ("std.mobilenet", "MobileNetV3Small", S, "mobilenet_v3_small", T, [[2, 3, 64, 64]]),
    ("std.shufflenet", "ShuffleNetV2_x1_0", S, "shufflenet_v2_x1_0", T, [[2, 3, 64, 64]]),
    # 64 -> 29 -> 14 -> 7 -> 3: the ceil-mode pools round up at 14 -> 7 and 7 -> 3
    ("std.squeezenet", "SqueezeNet1_0", S, "squeezenet1_0", T, [[2, 3, 64, 64]]),
    # 65 -> 32 -> 16 -> 8 -> 4 (ceil mode at 16 -> 8 and 8 -> 4)
    ("std.squeezenet", "SqueezeNet1_1", {**S, "size": 65}, "squeezenet1_1", T, [[2, 3, 65, 65]]),
    ("std.mnasnet", "MNASNet1_0", S, "mnasnet1_0", T, [[2, 3, 64, 64]]),
]


def _tv_id(row):
    mod, model, params, *_ = row
    return "-".join([model] + [f"{k}{v}" for k, v in params.items() if k not in S or v != S[k]])


@pytest.mark.parametrize("mod,model,params,builder,kwargs,inputs", TORCHVISION,
                         ids=[_tv_id(r) for r in TORCHVISION])
def test_stdlib_model_matches_torchvision(mod, model, params, builder, kwargs, inputs, tmp_path):
    import numpy as np
    from helpers import rel_err, run_onnx
    from torch_harness import compile_with_torch_weights
    from tv import eval_outputs, torchvision
    tv = torchvision()
    torch.manual_seed(0)
    net = getattr(tv.models, builder)(**kwargs)
    onnx_model = compile_with_torch_weights(mod, model, net, tmp_path, params=params)   # BN randomized, eval()
    x = np.random.default_rng(0).standard_normal(inputs[0]).astype(np.float32)
    got = run_onnx(onnx_model, {onnx_model.graph.input[0].name: x})
    want = [w.numpy() for w in eval_outputs(net, torch.from_numpy(x))]
    assert len(got) == len(want), f"{len(got)} ONNX outputs, {len(want)} torchvision outputs"
    for o, g, w in zip(onnx_model.graph.output, got, want):
        err = rel_err(g, w)
        assert err <= 1e-4, f"output `{o.name}`: max relative error {err:.3g}"
        assert (g.argmax(1) == w.argmax(1)).all(), f"output `{o.name}`: top-1 differs"
        print(f"{_tv_id((mod, model, params))} {o.name}: max relative error {err:.2e}")


def test_resnet50_at_the_canonical_size(tmp_path):
    """Once at 224x224 with 1000 classes: 7x7 maps, ImageNet's head."""
    from tv import torchvision
    tv = torchvision()
    torch.manual_seed(0)
    errs = assert_matches_torch("std.resnet", "ResNet50", tv.models.resnet50(), [[1, 3, 224, 224]], tmp_path)
    print(f"ResNet50 224x224, 1000 classes: max relative error {max(errs):.2e}")


def test_every_stdlib_model_is_checked():
    """A model added to the standard library must be added to TORCHVISION (or MODELS)."""
    from importlib import resources
    from nnd import ast
    from nnd.parser import parse
    from test_stdlib_effnet_regnet import MODELS as EFFNET_REGNET   # against torchvision itself
    covered = {(m, name) for m, name, *_ in MODELS + TORCHVISION + EFFNET_REGNET} | GENERIC | TORCHVISION_TESTED | BY_SIBLING | SEQ_TESTED | TORCHVISION_CHECKED
    missing = []
    for f in sorted(resources.files("nnd.stdlib").iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".nnd"):
            continue
        mod = "std." + f.name[:-4]
        program = parse(f.read_text(encoding="utf-8"), f.name)
        for item in program.items:
            is_model = isinstance(item, ast.ModelInstance) or (
                isinstance(item, ast.Definition) and item.kind == "model")
            if is_model and (mod, item.name) not in covered:
                missing.append(f"{mod}.{item.name}")
    assert not missing, f"stdlib models without a torch equivalence test: {missing}"


# Parametrized families whose named instances are checked above.
GENERIC = {("std.resnet", "ResNet"), ("std.vgg", "VGG"), ("std.densenet", "DenseNet"),
           ("std.mobilenet", "MobileNetV3"), ("std.shufflenet", "ShuffleNetV2"), ("std.squeezenet", "SqueezeNet"),
           ("std.mnasnet", "MNASNet"),
           ("std.efficientnet", "EfficientNet"), ("std.regnet", "RegNet")}
# Models checked against torchvision itself in tests/test_stdlib_convnext_swin.py.
TORCHVISION_TESTED = {("std.convnext", "ConvNeXt"), ("std.convnext", "ConvNeXtTiny"), ("std.convnext", "ConvNeXtSmall"),
                      ("std.swin", "SwinTransformer"), ("std.swin", "SwinT")}
# The same VGG code at another depth as VGG11 / VGG16BN above; each checked
# against torchvision by names, shapes and counts in tests/test_stdlib.py.
BY_SIBLING = {("std.vgg", name) for name in ("VGG13", "VGG16", "VGG19", "VGG11BN", "VGG13BN", "VGG19BN")}
# Models checked against torch.nn's own modules in tests/test_stdlib_seq.py.
SEQ_TESTED = {("std.transformer", "TransformerEncoder"), ("std.transformer", "MaskedTransformerEncoder"),
              ("std.rnn", "LSTMClassifier")}
# Checked against torchvision's own models in tests/test_stdlib_vit_inception3.py
# (ViT_B_32 and ViT_L_16 there as VisionTransformer configurations).
TORCHVISION_CHECKED = {("std.vit", "VisionTransformer"), ("std.vit", "ViT_B_16"), ("std.vit", "ViT_B_32"),
                       ("std.vit", "ViT_L_16"), ("std.inception", "InceptionV3")}
