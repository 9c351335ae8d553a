"""The parameters of the activation and normalization layers, with values
that differ per element: the reference cases run with their initial values
(ones, zeros, one shared slope), which cannot tell a misplaced scale from a
right one. Also: each parameter is a plain initializer in PyTorch's shape or
reshaped only for broadcasting, fed straight to its op."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import layer_program, rel_err, run_onnx
from nnd.layers import load_all

REGISTRY = load_all()
MODULES = ("nnd.layers.activation", "nnd.layers.norm")
SPECS = sorted({id(s): s for s in REGISTRY.values() if type(s).__module__ in MODULES}.values(),
               key=lambda s: type(s).__name__)


def _build(expr, shape):
    from nnd.api import build
    ir, _ = build(text=layer_program(expr, [shape]), seed=3, optimize=False)
    node = next(d for _, d in ir.g.nodes(data=True) if d["name"] == "layer")
    return ir, node


def _weighted_cases():
    out = []
    for spec in SPECS:
        for case in spec.cases:
            _, node = _build(case.expr, case.inputs[0])
            if node["attrs"]["weights"]:
                out.append(pytest.param(spec, case, id=f"{case.expr}:{case.inputs}"))
    return out


CASES = _weighted_cases()


def test_the_weighted_layers_are_covered():
    kinds = {c.values[1].expr.split("(")[0] for c in CASES}
    assert {"PReLU", "LayerNorm", "InstanceNorm2d", "InstanceNorm1d", "GroupNorm", "BatchNorm"} <= kinds


@pytest.mark.parametrize("spec,case", CASES)
def test_random_parameters_match_torch(spec, case):
    torch = pytest.importorskip("torch")
    import onnx
    from nnd.lower import lower

    ir, node = _build(case.expr, case.inputs[0])
    rng = np.random.default_rng(7)
    for name, w in node["attrs"]["weights"].items():
        lo, hi = (0.5, 2.0) if "var" in name else (-1.5, 1.5)
        node["arrays"][name] = rng.uniform(lo, hi, w.shape).astype(np.float32)
    model = lower(ir)
    onnx.checker.check_model(model, full_check=True)

    inits = {t.name: t for t in model.graph.initializer}
    # The layer's ops (a normalization written out is several): a parameter
    # feeds one of them itself, never through a computed tensor.
    fed = {i for n in model.graph.node if n.name == "node:layer" or n.name.startswith("node:layer/")
           for i in n.input}
    for name, w in node["attrs"]["weights"].items():
        t = inits[f"layer.{name}"]
        assert t.name in fed, f"{t.name} does not feed one of the layer's ops directly"
        assert int(np.prod(t.dims)) == w.size and [d for d in t.dims if d != 1] == [d for d in w.shape if d != 1]
    assert not any(n.op_type == "Constant" for n in model.graph.node)

    x = rng.standard_normal(case.inputs[0]).astype(np.float32)
    (got,) = run_onnx(model, {"x0": x})
    params = {k: torch.from_numpy(np.array(v)) for k, v in node["arrays"].items()}
    with torch.no_grad():
        (want,) = spec.reference(node["attrs"])([torch.from_numpy(x)], params)
    assert rel_err(got, want.numpy()) <= case.tol


def test_prelu_slope_is_per_channel():
    """A negative input in channel c is scaled by slope c (stored [C, 1, 1])."""
    from nnd.lower import lower
    from onnx import numpy_helper

    ir, node = _build("PReLU(channels = true)", [1, 3, 2, 2])
    node["arrays"]["weight"] = np.array([0.1, 0.2, 0.3], np.float32)
    model = lower(ir)
    slope = next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == "layer.weight")
    assert slope.shape == (3, 1, 1)
    (y,) = run_onnx(model, {"x0": -np.ones((1, 3, 2, 2), np.float32)})
    np.testing.assert_allclose(y[0, :, 0, 0], [-0.1, -0.2, -0.3], rtol=1e-6)


def test_parameter_names_and_shapes_follow_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    pairs = [("PReLU(num_parameters = 6)", [2, 6, 3, 3], nn.PReLU(6)),
             ("PReLU", [2, 6, 3, 3], nn.PReLU()),
             ("LayerNorm([4, 5])", [2, 3, 4, 5], nn.LayerNorm([4, 5])),
             ("LayerNorm(bias = false)", [2, 3, 8], nn.LayerNorm(8, bias=False)),
             ("LayerNorm(elementwise_affine = false)", [2, 8], nn.LayerNorm(8, elementwise_affine=False)),
             ("InstanceNorm2d(affine = true)", [2, 3, 4, 4], nn.InstanceNorm2d(3, affine=True)),
             ("InstanceNorm1d", [2, 3, 4], nn.InstanceNorm1d(3)),
             ("InstanceNorm2d(track_running_stats = true)", [2, 3, 4, 4],
              nn.InstanceNorm2d(3, track_running_stats=True)),
             ("GroupNorm(2)", [2, 6, 4], nn.GroupNorm(2, 6)),
             ("LocalResponseNorm(3)", [2, 6, 4], nn.LocalResponseNorm(3))]
    for expr, shape, module in pairs:
        _, node = _build(expr, shape)
        ours = {k: tuple(w.shape) for k, w in node["attrs"]["weights"].items()}
        theirs = {k: tuple(v.shape) for k, v in module.state_dict().items() if k != "num_batches_tracked"}
        assert ours == theirs, expr
        for k, v in module.state_dict().items():
            if k in node["arrays"]:
                np.testing.assert_array_equal(node["arrays"][k], v.numpy(), err_msg=f"{expr}: initial {k}")
