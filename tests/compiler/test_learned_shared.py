"""`param` (learned tensors) and `shared` (one instance, several uses): the
names of their initializers, binding, counting, freezing, the passes, and
equality with PyTorch modules that do the same."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import nnd
from nnd import api
from nnd.binding import frozen_initializers
from nnd.weights import parameter_count
from helpers import run_onnx


def _inits(model) -> dict:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _names(model) -> list:
    return [t.name for t in model.graph.initializer]


VIT_HEAD = """
block Encoder(dim) {
    input x
    param pos_embedding: [1, 5, dim] = normal(std = 0.02)
    output y = x + pos_embedding
}
model M(dim = 8) {
    input x: [1, 4, dim]
    param class_token: [1, 1, dim] = zeros
    param gamma: [dim] = ones * 1e-6
    param fill: [dim] = 0.5
    t = concat(class_token, x, axis = 1) -> Encoder(dim) as encoder
    output y = t * gamma + fill
}
"""


def test_params_are_initializers_named_in_scope_with_their_initial_values():
    m = nnd.compile(text=VIT_HEAD)
    inits = _inits(m)
    assert {"class_token", "gamma", "fill", "encoder.pos_embedding"} <= set(inits)
    np.testing.assert_array_equal(inits["class_token"], np.zeros((1, 1, 8), np.float32))
    np.testing.assert_array_equal(inits["gamma"], np.full(8, 1e-6, np.float32))
    np.testing.assert_array_equal(inits["fill"], np.full(8, 0.5, np.float32))
    x = np.random.default_rng(0).standard_normal((1, 4, 8)).astype(np.float32)
    (y,) = run_onnx(m, {"x": x})
    want = (np.concatenate([inits["class_token"], x], axis=1) + inits["encoder.pos_embedding"]) \
        * inits["gamma"] + inits["fill"]
    np.testing.assert_allclose(y, want, rtol=1e-6)


def test_params_bind_strictly_by_their_scoped_names_and_are_counted_and_frozen(tmp_path):
    ir, _ = api.build(None, text=VIT_HEAD)
    assert parameter_count(ir) == 8 + 8 + 8 + 5 * 8
    rng = np.random.default_rng(1)
    w = {"class_token": rng.standard_normal((1, 1, 8)), "gamma": rng.standard_normal(8),
         "fill": rng.standard_normal(8), "encoder.pos_embedding": rng.standard_normal((1, 5, 8))}
    path = str(tmp_path / "w.npz")
    np.savez(path, **w)
    m = nnd.compile(text=VIT_HEAD, weights=path, freeze=["encoder", "class_token"])
    inits = _inits(m)
    for k, v in w.items():
        np.testing.assert_array_equal(inits[k], v.astype(np.float32))
    frozen = {p.key: p.value for p in m.metadata_props}["nnd.frozen"].split(",")
    assert sorted(frozen) == ["class_token", "encoder.pos_embedding"]


def test_random_initializers_follow_their_distribution_and_the_seed():
    text = """model M {
        input x: [1, 1]
        param n: [200, 300] = normal(mean = 1, std = 0.02)
        param u: [200, 300] = uniform(-3, -1)
        param t: [200, 300] = trunc_normal(std = 1, a = -0.5, b = 0.25) * 2
        output y = x
    }"""
    ir, _ = api.build(None, text=text, seed=3, optimize=False)
    arr = {ir.node(n)["name"]: ir.node(n)["arrays"] for n in ir.order()}
    n, u, t = arr["n"]["n"], arr["u"]["u"], arr["t"]["t"]
    assert abs(n.mean() - 1) < 1e-3 and abs(n.std() - 0.02) < 1e-3
    assert u.min() >= -3 and u.max() <= -1 and abs(u.mean() + 2) < 0.02
    assert t.min() >= -1.0 and t.max() <= 0.5 and t.max() > 0.49 and t.min() < -0.99
    again, _ = api.build(None, text=text, seed=3, optimize=False)
    other, _ = api.build(None, text=text, seed=4, optimize=False)
    same = {again.node(k)["name"]: again.node(k)["arrays"] for k in again.order()}
    diff = {other.node(k)["name"]: other.node(k)["arrays"] for k in other.order()}
    np.testing.assert_array_equal(same["n"]["n"], n)
    assert not np.array_equal(diff["n"]["n"], n)


def test_passes_keep_params_as_named_initializers():
    # Nodes computed from params alone are not folded into constants, and two
    # equal params are not merged by common-subexpression elimination.
    text = """model M {
        input x: [N, 4]
        param a: [4] = zeros
        param b: [4] = zeros
        output y = x + (a -> ReLU) + (b -> ReLU)
    }"""
    m = nnd.compile(text=text)
    assert {"a", "b"} <= set(_names(m))
    assert sum(n.op_type == "Relu" for n in m.graph.node) == 2


SIAMESE = """
block Tower(width) {
    input x
    output y = x -> Conv2d(width, 3, padding = 1) as conv1 -> BatchNorm as bn1 -> ReLU
                 -> Flatten -> Linear(10) as fc
}
model Siamese {
    input a: [N, 1, 6, 6]
    input b: [N, 1, 6, 6]
    let tower = shared Tower(4) as tower
    output d = (a -> tower) - (b -> tower)
}
"""


def _torch_tower():
    torch = pytest.importorskip("torch")
    from torch import nn

    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4 * 6 * 6, 10)

        def forward(self, x):
            return self.fc(torch.flatten(torch.relu(self.bn1(self.conv1(x))), 1))

    torch.manual_seed(0)
    t = Tower().eval()
    with torch.no_grad():
        t.bn1.running_mean.uniform_(-1, 1)
        t.bn1.running_var.uniform_(0.5, 2)
        t.bn1.weight.uniform_(0.5, 2)
        t.bn1.bias.uniform_(-1, 1)
    return torch, t


@pytest.mark.parametrize("optimize", [True, False])
def test_siamese_tower_has_one_set_of_weights_and_matches_torch(tmp_path, optimize):
    torch, tower = _torch_tower()
    state = {f"tower.{k}": v.numpy() for k, v in tower.state_dict().items()}
    path = str(tmp_path / "tower.npz")
    np.savez(path, **state)
    ir, _ = api.build(None, text=SIAMESE)
    assert parameter_count(ir) == sum(p.numel() for p in tower.parameters())
    m = nnd.compile(text=SIAMESE, weights=path, optimize=optimize)   # strict: every key binds
    names = _names(m)
    assert len(names) == len(set(names))
    params = {n for n in names if n.startswith("tower.")}
    assert params == {k for k in state if not k.endswith("num_batches_tracked")}
    onnx.checker.check_model(m, full_check=True)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((3, 1, 6, 6)).astype(np.float32) for _ in range(2))
    (got,) = run_onnx(m, {"a": a, "b": b})
    with torch.no_grad():
        want = (tower(torch.from_numpy(a)) - tower(torch.from_numpy(b))).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_shared_weights_are_frozen_once_and_node_names_stay_unique():
    ir, _ = api.build(None, text=SIAMESE)
    names = [d["name"] for _, d in ir.nodes()]
    assert len(names) == len(set(names)) and "tower@2.conv1" in names
    frozen = frozen_initializers(ir, ["tower"])
    assert frozen == ["tower.conv1.weight", "tower.conv1.bias", "tower.bn1.weight", "tower.bn1.bias",
                      "tower.bn1.running_mean", "tower.bn1.running_var", "tower.fc.weight", "tower.fc.bias"]


def test_a_layer_value_used_twice_without_shared_gets_two_sets_of_weights():
    text = """model M {
        input a: [N, 4]
        let fc = Linear(3)
        output y = (a -> fc) + (a -> fc)
    }"""
    m = nnd.compile(text=text, optimize=False)
    assert _names(m) == ["linear_0.weight", "linear_0.bias", "linear_1.weight", "linear_1.bias"]


def test_a_shared_layer_repeated_is_one_cell_applied_in_turn():
    torch = pytest.importorskip("torch")
    text = """model M {
        input x: [N, 4]
        let cell = shared (Linear(4) -> Tanh) as cell
        output y = x -> cell * 3
    }"""
    m = nnd.compile(text=text)
    inits = _inits(m)
    assert sorted(inits) == ["cell.0.bias", "cell.0.weight"]
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    (got,) = run_onnx(m, {"x": x})
    lin = torch.nn.Linear(4, 4)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(inits["cell.0.weight"].copy()))
        lin.bias.copy_(torch.from_numpy(inits["cell.0.bias"].copy()))
        h = torch.from_numpy(x)
        for _ in range(3):
            h = torch.tanh(lin(h))
    np.testing.assert_allclose(got, h.numpy(), rtol=1e-5, atol=1e-6)


def test_batchnorm_is_not_folded_into_a_shared_conv_used_without_it():
    # One use is followed by a BatchNorm, the other is not: folding into the
    # conv would change the weights the other use reads.
    text = """model M {
        input x: [N, 2, 5, 5]
        input z: [N, 2, 5, 5]
        let conv = shared Conv2d(3, 3) as conv
        output y = (x -> conv -> BatchNorm as bn) + (z -> conv)
    }"""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    feeds = {"x": x, "z": rng.standard_normal((1, 2, 5, 5)).astype(np.float32)}
    ir, _ = api.build(None, text=text, optimize=False)
    for n in ir.order():   # a non-trivial normalization, so that folding it would show
        d = ir.node(n)
        if d["kind"] == "BatchNorm":
            d["arrays"] = {k: rng.uniform(0.5, 2, v.shape).astype(np.float32) for k, v in d["arrays"].items()}
    from nnd.lower import lower
    from nnd.passes import run_pipeline
    (plain,) = run_onnx(lower(ir), feeds)
    run_pipeline(ir)
    m = lower(ir)
    (folded,) = run_onnx(m, feeds)
    np.testing.assert_allclose(folded, plain, rtol=1e-5, atol=1e-6)
    assert _names(m).count("conv.weight") == 1
