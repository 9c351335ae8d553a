"""Every standard-library model against its torch.nn twin (tests/torch_models.py,
torchvision's module names): the twin's random weights (BatchNorm not the
identity) saved with safetensors, bound with strict `--weights`, run on
onnxruntime; every output within max relative error 1e-4 of torch in float32.

Inputs are small where the architecture allows; ResNet-50 also runs once at
the canonical 224x224 with 1000 classes, as do AlexNet, VGG-16 and GoogLeNet
with its auxiliary heads (which pool 14x14 to 4x4: uneven adaptive windows).
The other VGGs run at 32x32, where adaptive pooling spreads a 1x1 map over
7x7; their fully connected layers (25088 x 4096) do not shrink with the input,
and writing those weights takes most of this file's time.
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

# (std module, model, nnd params, torch_models factory, its kwargs, input shapes)
MODELS = [
    ("std.lenet", "LeNet5", {}, "lenet5", {}, [[2, 1, 32, 32]]),
    ("std.alexnet", "AlexNet", {"classes": C}, "alexnet", T, [[1, 3, 224, 224]]),
    ("std.vgg", "VGG11", {"classes": C, "size": 32}, "vgg11", T, [[1, 3, 32, 32]]),
    ("std.vgg", "VGG13", {"classes": C, "size": 32}, "vgg13", T, [[1, 3, 32, 32]]),
    ("std.vgg", "VGG16", {"classes": C}, "vgg16", T, [[1, 3, 224, 224]]),
    ("std.vgg", "VGG19", {"classes": C, "size": 32}, "vgg19", T, [[1, 3, 32, 32]]),
    ("std.vgg", "VGG11BN", {"classes": C, "size": 32}, "vgg11_bn", T, [[1, 3, 32, 32]]),
    ("std.vgg", "VGG13BN", {"classes": C, "size": 32}, "vgg13_bn", T, [[1, 3, 32, 32]]),
    ("std.vgg", "VGG16BN", {"classes": C, "size": 32}, "vgg16_bn", T, [[1, 3, 32, 32]]),
    ("std.vgg", "VGG19BN", {"classes": C, "size": 32}, "vgg19_bn", T, [[1, 3, 32, 32]]),
    ("std.resnet", "ResNet18", S, "resnet18", T, [[2, 3, 64, 64]]),
    ("std.resnet", "ResNet34", S, "resnet34", T, [[1, 3, 64, 64]]),
    ("std.resnet", "ResNet50", S, "resnet50", T, [[1, 3, 64, 64]]),
    ("std.resnet", "ResNet101", S, "resnet101", T, [[1, 3, 64, 64]]),
    ("std.resnet", "ResNet152", S, "resnet152", T, [[1, 3, 64, 64]]),
    ("std.resnet", "ResNeXt50_32x4d", S, "resnext50_32x4d", T, [[1, 3, 64, 64]]),
    ("std.resnet", "WideResNet50_2", S, "wide_resnet50_2", T, [[1, 3, 64, 64]]),
    ("std.inception", "GoogLeNet", S, "googlenet", T, [[1, 3, 64, 64]]),
    # at 224 the auxiliary heads pool 14x14 to 4x4 (uneven windows)
    ("std.inception", "GoogLeNet", {**S, "aux_logits": True, "size": 224}, "googlenet",
     {**T, "aux_logits": True}, [[1, 3, 224, 224]]),
    ("std.densenet", "DenseNet121", S, "densenet121", T, [[1, 3, 64, 64]]),
    ("std.densenet", "DenseNet161", S, "densenet161", T, [[1, 3, 64, 64]]),
    ("std.densenet", "DenseNet169", S, "densenet169", T, [[1, 3, 64, 64]]),
    ("std.densenet", "DenseNet201", S, "densenet201", T, [[1, 3, 64, 64]]),
    ("std.mobilenet", "MobileNetV1", S, "mobilenet_v1", T, [[1, 3, 64, 64]]),
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


def test_resnet50_at_the_canonical_size(tmp_path):
    _skip_unless_present("std.resnet", "ResNet50", "resnet50")
    torch.manual_seed(0)
    errs = assert_matches_torch("std.resnet", "ResNet50", torch_models.resnet50(), [[1, 3, 224, 224]], tmp_path)
    print(f"ResNet50 224x224, 1000 classes: max relative error {max(errs):.2e}")


def test_every_stdlib_model_is_checked():
    """A model added to the standard library must be added to MODELS."""
    from importlib import resources
    from nnd import ast
    from nnd.parser import parse
    covered = {(m, name) for m, name, *_ in MODELS} | GENERIC | TORCHVISION_CHECKED
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


# Parametrized families whose every named instance is in MODELS.
GENERIC = {("std.resnet", "ResNet"), ("std.vgg", "VGG"), ("std.densenet", "DenseNet")}

# Checked against torchvision's own models in tests/test_stdlib_vit_inception3.py
# (ViT_B_32 and ViT_L_16 there as VisionTransformer configurations).
TORCHVISION_CHECKED = {("std.vit", "VisionTransformer"), ("std.vit", "ViT_B_16"), ("std.vit", "ViT_B_32"),
                       ("std.vit", "ViT_L_16"), ("std.inception", "InceptionV3")}
