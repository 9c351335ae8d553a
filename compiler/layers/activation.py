"""Element-wise activations, and softmax."""

from __future__ import annotations

from ..shapes import fmt_shape, is_concrete
from .base import P, Case, Layer, ShapeError, Weight, register

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


# ------------------------------------------------ parametrized element-wise

@register
class LeakyReLU(_Elementwise):
    """max(0, x) + negative_slope * min(0, x)."""

    names = {"LeakyReLU": None}
    params = (P("negative_slope", "float", 0.01),)
    cases = [Case("LeakyReLU", _X), Case("LeakyReLU(0.2)", _X), Case("LeakyReLU(negative_slope = -0.5)", [[3, 7]])]

    def lower(self, e, a, ins):
        return [e.op("LeakyRelu", ins, alpha=a.negative_slope)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.leaky_relu(xs[0], a.negative_slope)]


@register
class PReLU(Layer):
    """LeakyReLU with a learned slope `weight`: one shared slope (PyTorch's
    default), or one per channel (dimension 1): `PReLU(channels = true)` takes
    the count from the input, `PReLU(num_parameters = 64)` states it."""

    names = {"PReLU": None}
    params = (P("num_parameters", "int", 1, doc="1 (shared) or the number of channels"),
              P("init", "float", 0.25, doc="the initial slope"),
              P("channels", "bool", False, doc="one slope per channel, counted from the input"))
    cases = [Case("PReLU", _X), Case("PReLU(channels = true)", _X), Case("PReLU(num_parameters = 3)", _X),
             Case("PReLU(num_parameters = 6, init = 0.1)", [[4, 6]]), Case("PReLU(channels = true)", [[2, 5, 7]]),
             Case("PReLU(init = -0.3)", [[2, 2, 3, 2, 2]])]

    def infer(self, a, ins):
        (x,) = ins
        n = a.num_parameters
        if n < 1:
            raise ShapeError("E0107", f"`num_parameters` must be positive; got {n}", arg="num_parameters")
        count = n
        if a.channels or n > 1:
            if len(x) < 2:
                raise ShapeError("E0310", f"a per-channel `{a.kind}` expects [N, C, ...], got {fmt_shape(x)}")
            c = x[1]
            if not is_concrete(c):
                raise ShapeError("E0305", f"a per-channel `{a.kind}` needs a concrete number of channels; got `{c}`")
            if n not in (1, c):
                raise ShapeError("E0311", f"`num_parameters = {n}` does not match the {c} channels of "
                                 f"{fmt_shape(x)}", arg="num_parameters",
                                 help=f"write `num_parameters = {c}`, or `channels = true` to count them")
            count = c
        a.count, a.rank = count, len(x)
        a.weights["weight"] = Weight((count,), "const", value=a.init)
        return [x]

    def lower(self, e, a, ins):
        # ONNX PRelu broadcasts the slope from the right: [C] is stored as [C, 1, ...].
        shape = None if a.count == 1 else (a.count,) + (1,) * (a.rank - 2)
        return [e.op("PRelu", [ins[0], e.weight("weight", shape=shape)])]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.prelu(xs[0], p["weight"])]


@register
class ELU(_Elementwise):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    names = {"ELU": None}
    params = (P("alpha", "float", 1.0),)
    cases = [Case("ELU", _X), Case("ELU(0.5)", _X), Case("ELU(alpha = 2)", [[3, 8]])]

    def lower(self, e, a, ins):
        return [e.op("Elu", ins, alpha=a.alpha)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.elu(xs[0], a.alpha)]


@register
class SELU(_Elementwise):
    """Scaled ELU with the fixed constants of Klambauer et al. (ONNX's defaults
    are PyTorch's constants rounded to float32)."""

    names = {"SELU": None}
    cases = [Case("SELU", _X), Case("SELU", [[3, 8]])]

    def lower(self, e, a, ins):
        return [e.op("Selu", ins)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.selu(xs[0])]


@register
class GELU(_Elementwise):
    """x * Phi(x), exact (`approximate = "none"`) or with the tanh formula."""

    names = {"GELU": None}
    params = (P("approximate", "str", "none", choices=("none", "tanh")),)
    cases = [Case("GELU", _X), Case('GELU(approximate = "tanh")', _X), Case('GELU("none")', [[3, 8]])]

    def lower(self, e, a, ins):
        return [e.op("Gelu", ins, approximate=a.approximate)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.gelu(xs[0], approximate=a.approximate)]


@register
class HardSigmoid(_Elementwise):
    """clamp(alpha * x + beta, 0, 1); the defaults are PyTorch's hardsigmoid
    (x / 6 + 1/2); `HardSigmoid(alpha = 0.2)` is the older Keras one."""

    names = {"HardSigmoid": None, "Hardsigmoid": None}
    params = (P("alpha", "float", 1 / 6, doc="1/6"), P("beta", "float", 0.5))
    cases = [Case("HardSigmoid", _X), Case("Hardsigmoid", [[3, 8]]), Case("HardSigmoid(alpha = 0.2)", _X),
             Case("HardSigmoid(0.5, 0.25)", [[3, 8]])]

    def lower(self, e, a, ins):
        return [e.op("HardSigmoid", ins, alpha=a.alpha, beta=a.beta)]

    def reference(self, a):
        import torch
        import torch.nn.functional as F
        if a.alpha == 1 / 6 and a.beta == 0.5:
            return lambda xs, p: [F.hardsigmoid(xs[0])]
        return lambda xs, p: [torch.clamp(xs[0] * a.alpha + a.beta, 0.0, 1.0)]


@register
class Softplus(_Elementwise):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold
    (PyTorch's definition; the threshold is honoured exactly)."""

    names = {"Softplus": None}
    params = (P("beta", "float", 1.0), P("threshold", "float", 20.0))
    cases = [Case("Softplus", _X), Case("Softplus(beta = 2)", _X), Case("Softplus(0.5, 1)", _X),
             Case("Softplus(threshold = 0)", [[3, 8]])]

    def infer(self, a, ins):
        if a.beta <= 0:
            raise ShapeError("E0107", f"`beta` must be positive; got {a.beta}", arg="beta")
        return [ins[0]]

    def lower(self, e, a, ins):
        (x,) = ins
        bx = x if a.beta == 1 else e.op("Mul", [x, e.const(a.beta, dtype="float32", hint="beta")])
        sp = e.op("Softplus", [bx])
        if a.beta != 1:
            sp = e.op("Div", [sp, e.const(a.beta, dtype="float32", hint="beta")])
        linear = e.op("Greater", [bx, e.const(a.threshold, dtype="float32", hint="threshold")])
        return [e.op("Where", [linear, x, sp])]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.softplus(xs[0], a.beta, a.threshold)]


@register
class Softsign(_Elementwise):
    """x / (1 + |x|)."""

    names = {"Softsign": None}
    cases = [Case("Softsign", _X)]

    def lower(self, e, a, ins):
        return [e.op("Softsign", ins)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.softsign(xs[0])]


@register
class Swish(_Elementwise):
    """x * sigmoid(beta * x); SiLU is the beta = 1 case."""

    names = {"Swish": None}
    params = (P("beta", "float", 1.0),)
    cases = [Case("Swish", _X), Case("Swish(beta = 1.5)", _X), Case("Swish(0.5)", [[3, 8]])]

    def lower(self, e, a, ins):
        (x,) = ins
        bx = x if a.beta == 1 else e.op("Mul", [x, e.const(a.beta, dtype="float32", hint="beta")])
        return [e.op("Mul", [x, e.op("Sigmoid", [bx])])]

    def reference(self, a):
        import torch
        import torch.nn.functional as F
        if a.beta == 1:
            return lambda xs, p: [F.silu(xs[0])]
        return lambda xs, p: [xs[0] * torch.sigmoid(xs[0] * a.beta)]


@register
class SiLU(Swish):
    """x * sigmoid(x) (PyTorch's SiLU, Keras's swish)."""

    names = {"SiLU": None}
    params = ()
    cases = [Case("SiLU", _X), Case("SiLU", [[3, 8]])]

    def lower(self, e, a, ins):
        return [e.op("Mul", [ins[0], e.op("Sigmoid", ins)])]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.silu(xs[0])]


@register
class Mish(_Elementwise):
    """x * tanh(softplus(x))."""

    names = {"Mish": None}
    cases = [Case("Mish", _X)]

    def lower(self, e, a, ins):
        return [e.op("Mish", ins)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.mish(xs[0])]


@register
class Exponential(_Elementwise):
    """exp(x)."""

    names = {"Exponential": None}
    cases = [Case("Exponential", _X)]

    def lower(self, e, a, ins):
        return [e.op("Exp", ins)]

    def reference(self, a):
        import torch
        return lambda xs, p: [torch.exp(xs[0])]


@register
class HardTanh(_Elementwise):
    """clamp(x, min_val, max_val)."""

    names = {"HardTanh": None, "Hardtanh": None}
    params = (P("min_val", "float", -1.0), P("max_val", "float", 1.0))
    cases = [Case("HardTanh", _X), Case("Hardtanh(-2, 0.5)", _X), Case("HardTanh(max_val = 0)", [[3, 8]])]

    def infer(self, a, ins):
        if a.min_val > a.max_val:
            raise ShapeError("E0107", f"`max_val` ({a.max_val}) is below `min_val` ({a.min_val})", arg="max_val")
        return [ins[0]]

    def lower(self, e, a, ins):
        lo = e.const(a.min_val, dtype="float32", hint="min")
        hi = e.const(a.max_val, dtype="float32", hint="max")
        return [e.op("Clip", [ins[0], lo, hi])]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.hardtanh(xs[0], a.min_val, a.max_val)]


@register
class ReLU6(HardTanh):
    """min(max(0, x), 6)."""

    names = {"ReLU6": None}
    params = ()
    cases = [Case("ReLU6", [[2, 3, 4, 5]])]

    def infer(self, a, ins):
        a.min_val, a.max_val = 0.0, 6.0
        return [ins[0]]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.relu6(xs[0])]


@register
class HardSwish(_Elementwise):
    """x * hardsigmoid(x) = x * relu6(x + 3) / 6."""

    names = {"HardSwish": None, "Hardswish": None}
    cases = [Case("HardSwish", _X), Case("Hardswish", [[3, 8]])]

    def lower(self, e, a, ins):
        return [e.op("HardSwish", ins)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.hardswish(xs[0])]
