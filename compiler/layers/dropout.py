"""Dropout: the identity at inference, unless Monte Carlo dropout is asked for."""

from __future__ import annotations

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
