"""Helpers of the pass tests: build nnd text without the pipeline, give the
normalization statistics random values (the defaults make BatchNorm the
identity, which would hide a wrong fold), apply a pass, and compare the ONNX
before and after on onnxruntime with the same weights."""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np
import onnx

from helpers import rel_err, run_onnx

TOL = 1e-5

# A ResNet basic unit (conv-BN-ReLU twice, a conv-BN shortcut when it strides),
# for the tests that fold whole networks.
BASIC_BLOCK = """
block Basic(c, stride = 1) {
    input x
    y = x -> Conv2d(c, 3, stride = stride, padding = 1, bias = false) as conv1 -> BatchNorm2d as bn1 -> ReLU
          -> Conv2d(c, 3, padding = 1, bias = false) as conv2 -> BatchNorm2d as bn2
    s = x
    if stride != 1 {
        s = x -> Conv2d(c, 1, stride = stride, bias = false) as down -> BatchNorm2d as dbn
    }
    output out = (y + s) -> ReLU
}
"""


def build(text: str, randomize: bool = True, seed: int = 0, **kw):
    from nnd.api import build as _build
    ir, _ = _build(text=text, optimize=False, seed=seed, **kw)
    if randomize:
        randomize_constants(ir, seed)
    return ir


def randomize_constants(ir, seed: int = 0) -> None:
    """Random values for every constant-initialized array (BatchNorm's gamma,
    beta and running statistics, ...); variances stay positive."""
    rng = np.random.default_rng(seed + 1000)
    for _, d in sorted(ir.g.nodes(data=True), key=lambda t: t[1]["name"]):
        for k, w in (d["attrs"].get("weights") or {}).items():
            if w.init == "const" and k in d.get("arrays", {}):
                lo, hi = (0.5, 2.0) if "var" in k or k == "weight" else (-0.5, 0.5)
                d["arrays"][k] = rng.uniform(lo, hi, w.shape).astype(np.float32)


def lower(ir):
    from nnd.lower import lower as _lower
    return _lower(ir)


def feeds(model, seed: int = 0, sizes: dict | None = None) -> dict:
    """Random inputs; a symbolic dimension is 2 for `N` and 8 otherwise."""
    rng = np.random.default_rng(seed)
    sizes = {"N": 2, **(sizes or {})}
    out = {}
    for i in model.graph.input:
        shape = [d.dim_value if d.HasField("dim_value") else sizes.get(d.dim_param, 8)
                 for d in i.type.tensor_type.shape.dim]
        out[i.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def ops(model) -> Counter:
    return Counter(n.op_type for n in model.graph.node)


def assert_same_outputs(before, after, tol: float = TOL, seed: int = 0) -> None:
    """The two models agree on every output they share, by name."""
    f = feeds(before, seed)
    names_b = [o.name for o in before.graph.output]
    names_a = [o.name for o in after.graph.output]
    got_b = dict(zip(names_b, run_onnx(before, f)))
    got_a = dict(zip(names_a, run_onnx(after, {k: v for k, v in f.items()
                                               if k in {i.name for i in after.graph.input}})))
    shared = [n for n in names_a if n in got_b]
    assert shared, "no output in common"
    for n in shared:
        err = rel_err(got_a[n], got_b[n])
        assert err <= tol, f"output {n}: relative error {err:.3g} > {tol}"


def apply(ir, pass_fn, **kw):
    """Run one pass on a copy of `ir`; returns (changed, before model, after
    model, optimized ir), the after model fully checked."""
    before = lower(ir)
    opt = copy.deepcopy(ir)
    changed = pass_fn(opt, **kw)
    after = lower(opt)
    onnx.checker.check_model(after, full_check=True)
    assert_same_outputs(before, after)
    return changed, before, after, opt


def weight_inputs_are_initializers(model) -> list:
    """The (node, input) pairs where a weight or bias input is not a plain
    initializer (should be none)."""
    inits = {i.name for i in model.graph.initializer}
    slots = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "BatchNormalization": (1, 2, 3, 4),
             "PRelu": (1,), "InstanceNormalization": (1, 2), "LayerNormalization": (1, 2),
             "Einsum": (1,), "GroupNormalization": (1, 2)}
    bad = []
    for n in model.graph.node:
        for i in slots.get(n.op_type, ()):
            if i < len(n.input) and n.input[i] and n.input[i] not in inits:
                bad.append((n.name, n.input[i]))
    return bad
