"""Every standard-library model against its torch.nn twin (tests/torch_models.py,
torchvision's module names): the twin's random weights (BatchNorm not the
identity) saved with safetensors, bound with strict `--weights`, run on
onnxruntime; every output within max relative error 1e-4 of torch in float32.

Inputs are small where the architecture allows; ResNet-50 also runs once at
the canonical 224x224.
"""

from __future__ import annotations

import os

import pytest

from torch_harness import TORCH_REASON, assert_matches_torch, std_path

pytest.importorskip("torch", reason=TORCH_REASON)
pytest.importorskip("safetensors", reason="safetensors is a test extra: pip install -e '.[test]'")
torch_models = pytest.importorskip("torch_models", reason="tests/torch_models.py (the stdlib's torch twins) "
                                                          "has not landed")

C = 10   # classes: a small head keeps the weights files small

# (std module, model, torch_models factory, its kwargs, input shapes, nnd params)
MODELS = [
    ("std.lenet", "LeNet5", "lenet5", {}, [[2, 1, 32, 32]], {}),
    ("std.alexnet", "AlexNet", "alexnet", {"num_classes": C}, [[1, 3, 63, 63]], {"classes": C}),
    ("std.vgg", "VGG11", "vgg11", {"num_classes": C}, [[1, 3, 32, 32]], {"classes": C}),
    ("std.vgg", "VGG11BN", "vgg11_bn", {"num_classes": C}, [[1, 3, 32, 32]], {"classes": C}),
    ("std.vgg", "VGG13", "vgg13", {"num_classes": C}, [[1, 3, 32, 32]], {"classes": C}),
    ("std.vgg", "VGG13BN", "vgg13_bn", {"num_classes": C}, [[1, 3, 32, 32]], {"classes": C}),
    ("std.vgg", "VGG16", "vgg16", {"num_classes": C}, [[1, 3, 32, 32]], {"classes": C}),
    ("std.vgg", "VGG16BN", "vgg16_bn", {"num_classes": C}, [[1, 3, 32, 32]], {"classes": C}),
    ("std.vgg", "VGG19", "vgg19", {"num_classes": C}, [[1, 3, 32, 32]], {"classes": C}),
    ("std.vgg", "VGG19BN", "vgg19_bn", {"num_classes": C}, [[1, 3, 32, 32]], {"classes": C}),
    ("std.resnet", "ResNet18", "resnet18", {"num_classes": C}, [[2, 3, 64, 64]], {"classes": C}),
    ("std.resnet", "ResNet34", "resnet34", {"num_classes": C}, [[1, 3, 64, 64]], {"classes": C}),
    ("std.resnet", "ResNet50", "resnet50", {"num_classes": C}, [[1, 3, 64, 64]], {"classes": C}),
    ("std.resnet", "ResNet101", "resnet101", {"num_classes": C}, [[1, 3, 64, 64]], {"classes": C}),
    ("std.resnet", "ResNet152", "resnet152", {"num_classes": C}, [[1, 3, 64, 64]], {"classes": C}),
    ("std.googlenet", "GoogLeNet", "googlenet", {"num_classes": C}, [[1, 3, 64, 64]], {"classes": C}),
    ("std.densenet", "DenseNet121", "densenet121", {"num_classes": C}, [[1, 3, 64, 64]], {"classes": C}),
    ("std.densenet", "DenseNet169", "densenet169", {"num_classes": C}, [[1, 3, 64, 64]], {"classes": C}),
    ("std.densenet", "DenseNet201", "densenet201", {"num_classes": C}, [[1, 3, 64, 64]], {"classes": C}),
    ("std.mobilenet", "MobileNetV1", "mobilenet_v1", {"num_classes": C}, [[1, 3, 64, 64]], {"classes": C}),
    ("std.unet", "UNet", "unet", {}, [[1, 1, 64, 64]], {}),
    ("std.wide_and_deep", "WideAndDeep", "wide_and_deep", {}, [[4, 5], [4, 6]], {}),
]


def _param(row):
    mod, model, *_ = row
    return pytest.param(*row, id=model)


def _skip_unless_present(mod: str, factory: str):
    if not os.path.isfile(std_path(mod)):
        pytest.skip(f"{mod} is not in the standard library yet")
    if not hasattr(torch_models, factory):
        pytest.skip(f"tests/torch_models.py has no `{factory}`")


@pytest.mark.parametrize("mod,model,factory,kwargs,inputs,params", [_param(r) for r in MODELS])
def test_stdlib_model_matches_torch(mod, model, factory, kwargs, inputs, params, tmp_path):
    _skip_unless_present(mod, factory)
    twin = getattr(torch_models, factory)(**kwargs)
    errs = assert_matches_torch(mod, model, twin, inputs, tmp_path, params=params)
    print(f"{model}: max relative error {max(errs):.2e}")


def test_resnet50_at_the_canonical_size(tmp_path):
    _skip_unless_present("std.resnet", "resnet50")
    errs = assert_matches_torch("std.resnet", "ResNet50", torch_models.resnet50(), [[1, 3, 224, 224]], tmp_path)
    print(f"ResNet50 224x224, 1000 classes: max relative error {max(errs):.2e}")


def test_every_stdlib_model_is_checked():
    """A model added to the standard library must be added to MODELS."""
    from importlib import resources
    from nnd import ast
    from nnd.parser import parse
    covered = {(m, name) for m, name, *_ in MODELS}
    missing = []
    for f in sorted(resources.files("nnd.stdlib").iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".nnd"):
            continue
        mod = "std." + f.name[:-4]
        program = parse(f.read_text(encoding="utf-8"), f.name)
        for item in program.items:
            is_model = isinstance(item, ast.ModelInstance) or (
                isinstance(item, ast.Definition) and item.kind == "model")
            if is_model and (mod, item.name) not in covered and item.name not in GENERIC:
                missing.append(f"{mod}.{item.name}")
    assert not missing, f"stdlib models without a torch equivalence test: {missing}"


# Parametrized families whose every named instance is in MODELS.
GENERIC: set[str] = set()
