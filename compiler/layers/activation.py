"""Element-wise activations, and softmax."""

from __future__ import annotations

from ..shapes import fmt_shape
from .base import P, Case, Layer, ShapeError, register

_X = [[2, 3, 4, 5]]


class _Elementwise(Layer):
    def infer(self, a, ins):
        return [ins[0]]


@register
class ReLU(_Elementwise):
    names = {"ReLU": None}
    cases = [Case("ReLU", _X)]

    def lower(self, e, a, ins):
        return [e.op("Relu", ins)]

    def reference(self, a):
        import torch
        return lambda xs, p: [torch.relu(xs[0])]


@register
class Tanh(_Elementwise):
    names = {"Tanh": None}
    cases = [Case("Tanh", _X)]

    def lower(self, e, a, ins):
        return [e.op("Tanh", ins)]

    def reference(self, a):
        import torch
        return lambda xs, p: [torch.tanh(xs[0])]


@register
class Sigmoid(_Elementwise):
    names = {"Sigmoid": None}
    cases = [Case("Sigmoid", _X)]

    def lower(self, e, a, ins):
        return [e.op("Sigmoid", ins)]

    def reference(self, a):
        import torch
        return lambda xs, p: [torch.sigmoid(xs[0])]


@register
class Softmax(Layer):
    """Softmax over `axis` (default 1: the class or channel dimension)."""

    names = {"Softmax": "softmax", "LogSoftmax": "log"}
    params = (P("axis", "int", 1),)
    cases = [Case("Softmax", [[3, 10]]), Case("Softmax(axis = -1)", _X), Case("LogSoftmax", [[3, 10]]),
             Case("Softmax(axis = 1)", _X)]

    def infer(self, a, ins):
        (x,) = ins
        if not -len(x) <= a.axis < len(x):
            raise ShapeError("E0107", f"`axis = {a.axis}` is out of range for {fmt_shape(x)}", arg="axis")
        return [x]

    def lower(self, e, a, ins):
        return [e.op("Softmax" if a.variant == "softmax" else "LogSoftmax", ins, axis=a.axis)]

    def reference(self, a):
        import torch
        fn = torch.softmax if a.variant == "softmax" else torch.log_softmax
        return lambda xs, p: [fn(xs[0], dim=a.axis)]
