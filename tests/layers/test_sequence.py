"""RNN, LSTM, GRU and MultiheadAttention beyond the reference cases: a
symbolic sequence length that one model runs at several lengths, PyTorch
state_dicts binding by name, and the shape rules' diagnostics."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import nnd
from helpers import rel_err, run_onnx


def _model(shapes: list[str], expr: str, n_out: int) -> str:
    decls = "\n".join(f"    input x{i}: {s}" for i, s in enumerate(shapes))
    src = "x0" if len(shapes) == 1 else "(" + ", ".join(f"x{i}" for i in range(len(shapes))) + ")"
    outs = ", ".join(f"y{i}" for i in range(n_out))
    return f"model M {{\n{decls}\n    output {outs} = {src} -> {expr} as layer\n}}\n"


@pytest.mark.parametrize("expr,shapes,want,dims", [
    ("LSTM(4, num_layers = 2, bidirectional = true)", ["[T, N, 3]"], ["[T, N, 8]", "[4, N, 4]", "[4, N, 4]"],
     [{"T": 5, "N": 2}, {"T": 7, "N": 3}, {"T": 1, "N": 2}]),
    ("GRU(5, batch_first = true)", ["[N, T, 3]"], ["[N, T, 5]", "[1, N, 5]"], [{"T": 6, "N": 2}, {"T": 2, "N": 1}]),
    ("RNN(3, num_layers = 2)", ["[T, 2, 4]", "[2, 2, 3]"], ["[T, 2, 3]", "[2, 2, 3]"], [{"T": 4}, {"T": 7}]),
    ("MultiheadAttention(8, 2, causal = true)", ["[T, N, 8]"], ["[T, N, 8]"], [{"T": 5, "N": 2}, {"T": 9, "N": 1}]),
    ("MultiheadAttention(6, 3, batch_first = true, causal = true, need_weights = true)",
     ["[N, L, 6]", "[N, S, 6]", "[N, S, 6]"], ["[N, L, 6]", "[N, L, S]"],
     [{"N": 2, "L": 3, "S": 5}, {"N": 1, "L": 6, "S": 6}]),
])
def test_symbolic_sequence_length_runs_at_several_lengths(expr, shapes, want, dims):
    torch = pytest.importorskip("torch")
    import onnx
    from nnd.api import build
    from nnd.layers import REGISTRY
    from nnd.lower import lower
    from nnd.shapes import fmt_shape

    ir, _ = build(text=_model(shapes, expr, len(want)), seed=2, optimize=False)
    node = next(d for _, d in ir.g.nodes(data=True) if d["name"] == "layer")
    assert [fmt_shape(s) for s in node["shapes"]] == want
    model = lower(ir)
    onnx.checker.check_model(model, full_check=True)
    ref = REGISTRY[node["kind"]].reference(node["attrs"])
    params = {k: torch.from_numpy(np.array(v)) for k, v in node["arrays"].items()}
    rng = np.random.default_rng(0)
    for sizes in dims:
        xs = [rng.standard_normal([int(d) if d.isdigit() else sizes[d] for d in s.strip("[]").split(", ")])
              .astype(np.float32) for s in shapes]
        got = run_onnx(model, {f"x{i}": x for i, x in enumerate(xs)})
        with torch.no_grad():
            wants = ref([torch.from_numpy(x) for x in xs], params)
        assert len(got) == len(wants)
        for g, w in zip(got, wants):
            assert rel_err(g, w.numpy()) <= 1e-5


SEQ_MODEL = """
model Tagger {
    input tokens: [N, T, 6]
    out, h, c = tokens -> LSTM(5, num_layers = 2, batch_first = true, bidirectional = true) as lstm
    a = out -> MultiheadAttention(10, 2, batch_first = true, causal = true) as attn
    output y = a -> Linear(3) as fc
    output state = h
}
"""


class _Twin:
    """The same network in PyTorch, with the module names the program gives."""

    def __init__(self, torch):
        self.lstm = torch.nn.LSTM(6, 5, num_layers=2, batch_first=True, bidirectional=True)
        self.attn = torch.nn.MultiheadAttention(10, 2, batch_first=True)
        self.fc = torch.nn.Linear(10, 3)
        self.mods = {"lstm": self.lstm, "attn": self.attn, "fc": self.fc}

    def state_dict(self) -> dict:
        return {f"{m}.{k}": v.detach().numpy() for m, mod in self.mods.items() for k, v in mod.state_dict().items()}

    def __call__(self, torch, x):
        out, (h, _) = self.lstm(x)
        t = x.shape[1]
        mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        a, _ = self.attn(out, out, out, need_weights=False, attn_mask=mask)
        return self.fc(a), h


def test_torch_state_dict_binds_by_name_and_matches(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    twin = _Twin(torch)
    sd = twin.state_dict()
    assert {"lstm.weight_ih_l1_reverse", "attn.in_proj_weight", "attn.out_proj.weight"} <= set(sd)
    path = str(tmp_path / "w.npz")
    np.savez(path, **sd)
    model = nnd.compile(text=SEQ_MODEL, weights=path)
    x = np.random.default_rng(1).standard_normal((2, 7, 6)).astype(np.float32)
    y, state = run_onnx(model, {"tokens": x})
    with torch.no_grad():
        wy, wh = twin(torch, torch.from_numpy(x))
    assert rel_err(y, wy.numpy()) <= 1e-5
    assert rel_err(state, wh.numpy()) <= 1e-5


def test_nndc_model_keeps_torch_names_and_binds_back(tmp_path):
    """The ONNX initializers are the parameters under PyTorch's names (the
    gate reordering is a Gather in the graph), so a compiled model is itself a
    weights file for the same program."""
    donor = nnd.compile(text=SEQ_MODEL, seed=5)
    names = {i.name for i in donor.graph.initializer}
    assert {"lstm.weight_ih_l0", "lstm.bias_hh_l1_reverse", "attn.in_proj_bias", "attn.out_proj.bias"} <= names
    path = str(tmp_path / "donor.onnx")
    nnd.save(donor, path)
    again = nnd.compile(text=SEQ_MODEL, weights=path, seed=9)
    x = np.random.default_rng(2).standard_normal((1, 4, 6)).astype(np.float32)
    for a, b in zip(run_onnx(donor, {"tokens": x}), run_onnx(again, {"tokens": x})):
        np.testing.assert_array_equal(a, b)


def test_separate_projection_weights_when_kdim_differs():
    from nnd.api import check
    text = _model(["[4, 2, 8]", "[3, 2, 5]", "[3, 2, 6]"], "MultiheadAttention(8, 2, kdim = 5, vdim = 6)", 1)
    node = next(d for _, d in check(text=text).ir.g.nodes(data=True) if d["name"] == "layer")
    assert {k: w.shape for k, w in node["attrs"]["weights"].items()} == {
        "q_proj_weight": (8, 8), "k_proj_weight": (8, 5), "v_proj_weight": (8, 6), "in_proj_bias": (24,),
        "out_proj.weight": (8, 8), "out_proj.bias": (8,)}


def test_check_imports_neither_numpy_nor_onnx():
    code = ("import sys, nnd; r = nnd.check(text=%r); "
            "print(r.ok, [m for m in ('numpy', 'onnx', 'onnxruntime', 'networkx') if m in sys.modules])") % SEQ_MODEL
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "True []", r.stdout + r.stderr


@pytest.mark.parametrize("shapes,layer,code,arg,words", [
    (["[5, 2, 8]"], "MultiheadAttention(8, 3)", "E0107", "3", ["`embed_dim` 8 is not divisible by `num_heads` 3"]),
    (["[5, 2, 6]"], "MultiheadAttention(8, 2)", "E0311", None, ["query's last dimension is 6", "`embed_dim` is 8"]),
    (["[5, 8]"], "MultiheadAttention(8, 2)", "E0310", None, ["expects the query as [L, N, E]", "[5, 8]"]),
    (["[N, 5, 8]"], "MultiheadAttention(8, 2, batch_first = true, add_bias_kv = true)", "E0107",
     "add_bias_kv = true", ["not supported"]),
    (["[4, 2, 8]", "[3, 2, 8]", "[5, 2, 8]"], "MultiheadAttention(8, 2)", "E0311", None,
     ["key and the value have different lengths: 3 and 5"]),
    (["[4, 2, 8]", "[3, 2, 4]", "[3, 2, 8]"], "MultiheadAttention(8, 2)", "E0311", None,
     ["key's last dimension is 4, but `kdim` is 8"]),
    (["[4, 2, 8]", "[4, 2, 8]"], "MultiheadAttention(8, 2)", "E0115", None, ["one tensor", "got 2"]),
    (["[T, N, K]"], "LSTM(4)", "E0305", None, ["concrete input size", "`K`"]),
    (["[N, 8]"], "GRU(4)", "E0310", None, ["`GRU` expects [T, N, features], got [N, 8]"]),
    (["[5, 2, 3]", "[1, 2, 4]"], "LSTM(4)", "E0115", None, ["optionally followed by `h0` and `c0`", "got 2"]),
    (["[5, 2, 3]", "[1, 2, 4]", "[2, 2, 4]"], "LSTM(4)", "E0311", None,
     ["`c0` of shape [1, 2, 4]", "got [2, 2, 4]"]),
    (["[5, 2, 3]"], "LSTM(4, nonlinearity = \"relu\")", "E0107", "nonlinearity = \"relu\"",
     ["parameter of `RNN`, not `LSTM`"]),
    (["[5, 2, 3]"], "RNN(0)", "E0107", "0", ["`hidden_size` must be positive"]),
    (["[5, 2, 3]"], "GRU(4, dropout = 1.5)", "E0107", "dropout = 1.5", ["[0, 1)"]),
])
def test_diagnostics(shapes, layer, code, arg, words):
    decls = "\n".join(f"    input x{i}: {s}" for i, s in enumerate(shapes))
    src = "x0" if len(shapes) == 1 else "(" + ", ".join(f"x{i}" for i in range(len(shapes))) + ")"
    line = f"    y = {src} -> {layer}"
    text = f"model M {{\n{decls}\n{line}\n    output z = x0\n}}\n"
    res = nnd.check(text=text)
    assert [d.code for d in res.errors] == [code], [d.message for d in res.errors]
    d = res.errors[0]
    assert d.span.line == len(shapes) + 2
    assert line[d.span.column - 1:d.span.end_column - 1] == (arg if arg is not None else layer), d.message
    for w in words:
        assert w in d.message, d.message


FUSABLE = """
model Block {
    input x: [N, S, 64]
    a = x -> LayerNorm(64) -> MultiheadAttention(64, 4, batch_first = true) as attn
    output y = (a + x) -> LayerNorm(64)
}
"""


def test_self_attention_fuses_in_onnxruntime_transformer_optimizer(tmp_path):
    """The lowering is the pattern of BERT's exports (MatMul + Add
    projections, Reshape and Transpose to heads, MatMul / sqrt(head_dim),
    Softmax): onnxruntime's optimizer makes one Attention op of it, which
    computes the same."""
    pytest.importorskip("onnxruntime.transformers.optimizer")
    from onnxruntime.transformers import optimizer
    path = str(tmp_path / "block.onnx")
    model = nnd.compile(text=FUSABLE, seed=3)
    nnd.save(model, path)
    fused = optimizer.optimize_model(path, model_type="bert", num_heads=4, hidden_size=64, opt_level=1).model
    ops = [n.op_type for n in fused.graph.node]
    assert "Attention" in ops and "Softmax" not in ops, ops
    x = np.random.default_rng(3).standard_normal((2, 5, 64)).astype(np.float32)
    assert rel_err(run_onnx(fused, {"x": x})[0], run_onnx(model, {"x": x})[0]) <= 1e-5


def test_onnxruntime_folds_the_weight_reordering(tmp_path):
    """The gate reordering (Gather), the split of in_proj_weight and the
    weight Transposes read only initializers: onnxruntime's basic
    optimizations fold them, leaving the LSTM ops and the attention's
    MatMuls on plain constants."""
    import onnx
    import onnxruntime as ort
    from collections import Counter
    before = nnd.compile(text=SEQ_MODEL)
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    ort.InferenceSession(before.SerializeToString(), so, providers=["CPUExecutionProvider"])
    was = Counter(n.op_type for n in before.graph.node)
    now = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    assert was["Gather"] == 16 and was["Split"] == 2
    assert now["Gather"] == 0 and now["Split"] == 0 and now["LSTM"] == 2
    assert now["Transpose"] == was["Transpose"] - 4   # the q, k, v and out projection weights
