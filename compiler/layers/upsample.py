"""Upsample: resizing the spatial dimensions by a scale or to a size, as
PyTorch's nn.Upsample / F.interpolate, lowered to ONNX Resize."""

from __future__ import annotations

import math

from ..shapes import fmt_shape, is_concrete
from .base import P, Case, Layer, ShapeError, per_dim, register

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "bicubic")
# PyTorch spells linear interpolation by rank; nnd takes "linear" for any rank too.
_RANKED = {"bilinear": 2, "trilinear": 3, "bicubic": 2}


def _onnx_sizes(w: int, s: float) -> set:
    """The output sizes ONNX tools compute for Resize by scale s: onnx shape
    inference floors w * s with s as a float32 widened to double; onnxruntime
    multiplies in float32."""
    import numpy as np   # only for models with Upsample: `nndc check` stays numpy-free otherwise
    s32 = np.float32(s)
    return {math.floor(w * float(s32)), int(math.floor(np.float32(w) * s32))}


def _torch_nearest(mode: str, w: int, s: float, d: int):
    """PyTorch's source indices of a same-size nearest resize by s (its float32
    arithmetic), or None where they are the identity."""
    if mode == "nearest" and d == 2:
        return None     # its 2d kernel copies a dimension that keeps its size
    import numpy as np
    dst = np.arange(w, dtype=np.float32)
    inv = np.float32(1.0 / s)
    src = np.floor((dst + np.float32(0.5)) * inv if mode == "nearest-exact" else dst * inv)
    idx = np.minimum(src.astype(np.int64), w - 1)
    return None if (idx == np.arange(w)).all() else idx.tolist()


@register
class Upsample(Layer):
    """Resize [N, C, *spatial] by `scale_factor` (output floor(size * scale)) or
    to `size`; exactly one of them. Modes as F.interpolate: "nearest" (the
    source index is floor(dst / scale)), "nearest-exact", "linear" (also
    spelled "bilinear" / "trilinear"; `align_corners` as in PyTorch) and
    "bicubic" (2d). The result is PyTorch's (CPU kernels) also where they copy
    a dimension that keeps its size, and where float32 rounding would give
    ONNX another output size it says the size instead, or refuses."""

    names = {"Upsample": None}
    params = (P("scale_factor", "floats", None, doc="a number, or one per spatial dimension"),
              P("size", "sizes", None, doc="the output's spatial size; symbolic sizes (`y.shape[2:]`) too"),
              P("mode", "str", "nearest", choices=MODES),
              P("align_corners", "bool", False))
    cases = [
        Case("Upsample(scale_factor = 2)", [[2, 3, 5, 6]]),
        Case("Upsample(scale_factor = (1.5, 2.5))", [[1, 2, 5, 7]]),
        Case("Upsample(scale_factor = 0.5)", [[1, 2, 8, 9]]),
        Case("Upsample(scale_factor = (1.25, 2.2))", [[1, 2, 2, 4]]),
        Case("Upsample(scale_factor = 2.2)", [[1, 2, 4]]),
        Case("Upsample(scale_factor = 1.1)", [[1, 2, 5]]),
        Case("Upsample(scale_factor = (1, 1.1, 1.19), mode = \"nearest-exact\")", [[1, 2, 3, 4, 5]]),
        Case("Upsample(scale_factor = (1, 1.25, 2.2))", [[1, 2, 3, 2, 4]]),
        Case("Upsample(size = (7, 13))", [[1, 2, 4, 5]]),
        Case("Upsample(size = (3, 4))", [[1, 2, 7, 9]]),
        Case("Upsample(scale_factor = 3)", [[2, 3, 5]]),
        Case("Upsample(size = 12)", [[2, 3, 5]]),
        Case("Upsample(scale_factor = (1, 2, 2))", [[1, 2, 3, 4, 5]]),
        Case("Upsample(size = (5, 6, 7))", [[1, 2, 3, 4, 5]]),
        Case("Upsample(scale_factor = 0.35)", [[1, 2, 20]]),
        Case("Upsample(scale_factor = (0.7, 1.3), mode = \"linear\")", [[1, 2, 10, 20]]),
        Case("Upsample(scale_factor = 1.7, mode = \"nearest-exact\")", [[1, 2, 6, 7]]),
        Case("Upsample(size = (9, 4), mode = \"nearest-exact\")", [[1, 2, 6, 7]]),
        Case("Upsample(scale_factor = 2, mode = \"linear\")", [[2, 3, 5, 6]]),
        Case("Upsample(scale_factor = 2, mode = \"bilinear\", align_corners = true)", [[2, 3, 5, 6]]),
        Case("Upsample(scale_factor = (1.5, 0.5), mode = \"linear\")", [[1, 2, 5, 8]]),
        Case("Upsample(scale_factor = (0.7, 1.3), mode = \"linear\")", [[1, 2, 2, 3]]),
        Case("Upsample(scale_factor = 1.1, mode = \"linear\")", [[1, 2, 5]]),
        Case("Upsample(size = (7, 1), mode = \"linear\")", [[1, 2, 4, 5]]),
        Case("Upsample(size = (7, 3), mode = \"linear\", align_corners = true)", [[1, 2, 4, 5]]),
        Case("Upsample(scale_factor = 2.5, mode = \"linear\")", [[2, 3, 6]]),
        Case("Upsample(size = 4, mode = \"linear\", align_corners = true)", [[2, 3, 9]]),
        Case("Upsample(scale_factor = 2, mode = \"trilinear\")", [[1, 2, 3, 4, 5]]),
        Case("Upsample(size = (4, 3, 8), mode = \"linear\", align_corners = true)", [[1, 2, 3, 4, 5]]),
        Case("Upsample(scale_factor = 2, mode = \"bicubic\")", [[1, 2, 5, 6]], tol=2e-5),
        Case("Upsample(size = (4, 9), mode = \"bicubic\", align_corners = true)", [[1, 2, 6, 7]], tol=2e-5),
    ]

    def infer(self, a, ins):
        x = ins[0]
        d = len(x) - 2
        if not 1 <= d <= 3:
            raise ShapeError("E0310", f"`Upsample` expects [N, C, W], [N, C, H, W] or [N, C, D, H, W], "
                             f"got {fmt_shape(x)}")
        if a.mode in _RANKED and _RANKED[a.mode] != d:
            raise ShapeError("E0107", f"mode \"{a.mode}\" needs {_RANKED[a.mode]} spatial dimensions; the "
                             f"input {fmt_shape(x)} has {d}", arg="mode",
                             help="\"linear\" interpolates over any number of spatial dimensions"
                             if a.mode != "bicubic" else None)
        linear = a.mode in ("linear", "bilinear", "trilinear", "bicubic")
        if a.align_corners and not linear:
            raise ShapeError("E0107", f"`align_corners` only applies to the interpolating modes, not "
                             f"\"{a.mode}\"", arg="align_corners")
        if (a.scale_factor is None) == (a.size is None):
            if a.size is not None:
                raise ShapeError("E0107", "`Upsample` takes `scale_factor` or `size`, not both", arg="size")
            raise ShapeError("E0104", "`Upsample` needs `scale_factor` or `size`",
                             help="for example `Upsample(scale_factor = 2)` or `Upsample(size = (64, 64))`")
        a.use_sizes, a.gather = a.size is not None, None
        if a.size is not None:
            out = per_dim(a.size, d, "size")
            if any(is_concrete(v) and v <= 0 for v in out):
                raise ShapeError("E0107", f"`size` must be positive; got {a.size}", arg="size")
            a.out_size, a.scales = out, None
            return [(x[0], x[1]) + out]
        sf = a.scale_factor
        scales = tuple(float(v) for v in (sf if isinstance(sf, tuple) else (sf,) * d))
        if len(scales) != d:
            raise ShapeError("E0107", f"`scale_factor` has {len(scales)} values, but the input has {d} spatial "
                             f"dimension{'s' * (d != 1)}", arg="scale_factor")
        if any(not (v > 0 and math.isfinite(v)) for v in scales):
            raise ShapeError("E0107", f"`scale_factor` must be positive; got {sf}", arg="scale_factor")
        out, onnx_scales = [], []
        for i, (w, s) in enumerate(zip(x[2:], scales)):
            onnx_scales.append(s)
            if is_concrete(w):
                o = math.floor(w * s)    # PyTorch's output size, in double precision
                if o <= 0:
                    raise ShapeError("E0304", f"`Upsample` makes spatial dimension {i} of size {o}: "
                                     f"{w} x {s:g} rounds down to {o}", arg="scale_factor")
                if a.mode == "nearest" and d == 2 and o in (w, 2 * w):
                    # PyTorch's 2d "nearest" kernel (only that one: 1d and 3d floor
                    # dst / scale) copies, or doubles, when the output is the input's
                    # size, or twice it, whatever the scale says.
                    onnx_scales[-1] = float(o // w)
                elif a.mode in ("linear", "bilinear", "trilinear") and o == w:
                    onnx_scales[-1] = 1.0   # PyTorch's linear kernels copy a dimension that keeps its size
                elif _onnx_sizes(w, s) != {o}:
                    if o != round(w * s) or abs(w * s - o) > 1e-9 * o:
                        raise ShapeError(
                            "E0311", f"`Upsample` by {s:g} on spatial dimension {i} (size {w}) is ambiguous: "
                            f"{w} x {s:g} is {w * s!r}, which PyTorch rounds down to {o} but ONNX Resize "
                            f"to {' or '.join(map(str, sorted(_onnx_sizes(w, s) - {o})))} (float32 "
                            f"rounding)", arg="scale_factor",
                            help="give the output size with `size = ...` instead")
                    # w * s is an integer that float32 rounding misses: say the size
                    # instead; the coordinate mappings out/in and 1/s then agree.
                    a.use_sizes = True
                out.append(o)
            elif s == int(s):
                out.append(w * int(s))
            else:
                raise ShapeError("E0305", f"`Upsample` by {s:g} needs a concrete size; spatial dimension {i} "
                                 f"is `{w}`", arg="scale_factor",
                                 help="an integer scale works on an open size")
        a.out_size, a.scales, a.onnx_scales = tuple(out), scales, tuple(onnx_scales)
        if a.mode == "bicubic" and tuple(out) == tuple(x[2:]) and any(v != 1.0 for v in scales):
            raise ShapeError("E0311", f"`Upsample` by {a.scale_factor} keeps the size {fmt_shape(x[2:])}, where "
                             "onnxruntime copies the input but PyTorch's bicubic kernel still resamples it",
                             arg="scale_factor", help="leave the layer out, or choose a scale that changes the size")
        if a.mode in ("nearest", "nearest-exact") and tuple(out) == tuple(x[2:]):
            # onnxruntime copies the input when a nearest Resize keeps its shape,
            # but PyTorch still maps dst to floor(dst / scale) there (say 1.1 on a
            # size 5): pick those rows with Gather instead.
            maps = [_torch_nearest(a.mode, w, s, d) for w, s in zip(x[2:], scales)]
            if any(m is not None for m in maps):
                a.gather = maps
        return [(x[0], x[1]) + tuple(out)]

    def lower(self, e, a, ins):
        if a.gather is not None:
            y = ins[0]
            for i, idx in enumerate(a.gather):
                if idx is not None:
                    y = e.op("Gather", [y, e.const(idx, hint="index")], axis=2 + i)
            return [y]
        d = len(a.out_size)
        axes = list(range(2, 2 + d))
        if a.use_sizes:
            args = ["", e.sizes(list(a.out_size))]   # symbolic ones computed at run time
        else:
            args = [e.const(list(a.onnx_scales), dtype="float32", hint="scales")]
        attrs = {"axes": axes}
        if a.mode == "nearest":
            attrs.update(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        elif a.mode == "nearest-exact":
            attrs.update(mode="nearest", coordinate_transformation_mode="half_pixel",
                         nearest_mode="round_prefer_ceil")
        else:
            # half_pixel, not pytorch_half_pixel: PyTorch maps a size-1 output to
            # the input's centre, as half_pixel does.
            attrs.update(mode="cubic" if a.mode == "bicubic" else "linear",
                         coordinate_transformation_mode="align_corners" if a.align_corners else "half_pixel")
            if a.mode == "bicubic":
                attrs.update(cubic_coeff_a=-0.75)
        return [e.op("Resize", [ins[0], ""] + args, **attrs)]

    def reference(self, a):
        import torch.nn.functional as F
        d = len(a.out_size)
        mode = a.mode
        if mode == "linear":
            mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[d]
        kw = {"align_corners": a.align_corners} if mode in ("linear", "bilinear", "trilinear", "bicubic") else {}
        if a.size is not None:
            return lambda xs, p: [F.interpolate(xs[0], size=a.out_size, mode=mode, **kw)]
        return lambda xs, p: [F.interpolate(xs[0], scale_factor=a.scales, mode=mode, **kw)]
