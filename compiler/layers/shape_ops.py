"""Layers that only move data: Flatten, Identity, Reshape, Pad."""

from __future__ import annotations

from ..shapes import fmt_shape, is_concrete, numel
from ._spatial import resolve_padding, torch_pad
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


@register
class Reshape(Layer):
    """[N, ...] -> [N, *shape]: the batch dimension is kept and `shape` gives the
    rest; one entry may be -1 (inferred). The element count must match."""

    names = {"Reshape": None}
    params = (P("shape", "ints", doc="the shape after the batch dimension"),)
    cases = [Case("Reshape([16, 25])", [[2, 400]]),
             Case("Reshape((4, -1, 2))", [[2, 3, 4, 4]]),
             Case("Reshape(-1)", [[2, 3, 4, 5]]),
             Case("Reshape(60)", [[3, 3, 4, 5]])]

    def infer(self, a, ins):
        (x,) = ins
        shape = a.shape if isinstance(a.shape, tuple) else (a.shape,)
        if shape.count(-1) > 1:
            raise ShapeError("E0107", f"`shape` can hold one -1 (the size to infer); got {a.shape}", arg="shape")
        if any(v == 0 or v < -1 for v in shape):
            raise ShapeError("E0107", f"`shape` entries must be positive, or -1 for the one to infer; got "
                             f"{a.shape}", arg="shape")
        have = numel(x[1:])
        known = 1
        for v in shape:
            if v != -1:
                known *= v
        target = fmt_shape((x[0],) + shape)
        if -1 in shape:
            if is_concrete(have) and have % known:
                raise ShapeError("E0311", f"cannot reshape {fmt_shape(x)} to {target}: {have} elements per "
                                 f"sample are not a multiple of the {known} that the other sizes hold",
                                 arg="shape", help=f"the sizes besides -1 must multiply to a divisor of {have}")
            fill = have // known
            out = tuple(fill if v == -1 else v for v in shape)
        else:
            if not is_concrete(have):
                raise ShapeError("E0305", f"`Reshape` to {target} needs a concrete size to check the element "
                                 f"count; the input is {fmt_shape(x)}",
                                 help="write -1 for the one size that depends on the input")
            if have != known:
                raise ShapeError("E0311", f"cannot reshape {fmt_shape(x)} to {target}: {have} elements per "
                                 f"sample, but the new shape holds {known}", arg="shape",
                                 help="the batch dimension is kept; `shape` gives the sizes after it")
            out = shape
        return [(x[0],) + tuple(out)]

    def lower(self, e, a, ins):
        shape = a.shape if isinstance(a.shape, tuple) else (a.shape,)
        return [e.op("Reshape", [ins[0], e.const([0] + list(shape))])]

    def reference(self, a):
        shape = a.shape if isinstance(a.shape, tuple) else (a.shape,)
        return lambda xs, p: [xs[0].reshape((xs[0].shape[0],) + shape)]


PAD_MODES = ("constant", "reflect", "replicate", "circular")
_ONNX_PAD = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@register
class Pad(Layer):
    """Pad the spatial dimensions of [N, C, *spatial]: `padding` is an int (all
    sides), one int per spatial dimension, or a (begin, end) pair per spatial
    dimension. Modes as F.pad: "constant" (with `value`), "reflect",
    "replicate", "circular"."""

    names = {"Pad": None}
    params = (P("padding", "padding", doc="int, one per spatial dimension, or (begin, end) pairs"),
              P("mode", "str", "constant", choices=PAD_MODES),
              P("value", "float", 0.0, doc="the fill value of mode \"constant\""))
    cases = [Case("Pad(1)", [[2, 3, 4, 5]]),
             Case("Pad((1, 2), value = -1.5)", [[2, 3, 4, 5]]),
             Case("Pad([(0, 2), (3, 1)])", [[1, 2, 4, 5]]),
             Case("Pad(2, mode = \"reflect\")", [[1, 2, 4, 5]]),
             Case("Pad([(3, 0), (1, 2)], mode = \"reflect\")", [[1, 2, 4, 5]]),
             Case("Pad([(0, 2), (3, 1)], mode = \"replicate\")", [[1, 2, 4, 5]]),
             Case("Pad([(0, 2), (3, 1)], mode = \"circular\")", [[1, 2, 4, 5]]),
             Case("Pad([(2, 1)], mode = \"reflect\")", [[2, 3, 6]]),
             Case("Pad(1, mode = \"replicate\")", [[2, 3, 6]]),
             Case("Pad((1, 0, 2), mode = \"circular\")", [[1, 2, 3, 4, 5]]),
             Case("Pad([(1, 0), (0, 1), (2, 2)], value = 3)", [[1, 2, 3, 4, 5]])]

    def infer(self, a, ins):
        (x,) = ins
        d = len(x) - 2
        if d < 1:
            raise ShapeError("E0310", f"`Pad` expects [N, C, spatial...], got {fmt_shape(x)}",
                             help="Pad pads the spatial dimensions (after batch and channels)")
        if a.padding == "same":
            raise ShapeError("E0107", "`Pad` takes the padding as numbers, not \"same\"", arg="padding")
        if a.mode != "constant" and a.value != 0.0:
            raise ShapeError("E0107", f"`value` only applies to mode \"constant\", not \"{a.mode}\"", arg="value")
        ones = (1,) * d
        pads = resolve_padding(a, d, ones, ones, ones, x[2:])
        out = []
        for i, (w, (pb, pe)) in enumerate(zip(x[2:], pads)):
            if is_concrete(w) and a.mode in ("reflect", "circular"):
                limit = w - 1 if a.mode == "reflect" else w
                if max(pb, pe) > limit:
                    raise ShapeError(
                        "E0107", f"{a.mode} padding of {max(pb, pe)} needs spatial dimension {i} to be larger "
                        f"than that{' (at most its size)' if a.mode == 'circular' else ''}; it is {w}",
                        arg="padding")
            out.append(w + pb + pe)
        a.pads = pads
        return [(x[0], x[1]) + tuple(out)]

    def lower(self, e, a, ins):
        if not any(b or e_ for b, e_ in a.pads):
            return [ins[0]]
        full = [0, 0] + [b for b, _ in a.pads] + [0, 0] + [e_ for _, e_ in a.pads]
        args = [ins[0], e.const(full, hint="pads")]
        if a.mode == "constant" and a.value != 0.0:
            args.append(e.const(a.value, dtype="float32", hint="value"))
        return [e.op("Pad", args, mode=_ONNX_PAD[a.mode])]

    def reference(self, a):
        import torch.nn.functional as F
        if a.mode == "constant":
            return lambda xs, p: [F.pad(xs[0], torch_pad(a.pads), mode="constant", value=a.value)]
        return lambda xs, p: [F.pad(xs[0], torch_pad(a.pads), mode=a.mode)]
