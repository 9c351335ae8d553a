"""Pooling: max, average, min and sum pooling over 1-3 spatial dimensions, adaptive and global pooling."""

from __future__ import annotations

import math


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
    a.ceil_extra, a.out_spatial, a.in_spatial = _ceil_extra(a, x[2:], out), tuple(out), tuple(x[2:])
    a.empty_windows = _empty_windows(a, x[2:], out)
    return [(x[0], x[1]) + tuple(out)]


def _empty_windows(a, spatial, out) -> bool:
    """Whether some window holds padding only (dilation, or "same" padding,
    can space its taps around a small input): PyTorch's max is -inf there,
    onnxruntime's padding is the lowest float. Open sizes count as large."""
    for w, o, k, s, dl, (pb, _) in zip(spatial, out, a.kernel, a.strides, a.dilations, a.pads):
        if not (is_concrete(w) and is_concrete(o)):
            continue
        for i in range(o):
            if not any(pb <= i * s + dl * j < pb + w for j in range(k)):
                return True
    return False


def _torch_max(a, x):
    """PyTorch's max pooling with nnd's arguments (the test reference)."""
    import torch.nn.functional as F
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[len(a.kernel)]
    if all(b == e for b, e in a.pads):
        return fn(x, a.kernel, a.strides, padding=[b for b, _ in a.pads], dilation=a.dilations,
                  ceil_mode=a.ceil_mode)
    # Per-side padding is nnd's: pad with -inf. PyTorch's ceil_mode then keeps a
    # last window that starts in the end padding, which nnd drops (as PyTorch
    # does with its own symmetric padding): keep the windows nnd has.
    y = fn(F.pad(x, torch_pad(a.pads), value=float("-inf")), a.kernel, a.strides, dilation=a.dilations,
           ceil_mode=a.ceil_mode)
    return y[(slice(None), slice(None)) + tuple(slice(0, o if is_concrete(o) else None) for o in a.out_spatial)]


def _ceil_extra(a, spatial, out):
    """With ceil_mode, how far the last window runs past the end padding, per
    dimension (None where a size is open). Padding that much more and pooling
    without ceil_mode gives the same windows; it is how max and sum pooling are
    lowered, because onnx shape inference (1.23) does not drop a last window
    that starts in the end padding, as PyTorch and onnxruntime do, and so
    disagrees with the runtime on the output size."""
    if not a.ceil_mode:
        return [0] * len(spatial)
    extra = []
    for w, o, k, s, dl, (pb, pe) in zip(spatial, out, a.kernel, a.strides, a.dilations, a.pads):
        if not (is_concrete(w) and is_concrete(o)):
            extra.append(None)
        else:
            extra.append(max((o - 1) * s + dl * (k - 1) + 1 - (w + pb + pe), 0))
    return extra


def _lower_max(e, a, x):
    """MaxPool with a.pads; ceil_mode, or a window of padding only, as explicit
    -inf padding where sizes are known."""
    attrs = dict(kernel_shape=list(a.kernel), strides=list(a.strides), dilations=list(a.dilations))
    if None in a.ceil_extra:
        return e.op("MaxPool", [x], pads=onnx_pads(a.pads), ceil_mode=int(a.ceil_mode), **attrs)
    # Explicit -inf padding where a window would hold padding only, so that it
    # gives -inf as PyTorch does.
    if not any(a.ceil_extra) and not a.get("empty_windows"):
        return e.op("MaxPool", [x], pads=onnx_pads(a.pads), **attrs)
    d = len(a.pads)
    full = [0, 0] + [b for b, _ in a.pads] + [0, 0] + [pe + x_ for (_, pe), x_ in zip(a.pads, a.ceil_extra)]
    x = e.op("Pad", [x, e.const(full, hint="pads"), e.const(float("-inf"), dtype="float32", hint="neg_inf")])
    return e.op("MaxPool", [x], pads=[0] * (2 * d), **attrs)


def _validate(a, d):
    k = per_dim(a.kernel_size, d, "kernel_size")
    positive(a, "kernel_size", k)
    if a.stride is not None:
        positive(a, "stride", per_dim(a.stride, d, "stride"))


_WINDOW = (P("kernel_size", "ints", doc="the window size"), P("stride", "ints?", None),
           P("padding", "padding", 0))


@register
class MaxPool(Layer):
    """Max pooling (PyTorch's nn.MaxPoolNd); stride defaults to the kernel size.
    Padding never wins a window; a window that holds padding only (dilation
    can place one there) gives -inf, as in PyTorch."""

    names = {"MaxPool1d": 1, "MaxPool2d": 2, "MaxPool3d": 3}
    params = _WINDOW + (P("dilation", "ints", 1), P("ceil_mode", "bool", False))
    cases = [Case("MaxPool2d(2)", [[2, 3, 8, 8]]),
             Case("MaxPool2d(3, stride = 2, padding = 1)", [[1, 2, 9, 10]]),
             Case("MaxPool2d(3, stride = 2, ceil_mode = true)", [[1, 2, 10, 11]]),
             Case("MaxPool2d(2, dilation = 2)", [[1, 2, 9, 9]]),
             Case("MaxPool2d(2, stride = 3, padding = 1, ceil_mode = true)", [[1, 2, 5, 8]]),
             Case("MaxPool1d(2, stride = 2, padding = [(0, 1)], ceil_mode = true)", [[1, 2, 6]]),
             Case("MaxPool1d(3, stride = 2)", [[2, 3, 11]]),
             # windows of padding only: -inf, as PyTorch
             Case("MaxPool1d(2, padding = 1, dilation = 2)", [[1, 2, 1]]),
             Case("MaxPool2d(2, stride = 1, padding = 1, dilation = (2, 1))", [[1, 2, 1, 3]]),
             Case("MaxPool1d(2, stride = 2, padding = \"same\", dilation = 5)", [[1, 2, 3]]),
             Case("MaxPool3d(2)", [[1, 2, 4, 6, 6]])]

    def validate(self, a):
        _validate(a, a.variant)

    def infer(self, a, ins):
        return _window(a, ins[0], a.variant)

    def lower(self, e, a, ins):
        return [_lower_max(e, a, ins[0])]

    def reference(self, a):
        return lambda xs, p: [_torch_max(a, xs[0])]


@register
class AvgPool(Layer):
    """Average pooling (PyTorch's nn.AvgPoolNd); stride defaults to the kernel size."""

    names = {"AvgPool1d": 1, "AvgPool2d": 2, "AvgPool3d": 3}
    params = _WINDOW + (P("ceil_mode", "bool", False), P("count_include_pad", "bool", True))
    cases = [Case("AvgPool2d(2)", [[2, 3, 8, 8]]),
             Case("AvgPool2d(3, stride = 2, padding = 1)", [[1, 2, 9, 10]]),
             Case("AvgPool2d(3, stride = 2, padding = 1, count_include_pad = false)", [[1, 2, 9, 10]]),
             Case("AvgPool2d(3, stride = 2, ceil_mode = true)", [[1, 2, 10, 11]]),
             Case("AvgPool2d(2, stride = 3, padding = 1, ceil_mode = true)", [[1, 2, 5, 8]]),
             Case("AvgPool2d(3, stride = 2, padding = 1, ceil_mode = true)", [[1, 2, 4, 8]]),
             Case("AvgPool2d(3, stride = 2, padding = 1, ceil_mode = true, count_include_pad = false)",
                  [[1, 2, 4, 8]]),
             Case("AvgPool1d(2, stride = 3, padding = 1, ceil_mode = true, count_include_pad = false)",
                  [[1, 2, 8]]),
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
        attrs = dict(kernel_shape=list(a.kernel), strides=list(a.strides),
                     count_include_pad=int(a.count_include_pad))
        if None in a.ceil_extra:
            return [e.op("AveragePool", ins, pads=onnx_pads(a.pads), ceil_mode=int(a.ceil_mode), **attrs)]
        if not any(a.ceil_extra):
            return [e.op("AveragePool", ins, pads=onnx_pads(a.pads), **attrs)]
        # ceil_mode as explicit end padding (see _ceil_extra). Without
        # count_include_pad the padding is not counted anyway; with it, PyTorch
        # counts the padding but not what a last window holds beyond it, so the
        # windows that run past it are rescaled by a constant.
        pads = [(pb, pe + x_) for (pb, pe), x_ in zip(a.pads, a.ceil_extra)]
        y = e.op("AveragePool", ins, pads=onnx_pads(pads), **attrs)
        if not a.count_include_pad:
            return [y]
        import numpy as np   # lowering only: `nndc check` does not import numpy
        scale = np.ones((1, 1) + tuple(a.out_spatial), dtype=np.float32)
        for i, (w, o, k, s, (pb, pe)) in enumerate(zip(a.in_spatial, a.out_spatial, a.kernel, a.strides,
                                                       a.pads)):
            start = np.arange(o) * s - pb
            counted = np.minimum(start + k, w + pe) - start
            shape = [1] * (2 + len(a.kernel))
            shape[2 + i] = o
            scale = scale * (k / counted).reshape(shape)
        return [e.op("Mul", [y, e.const(scale, dtype="float32", hint="divisor")])]

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


@register
class MinPool(Layer):
    """Min pooling: -MaxPool(-x); padding never wins a window. Stride defaults
    to the kernel size."""

    names = {"MinPool1d": 1, "MinPool2d": 2, "MinPool3d": 3}
    params = _WINDOW + (P("dilation", "ints", 1), P("ceil_mode", "bool", False))
    cases = [Case("MinPool2d(2)", [[2, 3, 8, 8]]),
             Case("MinPool2d(3, stride = 2, padding = 1)", [[1, 2, 9, 10]]),
             Case("MinPool2d(3, stride = 2, ceil_mode = true)", [[1, 2, 10, 11]]),
             Case("MinPool2d((2, 3), stride = 3, padding = 1, ceil_mode = true)", [[1, 2, 7, 11]]),
             Case("MinPool2d(2, dilation = (2, 1), padding = [(1, 0), (0, 1)])", [[1, 2, 9, 9]]),
             Case("MinPool1d(3, stride = 2, padding = 1)", [[2, 3, 11]]),
             Case("MinPool1d(2, padding = 1, dilation = 2)", [[1, 2, 1]]),
             Case("MinPool1d(3, stride = 2, padding = [(0, 1)], ceil_mode = true)", [[2, 3, 7]]),
             Case("MinPool3d(2, stride = (1, 2, 2))", [[1, 2, 4, 6, 6]])]

    def infer(self, a, ins):
        return _window(a, ins[0], a.variant)

    def lower(self, e, a, ins):
        return [e.op("Neg", [_lower_max(e, a, e.op("Neg", ins))])]

    def reference(self, a):
        return lambda xs, p: [-_torch_max(a, -xs[0])]


@register
class SumPool(Layer):
    """Sum pooling: the sum over each window, padding counting as zeros (an
    average pool times the window size). Stride defaults to the kernel size."""

    names = {"SumPool1d": 1, "SumPool2d": 2, "SumPool3d": 3}
    params = _WINDOW + (P("ceil_mode", "bool", False),)
    cases = [Case("SumPool2d(2)", [[2, 3, 8, 8]]),
             Case("SumPool2d(3, stride = 2, padding = 1)", [[1, 2, 9, 10]]),
             Case("SumPool2d(3, stride = 2, padding = 1, ceil_mode = true)", [[1, 2, 10, 11]]),
             Case("SumPool2d(3, stride = 2, ceil_mode = true)", [[1, 2, 10, 12]]),
             Case("SumPool2d(2, stride = 3, padding = 1, ceil_mode = true)", [[1, 2, 5, 8]]),
             Case("SumPool2d((2, 3), padding = [(1, 0), (0, 1)])", [[1, 2, 7, 8]]),
             Case("SumPool2d(2, padding = [(1, 0), (0, 1)], ceil_mode = true)", [[1, 2, 6, 8]]),
             Case("SumPool1d(4, stride = 3, ceil_mode = true)", [[2, 3, 12]]),
             Case("SumPool1d(3, padding = 1)", [[2, 3, 10]]),
             Case("SumPool3d(2, stride = (1, 2, 2), padding = (0, 1, 1))", [[1, 2, 3, 5, 6]])]

    def infer(self, a, ins):
        x = ins[0]
        (out,) = _window(a, x, a.variant)
        # With ceil_mode the last window may run past the padded input; it is
        # padded out with zeros explicitly, so that every window sums k cells.
        for i, (w, ex) in enumerate(zip(x[2:], a.ceil_extra)):
            if ex is None:
                raise ShapeError("E0305", f"`{a.kind}` with `ceil_mode = true` needs concrete spatial sizes; "
                                 f"spatial dimension {i} is `{w}`", arg="ceil_mode")
        return [out]

    def lower(self, e, a, ins):
        x, pads = ins[0], a.pads
        if any(a.ceil_extra):
            d = len(pads)
            full = [0, 0] + [b for b, _ in pads] + [0, 0] + [pe + x_ for (_, pe), x_ in zip(pads, a.ceil_extra)]
            x = e.op("Pad", [x, e.const(full)])
            pads = [(0, 0)] * d
        y = e.op("AveragePool", [x], kernel_shape=list(a.kernel), strides=list(a.strides), pads=onnx_pads(pads),
                 count_include_pad=1)
        return [e.op("Mul", [y, e.const(float(math.prod(a.kernel)), dtype="float32", hint="window")])]

    def reference(self, a):
        import torch.nn.functional as F

        def f(xs, p):
            x, d = xs[0], a.variant
            k, s, pads = a.kernel, a.strides, a.pads
            if d == 1:   # avg_pool1d has no divisor_override: pool [N, C, 1, W]
                x, k, s, pads = x.unsqueeze(2), (1,) + k, (1,) + s, [(0, 0)] + list(pads)
            fn = F.avg_pool2d if len(k) == 2 else F.avg_pool3d
            if any(b != e_ for b, e_ in pads):
                # Per-side padding is ours, not PyTorch's: pad the zeros (and the
                # ceil_mode remainder) explicitly.
                ex = ([0] if d == 1 else []) + list(a.ceil_extra)
                y = fn(F.pad(x, torch_pad([(b, e_ + x_) for (b, e_), x_ in zip(pads, ex)])), k, s,
                       divisor_override=1)
            else:
                y = fn(x, k, s, padding=[b for b, _ in pads], ceil_mode=a.ceil_mode, count_include_pad=True,
                       divisor_override=1)
            return [y.squeeze(2) if d == 1 else y]
        return f


@register
class AdaptivePool(Layer):
    """Adaptive pooling to a fixed `output_size` (PyTorch's nn.AdaptiveAvgPoolNd
    and nn.AdaptiveMaxPoolNd): output position i along a dimension of size w
    pools the window [floor(i * w / o), ceil((i + 1) * w / o)). ONNX has no
    adaptive pooling. An output size of 1 is a reduction (any input size,
    symbolic included); one that divides the input is a pooling with kernel =
    stride = w / o; any other size is pooled window by window (Slice, then
    Reduce, then Concat along that dimension: a mean or maximum over a box
    is the same taken one dimension at a time)."""

    names = {"AdaptiveAvgPool1d": ("avg", 1), "AdaptiveAvgPool2d": ("avg", 2), "AdaptiveAvgPool3d": ("avg", 3),
             "AdaptiveMaxPool1d": ("max", 1), "AdaptiveMaxPool2d": ("max", 2), "AdaptiveMaxPool3d": ("max", 3)}
    params = (P("output_size", "ints", doc="the output's spatial size"),)
    cases = [Case("AdaptiveAvgPool2d((6, 6))", [[2, 3, 12, 18]]),
             Case("AdaptiveAvgPool2d(7)", [[1, 2, 7, 7]]),
             Case("AdaptiveAvgPool2d(1)", [[2, 3, 5, 6]]),
             Case("AdaptiveAvgPool2d((1, 3))", [[2, 3, 5, 6]]),
             Case("AdaptiveAvgPool1d(4)", [[2, 3, 12]]),
             Case("AdaptiveAvgPool3d((1, 2, 3))", [[1, 2, 3, 4, 9]]),
             Case("AdaptiveMaxPool2d((3, 2))", [[2, 3, 9, 8]]),
             Case("AdaptiveMaxPool2d(1)", [[2, 3, 5, 6]]),
             Case("AdaptiveMaxPool1d(1)", [[2, 3, 7]]),
             Case("AdaptiveMaxPool3d(2)", [[1, 2, 4, 6, 2]]),
             # uneven windows: GoogLeNet's auxiliary heads pool 14x14 to 4x4
             Case("AdaptiveAvgPool2d(4)", [[2, 3, 14, 14]]),
             Case("AdaptiveAvgPool2d((3, 5))", [[1, 2, 7, 12]]),
             Case("AdaptiveMaxPool2d((5, 2))", [[2, 3, 13, 6]]),
             Case("AdaptiveAvgPool1d(7)", [[2, 3, 4]]),
             Case("AdaptiveMaxPool3d((2, 3, 1))", [[1, 2, 5, 7, 4]])]

    def infer(self, a, ins):
        x = ins[0]
        kind, d = a.variant
        spatial_rank_check(a, x, d)
        out = per_dim(a.output_size, d, "output_size")
        positive(a, "output_size", out)
        kernel, reduce_axes, windows = [], [], {}
        for i, (w, o) in enumerate(zip(x[2:], out)):
            if o == 1:   # global over this dimension, whatever its size
                reduce_axes.append(i + 2)
                kernel.append(1)
            elif not is_concrete(w):
                raise ShapeError("E0305", f"`{a.kind}` to size {o} needs a concrete input size; spatial "
                                 f"dimension {i} is `{w}`",
                                 help="only an output size of 1 (global pooling) works on an open size")
            elif w % o:
                windows[i + 2] = [(j * w // o, -(-(j + 1) * w // o)) for j in range(o)]
                kernel.append(1)
            else:
                kernel.append(w // o)
        a.kernel, a.reduce_axes, a.windows = tuple(kernel), reduce_axes, windows
        return [(x[0], x[1]) + tuple(out)]

    def lower(self, e, a, ins):
        kind, d = a.variant
        if len(a.reduce_axes) == d:
            return [e.op("GlobalAveragePool" if kind == "avg" else "GlobalMaxPool", ins)]
        reduce = "ReduceMean" if kind == "avg" else "ReduceMax"
        y = ins[0]
        if a.reduce_axes:
            y = e.op(reduce, [y, e.const(a.reduce_axes)], keepdims=1)
        for axis, spans in sorted(a.windows.items()):
            parts = [e.op(reduce, [e.op("Slice", [y, e.const([lo]), e.const([hi]), e.const([axis])]),
                                   e.const([axis])], keepdims=1) for lo, hi in spans]
            y = e.op("Concat", parts, axis=axis)
        if any(k != 1 for k in a.kernel):
            y = e.op("AveragePool" if kind == "avg" else "MaxPool", [y], kernel_shape=list(a.kernel),
                     strides=list(a.kernel))
        return [y]

    def reference(self, a):
        import torch.nn.functional as F
        kind, d = a.variant
        fn = {("avg", 1): F.adaptive_avg_pool1d, ("avg", 2): F.adaptive_avg_pool2d,
              ("avg", 3): F.adaptive_avg_pool3d, ("max", 1): F.adaptive_max_pool1d,
              ("max", 2): F.adaptive_max_pool2d, ("max", 3): F.adaptive_max_pool3d}[a.variant]
        out = per_dim(a.output_size, d, "output_size")
        return lambda xs, p: [fn(xs[0], out)]
