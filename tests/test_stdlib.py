"""The standard library's models: parameter names and shapes equal the
reference model's state_dict (torchvision's own builders, through tests/tv.py,
where torchvision has the model; the torch.nn twins of tests/torch_models.py
otherwise), and the parameter count equals the published one and the
reference's."""

from __future__ import annotations

import pytest

import nnd
from nnd.ir import weight_name
from nnd.layers import REGISTRY, load_all
from nnd.loader import list_std

torch = pytest.importorskip("torch")
import torch_models as tm  # noqa: E402

# Models torchvision does not have, against their torch.nn twins
# (tests/torch_models.py, written from the papers): (std module, model,
# parameter overrides, torch constructor, torch kwargs, published count).
MODELS = [
    ("lenet", "LeNet5", {}, "lenet5", {}, 61_706),
    ("mobilenet", "MobileNetV1", {}, "mobilenet_v1", {}, 4_231_976),
    ("unet", "UNet", {}, "unet", {}, 31_030_658),
    ("unet", "UNet", {"batch_norm": True}, "unet", {"batch_norm": True}, 31_036_546),
    ("wide_deep", "WideAndDeep", {}, "wide_and_deep", {}, 1_207),
    # "tv:" constructors are torchvision's own (tests/tv.py)
    ("vit", "ViT_B_16", {}, "tv:vit_b_16", {}, 86_567_656),
    ("vit", "ViT_B_32", {}, "tv:vit_b_32", {}, 88_224_232),
    ("vit", "ViT_L_16", {}, "tv:vit_l_16", {}, 304_326_632),
    ("vit", "ViT_B_16", {"size": 384}, "tv:vit_b_16", {"image_size": 384}, 86_859_496),
    ("inception", "InceptionV3", {"aux_logits": True}, "tv:inception_v3", {"init_weights": False}, 27_161_264),
    ("inception", "InceptionV3", {}, "tv:inception_v3", {"aux_logits": False, "init_weights": False}, 23_834_568),
]


# Layers some std files use that are written in parallel on other branches;
# until they are in the registry, those models' tests are expected to fail.
NEEDS = {"alexnet": ["AdaptiveAvgPool2d"], "vgg": ["AdaptiveAvgPool2d"], "unet": ["ConvTranspose2d"]}
NEEDS_AUX = ["AdaptiveAvgPool2d"]   # GoogLeNet's auxiliary classifiers


def _need(layers, aux=False):
    load_all()
    missing = [n for n in layers if n not in REGISTRY]
    if missing:
        pytest.xfail(f"layer {', '.join(missing)} is not in the registry yet")
    if aux and not _adaptive_avg_pools_any_size():
        pytest.xfail("AdaptiveAvgPool2d cannot pool 14x14 to 4x4 yet (sizes that are not multiples), "
                     "which torchvision's InceptionAux does at 224x224")


def _adaptive_avg_pools_any_size() -> bool:
    res = nnd.check(text="model M {\n    input x: [N, 2, 14, 14]\n    output y = x -> AdaptiveAvgPool2d(4)\n}\n")
    return res.ok


def std_check(module: str, model: str, params: dict | None = None):
    text = f"import std.{module}\nmodel Chosen = {model}\n"
    res = nnd.check(text=text, model="Chosen", params=params or None)
    assert res.ok, "\n".join(f"{d.code} {d.message}" for d in res.errors)
    return res.ir


def our_params(ir) -> tuple[dict, int]:
    """(name -> shape of every parameter and buffer, trainable count)."""
    shapes, count = {}, 0
    for _, d in ir.g.nodes(data=True):
        for w, spec in (d["attrs"].get("weights") or {}).items():
            shapes[weight_name(d, w, spec)] = tuple(spec.shape)
            if not spec.buffer:
                count += spec.size
    return shapes, count


def torch_params(fn: str, kwargs: dict) -> tuple[dict, int]:
    if fn.startswith("tv:"):
        from tv import torchvision
        make = getattr(torchvision().models, fn[3:])
    else:
        make = tm.MODELS[fn]
    with torch.device("meta"):
        m = make(**kwargs)
    sd = {k: tuple(v.shape) for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    return sd, sum(p.numel() for p in m.parameters())


def _same_names_and_shapes(ours: dict, theirs: dict) -> None:
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    assert not missing and not extra, f"missing {missing[:8]}... extra {extra[:8]}..."
    wrong = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
    assert not wrong, f"shapes differ: {list(wrong.items())[:8]}"


@pytest.mark.parametrize("module,model,params,fn,kwargs,published", MODELS,
                         ids=[f"{m[1]}{'-' + '-'.join(m[2]) if m[2] else ''}" for m in MODELS])
def test_names_shapes_and_counts_match_torch(module, model, params, fn, kwargs, published):
    aux = params.get("aux_logits", False)
    _need(NEEDS.get(module, []) + (NEEDS_AUX if aux else []), aux)
    ours, count = our_params(std_check(module, model, params))
    theirs, torch_count = torch_params(fn, kwargs)
    _same_names_and_shapes(ours, theirs)
    assert count == published == torch_count


# Models checked against torchvision's own builders (tests/tv.py), not a
# transcription: (std module, model, parameter overrides, torchvision builder,
# its kwargs, published count).
TV_MODELS = [
    ("alexnet", "AlexNet", {}, "alexnet", {}, 61_100_840),
    ("vgg", "VGG11", {}, "vgg11", {}, 132_863_336),
    ("vgg", "VGG13", {}, "vgg13", {}, 133_047_848),
    ("vgg", "VGG16", {}, "vgg16", {}, 138_357_544),
    ("vgg", "VGG19", {}, "vgg19", {}, 143_667_240),
    ("vgg", "VGG11BN", {}, "vgg11_bn", {}, 132_868_840),
    ("vgg", "VGG13BN", {}, "vgg13_bn", {}, 133_053_736),
    ("vgg", "VGG16BN", {}, "vgg16_bn", {}, 138_365_992),
    ("vgg", "VGG19BN", {}, "vgg19_bn", {}, 143_678_248),
    ("resnet", "ResNet18", {}, "resnet18", {}, 11_689_512),
    ("resnet", "ResNet34", {}, "resnet34", {}, 21_797_672),
    ("resnet", "ResNet50", {}, "resnet50", {}, 25_557_032),
    ("resnet", "ResNet101", {}, "resnet101", {}, 44_549_160),
    ("resnet", "ResNet152", {}, "resnet152", {}, 60_192_808),
    ("resnet", "ResNeXt50_32x4d", {}, "resnext50_32x4d", {}, 25_028_904),
    ("resnet", "WideResNet50_2", {}, "wide_resnet50_2", {}, 68_883_240),
    ("inception", "GoogLeNet", {}, "googlenet", {"aux_logits": False, "init_weights": False}, 6_624_904),
    ("inception", "GoogLeNet", {"aux_logits": True}, "googlenet", {"aux_logits": True, "init_weights": False},
     13_004_888),
    ("densenet", "DenseNet121", {}, "densenet121", {}, 7_978_856),
    ("densenet", "DenseNet161", {}, "densenet161", {}, 28_681_000),
    ("densenet", "DenseNet169", {}, "densenet169", {}, 14_149_480),
    ("densenet", "DenseNet201", {}, "densenet201", {}, 20_013_928),
    ("mobilenet", "MobileNetV2", {}, "mobilenet_v2", {}, 3_504_872),
    ("mobilenet", "MobileNetV3Large", {}, "mobilenet_v3_large", {}, 5_483_032),
    ("mobilenet", "MobileNetV3Small", {}, "mobilenet_v3_small", {}, 2_542_856),
    ("shufflenet", "ShuffleNetV2_x1_0", {}, "shufflenet_v2_x1_0", {}, 2_278_604),
    ("squeezenet", "SqueezeNet1_0", {}, "squeezenet1_0", {}, 1_248_424),
    ("squeezenet", "SqueezeNet1_1", {}, "squeezenet1_1", {}, 1_235_496),
    ("mnasnet", "MNASNet1_0", {}, "mnasnet1_0", {}, 4_383_312),
    ("efficientnet", "EfficientNetB0", {}, "efficientnet_b0", {}, 5_288_548),
    ("efficientnet", "EfficientNetB1", {}, "efficientnet_b1", {}, 7_794_184),
    ("efficientnet", "EfficientNetB3", {}, "efficientnet_b3", {}, 12_233_232),
    ("efficientnet", "EfficientNetV2S", {}, "efficientnet_v2_s", {}, 21_458_488),
    ("regnet", "RegNetY_400MF", {}, "regnet_y_400mf", {}, 4_344_144),
    ("regnet", "RegNetX_400MF", {}, "regnet_x_400mf", {}, 5_495_976),
]


def tv_params(builder: str, kwargs: dict) -> tuple[dict, int]:
    from tv import torchvision
    tv = torchvision()
    # RegNet's builder reads its stage widths back from tensors: not on the meta device
    with torch.device("cpu" if builder.startswith("regnet") else "meta"):
        m = getattr(tv.models, builder)(**kwargs)
    sd = {k: tuple(v.shape) for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    return sd, sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("module,model,params,builder,kwargs,published", TV_MODELS,
                         ids=[f"{m[1]}{'-' + '-'.join(m[2]) if m[2] else ''}" for m in TV_MODELS])
def test_names_shapes_and_counts_match_torchvision(module, model, params, builder, kwargs, published):
    ours, count = our_params(std_check(module, model, params))
    theirs, tv_count = tv_params(builder, kwargs)
    _same_names_and_shapes(ours, theirs)
    assert count == published == tv_count


# Width multipliers go through _make_divisible (MobileNet) and
# _round_to_multiple_of (MNASNet): widths that round differently per layer.
TV_WIDTHS = [
    ("mobilenet", "MobileNetV2", {"width_mult": 0.35, "classes": 10}, "mobilenet_v2",
     {"width_mult": 0.35, "num_classes": 10}),
    ("mobilenet", "MobileNetV2", {"width_mult": 1.4}, "mobilenet_v2", {"width_mult": 1.4}),
    ("mobilenet", "MobileNetV3Large", {"width_mult": 0.75, "reduced_tail": True}, "mobilenet_v3_large",
     {"width_mult": 0.75, "reduced_tail": True}),
    ("mobilenet", "MobileNetV3Small", {"width_mult": 1.3, "dilated": True}, "mobilenet_v3_small",
     {"width_mult": 1.3, "dilated": True}),
    ("mnasnet", "MNASNet", {"alpha": 0.75}, "mnasnet0_75", {}),
    ("mnasnet", "MNASNet", {"alpha": 1.3}, "mnasnet1_3", {}),
]


@pytest.mark.parametrize("module,model,params,builder,kwargs", TV_WIDTHS,
                         ids=[f"{m[1]}-{'-'.join(f'{k}{v}' for k, v in m[2].items())}" for m in TV_WIDTHS])
def test_width_multipliers_round_as_torchvision(module, model, params, builder, kwargs):
    ours, count = our_params(std_check(module, model, params))
    theirs, tv_count = tv_params(builder, kwargs)
    assert ours == theirs
    assert count == tv_count


# std files checked against torchvision itself in a file of their own.
TORCHVISION_TESTED = {"convnext", "swin"}   # tests/test_stdlib_convnext_swin.py


def _bert_encoder(layer_kwargs=None):
    layer = torch.nn.TransformerEncoderLayer(768, 12, 3072, activation="gelu", batch_first=True,
                                             **(layer_kwargs or {}))
    return torch.nn.TransformerEncoder(layer, 12, enable_nested_tensor=False)


def _lstm_classifier():
    m = torch.nn.Module()
    m.embedding = torch.nn.Embedding(10000, 128, padding_idx=0)
    m.lstm = torch.nn.LSTM(128, 256, num_layers=2, batch_first=True, bidirectional=True)
    m.fc = torch.nn.Linear(512, 2)
    return m


# Sequence models, whose reference is torch.nn itself:
# (std module, model, parameter overrides, torch builder, the part counted, its published count)
SEQ_MODELS = [
    ("transformer", "TransformerEncoder", {}, _bert_encoder, "", 85_054_464),
    ("transformer", "MaskedTransformerEncoder", {}, _bert_encoder, "", 85_054_464),
    ("transformer", "TransformerEncoder", {"norm_first": True}, lambda: _bert_encoder({"norm_first": True}), "",
     85_054_464),
    ("rnn", "LSTMClassifier", {}, _lstm_classifier, "lstm.", 2_367_488),
    ("rnn", "LSTMClassifier", {}, _lstm_classifier, "", 3_648_514),
]


@pytest.mark.parametrize("module,model,params,build,part,published", SEQ_MODELS,
                         ids=[f"{m[1]}{'-' + '-'.join(m[2]) if m[2] else ''}-{m[4] or 'all'}" for m in SEQ_MODELS])
def test_sequence_models_names_shapes_and_counts_match_torch_nn(module, model, params, build, part, published):
    ir = std_check(module, model, params)
    ours, _ = our_params(ir)
    with torch.device("meta"):
        tmod = build()
    theirs = {k: tuple(v.shape) for k, v in tmod.state_dict().items()}
    assert ours == theirs
    count = sum(s.size for k, (_, _, s) in ir.parameters().items() if k.startswith(part) and not s.buffer)
    assert count == published == sum(p.numel() for k, p in tmod.named_parameters() if k.startswith(part))


def test_every_std_file_is_covered():
    assert ({m[0] for m in MODELS + TV_MODELS + SEQ_MODELS} | {"layers"} | TORCHVISION_TESTED) == set(list_std())


def test_model_instances_of_std_models_take_parameters():
    res = nnd.check(text="import std.resnet\nmodel Mine = ResNet50(classes = 10)\n"
                         "model Small = Mine(size = 64)\n", model="Small")
    assert res.ok
    ir = res.ir
    fc = next(d for _, d in ir.g.nodes(data=True) if d["name"] == "fc")
    assert fc["attrs"]["weights"]["weight"].shape == (10, 2048)
    assert ir.node(ir.inputs[0])["shapes"][0][2:] == (64, 64)
    (out,) = ir.outputs
    assert ir.node(out.node)["shapes"][out.port][1] == 10


def test_basic_block_has_no_groups():
    res = nnd.check(text="import std.resnet\nmodel M = ResNet18(groups = 32)\n", model="M")
    assert res.errors and {d.code for d in res.errors} == {"E0103"}
    assert all("`BasicBlock` has no parameter `groups`" in d.message for d in res.errors)


def test_googlenet_aux_outputs_only_when_asked_for():
    _need(NEEDS_AUX, aux=True)
    plain = std_check("inception", "GoogLeNet")
    assert [o.name for o in plain.outputs] == ["logits"]
    aux = std_check("inception", "GoogLeNet", {"aux_logits": True})
    assert [o.name for o in aux.outputs] == ["logits", "aux1", "aux2"]
    for o in aux.outputs:
        assert aux.node(o.node)["shapes"][o.port] == (plain.node(plain.outputs[0].node)["shapes"][0])


# Small configurations run on onnxruntime against the reference model (a
# torch.nn twin from MODELS, else torchvision's builder) with its (perturbed)
# weights bound by name: same names, same maths.
RUNS = [
    ("lenet", "LeNet5", {}, "lenet5", {}, [[2, 1, 32, 32]]),
    ("wide_deep", "WideAndDeep", {}, "wide_and_deep", {}, [[3, 5], [3, 6]]),
    ("resnet", "ResNet18", {"size": 64, "classes": 10}, "resnet18", {"num_classes": 10}, [[2, 3, 64, 64]]),
    ("resnet", "ResNeXt50_32x4d", {"size": 32, "classes": 10}, "resnext50_32x4d", {"num_classes": 10},
     [[1, 3, 32, 32]]),
    ("densenet", "DenseNet121", {"size": 32, "classes": 10}, "densenet121", {"num_classes": 10}, [[1, 3, 32, 32]]),
    ("mobilenet", "MobileNetV1", {"size": 64, "classes": 10, "width": 0.5}, "mobilenet_v1",
     {"num_classes": 10, "width": 0.5}, [[1, 3, 64, 64]]),
    ("inception", "GoogLeNet", {"size": 64, "classes": 10}, "googlenet",
     {"num_classes": 10, "aux_logits": False, "init_weights": True}, [[1, 3, 64, 64]]),
    ("inception", "GoogLeNet", {"size": 128, "classes": 10, "aux_logits": True}, "googlenet",
     {"num_classes": 10, "aux_logits": True, "init_weights": True}, [[1, 3, 128, 128]]),
    ("unet", "UNet", {"size": 32, "base": 8}, "unet", {"base": 8}, [[1, 1, 32, 32]]),
    ("unet", "UNet", {"size": 32, "base": 8, "batch_norm": True}, "unet", {"base": 8, "batch_norm": True},
     [[2, 1, 32, 32]]),
]


@pytest.mark.parametrize("module,model,params,fn,kwargs,inputs", RUNS,
                         ids=[f"{r[1]}-{'-'.join(f'{k}{v}' for k, v in r[2].items())}" for r in RUNS])
def test_small_models_compute_what_torch_computes(module, model, params, fn, kwargs, inputs):
    import numpy as np
    from onnx import numpy_helper
    from helpers import rel_err, run_onnx
    _need(NEEDS.get(module, []) + (NEEDS_AUX if params.get("aux_logits") else []))   # 8x8 -> 4x4 here
    torch.manual_seed(0)
    if fn in tm.MODELS:
        tmod = tm.MODELS[fn](**kwargs).eval()
    else:
        from tv import torchvision
        tmod = getattr(torchvision().models, fn)(**kwargs).eval()
    with torch.no_grad():   # give the batch norms statistics that matter
        for k, v in tmod.state_dict().items():
            if k.endswith("running_var"):
                v.uniform_(0.5, 2.0)
            elif k.endswith("running_mean") or (v.dim() == 1 and k.endswith(".bias")):
                v.normal_(0.0, 0.1)
            elif v.dim() == 1 and k.endswith(".weight"):
                v.uniform_(0.5, 1.5)
    onnx_model = nnd.compile(text=f"import std.{module}\nmodel Chosen = {model}\n", model="Chosen",
                             params=params, optimize=False)
    inits = {i.name: i for i in onnx_model.graph.initializer}
    for k, v in tmod.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        old = inits[k]
        old.CopyFrom(numpy_helper.from_array(v.numpy().astype(np.float32).reshape(tuple(old.dims)), k))
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.standard_normal(s).astype(np.float32) for i, s in zip(onnx_model.graph.input, inputs)}
    got = run_onnx(onnx_model, feeds)
    from tv import eval_outputs   # the auxiliary heads too, in eval mode
    want = eval_outputs(tmod, *[torch.from_numpy(feeds[i.name]) for i in onnx_model.graph.input])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert rel_err(g, w.numpy()) < 1e-4
