"""Normalization layers."""

from __future__ import annotations

from ..shapes import fmt_shape, is_concrete
from .base import P, Case, Layer, ShapeError, Weight, register


@register
class BatchNorm(Layer):
    """Batch normalization at inference, with running statistics; the rank
    of the input chooses 1d/2d/3d (the explicit spellings check it)."""

    names = {"BatchNorm": None, "BatchNorm1d": 1, "BatchNorm2d": 2, "BatchNorm3d": 3}
    params = (P("eps", "float", 1e-5), P("momentum", "float", 0.1, doc="training only; kept for fidelity"))
    cases = [Case("BatchNorm", [[2, 3, 4, 5]]), Case("BatchNorm1d", [[4, 6]]), Case("BatchNorm1d", [[2, 3, 7]]),
             Case("BatchNorm3d(eps = 1e-3)", [[1, 2, 3, 4, 4]]), Case("BatchNorm2d", [[2, 3, 4, 4]])]

    def infer(self, a, ins):
        (x,) = ins
        ok = {None: (2, 3, 4, 5), 1: (2, 3), 2: (4,), 3: (5,)}[a.variant]
        if len(x) not in ok:
            raise ShapeError("E0310", f"`{a.kind}` expects an input of rank {' or '.join(map(str, ok))}, "
                             f"got {fmt_shape(x)}")
        if a.eps <= 0:
            raise ShapeError("E0107", f"`eps` must be positive; got {a.eps}", arg="eps")
        c = x[1]
        if not is_concrete(c):
            raise ShapeError("E0305", f"`{a.kind}` needs a concrete number of channels; got `{c}`")
        a.num_features = c
        a.weights["weight"] = Weight((c,), "const", value=1.0)
        a.weights["bias"] = Weight((c,), "const", value=0.0)
        a.weights["running_mean"] = Weight((c,), "const", value=0.0, buffer=True)
        a.weights["running_var"] = Weight((c,), "const", value=1.0, buffer=True)
        return [x]

    def lower(self, e, a, ins):
        ws = [e.weight(n) for n in ("weight", "bias", "running_mean", "running_var")]
        return [e.op("BatchNormalization", [ins[0]] + ws, epsilon=a.eps)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.batch_norm(xs[0], p["running_mean"], p["running_var"], p["weight"], p["bias"],
                                           training=False, eps=a.eps)]
