"""Shared arithmetic of sliding-window layers (convolution and pooling)."""

from __future__ import annotations

from ..shapes import ceil_div, fmt_shape, is_concrete
from .base import ShapeError, per_dim


def spatial_rank_check(a, shape, d: int) -> None:
    if len(shape) != d + 2:
        layout = "[N, C, " + ", ".join("DHW"[3 - d:][i] for i in range(d)) + "]"
        hint = None
        if len(shape) == 2:
            hint = "the input is [N, features]; a convolution or pooling needs spatial dimensions"
        raise ShapeError("E0310", f"`{a.kind}` expects {layout}, got {fmt_shape(shape)}", help=hint)


def resolve_padding(a, d: int, kernel, stride, dilation, spatial, name: str = "padding") -> list:
    """`padding` as (begin, end) per spatial dimension."""
    p = a[name]
    if p == "valid":
        return [(0, 0)] * d
    if p == "same":
        out = []
        for k, s, dl, w in zip(kernel, stride, dilation, spatial):
            eff = dl * (k - 1) + 1
            if s == 1:
                total = eff - 1
            elif is_concrete(w):
                total = max((ceil_div(w, s) - 1) * s + eff - w, 0)
            else:
                raise ShapeError("E0305", f"`padding = \"same\"` with stride {s} needs a concrete size; "
                                 f"this dimension is `{w}`", arg=name)
            out.append((total // 2, total - total // 2))
        return out
    if isinstance(p, int):
        if p < 0:
            raise ShapeError("E0107", f"`{name}` cannot be negative; got {p}", arg=name)
        return [(p, p)] * d
    if all(isinstance(v, tuple) for v in p):
        if len(p) != d:
            raise ShapeError("E0107", f"`{name}` has {len(p)} (begin, end) pairs, but this layer has {d} "
                             f"spatial dimension{'s' * (d != 1)}", arg=name)
        if any(v < 0 for pair in p for v in pair):
            raise ShapeError("E0107", f"`{name}` cannot be negative", arg=name)
        return [tuple(pair) for pair in p]
    vals = per_dim(p, d, name)
    if any(v < 0 for v in vals):
        raise ShapeError("E0107", f"`{name}` cannot be negative", arg=name)
    return [(v, v) for v in vals]


def window_out(a, spatial, kernel, stride, dilation, pads, ceil_mode=False) -> list:
    """(W + P_total - D*(F-1) - 1) / S + 1, floored (or ceiled), per dimension."""
    out = []
    for i, (w, k, s, dl, (pb, pe)) in enumerate(zip(spatial, kernel, stride, dilation, pads)):
        span = w + pb + pe - dl * (k - 1) - 1
        if ceil_mode:
            o = ceil_div(span, s) + 1
            # PyTorch and ONNX drop a last window that starts in the end padding.
            if is_concrete(o) and (o - 1) * s >= w + pb:
                o -= 1
        else:
            o = span // s + 1
        if is_concrete(o) and o <= 0:
            eff = dl * (k - 1) + 1
            raise ShapeError(
                "E0304",
                f"`{a.kind}` would make dimension {i + 2} of size {o}: its input is {w} "
                f"(plus {pb + pe} padding), but its window spans {eff}",
                help="use a smaller kernel or stride, pad the input, or remove a downsampling layer before it",
                dim=i + 2)
        out.append(o)
    return out


def onnx_pads(pads) -> list:
    return [b for b, _ in pads] + [e for _, e in pads]


def torch_pad(pads) -> list:
    """F.pad's order: last dimension first, (begin, end) each."""
    out = []
    for b, e in reversed(pads):
        out += [b, e]
    return out
