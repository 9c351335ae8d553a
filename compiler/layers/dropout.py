"""Dropout and stochastic depth: the identity at inference, unless Monte Carlo dropout is asked for."""

from __future__ import annotations

from ..shapes import fmt_shape
from .base import P, Case, Layer, ShapeError, register


@register
class Dropout(Layer):
    """Dropout(p). At inference it is the identity; with `mc = true` it stays
    active (Monte Carlo dropout), seeded by `seed`."""

    names = {"Dropout": None}
    params = (P("p", "float", 0.5), P("mc", "bool", False), P("seed", "int", 0))
    cases = [Case("Dropout", [[2, 3]]), Case("Dropout(0.2)", [[2, 3, 4, 4]])]

    def validate(self, a):
        if not 0.0 <= a.p < 1.0:
            raise ShapeError("E0107", f"dropout probability must be in [0, 1); got {a.p}", arg="p",
                             help="p is the fraction of values dropped; 1 would drop them all")

    def infer(self, a, ins):
        self.validate(a)
        return [ins[0]]

    def lower(self, e, a, ins):
        if not a.mc or a.p == 0.0:
            return [ins[0]]
        ratio = e.const(a.p, dtype="float32", hint="ratio")
        training = e.const(True, dtype=bool, hint="training")
        return [e.op("Dropout", [ins[0], ratio, training], seed=a.seed)]

    def reference(self, a):
        return lambda xs, p: [xs[0]]

    def train_reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.dropout(xs[0], a.p, training=True)]

    def always_train(self, a):
        return a.mc


@register
class SpatialDropout(Layer):
    """Channel dropout (PyTorch's nn.Dropout1d/2d/3d, Keras' SpatialDropout):
    zeroes whole channels of [N, C, *spatial]. The identity at inference; with
    `mc = true` it stays active (Monte Carlo), one draw per (sample, channel),
    seeded by `seed`. `SpatialDropout` takes 1 to 3 spatial dimensions;
    `DropoutNd` exactly N."""

    names = {"SpatialDropout": None, "Dropout1d": 1, "Dropout2d": 2, "Dropout3d": 3}
    params = (P("p", "float", 0.5), P("mc", "bool", False), P("seed", "int", 0))
    cases = [Case("SpatialDropout", [[2, 3, 4, 4]]), Case("SpatialDropout(0.1)", [[2, 3, 5]]),
             Case("Dropout1d(0.2)", [[2, 3, 5]]), Case("Dropout2d", [[2, 3, 4, 4]]),
             Case("Dropout3d(0.3)", [[1, 2, 3, 4, 4]])]

    def infer(self, a, ins):
        (x,) = ins
        d = len(x) - 2
        if (a.variant is None and not 1 <= d <= 3) or (a.variant is not None and d != a.variant):
            want = "[N, C, W], [N, C, H, W] or [N, C, D, H, W]" if a.variant is None else \
                "[N, C, " + ", ".join("DHW"[3 - a.variant:]) + "]"
            raise ShapeError("E0310", f"`{a.kind}` expects {want}, got {fmt_shape(x)}",
                             help="`Dropout` drops single elements of any tensor" if d < 1 else None)
        if not 0.0 <= a.p < 1.0:
            raise ShapeError("E0107", f"dropout probability must be in [0, 1); got {a.p}", arg="p")
        a.spatial_rank = d
        return [x]

    def lower(self, e, a, ins):
        if not a.mc or a.p == 0.0:
            return [ins[0]]
        x = ins[0]
        d = a.spatial_rank
        # One element per (sample, channel) draws the mask: x[:, :, 0:1, ...].
        probe = e.op("Slice", [x, e.const([0] * d, hint="starts"), e.const([1] * d, hint="ends"),
                               e.const(list(range(2, 2 + d)), hint="axes")])
        ratio = e.const(a.p, dtype="float32", hint="ratio")
        training = e.const(True, dtype=bool, hint="training")
        _, keep = e.op("Dropout", [probe, ratio, training], n_out=2, seed=a.seed)
        scale = e.op("Mul", [e.op("Cast", [keep], to=1),
                             e.const(1.0 / (1.0 - a.p), dtype="float32", hint="scale")])
        return [e.op("Mul", [x, scale])]

    def reference(self, a):
        return lambda xs, p: [xs[0]]

    def train_reference(self, a):
        # One draw per (sample, channel), as nn.Dropout1d/2d/3d.
        import torch.nn.functional as F
        return lambda xs, p: [F.dropout(xs[0].new_ones(xs[0].shape[:2] + (1,) * a.spatial_rank), a.p,
                                        training=True) * xs[0]]

    def always_train(self, a):
        return a.mc


@register
class StochasticDepth(Layer):
    """torchvision.ops.StochasticDepth(p, mode): in training it drops the
    whole residual branch it is applied to, per sample (`mode = "row"`) or
    for the batch (`"batch"`), with probability p. At inference, which is
    what nnd compiles, it is the identity, and it emits nothing. `mode`
    defaults to "row" (torchvision requires it; "row" is what its models use)."""

    names = {"StochasticDepth": None}
    params = (P("p", "float", doc="the probability of dropping the branch, in [0, 1]"),
              P("mode", "str", "row", choices=("row", "batch")))
    cases = [Case("StochasticDepth(0.2)", [[2, 3, 4, 4]]), Case("StochasticDepth(1.0, mode = \"batch\")", [[2, 5]])]

    def validate(self, a):
        if not 0.0 <= a.p <= 1.0:
            raise ShapeError("E0107", f"stochastic depth probability must be in [0, 1]; got {a.p}", arg="p")

    def infer(self, a, ins):
        self.validate(a)
        return [ins[0]]

    def lower(self, e, a, ins):
        return [ins[0]]

    def reference(self, a):
        # torchvision's StochasticDepth in eval mode (torchvision is not a
        # test dependency): the input itself.
        return lambda xs, p: [xs[0]]

    def train_reference(self, a):
        # torchvision.ops.stochastic_depth in training.
        def f(xs, p):
            x = xs[0]
            if a.p == 0.0:
                return [x]
            keep = 1.0 - a.p
            size = (x.shape[0],) + (1,) * (x.dim() - 1) if a.mode == "row" else (1,) * x.dim()
            noise = x.new_empty(size).bernoulli_(keep)
            return [x * (noise / keep if keep > 0 else noise)]
        return f
