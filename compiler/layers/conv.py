"""Convolutions: Conv1d/2d/3d (with padding modes, dilation, groups) and
depthwise convolution."""

from __future__ import annotations

import math

from ..shapes import fmt_shape, is_concrete
from ._spatial import onnx_pads, resolve_padding, spatial_rank_check, torch_pad, window_out
from .base import P, Case, Layer, ShapeError, Weight, fan_in_bound, per_dim, positive, register

PAD_MODES = ("zeros", "constant", "reflect", "replicate")
_ONNX_PAD_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


def _conv_common(a, x, d: int, out_channels: int):
    """Checks and output shape shared by Conv and DepthwiseConv."""
    spatial_rank_check(a, x, d)
    cin = x[1]
    if not is_concrete(cin):
        raise ShapeError("E0305", f"`{a.kind}` needs a concrete number of input channels; got `{cin}`")
    k = per_dim(a.kernel_size, d, "kernel_size")
    s = per_dim(a.stride, d, "stride")
    dl = per_dim(a.dilation, d, "dilation")
    positive(a, "kernel_size", k)
    positive(a, "stride", s)
    positive(a, "dilation", dl)
    g = a.groups
    if g <= 0:
        raise ShapeError("E0107", f"`groups` must be positive; got {g}", arg="groups")
    if cin % g or out_channels % g:
        which = f"{cin} input channels" if cin % g else f"{out_channels} output channels"
        raise ShapeError("E0306", f"`groups = {g}` does not divide the {which}", arg="groups",
                         help=f"groups must divide both the input ({cin}) and output ({out_channels}) channels")
    pads = resolve_padding(a, d, k, s, dl, x[2:])
    if a.padding_mode in ("reflect", "replicate"):
        for i, ((pb, pe), w) in enumerate(zip(pads, x[2:])):
            if a.padding_mode == "reflect" and is_concrete(w) and max(pb, pe) >= w:
                raise ShapeError("E0107", f"reflect padding of {max(pb, pe)} needs spatial dimension {i} "
                                 f"larger than that; it is {w}", arg="padding")
    out = window_out(a, x[2:], k, s, dl, pads)
    a.kernel, a.strides, a.dilations, a.pads, a.in_channels = k, s, dl, pads, cin
    fan_in = (cin // g) * math.prod(k)
    b = fan_in_bound(fan_in)
    a.weights["weight"] = Weight((out_channels, cin // g) + k, bound=b)
    if a.bias:
        a.weights["bias"] = Weight((out_channels,), bound=b)
    return (x[0], out_channels) + tuple(out)


def _validate_window(a, d: int) -> None:
    """Kernel, stride, dilation and groups, before any input is known."""
    for name in ("kernel_size", "stride", "dilation"):
        positive(a, name, per_dim(a[name], d, name))
    if a.get("groups", 1) <= 0:
        raise ShapeError("E0107", f"`groups` must be positive; got {a.groups}", arg="groups")
    p = a.padding
    if isinstance(p, int) and p < 0:
        raise ShapeError("E0107", f"`padding` cannot be negative; got {p}", arg="padding")


def _lower_conv(e, a, x):
    pads = onnx_pads(a.pads)
    if a.padding_mode != "zeros" and any(pads):
        d = len(a.pads)
        full = [0, 0] + [b for b, _ in a.pads] + [0, 0] + [e_ for _, e_ in a.pads]
        extra = [e.const(full)]
        if a.padding_mode == "constant":
            extra.append(e.const(a.pad_value, dtype="float32", hint="pad_value"))
        x = e.op("Pad", [x] + extra, mode=_ONNX_PAD_MODE[a.padding_mode])
        pads = [0] * (2 * d)
    ins = [x, e.weight("weight")] + ([e.weight("bias")] if a.bias else [])
    return e.op("Conv", ins, kernel_shape=list(a.kernel), strides=list(a.strides), dilations=list(a.dilations),
                pads=pads, group=a.groups)


def _reference_conv(a, d):
    import torch.nn.functional as F
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[d]
    mode = {"zeros": "constant", "constant": "constant", "reflect": "reflect", "replicate": "replicate"}[a.padding_mode]
    value = a.pad_value if a.padding_mode == "constant" else 0.0

    def f(xs, p):
        x = F.pad(xs[0], torch_pad(a.pads), mode=mode, value=value) if mode == "constant" else \
            F.pad(xs[0], torch_pad(a.pads), mode=mode)
        return [conv(x, p["weight"], p.get("bias"), stride=a.strides, dilation=a.dilations, groups=a.groups)]
    return f


_CONV_PARAMS = (
    P("kernel_size", "ints", doc="the window size"),
    P("stride", "ints", 1),
    P("padding", "padding", 0),
    P("dilation", "ints", 1),
    P("groups", "int", 1),
    P("bias", "bool", True),
    P("padding_mode", "str", "zeros", choices=PAD_MODES),
    P("pad_value", "float", 0.0, doc="the fill value of `padding_mode = \"constant\"`"),
)


@register
class Conv(Layer):
    """Convolution over 1, 2 or 3 spatial dimensions (PyTorch's nn.ConvNd)."""

    names = {"Conv1d": 1, "Conv2d": 2, "Conv3d": 3}
    params = (P("out_channels", "int", doc="the number of output channels"),) + _CONV_PARAMS
    cases = [
        Case("Conv2d(8, 3)", [[2, 3, 9, 9]]),
        Case("Conv2d(8, 3, stride = 2, padding = 1)", [[2, 3, 9, 10]]),
        Case("Conv2d(6, (3, 5), padding = (1, 2), dilation = (2, 1))", [[1, 4, 11, 12]]),
        Case("Conv2d(8, 3, groups = 2, bias = false)", [[2, 4, 7, 7]]),
        Case("Conv2d(4, 3, padding = \"same\")", [[1, 2, 6, 7]]),
        Case("Conv2d(4, 4, padding = \"same\")", [[1, 2, 6, 7]]),
        Case("Conv2d(4, 3, padding = [(0, 2), (1, 0)])", [[1, 2, 6, 7]]),
        Case("Conv2d(4, 3, padding = 2, padding_mode = \"reflect\")", [[1, 2, 6, 7]]),
        Case("Conv2d(4, 3, padding = 1, padding_mode = \"replicate\")", [[1, 2, 6, 7]]),
        Case("Conv2d(4, 3, padding = 1, padding_mode = \"constant\", pad_value = 0.5)", [[1, 2, 6, 7]]),
        Case("Conv2d(5, 1)", [[2, 3, 4, 4]]),
        Case("Conv1d(5, 3, stride = 2, padding = 1)", [[2, 3, 16]]),
        Case("Conv3d(4, 3, padding = 1, stride = (1, 2, 2))", [[1, 2, 5, 6, 6]]),
    ]

    def validate(self, a):
        positive(a, "out_channels", a.out_channels)
        _validate_window(a, a.variant)

    def infer(self, a, ins):
        positive(a, "out_channels", a.out_channels)
        return [_conv_common(a, ins[0], a.variant, a.out_channels)]

    def lower(self, e, a, ins):
        return [_lower_conv(e, a, ins[0])]

    def reference(self, a):
        return _reference_conv(a, a.variant)


@register
class DepthwiseConv(Layer):
    """Depthwise convolution: one filter per input channel (groups = channels),
    `multiplier` filters each."""

    names = {"DepthwiseConv1d": 1, "DepthwiseConv2d": 2, "DepthwiseConv3d": 3}
    params = (P("kernel_size", "ints", doc="the window size"),) + _CONV_PARAMS[1:4] + (
        P("multiplier", "int", 1), P("bias", "bool", True),
        P("padding_mode", "str", "zeros", choices=PAD_MODES), P("pad_value", "float", 0.0))
    cases = [Case("DepthwiseConv2d(3, padding = 1)", [[2, 4, 7, 7]]),
             Case("DepthwiseConv2d(3, stride = 2, multiplier = 2, bias = false)", [[1, 3, 8, 8]]),
             Case("DepthwiseConv1d(5, padding = 2)", [[1, 3, 10]]),
             Case("DepthwiseConv3d(3)", [[1, 2, 4, 5, 5]])]

    def validate(self, a):
        positive(a, "multiplier", a.multiplier)
        _validate_window(a, a.variant)

    def infer(self, a, ins):
        x = ins[0]
        spatial_rank_check(a, x, a.variant)
        positive(a, "multiplier", a.multiplier)
        a.groups = x[1]
        if not is_concrete(x[1]):
            raise ShapeError("E0305", f"`{a.kind}` needs a concrete number of input channels; got `{x[1]}`")
        return [_conv_common(a, x, a.variant, x[1] * a.multiplier)]

    def lower(self, e, a, ins):
        return [_lower_conv(e, a, ins[0])]

    def reference(self, a):
        return _reference_conv(a, a.variant)
