"""Combining tensors: element-wise arithmetic (the `+ - * / **` operators,
on two tensors or a tensor and a number), concatenation and split."""

from __future__ import annotations

from ..shapes import broadcast, fmt_shape, is_concrete
from .base import P, Case, Layer, ShapeError, register


@register
class Elementwise(Layer):
    """`a + b`, `a - b`, `a * b`, `a / b`, `a ** b` (numpy broadcasting); with
    `scalar`, one tensor and that number (`x * 0.5`, or with `reverse`,
    `1 - x`), the number a float32 constant of rank 0."""

    names = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Pow": "Pow"}
    params = (P("scalar", "float?", None, doc="a number as the other operand (one input tensor)"),
              P("reverse", "bool", False, doc="the number is the left operand: `scalar - x`"))
    n_inputs = None
    dtypes = ("float32", "int64", "int32")   # onnxruntime's CPU kernels; no bool arithmetic
    same_dtypes = True
    cases = [Case("Add", [[2, 3, 4, 4], [2, 3, 4, 4]]), Case("Sub", [[2, 3], [2, 3]]),
             Case("Mul", [[2, 3, 4, 4], [2, 3, 1, 1]]), Case("Add", [[2, 3], [2, 3], [2, 3]]),
             Case("Div", [[2, 3, 4], [4]], positive=True), Case("Div", [[3, 1], [1, 5]]),
             Case("Pow", [[2, 3], [2, 3]], positive=True), Case("Pow(scalar = 2)", [[2, 3, 5]]),
             Case("Pow(scalar = 0.5)", [[4, 3]], positive=True), Case("Pow(2, reverse = true)", [[3, 4]]),
             Case("Add(scalar = 1)", [[2, 3]]), Case("Sub(1, reverse = true)", [[2, 3]]),
             Case("Sub(scalar = 0.25)", [[5]]), Case("Mul(scalar = -0.5)", [[2, 3, 4]]),
             Case("Div(scalar = 3)", [[2, 3]]), Case("Div(2, reverse = true)", [[2, 3]], positive=True)]
    SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "**"}

    # Nodes that passes or tests build may lack `scalar` and `reverse`: a.get.
    def validate(self, a):
        if a.get("reverse", False) and a.get("scalar") is None:
            raise ShapeError("E0107", "`reverse` needs a `scalar`", arg="reverse")

    def infer(self, a, ins):
        if a.get("scalar") is not None and len(ins) != 1:
            raise ShapeError("E0115", f"`{a.kind}` with a `scalar` takes one input tensor; got {len(ins)}")
        out = ins[0]
        sym = self.SYMBOLS[a.kind]
        for other in ins[1:]:
            b = broadcast(out, other)
            if b is None:
                help = None
                if a.kind != "Add":
                    pass
                elif len(out) == len(other) and len(out) >= 2 and out[1] != other[1] and out[2:] == other[2:]:
                    help = (f"channels differ ({out[1]} vs {other[1]}); project one side with a 1x1 convolution:\n"
                            f"`-> Conv2d({out[1]}, 1, bias = false) -> BatchNorm`")
                elif len(out) == len(other) and out[:2] == other[:2]:
                    help = "the spatial sizes differ; check the strides and padding on both paths"
                raise ShapeError("E0301", f"shapes do not match for `{sym}`: {fmt_shape(out)} and "
                                 f"{fmt_shape(other)}", help=help)
            out = b
        return [out]

    def out_dtype(self, a, dtypes):
        return dtypes[0]

    def lower(self, e, a, ins):
        if a.get("scalar") is not None:
            c = e.const(a.get("scalar"), dtype="float32", hint="scalar")
            return [e.op(a.variant, [c, ins[0]] if a.get("reverse", False) else [ins[0], c])]
        y = ins[0]
        for other in ins[1:]:
            y = e.op(a.variant, [y, other])
        return [y]

    def reference(self, a):
        import operator
        from functools import reduce
        fn = {"Add": operator.add, "Sub": operator.sub, "Mul": operator.mul, "Div": operator.truediv,
              "Pow": operator.pow}[a.kind]
        if a.get("scalar") is not None:
            return lambda xs, p: [fn(a.get("scalar"), xs[0]) if a.get("reverse", False) else fn(xs[0], a.get("scalar"))]
        return lambda xs, p: [reduce(fn, xs)]


@register
class Concat(Layer):
    """`concat(a, b, ..., axis = 1)`: join tensors along one dimension."""

    names = {"Concat": None}
    params = (P("axis", "int", 1),)
    n_inputs = None
    dtypes = ("float32", "int64", "int32", "bool")
    same_dtypes = True

    def out_dtype(self, a, dtypes):
        return dtypes[0]
    cases = [Case("Concat", [[2, 3, 4, 4], [2, 5, 4, 4]]), Case("Concat(axis = -1)", [[2, 3], [2, 4], [2, 1]])]

    def infer(self, a, ins):
        first = ins[0]
        r = len(first)
        axis = a.axis + r if a.axis < 0 else a.axis
        if not 0 <= axis < r:
            raise ShapeError("E0107", f"`axis = {a.axis}` is out of range for rank {r}", arg="axis")
        total = 0
        for i, x in enumerate(ins):
            if len(x) != r:
                raise ShapeError("E0302", f"cannot concatenate tensors of rank {r} and {len(x)}: "
                                 f"{fmt_shape(first)} and {fmt_shape(x)}")
            for d in range(r):
                if d != axis and x[d] != first[d]:
                    diff = ""
                    if is_concrete(x[d]) and is_concrete(first[d]):
                        diff = f" (off by {abs(x[d] - first[d])})"
                    raise ShapeError(
                        "E0302", f"cannot concatenate on axis {axis}: dimension {d} differs, "
                        f"{first[d]} in input 0 and {x[d]} in input {i}{diff}",
                        help="every dimension but the concatenation axis must agree; check the pooling, "
                             "stride and padding of the paths that made these tensors", dim=d)
            total = total + x[axis]
        a.axis_norm = axis
        return [tuple(first[:axis]) + (total,) + tuple(first[axis + 1:])]

    def lower(self, e, a, ins):
        return [e.op("Concat", ins, axis=a.axis_norm)] if len(ins) > 1 else [ins[0]]

    def reference(self, a):
        import torch
        return lambda xs, p: [torch.cat(xs, dim=a.axis)]


# Parts of one split: each is a tensor the elaborator makes (even after a
# shape error, so that `a, b = split(...)` can go on), so a typo such as
# `split(x, 1000000000)` must not be attempted.
MAX_PARTS = 50_000


@register
class Split(Layer):
    """`split(x, n)` into n equal parts, or `split(x, [s1, s2, ...])`, along `axis`.
    A symbolic size splits into n parts of `H // n` (`2*H` in 2: `H`); it
    must divide by n when the model runs, else the run fails (onnxruntime's
    Split, or PyTorch's in `nnd.torch`), never parts of other sizes, unlike
    `torch.chunk`. Sizes by a list need a fixed dimension (E0311)."""

    names = {"Split": None}
    params = (P("sections", "any", doc=f"a count of equal parts (at most {MAX_PARTS:,}), or a list of sizes"),
              P("axis", "int", 1))
    cases = [Case("Split(2)", [[2, 6, 3]]), Case("Split([1, 4, 1])", [[2, 6, 3]]),
             Case("Split(3, axis = -1)", [[2, 2, 9]])]

    def n_outputs(self, a):
        n = _parts(a.sections)
        # A split refused for its count stands as one unknown tensor, not as
        # a billion of them.
        return n if n <= MAX_PARTS else 1

    def validate(self, a):
        n = _parts(a.sections)
        if n > MAX_PARTS:
            raise ShapeError("E0119", f"cannot split into {n:,} parts; the limit is {MAX_PARTS:,}", arg="sections",
                             help="split into fewer, larger parts")

    def infer(self, a, ins):
        (x,) = ins
        axis = a.axis + len(x) if a.axis < 0 else a.axis
        if not 0 <= axis < len(x):
            raise ShapeError("E0107", f"`axis = {a.axis}` is out of range for {fmt_shape(x)}", arg="axis")
        dim = x[axis]
        s = a.sections
        if isinstance(s, int) and not isinstance(s, bool):
            if s <= 0:
                raise ShapeError("E0107", f"cannot split into {s} parts", arg="sections")
            # A symbolic size gives parts of `H // s` (exact where it divides, `2*H` in 2 is `H`);
            # that it divides is checked when the model runs (see `lower`).
            if is_concrete(dim) and dim % s:
                raise ShapeError("E0311", f"cannot split dimension {axis} of size {dim} into {s} equal parts",
                                 arg="sections")
            sizes = [dim // s] * s
        elif isinstance(s, (list, tuple)) and s and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                         for v in s):
            if not is_concrete(dim):
                raise ShapeError("E0311", f"cannot split dimension {axis} of symbolic size {dim} by fixed sizes: "
                                 f"they add up to {sum(s)}, and {dim} is known only when the model runs",
                                 arg="sections", help=f"split it into {len(s)} equal parts (a count, not a list), "
                                                      "or give that dimension a fixed size")
            if sum(s) != dim:
                raise ShapeError("E0311", f"split sizes add up to {sum(s)}, but dimension {axis} is {dim}",
                                 arg="sections")
            sizes = list(s)
        else:
            raise ShapeError("E0106", "`sections` must be a positive count or a list of positive sizes",
                             arg="sections")
        a.sizes, a.axis_norm = sizes, axis
        return [tuple(x[:axis]) + (n,) + tuple(x[axis + 1:]) for n in sizes]

    def lower(self, e, a, ins):
        # Symbolic parts are computed from the input's shape; ONNX Split refuses
        # sizes that do not add up to the dimension, so a size that does not
        # divide fails at run time rather than giving parts of other sizes
        # (Split's `num_outputs` would make the last one smaller).
        n = len(a.sizes)
        sizes = e.const(a.sizes) if is_concrete(a.sizes[0]) else e.op("Expand", [e.dim(a.sizes[0]), e.const([n])])
        outs = e.op("Split", [ins[0], sizes], n_out=n, axis=a.axis_norm)
        return outs if isinstance(outs, list) else [outs]

    def reference(self, a):
        import torch
        return lambda xs, p: list(torch.split(xs[0], a.sizes, dim=a.axis_norm))


def _parts(s) -> int:
    """How many parts `sections` asks for (1 where it is not a count or a list)."""
    return s if isinstance(s, int) and not isinstance(s, bool) and s > 0 else \
        len(s) if isinstance(s, (list, tuple)) else 1
