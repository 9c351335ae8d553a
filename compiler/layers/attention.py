"""Attention: multi-head attention as PyTorch's nn.MultiheadAttention."""

from __future__ import annotations

import math

from ..shapes import fmt_shape, is_concrete
from .base import P, Case, Layer, ShapeError, Weight, _show, fan_in_bound, numel, register


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
    graph from the runtime sizes, so it follows a symbolic L.

    Masks are further inputs, after the query (or query, key, value), named
    by arguments: `key_padding_mask = true` takes a `[N, S]` mask (batch
    first or not, as PyTorch), then `attn_mask = true` an `[L, S]` mask:
    `(q, k, v, pad) -> MultiheadAttention(E, h, key_padding_mask = true)`,
    `(x, pad, m) -> MultiheadAttention(E, h, key_padding_mask = true,
    attn_mask = true)`. A bool mask is true where attention is not allowed
    (PyTorch's meaning); a float32 mask is added to the scores. Both add to
    `causal`. A query whose keys are all masked gets zero weights (its
    output is the output projection's bias), as PyTorch's math path gives;
    PyTorch gives NaN there with `need_weights=True` and on its fast path
    (batch-first self-attention at inference). `dropout` drops attention
    weights in training (nnd.torch in `train()`, as PyTorch) and is the
    identity in the compiled model; `add_bias_kv` and `add_zero_attn` are
    not supported.

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
              P("dropout", "float", 0.0, doc="on the attention weights in training; the identity at inference"),
              P("bias", "bool", True),
              P("add_bias_kv", "bool", False, doc="only `false`"),
              P("add_zero_attn", "bool", False, doc="only `false`"),
              P("kdim", "any", None, doc="the key's last dimension (default `embed_dim`)"),
              P("vdim", "any", None, doc="the value's last dimension (default `embed_dim`)"),
              P("batch_first", "bool", False, doc="inputs and output are [N, L, E] instead of [L, N, E]"),
              P("causal", "bool", False, doc="query position i attends to key positions <= i only"),
              P("need_weights", "bool", False, doc="a second output: the weights averaged over the heads"),
              P("key_padding_mask", "bool", False, doc="an input after q, k, v: [N, S], bool or float32"),
              P("attn_mask", "bool", False, doc="an input after that: [L, S], bool or float32"))
    n_inputs = None
    inputs_doc = ("Takes one tensor (self-attention) or three (query, key, value), then the masks its "
                  "arguments name: `key_padding_mask` [N, S], `attn_mask` [L, S] (bool or float32).")
    cases = [Case("MultiheadAttention(8, 2)", [[5, 3, 8]]),
             Case("MultiheadAttention(8, 4, batch_first = true)", [[3, 5, 8]]),
             Case("MultiheadAttention(6, 3, causal = true)", [[7, 2, 6]]),
             Case("MultiheadAttention(8, 2, batch_first = true, causal = true, need_weights = true)", [[2, 6, 8]]),
             Case("MultiheadAttention(8, 2, bias = false)", [[4, 2, 8], [6, 2, 8], [6, 2, 8]]),
             Case("MultiheadAttention(6, 2, kdim = 4, vdim = 5, batch_first = true)",
                  [[2, 3, 6], [2, 7, 4], [2, 7, 5]]),
             Case("MultiheadAttention(4, 1, causal = true, need_weights = true)", [[5, 2, 4], [3, 2, 4], [3, 2, 4]]),
             Case("MultiheadAttention(8, 2, key_padding_mask = true)", [[5, 3, 8], [3, 5]],
                  dtypes=["float32", "bool"]),
             Case("MultiheadAttention(8, 2, batch_first = true, key_padding_mask = true, need_weights = true)",
                  [[3, 4, 8], [3, 6, 8], [3, 6, 8], [3, 6]], dtypes=["float32"] * 3 + ["bool"]),
             Case("MultiheadAttention(6, 3, attn_mask = true)", [[4, 2, 6], [4, 4]], dtypes=["float32", "bool"]),
             Case("MultiheadAttention(6, 2, batch_first = true, attn_mask = true, need_weights = true)",
                  [[2, 4, 6], [4, 4]]),
             Case("MultiheadAttention(8, 2, batch_first = true, causal = true, key_padding_mask = true, "
                  "attn_mask = true)", [[2, 5, 8], [2, 5], [5, 5]], dtypes=["float32", "float32", "bool"])]

    def _masks(self, a) -> int:
        return int(a.key_padding_mask) + int(a.attn_mask)

    def input_dtypes(self, a, n):
        if n - self._masks(a) not in (1, 3):
            return [("float32", "bool")] * n   # the count is wrong: infer says so
        return [("float32",)] * (n - self._masks(a)) + [("bool", "float32")] * self._masks(a)

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
        m = self._masks(a)
        if len(ins) - m not in (1, 3):
            masks = f" and {m} mask{'s' * (m > 1)}" if m else ""
            raise ShapeError("E0115", f"`MultiheadAttention` takes one tensor (self-attention) or three "
                             f"(query, key, value){masks}; got {len(ins)}",
                             help="masks after them are named by arguments: `key_padding_mask = true` "
                                  "([N, S]), `attn_mask = true` ([L, S])")
        qkv, masks = ins[:len(ins) - m], ins[len(ins) - m:]
        q, k, v = qkv if len(qkv) == 3 else qkv * 3
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
        wanted = ([("key_padding_mask", (q[batch], k[seq]), "[N, S]")] if a.key_padding_mask else []) + \
            ([("attn_mask", (q[seq], k[seq]), "[L, S]")] if a.attn_mask else [])
        for (what, want, layout), got in zip(wanted, masks):
            if tuple(got) != want:
                raise ShapeError("E0311", f"`{what}` must be {layout} = {fmt_shape(want)}, got {fmt_shape(got)}")
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

    def macs(self, a, ins, outs):   # the q, k, v and out projections, q k^T and the scores times v
        seq, batch = (1, 0) if a.batch_first else (0, 1)
        q = ins[0]
        k = ins[1] if len(ins) - self._masks(a) == 3 else q
        n, L, S, e = q[batch], q[seq], k[seq], a.embed_dim
        return n * (L * e * e * 2 + S * e * (a.kd + a.vd) + 2 * L * S * e)

    def lower(self, e, a, ins):
        E, heads = a.embed_dim, a.num_heads
        hd = E // heads
        bf = (lambda t: t) if a.batch_first else (lambda t: e.op("Transpose", [t], perm=[1, 0, 2]))
        n_qkv = len(ins) - self._masks(a)
        q = bf(ins[0])
        k, v = (q, q) if n_qkv == 1 else (bf(ins[1]), bf(ins[2]))   # all [N, seq, features]
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
        dtypes = a.get("in_dtypes") or ["float32"] * len(ins)
        for i, (name, axes) in zip(range(n_qkv, len(ins)), self._mask_axes(a)):
            mask = ins[i]
            if dtypes[i] == "bool":   # true: not allowed, as -inf added to the score
                mask = e.op("Where", [mask, e.const(float("-inf"), dtype="float32", hint="neg_inf"),
                                      e.const(0.0, dtype="float32", hint="zero")])
            if axes:   # [N, S] -> [N, 1, 1, S]; an [L, S] mask broadcasts as it is
                mask = e.op("Unsqueeze", [mask, e.const(axes)])
            scores = e.op("Add", [scores, mask])
        probs = e.op("Softmax", [scores], axis=-1)
        if len(ins) > n_qkv:   # a query with every key masked: 0, not the NaN of a softmax over -inf
            probs = e.op("Where", [e.op("IsNaN", [probs]), e.const(0.0, dtype="float32", hint="zero"), probs])
        ctx = e.op("Transpose", [e.op("MatMul", [probs, vh])], perm=[0, 2, 1, 3])
        ctx = e.op("Reshape", [ctx, e.const([0, 0, E])])
        out = project(ctx, e.weight("out_proj.weight"), e.weight("out_proj.bias") if a.bias else None)
        outs = [bf(out)]
        if a.need_weights:
            outs.append(e.op("ReduceMean", [probs, e.const([1])], keepdims=0))
        return outs

    def _mask_axes(self, a):
        return ([("key_padding_mask", [1, 2])] if a.key_padding_mask else []) + \
            ([("attn_mask", [])] if a.attn_mask else [])

    def reference(self, a):
        return self._run(a, training=False)

    def train_reference(self, a):
        # Dropout on the attention weights, as nn.MultiheadAttention in train().
        return self._run(a, training=True) if a.dropout > 0 else None

    def _run(self, a, training: bool):
        import torch
        from torch.func import functional_call

        # torch's module computes with the caller's parameters (functional_call), so gradients reach them
        # (load_state_dict would copy them and cut the graph); on "meta" it holds no weights of its own and
        # draws no random numbers (the dropout draws stay those of torch's module from the same seed).
        m = torch.nn.MultiheadAttention(a.embed_dim, a.num_heads, dropout=a.dropout, bias=a.bias, kdim=a.kdim,
                                        vdim=a.vdim, batch_first=a.batch_first, device="meta").train(training)

        def run(xs, params):
            n = len(xs) - self._masks(a)
            q, k, v = xs[:n] if n == 3 else xs[:1] * 3
            masks = list(xs[n:])
            pad = masks.pop(0) if a.key_padding_mask else None
            mask = masks.pop(0) if a.attn_mask else None
            if a.causal:
                seq = 1 if a.batch_first else 0
                causal = torch.triu(torch.full((q.shape[seq], k.shape[seq]), float("-inf")), diagonal=1)
                if mask is not None and mask.dtype == torch.bool:
                    mask = torch.zeros(mask.shape).masked_fill(mask, float("-inf"))
                mask = causal if mask is None else mask + causal
            out, w = functional_call(m, params, (q, k, v), dict(need_weights=a.need_weights, attn_mask=mask,
                                                                key_padding_mask=pad), strict=True)
            if w is not None:   # a fully masked query: NaN in torch's need_weights path, zeros here
                bias = params.get("out_proj.bias")
                bias = bias if bias is not None else torch.zeros(())
                w = torch.nan_to_num(w, nan=0.0)
                out = torch.where(torch.isnan(out), bias.expand_as(out), out)
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
