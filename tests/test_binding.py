"""Weight binding (`--weights`): formats, strict errors, --partial, --freeze,
external data, and equivalence with torch.nn twins through bound weights."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import nnd
from nnd import api, cli
from nnd.binding import bind, parameters
from helpers import run_onnx
from torch_harness import TORCH_REASON, assert_matches_torch

# A small ResNet with torchvision's names: conv1, bn1, layer1.0.conv1, ...
RESNET = """
block Basic(width, stride = 1) {
    input x
    main = x
        -> Conv2d(width, 3, stride = stride, padding = 1, bias = false) as conv1 -> BatchNorm as bn1 -> ReLU
        -> Conv2d(width, 3, padding = 1, bias = false) as conv2 -> BatchNorm as bn2
    skip = x
    if stride != 1 or x.channels != width {
        skip = x -> Conv2d(width, 1, stride = stride, bias = false) as downsample.0
                 -> BatchNorm as downsample.1
    }
    output y = (main + skip) -> ReLU
}

model TinyResNet(classes = 10) {
    input image: [N, 3, 16, 16]
    x = image -> Conv2d(8, 3, padding = 1, bias = false) as conv1 -> BatchNorm as bn1 -> ReLU
    x = x -> Basic(8) * 2 as layer1
    x = x -> Basic(16, stride = 2) as layer2
    output logits = x -> GlobalAvgPool -> Flatten -> Linear(classes) as fc
}
"""

WIDE_AND_DEEP = """
model WideAndDeep {
    input wide: [N, 5]
    input deep: [N, 6]
    hidden = deep -> Linear(30) as deep.0 -> ReLU -> Linear(30) as deep.2 -> ReLU
    output main = concat(wide, hidden) -> Linear(1) as head
    output aux  = hidden -> Linear(1) as aux_head
}
"""

MLP = """
model MLP {
    input x: [N, 4]
    output y = x -> Linear(8) as fc1 -> ReLU -> Linear(3) as fc2
}
"""
MLP_SHAPES = {"fc1.weight": (8, 4), "fc1.bias": (8,), "fc2.weight": (3, 8), "fc2.bias": (3,)}

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


@pytest.fixture
def mlp(tmp_path):
    p = tmp_path / "mlp.nnd"
    p.write_text(MLP)
    return str(p)


def _random(shapes: dict, seed: int = 0, dtype=np.float32) -> dict:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}


def _inits(model) -> dict:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _safetensors(tmp_path, arrays: dict, name="w.safetensors") -> str:
    st = pytest.importorskip("safetensors.numpy", reason="safetensors is a test extra: pip install -e '.[test]'")
    path = str(tmp_path / name)
    st.save_file(arrays, path)
    return path


def _npz(tmp_path, arrays: dict, name="w.npz") -> str:
    path = str(tmp_path / name)
    np.savez(path, **arrays)
    return path


# ------------------------------------------------------------------ formats


@pytest.mark.parametrize("fmt", ["npz", "safetensors", "onnx"])
def test_each_format_round_trips(fmt, mlp, tmp_path):
    want = _random(MLP_SHAPES, seed=1, dtype=np.float64 if fmt == "npz" else np.float32)
    if fmt == "npz":
        path = _npz(tmp_path, want)
    elif fmt == "safetensors":
        path = _safetensors(tmp_path, want)
    else:   # the initializers of an existing model (one compiled with other weights)
        donor = nnd.compile(mlp, weights=_npz(tmp_path, want))
        path = str(tmp_path / "donor.onnx")
        nnd.save(donor, path)
    got = _inits(nnd.compile(mlp, weights=path, seed=7))
    assert set(got) == set(MLP_SHAPES)
    for k, v in want.items():
        assert got[k].dtype == np.float32
        np.testing.assert_array_equal(got[k], v.astype(np.float32))


def test_bound_weights_replace_the_initialization(mlp, tmp_path):
    path = _npz(tmp_path, _random(MLP_SHAPES, seed=1))
    plain = _inits(nnd.compile(mlp, seed=0))
    bound = _inits(nnd.compile(mlp, seed=0, weights=path))
    assert not any(np.array_equal(plain[k], bound[k]) for k in MLP_SHAPES)


def test_half_precision_safetensors_are_converted_to_float32(mlp, tmp_path):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    pytest.importorskip("safetensors", reason="safetensors is a test extra")
    from safetensors.torch import save_file
    w = {k: torch.randn(s) for k, s in MLP_SHAPES.items()}
    state = {k: v.to(torch.bfloat16 if k.startswith("fc1") else torch.float16) for k, v in w.items()}
    path = str(tmp_path / "half.safetensors")
    save_file(state, path)
    got = _inits(nnd.compile(mlp, weights=path))
    for k, v in state.items():
        assert got[k].dtype == np.float32
        np.testing.assert_array_equal(got[k], v.float().numpy())


def test_num_batches_tracked_is_ignored(tmp_path):
    src = tmp_path / "bn.nnd"
    src.write_text("model B {\n    input x: [N, 3, 4, 4]\n    output y = x -> BatchNorm as bn\n}\n")
    w = {"bn.weight": np.ones(3), "bn.bias": np.zeros(3), "bn.running_mean": np.zeros(3),
         "bn.running_var": np.ones(3), "bn.num_batches_tracked": np.array(12, dtype=np.int64)}
    rep = bind(nnd.check(str(src)).ir, _npz(tmp_path, w))
    assert rep.ok and rep.bound == ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]
    assert rep.ignored == ["bn.num_batches_tracked"]


def test_onnx_initializer_stored_reshaped_binds_when_elements_agree(mlp, tmp_path):
    """An op may store a parameter reshaped (a PReLU slope [C] as [C, 1, 1]);
    from an .onnx file it binds when the element count and squeezed shape
    agree. Constants that cannot be parameter names are skipped."""
    arrays = _random(MLP_SHAPES, seed=2)
    inits = [numpy_helper.from_array(v.reshape((1,) + v.shape) if k == "fc1.bias" else v, k)
             for k, v in arrays.items()]
    inits.append(numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "fc1/const"))
    inits.append(numpy_helper.from_array(np.zeros(2, np.float32), "onnx::Reshape_7"))
    graph = onnx.helper.make_graph([], "donor", [], [], inits)
    path = str(tmp_path / "donor.onnx")
    onnx.save(onnx.helper.make_model(graph), path)
    rep = []
    got = _inits(nnd.compile(mlp, weights=path, weight_report=rep))
    np.testing.assert_array_equal(got["fc1.bias"], arrays["fc1.bias"])
    assert got["fc1.bias"].shape == (8,)
    assert rep[0].ignored == ["fc1/const", "onnx::Reshape_7"]
    # the same reshaped tensor from npz is a shape error: only ONNX storage is let through
    arrays["fc1.bias"] = arrays["fc1.bias"].reshape(1, 8)
    with pytest.raises(api.WeightError, match=r"fc1\.bias: the model expects \[8\], the file has \[1, 8\]"):
        nnd.compile(mlp, weights=_npz(tmp_path, arrays))


def test_prelu_slope_from_an_nndc_model_binds_back(tmp_path):
    """nndc stores a per-channel PReLU slope [C] as [C, 1, 1] for ONNX; a
    model compiled with other weights is a valid --weights source."""
    src = tmp_path / "p.nnd"
    src.write_text("model P {\n    input x: [N, 3, 4, 4]\n"
                   "    output y = x -> Conv2d(4, 1) as conv -> PReLU(channels = true) as act\n}\n")
    donor = nnd.compile(str(src), seed=11)
    path = str(tmp_path / "donor.onnx")
    nnd.save(donor, path)
    assert _inits(donor)["act.weight"].shape == (4, 1, 1)
    donor_slope = np.linspace(0.1, 0.4, 4, dtype=np.float32).reshape(4, 1, 1)
    m = onnx.load(path)
    next(t for t in m.graph.initializer if t.name == "act.weight").CopyFrom(
        numpy_helper.from_array(donor_slope, "act.weight"))
    onnx.save(m, path)
    got = _inits(nnd.compile(str(src), seed=0, weights=path))
    np.testing.assert_array_equal(got["act.weight"], donor_slope)
    np.testing.assert_array_equal(got["conv.weight"], _inits(donor)["conv.weight"])


def test_an_nndc_model_with_hyphenated_names_binds_back(tmp_path):
    """Layer names may hold `-` (torchvision's RegNet: `block1-0`); its ONNX
    initializers are parameters when the file is a --weights source."""
    src = tmp_path / "h.nnd"
    src.write_text('model H {\n    input x: [N, 3]\n    output y = x -> Linear(2) as "block1.block1-0"\n}\n')
    donor = nnd.compile(str(src), seed=11)
    path = str(tmp_path / "donor.onnx")
    nnd.save(donor, path)
    rep = []
    got = _inits(nnd.compile(str(src), seed=0, weights=path, weight_report=rep))
    assert rep[0].bound == ["block1.block1-0.weight", "block1.block1-0.bias"]
    np.testing.assert_array_equal(got["block1.block1-0.weight"], _inits(donor)["block1.block1-0.weight"])


# ------------------------------------------------------------------ strict errors


def test_strict_error_lists_every_problem_with_shapes(mlp, tmp_path):
    w = _random(MLP_SHAPES)
    del w["fc2.bias"]
    w["fc1.weight"] = np.zeros((8, 5), np.float32)
    w["head.weight"] = np.zeros((2, 3), np.float32)
    w["fc1.mask"] = np.array([True, False])
    path = _npz(tmp_path, w)
    with pytest.raises(api.WeightError) as e:
        nnd.compile(mlp, weights=path)
    assert str(e.value) == (
        f"weights in `{path}` do not fit model `MLP`: 1 missing, 2 unexpected, 1 with the wrong shape\n"
        "  missing      fc2.bias [3]\n"
        "  unexpected   head.weight [2, 3]\n"
        "  unexpected   fc1.mask [2]\n"
        "  wrong shape  fc1.weight: the model expects [8, 4], the file has [8, 5]\n"
        "  = help: --partial binds the tensors that match and initializes the rest")


def test_strict_error_names_a_close_parameter_of_the_same_shape(mlp, tmp_path):
    w = _random(MLP_SHAPES)
    w["fc_2.bias"] = w.pop("fc2.bias")
    with pytest.raises(api.WeightError, match=r"unexpected   fc_2\.bias \[3\] \(did you mean `fc2\.bias`\?\)"):
        nnd.compile(mlp, weights=_npz(tmp_path, w))


def test_a_parameter_of_the_wrong_type_is_listed(mlp, tmp_path):
    w = _random(MLP_SHAPES)
    w["fc2.bias"] = np.array([True, False, True])
    with pytest.raises(api.WeightError, match=r"wrong type   fc2\.bias: dtype bool is not a number type"):
        nnd.compile(mlp, weights=_npz(tmp_path, w))


def test_long_lists_are_capped_with_a_count(tmp_path):
    src = tmp_path / "wide.nnd"
    src.write_text("model W {\n    input x: [N, 4]\n    output y = x -> Linear(4) as fc\n}\n")
    w = {f"extra{i}.weight": np.zeros(2, np.float32) for i in range(50)}
    w.update({"fc.weight": np.zeros((4, 4), np.float32), "fc.bias": np.zeros(4, np.float32)})
    with pytest.raises(api.WeightError) as e:
        nnd.compile(str(src), weights=_npz(tmp_path, w))
    lines = str(e.value).splitlines()
    assert lines[0].endswith("50 unexpected")
    assert sum(line.startswith("  unexpected") for line in lines) == 20
    assert "  ... and 30 more unexpected" in lines


def test_a_common_prefix_is_pointed_out(mlp, tmp_path):
    w = {"module." + k: v for k, v in _random(MLP_SHAPES).items()}
    with pytest.raises(api.WeightError, match=r"= note: the file's names start with `module\.`, the model's do not"):
        nnd.compile(mlp, weights=_npz(tmp_path, w))


def test_unreadable_and_unknown_files_are_clear_errors(mlp, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(api.WeightError, match=r"cannot read weights from `.*broken\.safetensors`"):
        nnd.compile(mlp, weights=str(bad))
    with pytest.raises(api.WeightError, match=r"unknown format `\.pt`; expected one of \.npz, \.safetensors, \.onnx"):
        nnd.compile(mlp, weights=str(tmp_path / "w.pt"))
    with pytest.raises(api.WeightError, match="no such file"):
        nnd.compile(mlp, weights=str(tmp_path / "absent.npz"))
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(api.WeightError, match=r"holds a single array, not named arrays"):
        nnd.compile(mlp, weights=str(single))


def test_safetensors_without_the_package_says_how_to_install(mlp, tmp_path, monkeypatch):
    path = _safetensors(tmp_path, _random(MLP_SHAPES))
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(api.WeightError, match=r"needs the `safetensors` package: pip install 'nnd\[weights\]'"):
        nnd.compile(mlp, weights=path)


# ------------------------------------------------------------------ partial


def test_partial_binds_matches_and_initializes_the_rest(mlp, tmp_path):
    w = _random(MLP_SHAPES)
    w["fc2.weight"] = np.zeros((10, 8), np.float32)     # a new head: other class count
    del w["fc2.bias"]
    w["old.weight"] = np.zeros(3, np.float32)
    rep = []
    got = _inits(nnd.compile(mlp, seed=5, weights=_npz(tmp_path, w), partial=True, weight_report=rep))
    fresh = _inits(nnd.compile(mlp, seed=5))
    for k in ("fc1.weight", "fc1.bias"):
        np.testing.assert_array_equal(got[k], w[k])
    for k in ("fc2.weight", "fc2.bias"):   # initialized exactly as without weights
        np.testing.assert_array_equal(got[k], fresh[k])
    r = rep[0]
    assert r.bound == ["fc1.weight", "fc1.bias"]
    assert r.missing == [("fc2.bias", (3,))]
    assert r.unexpected == [("old.weight", (3,))]
    assert r.mismatched == [("fc2.weight", (3, 8), (10, 8))]
    assert r.summary()[1:] == [
        "  bound        fc1",
        "  initialized  fc2.bias [3]",
        "  skipped      old.weight [3] (the model has no such parameter)",
        "  skipped      fc2.weight [10, 8] (the model expects [3, 8])"]


def test_partial_with_nothing_matching_is_an_error(mlp, tmp_path):
    with pytest.raises(api.WeightError, match="no tensor in .* matches a parameter of model `MLP`"):
        nnd.compile(mlp, weights=_npz(tmp_path, {"x.weight": np.zeros(3)}), partial=True)


# ------------------------------------------------------------------ CLI


def test_cli_strict_error_writes_nothing(mlp, tmp_path, capsys):
    w = _random(MLP_SHAPES)
    del w["fc1.bias"]
    out = tmp_path / "out.onnx"
    rc = cli.main(["compile", mlp, "-o", str(out), "--weights", _npz(tmp_path, w)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("nndc: error: weights in ") and "  missing      fc1.bias [8]\n" in err
    assert sorted(os.listdir(tmp_path)) == ["mlp.nnd", "w.npz"]   # no model, no temporary file


def test_cli_partial_prints_what_was_bound(mlp, tmp_path, capsys):
    w = _random(MLP_SHAPES)
    del w["fc2.weight"], w["fc2.bias"]
    out = tmp_path / "out.onnx"
    rc = cli.main(["compile", mlp, "-o", str(out), "--weights", _npz(tmp_path, w), "--partial"])
    assert rc == 0
    assert capsys.readouterr().out == (
        "bound 2 of 4 parameter tensors from w.npz\n"
        "  bound        fc1\n"
        "  initialized  fc2.weight [3, 8]\n"
        "  initialized  fc2.bias [3]\n"
        f"wrote {out}\n")
    np.testing.assert_array_equal(_inits(onnx.load(str(out)))["fc1.weight"], w["fc1.weight"])


def test_cli_usage_and_io_errors_exit_2(mlp, tmp_path, capsys):
    assert cli.main(["compile", mlp, "--weights", str(tmp_path / "absent.npz")]) == 2
    assert "cannot read weights" in capsys.readouterr().err
    assert cli.main(["compile", mlp, "--partial"]) == 2
    assert "--partial needs --weights" in capsys.readouterr().err


# ------------------------------------------------------------------ frozen layers


def _meta(model) -> dict:
    return {p.key: p.value for p in model.metadata_props}


def test_freeze_records_frozen_initializers_in_metadata(tmp_path):
    src = tmp_path / "r.nnd"
    src.write_text(RESNET)
    m = nnd.compile(str(src), freeze=["layer1", "conv1"], optimize=False)   # -O0: BatchNorm kept, for training
    frozen = _meta(m)["nnd.frozen"].split(",")
    assert frozen[0] == "conv1.weight"
    assert "layer1.0.conv1.weight" in frozen and "layer1.1.bn2.running_var" in frozen
    assert all(n == "conv1.weight" or n.startswith("layer1.") for n in frozen)
    assert len(frozen) == 1 + 2 * 10
    assert set(frozen) <= {t.name for t in m.graph.initializer}
    # a glob, and a single parameter
    m2 = nnd.compile(str(src), freeze=["layer*.bn?", "fc.bias"], optimize=False)
    frozen2 = _meta(m2)["nnd.frozen"].split(",")
    assert "layer2.bn1.weight" in frozen2 and "fc.bias" in frozen2 and "fc.weight" not in frozen2
    assert not any("conv" in n or "downsample" in n for n in frozen2)


def test_freeze_names_the_initializers_left_after_the_passes(tmp_path):
    """Optimized, each BatchNorm is folded into the convolution before it: the
    frozen names are the written initializers, the convolutions' new biases
    included; a pattern naming only folded layers is valid and leaves nothing."""
    src = tmp_path / "r.nnd"
    src.write_text(RESNET)
    m = nnd.compile(str(src), freeze=["layer1", "bn1"])
    frozen = _meta(m)["nnd.frozen"].split(",")
    assert frozen == [f"layer1.{i}.conv{j}.{p}" for i in (0, 1) for j in (1, 2) for p in ("weight", "bias")]
    assert set(frozen) <= {t.name for t in m.graph.initializer}


def test_freeze_output_is_deterministic_and_absent_without_freeze(tmp_path):
    src = tmp_path / "r.nnd"
    src.write_text(RESNET)
    a = nnd.compile(str(src), freeze=["layer2.*", "fc"]).SerializeToString()
    b = nnd.compile(str(src), freeze=["layer2.*", "fc"]).SerializeToString()
    assert a == b
    assert "nnd.frozen" not in _meta(nnd.compile(str(src)))


def test_freeze_pattern_matching_nothing_is_an_error(tmp_path, capsys):
    src = tmp_path / "r.nnd"
    src.write_text(RESNET)
    rc = cli.main(["compile", str(src), "--freeze", "layr1", "-o", str(tmp_path / "r.onnx")])
    assert rc == 1
    assert capsys.readouterr().err == \
        "nndc: error: --freeze `layr1` matches no layer with parameters; did you mean `layer1`?\n"
    assert not (tmp_path / "r.onnx").exists()


def test_cli_freeze(tmp_path, capsys):
    src = tmp_path / "r.nnd"
    src.write_text(RESNET)
    out = tmp_path / "r.onnx"
    assert cli.main(["compile", str(src), "-o", str(out), "--freeze", "fc"]) == 0
    assert _meta(onnx.load(str(out)))["nnd.frozen"] == "fc.weight,fc.bias"


# ------------------------------------------------------------------ external data


def test_large_models_are_saved_with_external_data(tmp_path):
    src = tmp_path / "r.nnd"
    src.write_text(RESNET)
    m = nnd.compile(str(src), freeze=["fc"])
    before = m.SerializeToString()
    out = str(tmp_path / "r.onnx")
    written = nnd.save(m, out, external_threshold=1000)
    assert m.SerializeToString() == before          # the caller's model is untouched
    data = os.path.basename(written[1])
    assert written == [out, str(tmp_path / data)] and re.fullmatch(r"r\.onnx\.[0-9a-f]{16}\.data", data)
    assert sorted(os.listdir(tmp_path)) == ["r.nnd", "r.onnx", data]
    assert os.path.getsize(out) < 20_000 < os.path.getsize(written[1])
    raw = onnx.load(out, load_external_data=False)
    big = [t for t in raw.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert big and all(e.value == data for t in big for e in t.external_data if e.key == "location")
    loaded = onnx.load(out)
    assert _inits(loaded).keys() == _inits(m).keys()
    for k, v in _inits(m).items():
        np.testing.assert_array_equal(_inits(loaded)[k], v)
    onnx.checker.check_model(out)
    import onnxruntime as ort
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    got = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, {"image": x})
    np.testing.assert_array_equal(got[0], run_onnx(m, {"image": x})[0])


def test_small_models_stay_one_file(mlp, tmp_path):
    out = str(tmp_path / "m.onnx")
    assert nnd.save(nnd.compile(mlp), out) == [out]
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "mlp.nnd"]


def test_cli_writes_external_data_over_the_threshold(mlp, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(api, "EXTERNAL_DATA_THRESHOLD", 64)
    out = str(tmp_path / "m.onnx")
    assert cli.main(["compile", mlp, "-o", out]) == 0
    (data,) = [n for n in os.listdir(tmp_path) if n.endswith(".data")]
    assert capsys.readouterr().out == f"wrote {out} (weights in {tmp_path / data})\n"
    assert _inits(onnx.load(out)).keys() == set(MLP_SHAPES)


# ------------------------------------------------------------------ equivalence with torch


def _torch_tiny_resnet(classes=10):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    torch.manual_seed(0)
    nn = torch.nn

    class Basic(nn.Module):
        def __init__(self, cin, width, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.downsample = None
            if stride != 1 or cin != width:
                self.downsample = nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width))

        def forward(self, x):
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    class TinyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.layer1 = nn.Sequential(Basic(8, 8), Basic(8, 8))
            self.layer2 = Basic(8, 16, 2)
            self.fc = nn.Linear(16, classes)

        def forward(self, x):
            x = self.layer2(self.layer1(torch.relu(self.bn1(self.conv1(x)))))
            return self.fc(torch.flatten(torch.mean(x, dim=(2, 3), keepdim=True), 1))

    return TinyResNet()


def test_tiny_resnet_with_bound_weights_equals_torch(tmp_path):
    src = tmp_path / "r.nnd"
    src.write_text(RESNET)
    errs = assert_matches_torch(str(src), "TinyResNet", _torch_tiny_resnet(), [[2, 3, 16, 16]], tmp_path)
    assert len(errs) == 1


def test_lenet5_example_with_bound_weights_equals_torch(tmp_path):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    torch.manual_seed(0)
    nn = torch.nn

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

        def forward(self, x):
            x = nn.functional.avg_pool2d(torch.tanh(self.conv1(x)), 2)
            x = torch.flatten(nn.functional.avg_pool2d(torch.tanh(self.conv2(x)), 2), 1)
            x = torch.tanh(self.fc2(torch.tanh(self.fc1(x))))
            return torch.softmax(self.fc3(x), 1)

    assert_matches_torch(os.path.join(EXAMPLES, "lenet5.nnd"), None, LeNet5(), [[3, 1, 32, 32]], tmp_path)


def test_two_inputs_two_outputs_in_declared_order(tmp_path):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    torch.manual_seed(0)
    nn = torch.nn

    class WideAndDeep(nn.Module):
        def __init__(self):
            super().__init__()
            self.deep = nn.Sequential(nn.Linear(6, 30), nn.ReLU(), nn.Linear(30, 30), nn.ReLU())
            self.head, self.aux_head = nn.Linear(35, 1), nn.Linear(30, 1)

        def forward(self, wide, deep):
            h = self.deep(deep)
            return self.head(torch.cat([wide, h], 1)), self.aux_head(h)

    src = tmp_path / "wd.nnd"
    src.write_text(WIDE_AND_DEEP)
    errs = assert_matches_torch(str(src), None, WideAndDeep(), [[4, 5], [4, 6]], tmp_path)
    assert len(errs) == 2


def test_the_harness_catches_a_wrong_model(tmp_path):
    """A twin that differs (no ReLU closing each block) must fail."""
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    src = tmp_path / "r.nnd"
    src.write_text(RESNET.replace("output y = (main + skip) -> ReLU", "output y = main + skip"))
    with pytest.raises(AssertionError, match="max relative error"):
        assert_matches_torch(str(src), "TinyResNet", _torch_tiny_resnet(), [[2, 3, 16, 16]], tmp_path)
    assert torch is not None
