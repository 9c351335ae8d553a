"""Every example compiles, passes the full ONNX checker, and runs on
onnxruntime (CPU) with random input, giving the declared output shapes.
The parameter counts the examples state in their comments are checked too."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

import nnd
from nnd.weights import parameter_count
from helpers import run_onnx
from nnd.shapes import Sym

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")

# example -> (model parameters, batch size to run, {output: shape at that batch}, parameter count)
CASES = {
    "lenet5": ({}, 3, {"probs": (3, 10)}, 61_706),
    "alexnet": ({}, 1, {"logits": (1, 1000)}, 60_965_224),
    "vgg16": ({}, 1, {"logits": (1, 1000)}, 138_357_544),
    "resnet50": ({}, 1, {"logits": (1, 1000)}, 25_557_032),
    "googlenet": ({}, 1, {"logits": (1, 1000)}, 6_998_552),
    "googlenet-aux": ({"aux_logits": True}, 2, {"logits": (2, 1000), "aux1": (2, 1000), "aux2": (2, 1000)},
                      13_378_280),
    "densenet": ({}, 2, {"logits": (2, 10)}, 769_162),
    "wide_deep": ({}, 4, {"main": (4, 1), "aux": (4, 1)}, 1_207),
    "transfer_resnet18": ({}, 2, {"logits": (2, 4)}, 11_178_564),
}


def test_every_example_has_a_case():
    files = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(EXAMPLES, "*.nnd"))}
    assert files == {c.split("-")[0] for c in CASES}


@pytest.mark.parametrize("case", sorted(CASES))
def test_example_compiles_checks_and_runs(case):
    params, batch, want, count = CASES[case]
    path = os.path.join(EXAMPLES, case.split("-")[0] + ".nnd")
    res = nnd.check(path, params=params)
    assert res.ok, [d.message for d in res.errors]
    assert not res.diagnostics, [d.message for d in res.diagnostics]
    assert parameter_count(res.ir) == count
    declared = {o.name: res.ir.node(o.node)["shapes"][o.port] for o in res.ir.outputs}
    assert {k: tuple(batch if isinstance(d, Sym) else d for d in s) for k, s in declared.items()} == want

    model = nnd.compile(path, params=params)
    onnx.checker.check_model(model, full_check=True)
    rng = np.random.default_rng(0)
    feeds = {}
    for i in model.graph.input:
        dims = [batch if d.dim_param else d.dim_value for d in i.type.tensor_type.shape.dim]
        feeds[i.name] = rng.standard_normal(dims).astype(np.float32)
    outs = run_onnx(model, feeds)
    got = {o.name: v.shape for o, v in zip(model.graph.output, outs)}
    assert got == want
    assert all(np.isfinite(v).all() for v in outs)
