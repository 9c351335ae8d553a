"""Element types: declared on inputs, carried through the IR to the ONNX
types, checked by layers; Embedding's initialization; attention masks; the
runtime's integer and bool inputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from helpers import compile_text, run_onnx

TAGGER = """
model Tagger(vocab = 50) {
    input ids: [N, 7] int64
    input pad: [N, 7] bool
    x = ids -> Embedding(vocab, 8, padding_idx = 0)
    output tags = (x, pad) -> MultiheadAttention(8, 2, batch_first = true, key_padding_mask = true)
}
"""


def test_dtypes_reach_the_ir_and_the_onnx_types():
    from onnx import TensorProto
    from nnd.api import build
    ir, _ = build(text=TAGGER, optimize=False)
    assert [ir.dtype_of(n) for n in ir.inputs] == ["int64", "bool"]
    m = compile_text(TAGGER)
    types = {i.name: i.type.tensor_type.elem_type for i in m.graph.input}
    assert types == {"ids": TensorProto.INT64, "pad": TensorProto.BOOL}
    assert m.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert {p.key: p.value for p in m.metadata_props}.get("nnd.input_high") == "ids=50"


def test_integer_merges_keep_their_dtype():
    from onnx import TensorProto
    text = ("model M {\n    input a: [N, 3] int32\n    input b: [N, 3] int32\n"
            "    output s = a + b\n    output c = concat(a, b)\n}\n")
    m = compile_text(text)
    assert [o.type.tensor_type.elem_type for o in m.graph.output] == [TensorProto.INT32] * 2
    a, b = np.arange(6, dtype=np.int32).reshape(2, 3), np.ones((2, 3), np.int32)
    s, c = run_onnx(m, {"a": a, "b": b})
    assert s.dtype == np.int32 and (s == a + b).all() and (c == np.concatenate([a, b], 1)).all()


def test_summary_shows_non_float_dtypes(tmp_path):
    p = tmp_path / "t.nnd"
    p.write_text(TAGGER)
    out = subprocess.run([sys.executable, "-m", "nnd", "summary", str(p)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "[N, 7] int64" in out.stdout and "[N, 7] bool" in out.stdout
    assert "[N, 7, 8] " in out.stdout and "[N, 7, 8] float32" not in out.stdout


def test_embedding_init_is_normal_with_the_padding_row_zeroed():
    from nnd.api import build
    from nnd.weights import materialize
    text = "model M {\n    input ids: [N] int64\n    output y = ids -> Embedding(400, 50, padding_idx = -3) as emb\n}\n"
    ir, _ = build(text=text, optimize=False, seed=1)
    materialize(ir, 1)
    w = next(d for _, d in ir.nodes() if d["name"] == "emb")["arrays"]["weight"]
    assert w.shape == (400, 50) and not w[397].any()
    rest = np.delete(w, 397, axis=0)
    assert abs(rest.mean()) < 0.02 and abs(rest.std() - 1.0) < 0.02


@pytest.mark.parametrize("batch_first", [False, True])
def test_fully_masked_query_gives_zeros_where_torch_may_give_nan(batch_first):
    """torch gives zeros (then the output projection) on its math path and
    NaN on its fast path (batch_first self-attention at inference); nnd
    always gives zeros."""
    torch = pytest.importorskip("torch")
    from nnd.api import build
    from nnd.lower import lower
    shape = "[2, 5, 8]" if batch_first else "[5, 2, 8]"
    text = (f"model M {{\n    input x: {shape}\n    input m: [5, 5] bool\n"
            f"    output y = (x, m) -> MultiheadAttention(8, 2, batch_first = {str(batch_first).lower()}, "
            f"attn_mask = true) as attn\n}}\n")
    ir, _ = build(text=text, optimize=False, seed=2)
    node = next(d for _, d in ir.g.nodes(data=True) if d["name"] == "attn")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 8) if batch_first else (5, 2, 8)).astype(np.float32)
    mask = rng.random((5, 5)) < 0.3
    mask[2] = True    # query 2 may attend to nothing
    (got,) = run_onnx(lower(ir), {"x": x, "m": mask})
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first).eval()
    mha.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in node["arrays"].items()})
    with torch.no_grad():
        t = torch.from_numpy(x)
        want, _ = mha(t, t, t, attn_mask=torch.from_numpy(mask), need_weights=False)
    want = want.numpy()
    nan = np.isnan(want)
    assert not np.isnan(got).any() and (not nan.any() or nan[:, 2].all() if batch_first else not nan.any())
    bias = node["arrays"]["out_proj.bias"]
    row = got[:, 2] if batch_first else got[2]
    np.testing.assert_allclose(row, np.broadcast_to(bias, row.shape), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, np.where(nan, np.broadcast_to(bias, want.shape), want), rtol=1e-5, atol=1e-5)


def test_mask_shapes_and_counts_are_checked():
    from nnd.api import check
    text = ("model M {\n    input x: [N, 5, 8]\n    input m: [N, 4] bool\n"
            "    output y = (x, m) -> MultiheadAttention(8, 2, batch_first = true, key_padding_mask = true)\n"
            "    output z = (x, m) -> MultiheadAttention(8, 2, batch_first = true)\n}\n")
    res = check(text=text)
    msgs = [(d.code, d.message) for d in res.diagnostics]
    assert ("E0311", "`key_padding_mask` must be [N, S] = [N, 5], got [N, 4]") in msgs
    d = next(d for d in res.diagnostics if d.code == "E0115")
    assert "`key_padding_mask = true`" in d.help


def test_random_inputs_follow_the_embedding_and_masks_are_false():
    import nnd
    for _ in range(2):   # the second load comes from the session cache: the range survives it
        m = nnd.load(compile_text(TAGGER), cache=True)
        xs = m.random_inputs(64)
        assert xs["ids"].dtype == np.int64 and xs["ids"].min() >= 0 and xs["ids"].max() == 49
        assert xs["pad"].dtype == np.bool_ and not xs["pad"].any()
    plain = nnd.load(compile_text("model M {\n    input a: [N, 30] int64\n    output s = a + a\n}\n"), cache=False)
    assert set(np.unique(plain.random_inputs(4)["a"])) == {0, 1}


def test_run_converts_only_exact_values():
    import nnd
    m = nnd.load(compile_text(TAGGER), cache=False)
    pad = np.zeros((2, 7), bool)
    with pytest.raises(ValueError, match="`ids` is int64; got float32 values that are not whole numbers"):
        m.run(ids=np.full((2, 7), 0.5, np.float32), pad=pad)
    with pytest.raises(ValueError, match="`pad` is bool; got int64 values other than 0 and 1"):
        m.run(ids=np.zeros((2, 7), np.int64), pad=np.full((2, 7), 2))
    whole = m.run(ids=np.full((2, 7), 3.0, np.float32), pad=pad.astype(np.int64))["tags"]
    exact = m.run(ids=np.full((2, 7), 3, np.int64), pad=pad)["tags"]
    assert (whole == exact).all()
