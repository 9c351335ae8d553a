"""Pooling: max and average pooling over 1-3 spatial dimensions, and global pooling."""

from __future__ import annotations

from ..shapes import is_concrete
from ._spatial import onnx_pads, resolve_padding, spatial_rank_check, torch_pad, window_out
from .base import P, Case, Layer, ShapeError, per_dim, positive, register


def _window(a, x, d):
    spatial_rank_check(a, x, d)
    k = per_dim(a.kernel_size, d, "kernel_size")
    s = per_dim(a.stride if a.stride is not None else a.kernel_size, d, "stride")
    positive(a, "kernel_size", k)
    positive(a, "stride", s)
    dl = per_dim(a.get("dilation", 1), d, "dilation")
    pads = resolve_padding(a, d, k, s, dl, x[2:])
    for (pb, pe), kk in zip(pads, k):
        if max(pb, pe) > kk // 2 and a.padding not in ("same", "valid"):
            raise ShapeError("E0107", f"pooling padding must be at most half the kernel ({kk // 2}); "
                             f"got {max(pb, pe)}", arg="padding")
    out = window_out(a, x[2:], k, s, dl, pads, a.ceil_mode)
    a.kernel, a.strides, a.dilations, a.pads = k, s, dl, pads
    return [(x[0], x[1]) + tuple(out)]


def _validate(a, d):
    k = per_dim(a.kernel_size, d, "kernel_size")
    positive(a, "kernel_size", k)
    if a.stride is not None:
        positive(a, "stride", per_dim(a.stride, d, "stride"))


_WINDOW = (P("kernel_size", "ints", doc="the window size"), P("stride", "ints?", None),
           P("padding", "padding", 0))


@register
class MaxPool(Layer):
    """Max pooling (PyTorch's nn.MaxPoolNd); stride defaults to the kernel size."""

    names = {"MaxPool1d": 1, "MaxPool2d": 2, "MaxPool3d": 3}
    params = _WINDOW + (P("dilation", "ints", 1), P("ceil_mode", "bool", False))
    cases = [Case("MaxPool2d(2)", [[2, 3, 8, 8]]),
             Case("MaxPool2d(3, stride = 2, padding = 1)", [[1, 2, 9, 10]]),
             Case("MaxPool2d(3, stride = 2, ceil_mode = true)", [[1, 2, 10, 11]]),
             Case("MaxPool2d(2, dilation = 2)", [[1, 2, 9, 9]]),
             Case("MaxPool1d(3, stride = 2)", [[2, 3, 11]]),
             Case("MaxPool3d(2)", [[1, 2, 4, 6, 6]])]

    def validate(self, a):
        _validate(a, a.variant)

    def infer(self, a, ins):
        return _window(a, ins[0], a.variant)

    def lower(self, e, a, ins):
        return [e.op("MaxPool", ins, kernel_shape=list(a.kernel), strides=list(a.strides),
                     pads=onnx_pads(a.pads), dilations=list(a.dilations), ceil_mode=int(a.ceil_mode))]

    def reference(self, a):
        import torch.nn.functional as F
        fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[a.variant]
        return lambda xs, p: [fn(F.pad(xs[0], torch_pad(a.pads), value=float("-inf")), a.kernel, a.strides,
                                 dilation=a.dilations, ceil_mode=a.ceil_mode)] \
            if any(b != e for b, e in a.pads) else \
            [fn(xs[0], a.kernel, a.strides, padding=[b for b, _ in a.pads], dilation=a.dilations,
                ceil_mode=a.ceil_mode)]


@register
class AvgPool(Layer):
    """Average pooling (PyTorch's nn.AvgPoolNd); stride defaults to the kernel size."""

    names = {"AvgPool1d": 1, "AvgPool2d": 2, "AvgPool3d": 3}
    params = _WINDOW + (P("ceil_mode", "bool", False), P("count_include_pad", "bool", True))
    cases = [Case("AvgPool2d(2)", [[2, 3, 8, 8]]),
             Case("AvgPool2d(3, stride = 2, padding = 1)", [[1, 2, 9, 10]]),
             Case("AvgPool2d(3, stride = 2, padding = 1, count_include_pad = false)", [[1, 2, 9, 10]]),
             Case("AvgPool2d(3, stride = 2, ceil_mode = true)", [[1, 2, 10, 11]]),
             Case("AvgPool1d(4, stride = 2)", [[2, 3, 11]]),
             Case("AvgPool3d(2, stride = 1)", [[1, 2, 3, 4, 4]])]

    def validate(self, a):
        _validate(a, a.variant)

    def infer(self, a, ins):
        out = _window(a, ins[0], a.variant)
        if any(b != e for b, e in a.pads):
            raise ShapeError("E0107", "average pooling takes symmetric padding; pad with `Pad` first "
                             "for an asymmetric window", arg="padding")
        return out

    def lower(self, e, a, ins):
        return [e.op("AveragePool", ins, kernel_shape=list(a.kernel), strides=list(a.strides),
                     pads=onnx_pads(a.pads), ceil_mode=int(a.ceil_mode),
                     count_include_pad=int(a.count_include_pad))]

    def reference(self, a):
        import torch.nn.functional as F
        fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[a.variant]
        return lambda xs, p: [fn(xs[0], a.kernel, a.strides, padding=[b for b, _ in a.pads],
                                 ceil_mode=a.ceil_mode, count_include_pad=a.count_include_pad)]


@register
class GlobalPool(Layer):
    """Pooling over all spatial dimensions, keeping them as size 1: [N, C, 1, 1]."""

    names = {"GlobalAvgPool": "avg", "GlobalMaxPool": "max"}
    params = ()
    cases = [Case("GlobalAvgPool", [[2, 3, 5, 6]]), Case("GlobalMaxPool", [[2, 3, 5, 6]]),
             Case("GlobalAvgPool", [[2, 3, 7]])]

    def infer(self, a, ins):
        (x,) = ins
        if len(x) < 3:
            raise ShapeError("E0310", f"`{a.kind}` expects [N, C, spatial...], got rank {len(x)}")
        return [tuple(x[:2]) + (1,) * (len(x) - 2)]

    def lower(self, e, a, ins):
        return [e.op("GlobalAveragePool" if a.variant == "avg" else "GlobalMaxPool", ins)]

    def reference(self, a):
        def f(xs, p):
            x = xs[0]
            dims = tuple(range(2, x.dim()))
            return [x.mean(dim=dims, keepdim=True) if a.variant == "avg" else x.amax(dim=dims, keepdim=True)]
        return f
