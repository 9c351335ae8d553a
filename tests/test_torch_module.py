"""nnd.torch: the module's names, its forward against the compiled ONNX on
onnxruntime, and each training attribute against PyTorch written by hand."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import nnd  # noqa: E402
import nnd.torch  # noqa: E402
from helpers import rel_err, run_onnx  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".nnd"))
TINY_VIT = "VisionTransformer(patch_size = 16, num_layers = 2, num_heads = 2, hidden_dim = 32, mlp_dim = 64, " \
           "classes = 10, size = 32)"
STD = [("resnet", "ResNet18(size = 64, classes = 10)"), ("resnet", "ResNet50(size = 64, classes = 10)"),
       ("densenet", "DenseNet121(size = 64, classes = 10)"), ("mobilenet", "MobileNetV1(size = 64, classes = 10)"),
       ("inception", "GoogLeNet(size = 64, classes = 10, aux_logits = true)"),
       ("unet", "UNet(size = 32, base = 8, batch_norm = true)"), ("vit", TINY_VIT)]
# Every other named stdlib model, batch 1, at the smallest input its
# architecture takes (the last map 1x1; ViT one patch) and a 10-class head.
# VGG's and ViT's fully connected layers do not shrink with the input: most of
# their time is initializing weights.
C = "classes = 10"
EVERY = [("alexnet", f"AlexNet(size = 64, {C})")] + [
    ("vgg", f"{v}(size = 32, {C})") for v in ("VGG11", "VGG13", "VGG16", "VGG19", "VGG11BN", "VGG13BN",
                                               "VGG16BN", "VGG19BN")] + [
    ("resnet", f"{r}(size = 32, {C})") for r in ("ResNet34", "ResNet101", "ResNet152", "ResNeXt50_32x4d",
                                                 "WideResNet50_2")] + [
    ("densenet", f"{d}(size = 32, {C})") for d in ("DenseNet161", "DenseNet169", "DenseNet201")] + [
    ("mobilenet", f"{m}(size = 32, {C})") for m in ("MobileNetV2", "MobileNetV3Large", "MobileNetV3Small")] + [
    ("efficientnet", f"{e}(size = 32, {C})") for e in ("EfficientNetB0", "EfficientNetB1", "EfficientNetB3",
                                                       "EfficientNetV2S")] + [
    ("regnet", f"{r}(size = 32, {C})") for r in ("RegNetY_400MF", "RegNetX_400MF")] + [
    ("convnext", f"{c}(size = 32, {C})") for c in ("ConvNeXtTiny", "ConvNeXtSmall")] + [
    ("inception", f"GoogLeNet(size = 32, {C})"), ("inception", f"InceptionV3(size = 75, {C})"),
    # the auxiliary head's 5x5 convolution after its AvgPool(5, stride 3) needs a
    # 17x17 Mixed_6 map: 299 is the smallest input that gives one
    ("inception", f"InceptionV3(size = 299, {C}, aux_logits = true)"),
    ("shufflenet", f"ShuffleNetV2_x1_0(size = 32, {C})"), ("squeezenet", f"SqueezeNet1_0(size = 32, {C})"),
    ("squeezenet", f"SqueezeNet1_1(size = 32, {C})"), ("mnasnet", f"MNASNet1_0(size = 32, {C})"),
    ("swin", f"SwinT(size = 32, {C})"), ("vit", f"ViT_B_16(size = 16, {C})"), ("vit", f"ViT_B_32(size = 32, {C})"),
    ("vit", f"ViT_L_16(size = 16, {C})"), ("lenet", "LeNet5"), ("unet", "UNet(size = 16, base = 8)"),
    ("wide_deep", "WideAndDeep"), ("rnn", "LSTMClassifier"),
    ("transformer", "TransformerEncoder(d_model = 32, nhead = 2, num_layers = 2, dim_feedforward = 64)"),
    ("transformer", "TransformerEncoder(d_model = 32, nhead = 2, num_layers = 2, dim_feedforward = 64, "
                    "norm_first = true, final_norm = true)"),
    ("transformer", "MaskedTransformerEncoder(d_model = 32, nhead = 2, num_layers = 2, dim_feedforward = 64)")]


def _same_as_onnx(batch=2, **src):
    m = nnd.torch.module(seed=1, **src).eval()
    onx = nnd.compile(seed=1, **src)                       # optimized: BatchNorm folded
    rng = np.random.default_rng(0)
    feeds = {}
    for i in onx.graph.input:   # batch 2 (or as given), other symbolic sizes (T, H, W) 7
        dims = [d.dim_value or (batch if d.dim_param == "N" else 7) for d in i.type.tensor_type.shape.dim]
        elem = i.type.tensor_type.elem_type
        if elem == 7:     # int64 token ids
            feeds[i.name] = rng.integers(0, 50, dims).astype(np.int64)
        elif elem == 9:   # bool padding mask: the last position
            feeds[i.name] = np.zeros(dims, bool)
            feeds[i.name][..., -1] = True
        else:
            feeds[i.name] = rng.standard_normal(dims).astype(np.float32)
    got = run_onnx(onx, feeds)
    with torch.no_grad():
        want = m(*[torch.from_numpy(feeds[n]) for n in m.input_names])
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert rel_err(g, w.numpy()) <= 1e-5


@pytest.mark.parametrize("name", EXAMPLES)
def test_forward_equals_onnx_on_every_example(name):
    _same_as_onnx(path=os.path.join(ROOT, "examples", name))


@pytest.mark.parametrize("module,model", STD)
def test_forward_equals_onnx_on_stdlib_models(module, model):
    _same_as_onnx(text=f"import std.{module}\nmodel Chosen = {model}\n")


@pytest.mark.parametrize("module,model", EVERY, ids=[m for _, m in EVERY])
def test_forward_equals_onnx_on_every_named_stdlib_model(module, model):
    _same_as_onnx(batch=1, text=f"import std.{module}\nmodel Chosen = {model}\n")


# Parametrized families, run above through their named instances.
FAMILIES = {"ResNet", "VGG", "DenseNet", "MobileNetV3", "ShuffleNetV2", "SqueezeNet", "MNASNet", "EfficientNet",
            "RegNet", "ConvNeXt", "SwinTransformer"}


def test_every_named_stdlib_model_is_compared():
    """A model added to the standard library must be added to EVERY (or STD)."""
    from importlib import resources
    from nnd import ast
    from nnd.parser import parse
    run = {(f"std.{mod}", model.split("(")[0]) for mod, model in STD + EVERY}
    missing = []
    for f in sorted(resources.files("nnd.stdlib").iterdir(), key=lambda p: p.name):
        if f.name.endswith(".nnd"):
            for item in parse(f.read_text(encoding="utf-8"), f.name).items:
                is_model = isinstance(item, ast.ModelInstance) or (
                    isinstance(item, ast.Definition) and item.kind == "model")
                key = ("std." + f.name[:-4], getattr(item, "name", None))
                if is_model and key not in run and key[1] not in FAMILIES:
                    missing.append(".".join(key))
    assert not missing, f"stdlib models whose forward is not compared with the ONNX: {missing}"


def test_state_dict_keys_are_the_nnd_names_and_bind_back(tmp_path):
    from safetensors.torch import save_file
    from nnd.binding import parameters
    text = "import std.resnet\nmodel Chosen = ResNet18(size = 32, classes = 4)\n"
    m = nnd.torch.module(text=text, seed=0)
    ir, _ = nnd.api.build(text=text, optimize=False)
    assert list(m.state_dict()) == list(parameters(ir))
    assert "layer1.0.conv1.weight" in m.state_dict() and "layer1.0.bn1.running_mean" in m.state_dict()
    assert isinstance(m.get_submodule("layer1.0"), torch.nn.Module)
    with torch.no_grad():        # new weights and statistics, written and bound back
        for t in m.state_dict().values():
            t.add_(torch.randn_like(t).abs() * 0.1)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "w.safetensors"))
    onx = nnd.compile(text=text, weights=str(tmp_path / "w.safetensors"))
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = m.eval()(torch.from_numpy(x)).numpy()
    assert rel_err(run_onnx(onx, {"image": x})[0], want) <= 1e-5


LIN = "model M {{\n    input x: [N, 5]\n    output y = x -> Linear(3{a}) as fc\n}}\n"


def _hand(m):
    """The same layer as PyTorch code."""
    fc = torch.nn.Linear(5, 3)
    fc.load_state_dict({"weight": m.fc.weight.detach().clone(), "bias": m.fc.bias.detach().clone()})
    return fc


def _step(params, loss):
    opt = torch.optim.SGD(params, lr=0.1)
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_l1_and_l2_add_their_terms_to_the_loss():
    m = nnd.torch.module(text=LIN.format(a=", l1 = 0.01, l2 = 0.1, l2_bias = 0.2, l1_bias = 0.03"))
    fc, plain = _hand(m), _hand(m)
    x, t = torch.randn(8, 5), torch.randn(8, 3)
    _step(m.parameters(), torch.nn.functional.mse_loss(m(x), t) + m.regularization_loss())
    reg = (0.01 * fc.weight.abs().sum() + 0.1 * (fc.weight ** 2).sum()
           + 0.03 * fc.bias.abs().sum() + 0.2 * (fc.bias ** 2).sum())
    _step(fc.parameters(), torch.nn.functional.mse_loss(fc(x), t) + reg)
    assert torch.allclose(m.fc.weight, fc.weight, rtol=0, atol=1e-7)
    assert torch.allclose(m.fc.bias, fc.bias, rtol=0, atol=1e-7)
    _step(plain.parameters(), torch.nn.functional.mse_loss(plain(x), t))
    assert float((plain.weight - fc.weight).detach().abs().min()) > 1e-4     # the terms change every step
    no_reg = nnd.torch.module(text=LIN.format(a=""))
    assert float(no_reg.regularization_loss()) == 0.0


def test_max_norm_is_applied_after_the_step():
    m = nnd.torch.module(text=LIN.format(a=", max_norm = 0.3"))
    fc = _hand(m)
    x, t = torch.randn(8, 5), torch.randn(8, 3) * 10
    _step(m.parameters(), torch.nn.functional.mse_loss(m(x), t))
    m.apply_constraints()
    _step(fc.parameters(), torch.nn.functional.mse_loss(fc(x), t))
    with torch.no_grad():   # Keras' MaxNorm(0.3, axis=0) on a [in, out] kernel: per output unit
        n = fc.weight.norm(dim=1, keepdim=True)
        fc.weight.mul_(n.clamp(0, 0.3) / (1e-7 + n))
    assert torch.allclose(m.fc.weight, fc.weight, rtol=0, atol=1e-7)
    assert torch.equal(m.fc.bias, fc.bias)          # the bias is not constrained
    assert float(m.fc.weight.detach().norm(dim=1).max()) <= 0.3 + 1e-6 < float(n.max())


def test_max_norm_of_a_convolution_is_over_all_but_the_output_channels():
    m = nnd.torch.module(text="model M {\n    input x: [N, 2, 5, 5]\n    output y = x -> Conv2d(4, 3, "
                              "max_norm = 0.1) as conv\n}\n")
    w = m.conv.weight.detach().clone()
    m.apply_constraints()
    n = w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert torch.allclose(m.conv.weight, w * n.clamp(0, 0.1) / (1e-7 + n), rtol=0, atol=1e-8)


def test_frozen_parameters_are_unchanged_after_an_epoch():
    from nnd.train_loop import fit
    text = ("block Blk(c) {\n    input x\n    output y = x -> Linear(c) as fc -> ReLU\n}\n"
            "model M {\n    input x: [N, 4]\n    output y = x -> Blk(8, trainable = false) as a -> Linear(8) as b"
            " -> Linear(1) as c\n}\n")
    m = nnd.torch.module(text=text, freeze=["b"])
    assert m.frozen_names() == ["a.fc.weight", "a.fc.bias", "b.weight", "b.bias"]
    before = {k: v.clone() for k, v in m.state_dict().items()}
    rng = np.random.default_rng(0)
    xs = {"x": rng.standard_normal((40, 4)).astype(np.float32)}
    ys = {"y": rng.standard_normal((40, 1)).astype(np.float32)}
    opts = dict(optimizer="adam", lr=0.01, momentum=0.0, weight_decay=0.1, schedule="constant", clip_grad=None,
                epochs=1, batch=8, val_split=0.0, early_stopping=None, seed=0, quiet=True)
    fit(m, xs, ys, {"y": ("mse", 1.0)}, opts)
    after = m.state_dict()
    for k in before:
        assert torch.equal(before[k], after[k]) == (k in m.frozen_names()), k


def test_a_frozen_chain_is_frozen_in_the_module():
    text = ("block Blk {\n    input x\n    output y = x -> Linear(4) as fc\n}\n"
            "model M {\n    input x: [N, 4]\n    output y = x -> (Linear(4) -> ReLU)(trainable = false) as stem"
            " -> (Blk * 2)(trainable = false) as layers -> Linear(1) as head\n}\n")
    m = nnd.torch.module(text=text)
    assert m.frozen_names() == ["stem.0.weight", "stem.0.bias", "layers.0.fc.weight", "layers.0.fc.bias",
                                "layers.1.fc.weight", "layers.1.fc.bias"]


def test_dropout_is_off_in_eval_and_on_in_train_and_mc_always():
    m = nnd.torch.module(text="model M {\n    input x: [N, 1000]\n    output y = x -> Dropout(0.5)\n"
                              "    output z = x -> Dropout(0.5, mc = true)\n}\n")
    x = torch.ones(4, 1000)
    y, z = m.eval()(x)
    assert torch.equal(y, x)
    assert set(z.unique().tolist()) == {0.0, 2.0}
    y, _ = m.train()(x)
    assert set(y.unique().tolist()) == {0.0, 2.0} and 0.4 < float((y == 0).float().mean()) < 0.6


def test_stochastic_depth_drops_whole_samples_in_training():
    m = nnd.torch.module(text="model M {\n    input x: [N, 3, 4]\n    output y = x -> StochasticDepth(0.5)\n}\n")
    x = torch.ones(64, 3, 4)
    assert torch.equal(m.eval()(x), x)
    y = m.train()(x)
    per = y.flatten(1)
    assert all(set(r.unique().tolist()) in ({0.0}, {2.0}) for r in per)
    assert 0 < int((per[:, 0] == 0).sum()) < 64


def test_batchnorm_uses_batch_statistics_in_training_unless_frozen():
    text = "model M {{\n    input x: [N, 3, 4, 4]\n    output y = x -> BatchNorm2d(momentum = 0.3{a}) as bn\n}}\n"
    m = nnd.torch.module(text=text.format(a=""))
    ref = torch.nn.BatchNorm2d(3, momentum=0.3)
    x = torch.randn(8, 3, 4, 4) * 3 + 1
    assert torch.allclose(m.train()(x), ref.train()(x), atol=1e-6)
    assert torch.allclose(m.bn.running_mean, ref.running_mean) and torch.allclose(m.bn.running_var, ref.running_var)
    assert torch.allclose(m.eval()(x), ref.eval()(x), atol=1e-6)
    frozen = nnd.torch.module(text=text.format(a=", trainable = false"))
    assert torch.equal(frozen.train()(x), frozen.eval()(x))         # Keras: a frozen BatchNorm keeps its statistics
    assert torch.equal(frozen.bn.running_mean, torch.zeros(3))


def test_params_and_shared_weights_are_one_tensor_each_under_their_names():
    from nnd.binding import parameters
    text = ("block Tower(d) {\n    param scale: [d] = ones\n    input x\n"
            "    output y = (x -> Linear(d) as fc) * scale\n}\n"
            "model M {\n    input a: [N, 4]\n    input b: [N, 4]\n    param bias: [1, 3] = zeros\n"
            "    let tower = shared Tower(3) as tower\n    output d = (a -> tower) - (b -> tower) + bias\n}\n")
    m = nnd.torch.module(text=text, seed=0)
    ir, _ = nnd.api.build(text=text, optimize=False)
    assert list(m.state_dict()) == list(parameters(ir)) == ["bias", "tower.scale", "tower.fc.weight", "tower.fc.bias"]
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    m(a, b).sum().backward()          # both uses reach the one weight
    with torch.no_grad():
        t = lambda x: torch.nn.functional.linear(x, m.tower.fc.weight, m.tower.fc.bias) * m.tower.scale  # noqa: E731
        assert torch.allclose(m(a, b), t(a) - t(b) + m.bias)
    assert m.bias.grad is not None and torch.equal(m.bias.grad, torch.full((1, 3), 5.0))
    assert m.tower.fc.weight.grad is not None


def test_sizes_known_at_run_time_follow_each_input():
    text = ("model M {\n    input x: [N, 2, H, W]\n    s = x -> MaxPool2d(2)\n"
            "    output y = x + (s -> Upsample(size = x.shape[2:]))\n    output z = x.reshape(x.shape[0], -1)\n}\n")
    m = nnd.torch.module(text=text).eval()
    for h, w in [(4, 6), (9, 5)]:
        x = torch.randn(3, 2, h, w)
        y, z = m(x)
        s = torch.nn.functional.max_pool2d(x, 2)
        assert torch.equal(y, x + torch.nn.functional.interpolate(s, size=(h, w)))
        assert torch.equal(z, x.reshape(3, -1))


def test_params_and_attention_weights_are_held_under_their_names():
    """A `param` is a parameter of its block's submodule, under its own name
    (`enc.pos`), and MultiheadAttention's `out_proj.weight` a parameter of
    `attn.out_proj`, as in torch (ViT's class_token, encoder.pos_embedding)."""
    text = ("block Enc {\n    input x\n    param pos: [1, 5, 8] = normal(std = 0.02)\n"
            "    output y = (x + pos) -> MultiheadAttention(8, 2, batch_first = true) as attn\n}\n"
            "model M {\n    input x: [N, 5, 8]\n    param scale: [8] = ones\n"
            "    output y = (x * scale) -> Enc as enc\n}\n")
    m = nnd.torch.module(text=text, seed=0)
    assert list(m.state_dict()) == ["scale", "enc.pos", "enc.attn.in_proj_weight", "enc.attn.in_proj_bias",
                                    "enc.attn.out_proj.weight", "enc.attn.out_proj.bias"]
    assert isinstance(m.get_submodule("enc.attn.out_proj"), torch.nn.Module)
    _same_as_onnx(text=text)


def _train_outputs(m, *xs):
    m.train()
    out = m(*xs)
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_trainable_parameter_gets_a_gradient(name):
    """The layer entries compute with the module's own tensors: attention,
    recurrent layers and embeddings too (a copy into a torch module would
    cut them off from the loss)."""
    m = nnd.torch.module(path=os.path.join(ROOT, "examples", name), seed=0)
    xs = []
    for n, shape in zip(m.input_names, m.input_shapes):
        dims = [d if isinstance(d, int) else 2 if str(d) == "N" else 7 for d in shape]
        xs.append(torch.randint(0, 50, dims) if n == "ids" else torch.randn(*dims))
    sum(o.float().sum() for o in _train_outputs(m, *xs)).backward()
    missing = [k for k, p in m.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing


def test_a_small_vit_trains_from_nnd_torch():
    """std.vit at 32x32, two layers: a few SGD steps on one batch lower the
    loss, and the gradient reaches the class token, the position embedding
    and the attention's projections (its forward equals ONNX: STD above)."""
    m = nnd.torch.module(text=f"import std.vit\nmodel Chosen = {TINY_VIT}\n", seed=0).train()
    torch.manual_seed(0)
    x, t = torch.randn(4, 3, 32, 32), torch.tensor([1, 3, 5, 7])
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(m(x), t)
        opt.zero_grad()
        loss.backward()
        if not losses:
            for k in ("class_token", "encoder.pos_embedding",
                      "encoder.layers.encoder_layer_0.self_attention.in_proj_weight",
                      "encoder.layers.encoder_layer_1.self_attention.out_proj.weight"):
                g = m.get_parameter(k).grad
                assert g is not None and float(g.abs().max()) > 0, k
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


ATTN = ("model M {{\n    input x: [N, 6, 8]\n"
        "    output y = x -> MultiheadAttention(8, 2, dropout = {p}, batch_first = true) as attn\n}}\n")
RNN = ("model M {{\n    input x: [N, 6, 4]\n"
       "    out, h = x -> {kind}(5, num_layers = 2, dropout = {p}, batch_first = true) as rnn   # allow(W0003)\n"
       "    output y = out\n}}\n")
LSTM = ("model M {{\n    input x: [N, 6, 4]\n"
        "    out, h, c = x -> LSTM(5, num_layers = 2, dropout = {p}, batch_first = true) as rnn   # allow(W0003)\n"
        "    output y = out\n}}\n")


@pytest.mark.parametrize("text", [ATTN, LSTM, RNN.replace("{kind}", "GRU"), RNN.replace("{kind}", "RNN")],
                         ids=["attention", "lstm", "gru", "rnn"])
def test_attention_and_recurrent_dropout_drop_in_training_only(text):
    x = torch.randn(3, 6, 8 if "Multihead" in text else 4)
    m = nnd.torch.module(text=text.format(p=0.5), seed=0)
    with torch.no_grad():
        ev = m.eval()(x)
        torch.manual_seed(0)
        tr = m.train()(x)
        torch.manual_seed(1)
        tr2 = m(x)
    assert not torch.allclose(tr, ev, atol=1e-4) and not torch.allclose(tr, tr2, atol=1e-4)
    # The same draws as torch's own module in train(), from the same seed.
    if "Multihead" in text:
        ref = torch.nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
        args = (x, x, x)
    else:
        kind = "LSTM" if "LSTM" in text else "GRU" if "GRU" in text else "RNN"
        ref = getattr(torch.nn, kind)(4, 5, num_layers=2, dropout=0.5, batch_first=True)
        args = (x,)
    ref.load_state_dict({k.removeprefix("attn.").removeprefix("rnn."): v for k, v in m.state_dict().items()})
    with torch.no_grad():
        torch.manual_seed(0)
        assert torch.allclose(ref.train()(*args)[0], tr, atol=1e-6)
        assert torch.allclose(ref.eval()(*args)[0], ev, atol=1e-6)
    _same_as_onnx(text=text.format(p=0.5))                  # eval() is the compiled model
    m0 = nnd.torch.module(text=text.format(p=0.0), seed=0)
    with torch.no_grad():
        assert torch.equal(m0.train()(x), m0.eval()(x))
