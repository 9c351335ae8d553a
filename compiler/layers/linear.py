"""Fully connected layers."""

from __future__ import annotations

from ..shapes import is_concrete
from .base import P, Case, Layer, ShapeError, Weight, fan_in_bound, numel, positive, register


@register
class Linear(Layer):
    """y = x W^T + b over the last dimension, at any rank (PyTorch's
    nn.Linear): [*, in_features] -> [*, out_features]. Over [N, C, H, W] it
    mixes the last dimension only; straight after a convolution or pooling
    that is usually a missing `Flatten`, and warning W0007 says so."""

    names = {"Linear": None, "Dense": None}
    params = (P("out_features", "int", doc="the number of output features"),
              P("bias", "bool", True))
    cases = [Case("Linear(7)", [[3, 5]]), Case("Linear(4, bias = false)", [[2, 6]]),
             Case("Linear(3)", [[2, 4, 5]]), Case("Dense(2)", [[3, 4]]),
             Case("Linear(6)", [[2, 3, 4, 5]]), Case("Linear(2, bias = false)", [[2, 3, 1, 4]]),
             Case("Linear(3)", [[2, 2, 3, 2, 4]]), Case("Linear(4)", [[5]])]

    def validate(self, a):
        positive(a, "out_features", a.out_features)

    def infer(self, a, ins):
        (x,) = ins
        positive(a, "out_features", a.out_features)
        if not x:
            raise ShapeError("E0310", f"`{a.kind}` expects [*, features], got a scalar")
        fin = x[-1]
        if not is_concrete(fin):
            raise ShapeError("E0305", f"`{a.kind}` needs a concrete number of input features; got `{fin}`",
                             help="pool globally first (`-> GlobalAvgPool -> Flatten`) so the feature "
                                  "count does not depend on the input size")
        a.in_features, a.in_rank, a.in_shape = fin, len(x), tuple(x)
        b = fan_in_bound(fin)
        a.weights["weight"] = Weight((a.out_features, fin), bound=b)
        if a.bias:
            a.weights["bias"] = Weight((a.out_features,), bound=b)
        return [tuple(x[:-1]) + (a.out_features,)]

    def lower(self, e, a, ins):
        (x,) = ins
        args = [e.weight("weight")] + ([e.weight("bias")] if a.bias else [])
        if a.in_rank == 2:
            # Gemm is what onnxruntime fuses best for [N, features].
            return [e.op("Gemm", [x] + args, transB=1)]
        # Any other rank: the same Gemm over [-1, in] and the leading sizes
        # put back. The weight stays a plain initializer in PyTorch's [out,
        # in] layout feeding it (MatMul would need a Transpose of it), and it
        # runs as fast as MatMul, where Einsum is some 20% slower.
        y = e.op("Gemm", [e.op("Reshape", [x, e.const([-1, a.in_features])])] + args, transB=1)
        lead = a.in_shape[:-1]
        target = [d if is_concrete(d) else -1 for d in lead] + [a.out_features]
        if target.count(-1) <= 1:
            return [e.op("Reshape", [y, e.const(target)])]
        # Two open leading sizes: read them from the input at run time.
        sizes = e.op("Concat", [e.op("Shape", [x], end=-1), e.const([a.out_features])], axis=0)
        return [e.op("Reshape", [y, sizes])]

    def macs(self, a, ins, outs):
        return numel(outs[0]) * a.in_features

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.linear(xs[0], p["weight"], p.get("bias"))]
