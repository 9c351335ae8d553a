"""Constant folding."""

from __future__ import annotations

import numpy as np

from ..ir import IR, GraphOutput
from ..layers.base import Attrs, Weight
from ._util import family


def constant_node(ir: IR, name: str, value: np.ndarray, span=None) -> int:
    """Add a `Constant` node: no inputs, one output, `arrays['value']`,
    lowered to a plain initializer named `<name>.value`."""
    value = np.asarray(value, dtype=np.float32)
    a = Attrs(kind="Constant", variant=None, name=name,
              weights={"value": Weight(tuple(value.shape), "const", buffer=True)})
    n = ir.add_node("Constant", name, a, [tuple(value.shape)], span)
    ir.node(n)["arrays"] = {"value": value}
    return n


def _constant_nodes(ir: IR) -> set:
    """Nodes whose value depends on no graph input (in topological order,
    each is constant when all its inputs are)."""
    const = set()
    for n in ir.order():
        d = ir.node(n)
        if d["kind"] in ("Input", "Param"):
            continue   # a learned tensor is a parameter: folding it away would lose its initializer's name
        if family(ir, n) == "Dropout" and d["attrs"].get("mc") and d["attrs"].get("p", 0.0) > 0.0:
            continue   # random on every run: not a constant
        if all(src in const for src, _ in ir.inputs_of(n)):
            const.add(n)
    return const


def fold_constants(ir: IR) -> int:
    """Evaluate at compile time every node that depends on no graph input.

    A node is constant when all its inputs are (a `Constant` node is; Monte
    Carlo dropout never is, and neither is a `param`, which stays a named,
    bindable initializer, nor anything computed from one). The constant nodes that are not already
    `Constant` are evaluated together, by lowering them to ONNX and running
    onnxruntime once, and every constant tensor that a non-constant node or
    a graph output reads is replaced by a `Constant` node holding its value,
    a plain initializer. The folded nodes, and Constants nothing reads any
    more, are removed.

    On an elaborated program this never fires today: every layer takes at
    least one tensor, and every tensor comes from an `input` declaration, so
    nothing is constant. It is there for IRs that contain `Constant` nodes
    (made by passes or by a future constant-producing construct).
    Returns the number of non-Constant nodes folded away."""
    const = _constant_nodes(ir)
    folded = [n for n in ir.order() if n in const and ir.node(n)["kind"] != "Constant"]
    if not folded:
        return 0
    frontier = []
    for n in folded:
        for port in range(len(ir.node(n)["shapes"])):
            readers = [v for v, _ in ir.consumers(n, port)]
            if any(v not in const for v in readers) or any(o.node == n and o.port == port for o in ir.outputs):
                frontier.append((n, port))
    values = _evaluate(ir, const, frontier)
    for (n, port), value in zip(frontier, values):
        d = ir.node(n)
        name = d["name"] if len(d["shapes"]) == 1 else f"{d['name']}:{port}"
        c = constant_node(ir, name, value, d["span"])
        ir.redirect(n, port, c, 0)
    ir.g.remove_nodes_from(folded)
    for n in [n for n in const if n in ir.g]:
        if not ir.consumers(n) and not any(o.node == n for o in ir.outputs):
            ir.g.remove_node(n)
    return len(folded)


def _evaluate(ir: IR, nodes: set, wanted: list) -> list:
    """The values of the (node, port) pairs `wanted`, computed by lowering
    the constant nodes alone and running them on onnxruntime."""
    import onnxruntime as ort

    from ..lower import lower

    sub = IR(ir.name + "_constants")
    sub.g = ir.g.subgraph(nodes).copy()
    sub._next = ir._next
    sub.outputs = [GraphOutput(f"nnd_constant_{i}", n, port, None) for i, (n, port) in enumerate(wanted)]
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(lower(sub).SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {})
