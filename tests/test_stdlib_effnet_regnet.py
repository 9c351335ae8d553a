"""std.efficientnet and std.regnet against torchvision's own models (imported
through tests/tv.py): torchvision's random weights, batch norms given
statistics by a few training-mode forward passes, saved with safetensors and
bound with strict `--weights`; the ONNX model on onnxruntime within max
relative error 1e-4 of torchvision, with the same top-1, on a batch of two
64x64 images. Also: the stochastic-depth layers sit where torchvision's do,
with its probabilities, and std.regnet's compile-time stage arithmetic gives
torchvision's BlockParams for every RegNet torchvision builds. (Parameter
counts at 224x224: tests/test_stdlib.py.)"""

from __future__ import annotations

import os

import numpy as np
import pytest

from helpers import rel_err, run_onnx
from torch_harness import TORCH_REASON
from tv import torchvision

torch = pytest.importorskip("torch", reason=TORCH_REASON)
pytest.importorskip("safetensors", reason="safetensors is a test extra: pip install -e '.[test]'")

import nnd  # noqa: E402

C = 10   # classes: a small head
S = {"classes": C, "size": 64}

# (std module, model, nnd params, torchvision builder)
MODELS = [
    ("std.efficientnet", "EfficientNetB0", S, "efficientnet_b0"),
    ("std.efficientnet", "EfficientNetB1", S, "efficientnet_b1"),
    ("std.efficientnet", "EfficientNetB3", S, "efficientnet_b3"),
    ("std.efficientnet", "EfficientNetV2S", S, "efficientnet_v2_s"),
    ("std.regnet", "RegNetY_400MF", S, "regnet_y_400mf"),
    ("std.regnet", "RegNetX_400MF", S, "regnet_x_400mf"),
]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """torch's thread pool on a shared two-core machine makes these forward
    passes 20-50x slower; one thread keeps each test to a few seconds."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _trained_statistics(module, seed: int = 0):
    """Batch-norm running statistics made non-trivial by training-mode forward
    passes (no gradients), then eval mode. The statistics are the passes'
    plain averages (momentum None): torch's default momentum would leave
    them mostly at their initial 0 and 1, which at this depth drives the
    network into saturation, where every input gives the same logits."""
    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.momentum = None
    g = torch.Generator().manual_seed(seed)
    module.train()
    with torch.no_grad():
        for _ in range(2):
            module(torch.randn(4, 3, 64, 64, generator=g))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    return module.eval()


@pytest.mark.parametrize("mod,model,params,builder", MODELS, ids=[m[1] for m in MODELS])
def test_matches_torchvision(mod, model, params, builder, tmp_path):
    from safetensors.torch import save_file
    tv = torchvision()
    torch.manual_seed(0)
    ref = _trained_statistics(getattr(tv.models, builder)(num_classes=C))
    path = os.path.join(str(tmp_path), "weights.safetensors")
    save_file({k: v.detach().contiguous() for k, v in ref.state_dict().items()}, path)
    onnx_model = nnd.compile(text=f"import {mod}\nmodel Chosen = {model}\n", model="Chosen",
                             params=params, weights=path)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    (got,) = run_onnx(onnx_model, {onnx_model.graph.input[0].name: x})
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    # the two images' logits differ: the comparison is not of a saturated network
    assert np.abs(want[0] - want[1]).max() > 0.05 * np.abs(want).max()
    err = rel_err(got, want)
    assert err <= 1e-4, f"max relative error {err:.3g}"
    assert (got.argmax(1) == want.argmax(1)).all()


def _stochastic_depth(ir) -> dict:
    return {d["name"]: d["attrs"]["p"] for _, d in ir.g.nodes(data=True) if d["kind"] == "StochasticDepth"}


@pytest.mark.parametrize("model,builder", [("EfficientNetB1", "efficientnet_b1"),
                                           ("EfficientNetV2S", "efficientnet_v2_s")])
def test_stochastic_depth_where_torchvision_has_it(model, builder):
    """torchvision gives every unit a StochasticDepth module and uses it on the
    residual path; nnd has one on each residual path, of the same name and
    probability (0.2 * unit index / units)."""
    tv = torchvision()
    with torch.device("meta"):
        ref = getattr(tv.models, builder)()
    theirs = {name: m.p for name, m in ref.named_modules()
              if type(m).__name__ == "StochasticDepth"
              and ref.get_submodule(name.rsplit(".", 1)[0]).use_res_connect}
    res = nnd.check(text=f"import std.efficientnet\nmodel Chosen = {model}\n", model="Chosen")
    assert res.ok, [d.message for d in res.errors]
    ours = _stochastic_depth(res.ir)
    assert ours.keys() == theirs.keys()
    assert all(ours[k] == pytest.approx(theirs[k], abs=1e-12) for k in ours)
    assert max(ours.values()) > 0.15


REGNETS = ["regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf",
           "regnet_y_16gf", "regnet_y_32gf", "regnet_y_128gf", "regnet_x_400mf", "regnet_x_800mf",
           "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf"]


class _Caught(Exception):
    pass


def _init_params(builder: str) -> dict:
    """The arguments torchvision's builder gives BlockParams.from_init_params,
    caught by calling the builder with that method replaced."""
    tv = torchvision()
    from torchvision.models import regnet
    seen = {}

    def spy(**kw):
        seen.update(kw)
        raise _Caught
    real = regnet.BlockParams.from_init_params
    regnet.BlockParams.from_init_params = spy
    try:
        getattr(tv.models, builder)()
    except _Caught:
        pass
    finally:
        regnet.BlockParams.from_init_params = real
    return seen


@pytest.mark.parametrize("builder", REGNETS)
def test_regnet_stages_equal_torchvision_block_params(builder):
    """Every RegNet torchvision builds, from its (depth, w_0, w_a, w_m, group
    width, SE ratio): the same parameter names and shapes."""
    kw = _init_params(builder)
    params = {k: kw[k] for k in ("depth", "w_0", "w_a", "w_m", "group_width")}
    if kw.get("se_ratio"):
        params["se_ratio"] = kw["se_ratio"]
    res = nnd.check(text="import std.regnet\nmodel Chosen = RegNet\n", model="Chosen", params=params)
    assert res.ok, [d.message for d in res.errors]
    ours = {f"{d['name']}.{w}": tuple(s.shape) for _, d in res.ir.g.nodes(data=True)
            for w, s in (d["attrs"].get("weights") or {}).items()}
    from torchvision.models import regnet
    block_params = regnet.BlockParams.from_init_params(**kw)   # reads tensors back: not on the meta device
    with torch.device("meta"):
        ref = regnet.RegNet(block_params)
    theirs = {k: tuple(v.shape) for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert ours == theirs
