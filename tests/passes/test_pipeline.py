"""The whole pipeline: -O0 vs -O1, the emitted graph's properties, the report."""

from __future__ import annotations

import copy
import inspect

import onnx
import pytest

from nnd import api
from nnd.cli import format_report, main
from nnd.passes import PIPELINE, run_pipeline
from pass_helpers import BASIC_BLOCK, assert_same_outputs, build, lower, ops, weight_inputs_are_initializers

RESNET = BASIC_BLOCK + """model R(classes = 10) {
    input image: [N, 3, 28, 28]
    f = image -> Conv2d(8, 3, padding = 1, bias = false) as conv1 -> BatchNorm2d as bn1 -> ReLU
        -> MaxPool2d(3, stride = 2, padding = 1)
        -> Basic(8) as layer1 -> Basic(16, stride = 2) as layer2 -> Basic(16) as layer3
    output logits = f -> AvgPool2d(7) as avgpool -> Flatten -> Dropout(0.5) -> Linear(classes) as fc
        -> BatchNorm1d as head_bn
}
"""


def test_every_pass_is_a_documented_verb_first_function():
    assert len({p.__name__ for p in PIPELINE}) == len(PIPELINE)
    for p in PIPELINE:
        assert p.__name__.split("_")[0] in ("eliminate", "fold", "fuse"), p.__name__
        assert p.__doc__ and "Returns" in p.__doc__, p.__name__
        params = list(inspect.signature(p).parameters.values())
        assert params[0].name == "ir" and all(q.kind == q.KEYWORD_ONLY for q in params[1:]), p.__name__


def test_resnet_optimizes_and_keeps_its_outputs():
    ir = build(RESNET)
    opt = copy.deepcopy(ir)
    report = []
    run_pipeline(opt, report)
    before, after = lower(ir), lower(opt)
    assert_same_outputs(before, after)
    assert ops(before)["BatchNormalization"] == 9 and "BatchNormalization" not in ops(after)
    assert ops(after) == {"Conv": 8, "Relu": 7, "Add": 3, "MaxPool": 1, "GlobalAveragePool": 1,
                          "Flatten": 1, "Gemm": 1}
    rows = {name: changed for name, changed, _, _ in report}
    assert [r[0] for r in report] == [p.__name__ for p in PIPELINE]
    assert rows["fold_batchnorm_into_conv"] == 8 and rows["fold_batchnorm_into_linear"] == 1
    assert rows["eliminate_dropout"] == 1 and rows["eliminate_noop_pooling"] == 1
    for (_, _, _, a), (_, _, b, _) in zip(report, report[1:]):
        assert a == b
    assert report[0][2] == ir.g.number_of_nodes() and report[-1][3] == opt.g.number_of_nodes()
    assert ir.g.number_of_nodes() - opt.g.number_of_nodes() == 10   # 9 BatchNorms and a Dropout


def test_emitted_graph_is_plain():
    """Weights and biases are initializers, standard ONNX ops only, static
    shapes but the declared symbolic batch; passes the full checker and
    strict shape inference."""
    model = api.compile(text=RESNET)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    assert not weight_inputs_are_initializers(model)
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    assert [o.domain for o in model.opset_import] == [""]
    (inp,) = model.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [3, 28, 28]
    names = {i.name for i in model.graph.initializer}
    assert "conv1.bias" in names and "fc.bias" in names and not any(".running_mean" in n for n in names)


def test_o0_keeps_the_exact_structure():
    report = []
    m0 = api.compile(text=RESNET, optimize=False, report=report)
    assert report == []
    assert ops(m0)["BatchNormalization"] == 9 and ops(m0)["AveragePool"] == 1
    assert {"bn1.running_mean", "layer1.bn1.weight"} <= {i.name for i in m0.graph.initializer}


def test_cli_report_table(tmp_path, capsys):
    src = tmp_path / "r.nnd"
    src.write_text(RESNET)
    assert main(["compile", str(src), "-o", str(tmp_path / "r.onnx"), "--report"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["pass", "rewrites", "nodes", "->", "after"]
    for p in PIPELINE:
        assert any(line.split()[0] == p.__name__ for line in lines), p.__name__
    total = next(line for line in lines if line.startswith("total")).split()
    # 33 IR nodes; 11 rewrites: 9 BatchNorms folded, the Dropout removed, the
    # AvgPool made global; 10 nodes removed
    assert total == ["total", "11", "33", "->", "23"]
    assert main(["compile", str(src), "-o", str(tmp_path / "r0.onnx"), "--report", "-O0"]) == 0
    assert "optimization passes disabled (-O0)" in capsys.readouterr().out


def test_format_report_totals():
    text = format_report([("a_pass", 2, 10, 8), ("b_pass", 0, 8, 8), ("c_pass", 3, 8, 6)])
    lines = text.splitlines()
    assert lines[2].split() == ["a_pass", "2", "10", "->", "8"]
    assert lines[-1].split() == ["total", "5", "10", "->", "6"]
    assert format_report([]) == "no passes ran"


def test_cli_passes_keep_training_outputs(tmp_path, monkeypatch):
    seen = {}
    real = api.compile

    def spy(*a, **kw):
        seen.update(kw)
        return real(*a, **kw)
    monkeypatch.setattr(api, "compile", spy)
    src = tmp_path / "r.nnd"
    src.write_text(RESNET)
    assert main(["compile", str(src), "-o", str(tmp_path / "r.onnx"), "--keep-training-outputs"]) == 0
    assert seen["keep_training_outputs"] is True
    assert main(["compile", str(src), "-o", str(tmp_path / "r.onnx")]) == 0
    assert seen["keep_training_outputs"] is False


@pytest.mark.parametrize("keep", [False, True])
def test_build_drops_training_outputs_unless_kept(keep, monkeypatch):
    text = """model T {
    input x: [N, 6]
    h = x -> Linear(8) -> ReLU
    output y = h -> Linear(2)
    output aux = h -> Linear(3)
}
"""
    from nnd import elaborate
    real = elaborate.Elaborator.elaborate

    def mark(self, *a, **kw):   # what the language will do for a training-only output
        ir = real(self, *a, **kw)
        for o in ir.outputs:
            o.training_only = o.name == "aux"
        return ir
    monkeypatch.setattr(elaborate.Elaborator, "elaborate", mark)
    model = api.compile(text=text, keep_training_outputs=keep)
    assert [o.name for o in model.graph.output] == (["y", "aux"] if keep else ["y"])
    assert ops(model)["Gemm"] == (3 if keep else 2)


def test_linear_over_sequences_keeps_a_plain_weight():
    """Linear over [N, T, F] (and [N, C, H, W]) lowers to Gemm on the [out, in]
    initializer between two Reshapes, not MatMul on a Transpose of it."""
    for shape in ("[N, 5, 8]", "[N, 2, 5, 8]"):
        model = api.compile(text=f"model S {{\n    input x: {shape}\n    output y = x -> Linear(3) as fc\n}}\n")
        assert ops(model) == {"Reshape": 2, "Gemm": 1}
        assert not weight_inputs_are_initializers(model)
