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
# The batch is N; other symbolic input sizes take the values in SIZES.
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
    "vit": ({}, 2, {"logits": (2, 10)}, 148_170),
    "text_transformer": ({}, 2, {"logits": (2, 4)}, 135_300),
    "lstm_classifier": ({}, 3, {"logits": (3, 5)}, 74_693),
    "siamese": ({}, 2, {"distance": (2,)}, 5_856),
    "fpn": ({}, 1, {"p2": (1, 32, 19, 25), "p3": (1, 32, 10, 13), "p4": (1, 32, 5, 7)}, 55_008),
}
SIZES = {"T": 9, "H": 37, "W": 50}


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
    # a size derived from H or W is checked where the model runs, below
    concrete = {k: tuple(batch if str(d) == "N" else None if isinstance(d, Sym) else d for d in s)
                for k, s in declared.items()}
    assert concrete == {k: tuple(None if c is None else w for c, w in zip(concrete[k], s))
                        for k, s in want.items()}

    model = nnd.compile(path, params=params)
    onnx.checker.check_model(model, full_check=True)
    rng = np.random.default_rng(0)
    feeds = {}
    for i in model.graph.input:
        dims = [(batch if d.dim_param == "N" else SIZES[d.dim_param]) if d.dim_param else d.dim_value
                for d in i.type.tensor_type.shape.dim]
        elem = i.type.tensor_type.elem_type
        if elem == onnx.TensorProto.INT64:      # token ids
            feeds[i.name] = rng.integers(1, 100, dims).astype(np.int64)
        elif elem == onnx.TensorProto.BOOL:     # a padding mask: the last two positions
            feeds[i.name] = np.zeros(dims, bool)
            feeds[i.name][..., -2:] = True
        else:
            feeds[i.name] = rng.standard_normal(dims).astype(np.float32)
    outs = run_onnx(model, feeds)
    got = {o.name: v.shape for o, v in zip(model.graph.output, outs)}
    assert got == want
    assert all(np.isfinite(v).all() for v in outs)
