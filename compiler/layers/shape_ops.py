"""Layers that only move data: Flatten, Identity."""

from __future__ import annotations

from ..shapes import fmt_shape, numel
from .base import P, Case, Layer, ShapeError, register


@register
class Flatten(Layer):
    """[N, d1, d2, ...] -> [N, d1 * d2 * ...] (from `start_dim`, default 1)."""

    names = {"Flatten": None}
    params = (P("start_dim", "int", 1),)
    cases = [Case("Flatten", [[2, 3, 4, 5]]), Case("Flatten(2)", [[2, 3, 4, 5]])]

    def infer(self, a, ins):
        (x,) = ins
        if not 1 <= a.start_dim < len(x):
            raise ShapeError("E0107", f"`start_dim = {a.start_dim}` is out of range for {fmt_shape(x)}",
                             arg="start_dim")
        return [tuple(x[:a.start_dim]) + (numel(x[a.start_dim:]),)]

    def lower(self, e, a, ins):
        if a.start_dim == 1:
            return [e.op("Flatten", ins, axis=1)]
        return [e.op("Reshape", [ins[0], e.const([0] * a.start_dim + [-1])])]

    def reference(self, a):
        import torch
        return lambda xs, p: [torch.flatten(xs[0], a.start_dim)]


@register
class Identity(Layer):
    """y = x. Also the `linear` activation (alias `LinearActivation`)."""

    names = {"Identity": None, "LinearActivation": None}
    cases = [Case("Identity", [[2, 3]]), Case("LinearActivation", [[2, 3, 4]])]

    def infer(self, a, ins):
        return [ins[0]]

    def lower(self, e, a, ins):
        return [ins[0]]

    def reference(self, a):
        return lambda xs, p: [xs[0]]
