"""Every layer entry, over each of its cases, against PyTorch on the CPU with
the same weights: max relative error within the case's tolerance (1e-5 by
default; inputs standard normal, plus the case's `offset`), ONNX that passes
the full checker, and onnx shape inference that agrees with ours."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import layer_program, random_inputs, rel_err, run_onnx
from nnd.layers import load_all
from nnd.layers.base import Layer

REGISTRY = load_all()
SPECS = sorted({id(s): s for s in REGISTRY.values()}.values(), key=lambda s: type(s).__name__)
CASES = [pytest.param(spec, case, id=f"{type(spec).__name__}:{case.expr}:{case.inputs}")
         for spec in SPECS for case in spec.cases]


def test_every_layer_has_reference_cases():
    missing = [type(s).__name__ for s in SPECS if not s.cases]
    assert not missing, f"layers without reference cases: {missing}"


def test_every_spelling_is_exercised():
    used = set()
    for s in SPECS:
        for c in s.cases:
            used.add(c.expr.split("(")[0].strip())
    missing = sorted(n for n in REGISTRY if n not in used)
    assert not missing, f"layer spellings no case uses: {missing}"


@pytest.mark.parametrize("spec,case", CASES)
def test_layer_matches_torch(spec: Layer, case):
    torch = pytest.importorskip("torch", reason="torch is the test reference: pip install -e '.[test]'")
    import onnx
    from nnd.api import build
    from nnd.lower import lower

    n_out = spec.n_outputs(_probe_attrs(spec, case))
    text = layer_program(case.expr, case.inputs, n_out, case.dtypes)
    ir, _ = build(text=text, seed=3, optimize=False)
    node = next(d for _, d in ir.g.nodes(data=True) if d["name"] == "layer")
    model = lower(ir)
    onnx.checker.check_model(model, full_check=True)

    rng = np.random.default_rng(0)
    feeds = {f"x{i}": x + np.float32(case.offset) if x.dtype == np.float32 else x
             for i, x in enumerate(random_inputs(case.inputs, rng, case.dtypes, case.high))}
    if case.positive:
        feeds = {k: (np.abs(v) % 2 + 0.5).astype(np.float32) for k, v in feeds.items()}
    got = run_onnx(model, feeds)

    # Far from zero, float32 PyTorch is itself inexact: the reference is float64.
    dtype = torch.float64 if case.offset else torch.float32
    params = {k: torch.from_numpy(np.array(v)).to(dtype) for k, v in node.get("arrays", {}).items()}
    with torch.no_grad():
        xs = [torch.from_numpy(feeds[f"x{i}"]) for i in range(len(case.inputs))]
        want = spec.reference(node["attrs"])([x.to(dtype) if x.is_floating_point() else x for x in xs], params)
    assert len(got) == len(want)
    for g, w, s in zip(got, want, node["shapes"]):
        assert tuple(g.shape) == tuple(s), f"ran to {g.shape}, inferred {s}"
        assert rel_err(g, w.numpy()) <= case.tol

    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for o, s in zip(inferred.graph.output, node["shapes"]):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in o.type.tensor_type.shape.dim]
        assert dims == [d for d in s], f"onnx infers {dims}, nnd {s}"


def _probe_attrs(spec, case):
    """The arguments of a case, for layers whose output count depends on them."""
    from nnd.api import check
    res = check(text=layer_program(case.expr, case.inputs, 1, case.dtypes))
    for _, d in (res.ir.g.nodes(data=True) if res.ir is not None else []):
        if d["name"] == "layer":
            return d["attrs"]
    from nnd.layers.base import Attrs
    return Attrs()
