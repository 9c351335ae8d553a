"""eliminate_dead_nodes, and training-only outputs."""

from __future__ import annotations

from nnd.passes import eliminate_dead_nodes, run_pipeline
from pass_helpers import apply, build, ops

AUX = """model T {
    input x: [N, 3, 8, 8]
    f = x -> Conv2d(4, 3, padding = 1) -> ReLU
    output logits = f -> GlobalAvgPool -> Flatten -> Linear(5) as fc
    output aux = f -> MaxPool2d(2) -> Flatten -> Linear(16) -> ReLU -> Linear(5) as aux_fc
}
"""


def mark_aux(ir):
    next(o for o in ir.outputs if o.name == "aux").training_only = True
    return ir


def test_unused_layers_are_removed():
    text = """model T {
    input x: [N, 6]
    unused = x -> Linear(3) -> ReLU
    output y = x -> Linear(4)
}
"""
    ir = build(text)
    changed, before, after, opt = apply(ir, eliminate_dead_nodes)
    assert changed == 2
    assert ops(before) == {"Gemm": 2, "Relu": 1} and ops(after) == {"Gemm": 1}
    assert opt.g.number_of_nodes() == 2


def test_training_only_outputs_are_dropped_with_their_head():
    ir = mark_aux(build(AUX))
    changed, before, after, opt = apply(ir, eliminate_dead_nodes)
    assert changed == 5   # MaxPool, Flatten, Linear, ReLU, Linear
    assert [o.name for o in after.graph.output] == ["logits"]
    assert [o.name for o in opt.outputs] == ["logits"]
    assert ops(before)["Gemm"] == 3 and ops(after)["Gemm"] == 1 and "MaxPool" not in ops(after)


def test_training_only_outputs_are_kept_when_asked():
    ir = mark_aux(build(AUX))
    changed, _, after, _ = apply(ir, eliminate_dead_nodes, keep_training_outputs=True)
    assert changed == 0 and [o.name for o in after.graph.output] == ["logits", "aux"]
    report = []
    run_pipeline(ir, report, keep_training_outputs=True)
    assert [o.name for o in ir.outputs] == ["logits", "aux"]
    assert report[0][0] == "eliminate_dead_nodes" and report[0][1] == 0


def test_outputs_not_marked_are_kept():
    ir = build(AUX)
    assert eliminate_dead_nodes(ir) == 0 and [o.name for o in ir.outputs] == ["logits", "aux"]


def test_a_model_of_training_outputs_only_keeps_them():
    ir = build(AUX)
    for o in ir.outputs:
        o.training_only = True
    assert eliminate_dead_nodes(ir) == 0 and len(ir.outputs) == 2


def test_unused_inputs_stay_in_the_interface():
    text = """model T {
    input x: [N, 6]
    input mask: [N, 6]
    output y = x -> Linear(4)
}
"""
    ir = build(text)
    changed, _, after, _ = apply(ir, eliminate_dead_nodes)
    assert changed == 0 and [i.name for i in after.graph.input] == ["x", "mask"]
