"""Attention: multi-head attention as PyTorch's nn.MultiheadAttention."""

from __future__ import annotations

import math

from ..shapes import fmt_shape, is_concrete
from .base import P, Case, Layer, ShapeError, Weight, _show, fan_in_bound, register


@register
class MultiheadAttention(Layer):
    """Multi-head scaled dot-product attention (PyTorch's
    nn.MultiheadAttention at inference). `x -> MultiheadAttention(E, heads)`
    is self-attention (query = key = value = x); `(q, k, v) ->
    MultiheadAttention(...)` attends from q to k and v. Inputs are
    `[L, N, E]` (query) and `[S, N, kdim]`, `[S, N, vdim]` (key, value), or
    batch first with `batch_first = true`; L and S may be symbolic. The
    output has the query's shape. With `need_weights = true` a second output
    holds the attention weights averaged over the heads, `[N, L, S]`
    (PyTorch's `need_weights=True, average_attn_weights=True`); by default
    there is one output, as `need_weights=False` (PyTorch's default is
`True`; one output is what chains into the next layer).

    Weights as PyTorch's, under its names: `in_proj_weight` `[3E, E]` and
    `in_proj_bias` `[3E]` (q, k, v stacked), `out_proj.weight` `[E, E]` and
    `out_proj.bias` `[E]`; when `kdim` or `vdim` differ from E,
    `q_proj_weight` `[E, E]`, `k_proj_weight` `[E, kdim]`, `v_proj_weight`
    `[E, vdim]` replace `in_proj_weight`. Initialized as PyTorch does (Xavier
    uniform projections, zero biases). `causal = true` masks each query
    position from the keys after it (PyTorch's
    `attn_mask=torch.triu(full((L, S), -inf), 1)`); the mask is made in the
    graph from the runtime sizes, so it follows a symbolic L. Key-padding and
    attention-mask inputs need boolean tensors, which the language does not
    have yet; they will be further inputs after q, k, v. `dropout` (on the
    attention weights in training) is the identity here; `add_bias_kv` and
    `add_zero_attn` are not supported.

    Lowered to plain ONNX ops in the pattern of BERT's exports: MatMul + Add
    for each projection (the weight Transposes and the split of
    `in_proj_weight` are constant subgraphs that onnxruntime folds at load),
    Reshape and Transpose to `[N, heads, seq, head_dim]`, MatMul of Q and
    K^T divided by sqrt(head_dim), Softmax, MatMul with V, Transpose and
    Reshape back, the output projection. onnxruntime's transformer optimizer
    (`optimize_model(..., model_type="bert", opt_level=1)`) fuses
    self-attention between LayerNorms into one `Attention` op; the causal
    mask (`Expand` of -inf, `Trilu`) is not a pattern it knows, so causal
    attention stays unfused."""

    names = {"MultiheadAttention": None}
    params = (P("embed_dim", "int", doc="E, the model width; the query's last dimension"),
              P("num_heads", "int", doc="must divide `embed_dim`"),
              P("dropout", "float", 0.0, doc="on the attention weights in training; the identity here"),
              P("bias", "bool", True),
              P("add_bias_kv", "bool", False, doc="only `false`"),
              P("add_zero_attn", "bool", False, doc="only `false`"),
              P("kdim", "any", None, doc="the key's last dimension (default `embed_dim`)"),
              P("vdim", "any", None, doc="the value's last dimension (default `embed_dim`)"),
              P("batch_first", "bool", False, doc="inputs and output are [N, L, E] instead of [L, N, E]"),
              P("causal", "bool", False, doc="query position i attends to key positions <= i only"),
              P("need_weights", "bool", False, doc="a second output: the weights averaged over the heads"))
    n_inputs = None
    inputs_doc = "Takes one tensor (self-attention) or three (query, key, value)."
    cases = [Case("MultiheadAttention(8, 2)", [[5, 3, 8]]),
             Case("MultiheadAttention(8, 4, batch_first = true)", [[3, 5, 8]]),
             Case("MultiheadAttention(6, 3, causal = true)", [[7, 2, 6]]),
             Case("MultiheadAttention(8, 2, batch_first = true, causal = true, need_weights = true)", [[2, 6, 8]]),
             Case("MultiheadAttention(8, 2, bias = false)", [[4, 2, 8], [6, 2, 8], [6, 2, 8]]),
             Case("MultiheadAttention(6, 2, kdim = 4, vdim = 5, batch_first = true)",
                  [[2, 3, 6], [2, 7, 4], [2, 7, 5]]),
             Case("MultiheadAttention(4, 1, causal = true, need_weights = true)", [[5, 2, 4], [3, 2, 4], [3, 2, 4]])]

    def n_outputs(self, a):
        return 2 if a.get("need_weights") is True else 1

    def validate(self, a):
        for name in ("embed_dim", "num_heads"):
            if a[name] <= 0:
                raise ShapeError("E0107", f"`{name}` must be positive; got {a[name]}", arg=name)
        if a.embed_dim % a.num_heads:
            raise ShapeError("E0107", f"`embed_dim` {a.embed_dim} is not divisible by `num_heads` {a.num_heads}",
                             arg="num_heads", help="each head gets embed_dim / num_heads features")
        if not 0.0 <= a.dropout < 1.0:
            raise ShapeError("E0107", f"dropout probability must be in [0, 1); got {a.dropout}", arg="dropout")
        for name in ("add_bias_kv", "add_zero_attn"):
            if a[name]:
                raise ShapeError("E0107", f"`{name} = true` is not supported", arg=name)
        for name in ("kdim", "vdim"):
            v = a[name]
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
                raise ShapeError("E0107", f"`{name}` must be a positive integer; got {_show(v)}", arg=name)

    def infer(self, a, ins):
        self.validate(a)
        if len(ins) not in (1, 3):
            raise ShapeError("E0115", f"`MultiheadAttention` takes one tensor (self-attention) or three "
                             f"(query, key, value); got {len(ins)}")
        q, k, v = ins if len(ins) == 3 else ins * 3
        e = a.embed_dim
        a.kd = e if a.kdim is None else a.kdim
        a.vd = e if a.vdim is None else a.vdim
        layout = "[N, L, E]" if a.batch_first else "[L, N, E]"
        seq, batch = (1, 0) if a.batch_first else (0, 1)
        for what, x, want in (("query", q, e), ("key", k, a.kd), ("value", v, a.vd)):
            if len(x) != 3:
                raise ShapeError("E0310", f"`MultiheadAttention` expects the {what} as {layout}, got "
                                 f"{fmt_shape(x)}")
            if x[2] != want:
                arg = {"query": "embed_dim", "key": "kdim", "value": "vdim"}[what]
                given = arg == "embed_dim" or a[arg] is not None
                help = "the feature dimension must be a concrete size" if not is_concrete(x[2]) else \
                    None if given else f"for a {what} of another width, write `{arg} = {x[2]}`"
                raise ShapeError("E0311", f"the {what}'s last dimension is {x[2]}, but `{arg}` is {want}"
                                 f"{'' if given else ' (`embed_dim`, as it is not given)'}", dim=2, help=help)
            if x[batch] != q[batch]:
                raise ShapeError("E0311", f"the {what} has batch size {x[batch]}, the query {q[batch]}", dim=batch)
        if k[seq] != v[seq]:
            raise ShapeError("E0311", f"the key and the value have different lengths: {k[seq]} and {v[seq]}",
                             dim=seq)
        w = a.weights
        if a.kd == e and a.vd == e:
            w["in_proj_weight"] = Weight((3 * e, e), bound=math.sqrt(6.0 / (4 * e)))   # xavier_uniform
        else:
            for name, fin in (("q", e), ("k", a.kd), ("v", a.vd)):
                w[f"{name}_proj_weight"] = Weight((e, fin), bound=math.sqrt(6.0 / (e + fin)))
        if a.bias:
            w["in_proj_bias"] = Weight((3 * e,), init="const")
        w["out_proj.weight"] = Weight((e, e), bound=fan_in_bound(e))
        if a.bias:
            w["out_proj.bias"] = Weight((e,), init="const")
        outs = [tuple(q)]
        if a.need_weights:
            outs.append((q[batch], q[seq], k[seq]))
        return outs

    def lower(self, e, a, ins):
        E, heads = a.embed_dim, a.num_heads
        hd = E // heads
        bf = (lambda t: t) if a.batch_first else (lambda t: e.op("Transpose", [t], perm=[1, 0, 2]))
        q = bf(ins[0])
        k, v = (q, q) if len(ins) == 1 else (bf(ins[1]), bf(ins[2]))   # all [N, seq, features]
        if "in_proj_weight" in a.weights:
            ws = e.op("Split", [e.weight("in_proj_weight"), e.const([E, E, E])], n_out=3, axis=0)
        else:
            ws = [e.weight(f"{n}_proj_weight") for n in "qkv"]
        bs = e.op("Split", [e.weight("in_proj_bias"), e.const([E, E, E])], n_out=3, axis=0) if a.bias \
            else [None] * 3

        def project(x, w, b):   # x W^T + b; the Transpose of a weight is folded by onnxruntime
            y = e.op("MatMul", [x, e.op("Transpose", [w], perm=[1, 0])])
            return e.op("Add", [y, b]) if b is not None else y

        heads_shape = e.const([0, 0, heads, hd])
        split = lambda t, perm: e.op("Transpose", [e.op("Reshape", [t, heads_shape])], perm=perm)  # noqa: E731
        qh = split(project(q, ws[0], bs[0]), [0, 2, 1, 3])    # [N, h, L, hd]
        kh = split(project(k, ws[1], bs[1]), [0, 2, 3, 1])    # [N, h, hd, S]
        vh = split(project(v, ws[2], bs[2]), [0, 2, 1, 3])    # [N, h, S, hd]
        # Div by sqrt(head_dim), as BERT's exports: the pattern onnxruntime's attention fusion matches.
        scores = e.op("Div", [e.op("MatMul", [qh, kh]), e.const(math.sqrt(hd), dtype="float32", hint="scale")])
        if a.causal:
            scores = e.op("Add", [scores, causal_mask(e, q, k, 1)])
        probs = e.op("Softmax", [scores], axis=-1)
        ctx = e.op("Transpose", [e.op("MatMul", [probs, vh])], perm=[0, 2, 1, 3])
        ctx = e.op("Reshape", [ctx, e.const([0, 0, E])])
        out = project(ctx, e.weight("out_proj.weight"), e.weight("out_proj.bias") if a.bias else None)
        outs = [bf(out)]
        if a.need_weights:
            outs.append(e.op("ReduceMean", [probs, e.const([1])], keepdims=0))
        return outs

    def reference(self, a):
        import torch

        def run(xs, params):
            m = torch.nn.MultiheadAttention(a.embed_dim, a.num_heads, dropout=a.dropout, bias=a.bias,
                                            kdim=a.kdim, vdim=a.vdim, batch_first=a.batch_first).eval()
            m.load_state_dict(params, strict=True)
            q, k, v = xs if len(xs) == 3 else xs * 3
            mask = None
            if a.causal:
                seq = 1 if a.batch_first else 0
                mask = torch.triu(torch.full((q.shape[seq], k.shape[seq]), float("-inf")), diagonal=1)
            out, w = m(q, k, v, need_weights=a.need_weights, attn_mask=mask)
            return [out] + ([w] if a.need_weights else [])
        return run


def causal_mask(e, q: str, k: str, axis: int) -> str:
    """An [L, S] mask from the runtime sizes of q's and k's `axis`: -inf above
    the diagonal, 0 elsewhere (torch.triu(full(-inf), diagonal=1))."""
    end = axis + 1 if axis != -1 else None
    size = (lambda t: e.op("Shape", [t], start=axis, end=end)) if end is not None else \
        (lambda t: e.op("Shape", [t], start=axis))
    full = e.op("Expand", [e.const(float("-inf"), dtype="float32", hint="neg_inf"),
                           e.op("Concat", [size(q), size(k)], axis=0)])
    return e.op("Trilu", [full, e.const(1)], upper=1)
