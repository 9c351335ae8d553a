"""Tensor functions of arithmetic (PyTorch's names): element-wise functions,
clamp, reductions, softmax, matrix products and scaled dot-product
attention. Each is called on tensors, `exp(x)`, as a method, `x.exp()`, or
after `->` (see `Layer.function`)."""

from __future__ import annotations

import math

from ..shapes import broadcast, fmt_shape
from .activation import Softmax
from .attention import causal_mask
from .base import P, Case, Layer, ShapeError, numel, register


@register
class Unary(Layer):
    """Element-wise functions: `exp(x)`, `x.sqrt()`, `x -> relu`."""

    names = {"exp": "Exp", "log": "Log", "sqrt": "Sqrt", "rsqrt": "rsqrt", "abs": "Abs", "erf": "Erf",
             "neg": "Neg", "reciprocal": "Reciprocal", "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu",
             "floor": "Floor", "ceil": "Ceil", "round": "Round", "sin": "Sin", "cos": "Cos"}
    function = True
    cases = [Case(n, [[2, 3, 4]], positive=n in ("log", "sqrt", "rsqrt", "reciprocal")) for n in names]

    def infer(self, a, ins):
        return [ins[0]]

    def lower(self, e, a, ins):
        if a.variant == "rsqrt":
            return [e.op("Reciprocal", [e.op("Sqrt", ins)])]
        return [e.op(a.variant, ins)]

    def reference(self, a):
        import torch
        fn = getattr(torch, a.kind)
        return lambda xs, p: [fn(xs[0])]


@register
class Clamp(Layer):
    """`clamp(x, min, max)`: each value limited to [min, max] (either may be
    left out, not both)."""

    names = {"clamp": None}
    params = (P("min", "float?", None), P("max", "float?", None))
    function = True
    cases = [Case("clamp(-0.5, 0.5)", [[2, 3, 4]]), Case("clamp(min = 0)", [[4, 5]]),
             Case("clamp(max = 0.25)", [[4, 5]])]

    def validate(self, a):
        if a.min is None and a.max is None:
            raise ShapeError("E0104", "`clamp` needs `min`, `max` or both")

    def infer(self, a, ins):
        return [ins[0]]

    def lower(self, e, a, ins):
        bound = lambda v, h: "" if v is None else e.const(v, dtype="float32", hint=h)  # noqa: E731
        return [e.op("Clip", [ins[0], bound(a.min, "min"), bound(a.max, "max")])]

    def reference(self, a):
        import torch
        return lambda xs, p: [torch.clamp(xs[0], a.min, a.max)]


@register
class Reduce(Layer):
    """`mean(x, axis)`, `sum`, `max`, `min` over one axis or a tuple of them
    (all of them when `axis` is left out); `keepdim` keeps them as size 1."""

    names = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin"}
    params = (P("axis", "ints?", None, doc="an axis or a tuple of axes; all of them when left out"),
              P("keepdim", "bool", False))
    function = True
    cases = [Case("mean(1)", [[2, 3, 4]]), Case("sum((0, 2))", [[2, 3, 4]]), Case("max(-1, keepdim = true)",
                                                                                   [[2, 3, 4]]),
             Case("min", [[2, 3]]), Case("mean(keepdim = true)", [[2, 3]]), Case("sum(-2)", [[3, 5]])]

    def infer(self, a, ins):
        (x,) = ins
        r = len(x)
        axes = tuple(range(r)) if a.axis is None else (a.axis,) if isinstance(a.axis, int) else a.axis
        norm = []
        for ax in axes:
            if not -r <= ax < r:
                raise ShapeError("E0107", f"`axis = {ax}` is out of range for {fmt_shape(x)}", arg="axis")
            n = ax % r
            if n in norm:
                raise ShapeError("E0107", f"axis {n} is given twice", arg="axis")
            norm.append(n)
        a.axes = sorted(norm)
        if a.keepdim:
            return [tuple(1 if i in norm else d for i, d in enumerate(x))]
        return [tuple(d for i, d in enumerate(x) if i not in norm)]

    def lower(self, e, a, ins):
        return [e.op(a.variant, [ins[0], e.const(a.axes)], keepdims=int(a.keepdim))]

    def reference(self, a):
        import torch
        fn = {"mean": torch.mean, "sum": torch.sum, "max": torch.amax, "min": torch.amin}[a.kind]
        return lambda xs, p: [fn(xs[0], dim=tuple(a.axes), keepdim=a.keepdim)]


@register
class SoftmaxFunction(Softmax):
    """`softmax(x, axis)` and `log_softmax(x, axis)`: the function forms of
    Softmax and LogSoftmax (the axis is required, as PyTorch's `dim`)."""

    names = {"softmax": "softmax", "log_softmax": "log"}
    params = (P("axis", "int"),)
    function = True
    cases = [Case("softmax(-1)", [[2, 3, 5]]), Case("log_softmax(axis = 1)", [[2, 3, 5]])]


def _dim_mismatch(what: str, a, b, da: int, db: int) -> ShapeError:
    return ShapeError("E0313", f"{what}: {fmt_shape(a)} and {fmt_shape(b)} "
                      f"(size {a[da]} against {b[db]})",
                      help="the last dimension of the left operand must equal the second-to-last of the right "
                           "(the only one of a vector)")


def matmul_shape(a: tuple, b: tuple, what: str = "cannot multiply matrices") -> tuple:
    """torch.matmul's shape: vectors promoted and their dimension removed,
    the batch dimensions broadcast."""
    if not a or not b:
        raise ShapeError("E0310", f"matmul needs tensors of rank 1 or more; got {fmt_shape(a)} and {fmt_shape(b)}")
    ka, kb = -1, (0 if len(b) == 1 else -2)
    if a[ka] != b[kb]:
        raise _dim_mismatch(what, a, b, len(a) - 1, kb % len(b))
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    batch = broadcast(a2[:-2], b2[:-2])
    if batch is None:
        raise ShapeError("E0301", f"the batch dimensions do not broadcast for `@`: {fmt_shape(a)} and {fmt_shape(b)}")
    out = batch + ((a2[-2],) if len(a) > 1 else ()) + ((b2[-1],) if len(b) > 1 else ())
    return out


@register
class MatMul(Layer):
    """`a @ b`, `matmul(a, b)`: torch.matmul (a vector operand is promoted to
    a matrix and its dimension removed; batch dimensions broadcast)."""

    names = {"matmul": None}
    n_inputs = 2
    function = True
    cases = [Case("matmul", [[3, 4], [4, 5]]), Case("matmul", [[2, 1, 3, 4], [5, 4, 2]]),
             Case("matmul", [[4], [4]]), Case("matmul", [[4], [2, 4, 3]]), Case("matmul", [[2, 3, 4], [4]])]

    def infer(self, a, ins):
        return [matmul_shape(ins[0], ins[1])]

    def lower(self, e, a, ins):
        return [e.op("MatMul", ins)]

    def macs(self, a, ins, outs):
        return numel(outs[0]) * ins[0][-1]

    def reference(self, a):
        import torch
        return lambda xs, p: [torch.matmul(xs[0], xs[1])]


@register
class ScaledDotProductAttention(Layer):
    """`scaled_dot_product_attention(q, k, v, attn_mask, is_causal, scale)`:
    torch.nn.functional's, at inference (no dropout): softmax(q k^T * scale
    + mask) v, lowered as MatMul, Mul, Add, Softmax, MatMul (the pattern
    onnxruntime fuses). q [..., L, E], k [..., S, E], v [..., S, Ev] ->
    [..., L, Ev]; the mask is added (a float mask broadcastable to [..., L, S]);
    `is_causal` masks out what is above the diagonal, from runtime sizes."""

    names = {"scaled_dot_product_attention": None}
    params = (P("attn_mask", "tensor", None, doc="a float mask added to the scores (an input tensor)"),
              P("is_causal", "bool", False), P("scale", "float?", None, doc="1 / sqrt(E) when left out"))
    n_inputs = None
    function = True
    cases = [Case("scaled_dot_product_attention", [[2, 3, 5, 8], [2, 3, 7, 8], [2, 3, 7, 4]]),
             Case("scaled_dot_product_attention(is_causal = true)", [[2, 6, 8], [2, 6, 8], [2, 6, 8]]),
             Case("scaled_dot_product_attention(scale = 0.5)", [[5, 4], [3, 4], [3, 2]]),
             Case("scaled_dot_product_attention", [[2, 2, 5, 4], [2, 2, 3, 4], [2, 2, 3, 4], [5, 3]])]

    def infer(self, a, ins):
        if len(ins) not in (3, 4):
            raise ShapeError("E0115", f"`scaled_dot_product_attention` takes q, k, v and perhaps a mask; "
                             f"got {len(ins)} tensors")
        q, k, v = ins[:3]
        if a.is_causal and len(ins) == 4:
            raise ShapeError("E0107", "give an `attn_mask` or `is_causal = true`, not both", arg="is_causal")
        for t in (q, k, v):
            if len(t) < 2:
                raise ShapeError("E0310", f"attention needs q, k and v of rank 2 or more; got {fmt_shape(t)}")
        if q[-1] != k[-1]:
            raise _dim_mismatch("the query and key sizes differ", q, k, len(q) - 1, len(k) - 1)
        if k[-2] != v[-2]:
            raise _dim_mismatch("keys and values differ in length", k, v, len(k) - 2, len(v) - 2)
        scores = matmul_shape(q, tuple(k[:-2]) + (k[-1], k[-2]))
        if len(ins) == 4 and broadcast(scores, ins[3]) != scores:
            raise ShapeError("E0301", f"the mask {fmt_shape(ins[3])} does not broadcast to the scores "
                             f"{fmt_shape(scores)}")
        a.k_perm = list(range(len(k) - 2)) + [len(k) - 1, len(k) - 2]
        a.scale_value = a.scale if a.scale is not None else 1 / math.sqrt(q[-1])
        return [matmul_shape(scores, v)]

    def macs(self, a, ins, outs):   # q k^T, then the scores times v
        q, k, v = ins[:3]
        return numel(outs[0]) // v[-1] * k[-2] * (q[-1] + v[-1])

    def lower(self, e, a, ins):
        q, k, v = ins[:3]
        kt = e.op("Transpose", [k], perm=a.k_perm)
        scores = e.op("Mul", [e.op("MatMul", [q, kt]), e.const(a.scale_value, dtype="float32", hint="scale")])
        if a.is_causal:
            scores = e.op("Add", [scores, causal_mask(e, q, k, -2)])
        if len(ins) == 4:
            scores = e.op("Add", [scores, ins[3]])
        return [e.op("MatMul", [e.op("Softmax", [scores], axis=-1), v])]

    def reference(self, a):
        import torch

        def run(xs, p):
            mask = xs[3] if len(xs) == 4 else None
            return [torch.nn.functional.scaled_dot_product_attention(xs[0], xs[1], xs[2], attn_mask=mask,
                                                                     is_causal=a.is_causal, scale=a.scale)]
        return run
