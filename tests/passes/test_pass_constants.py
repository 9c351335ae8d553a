"""fold_constants: never fires on an elaborated program; tested on crafted IRs."""

from __future__ import annotations

import numpy as np
import onnx

from helpers import run_onnx
from nnd.ir import IR, GraphOutput
from nnd.layers import load_all
from nnd.layers.base import Attrs
from nnd.passes import fold_constants
from nnd.passes.constants import constant_node
from pass_helpers import apply, build, lower, ops


REGISTRY = load_all()   # the crafted IRs below name layers without elaborating a program


def layer(ir, kind, name, inputs, shape, **attrs):
    a = Attrs(kind=kind, variant=REGISTRY[kind].names[kind], name=name, weights={}, **attrs)
    n = ir.add_node(kind, name, a, [shape], None, inputs)
    ir.node(n)["arrays"] = {}
    return n


def crafted():
    """y = x + relu(c1 * c2 - c1), z = c1 * c2 (a constant output)."""
    rng = np.random.default_rng(0)
    c1v, c2v = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    ir = IR("C")
    x = ir.add_node("Input", "x", Attrs(kind="Input", name="x", weights={}), [(2, 3)], None)
    ir.inputs.append(x)
    c1, c2 = constant_node(ir, "c1", c1v), constant_node(ir, "c2", c2v)
    m = layer(ir, "Mul", "m", [(c1, 0), (c2, 0)], (2, 3))
    s = layer(ir, "Sub", "s", [(m, 0), (c1, 0)], (2, 3))
    r = layer(ir, "ReLU", "r", [(s, 0)], (2, 3))
    y = layer(ir, "Add", "y", [(x, 0), (r, 0)], (2, 3))
    ir.outputs = [GraphOutput("y", y, 0, None), GraphOutput("z", m, 0, None)]
    return ir, c1v, c2v


def test_crafted_constant_subgraph_folds():
    ir, c1v, c2v = crafted()
    changed, before, after, opt = apply(ir, fold_constants)
    assert changed == 3                                   # Mul, Sub, ReLU
    assert ops(before) == {"Mul": 1, "Sub": 1, "Relu": 1, "Add": 1}
    assert ops(after) == {"Add": 1, "Identity": 1}        # z is an initializer, named by an Identity
    assert sorted(opt.node(n)["kind"] for n in opt.g) == ["Add", "Constant", "Constant", "Input"]
    x = np.ones((2, 3), np.float32)
    y, z = run_onnx(after, {"x": x})
    np.testing.assert_allclose(z, c1v * c2v, rtol=1e-6)
    np.testing.assert_allclose(y, x + np.maximum(c1v * c2v - c1v, 0), rtol=1e-6)
    # c1 and c2 fed only folded nodes: gone; the two folded values are plain initializers
    assert {i.name for i in after.graph.initializer} == {"r.value", "m.value"}
    onnx.checker.check_model(after, full_check=True)


def test_monte_carlo_dropout_of_a_constant_is_not_folded():
    ir = IR("D")
    x = ir.add_node("Input", "x", Attrs(kind="Input", name="x", weights={}), [(4,)], None)
    ir.inputs.append(x)
    c = constant_node(ir, "c", np.ones(4, np.float32))
    d = layer(ir, "Dropout", "drop", [(c, 0)], (4,), p=0.5, mc=True, seed=0)
    y = layer(ir, "Add", "y", [(x, 0), (d, 0)], (4,))
    ir.outputs = [GraphOutput("y", y, 0, None)]
    assert fold_constants(ir) == 0 and ir.g.number_of_nodes() == 4
    assert ops(lower(ir))["Dropout"] == 1


def test_elaborated_programs_have_no_constants():
    ir = build("model T {\n    input x: [N, 3, 8, 8]\n"
               "    output y = x -> Conv2d(4, 3) -> BatchNorm2d -> ReLU -> Flatten -> Linear(2)\n}\n")
    n = ir.g.number_of_nodes()
    assert fold_constants(ir) == 0 and ir.g.number_of_nodes() == n
