"""Windowed attention: the relative position bias (and shifted-window mask) of the Swin Transformer."""

from __future__ import annotations

from ..shapes import fmt_shape, is_concrete
from .base import P, Case, Layer, ShapeError, Weight, register


def relative_position_index(w: int) -> list[int]:
    """For each (query, key) pair of a w x w window, row-major, the row of the
    bias table for their offset: (dy + w - 1) * (2w - 1) + dx + w - 1."""
    n = w * w
    return [(i // w - j // w + w - 1) * (2 * w - 1) + i % w - j % w + w - 1 for i in range(n) for j in range(n)]


def shift_mask(w: int, s: int, h: int, wd: int) -> np.ndarray:
    """[windows, w*w, w*w]: -100 between tokens that came from different
    regions of the image rolled by -s (they are not neighbours), else 0."""
    import numpy as np   # not at import: `nndc check` loads every layer without numpy
    region = np.zeros((h, wd))
    bands = ((0, -w), (-w, -s), (-s, None))
    k = 0
    for r in bands:
        for c in bands:
            region[r[0]:r[1], c[0]:c[1]] = k
            k += 1
    win = region.reshape(h // w, w, wd // w, w).transpose(0, 2, 1, 3).reshape(-1, w * w)
    return np.where(win[:, None, :] != win[:, :, None], -100.0, 0.0).astype(np.float32)


def _hw(a):
    return a.size if isinstance(a.size, tuple) or a.size is None else (a.size, a.size)


@register
class RelativePositionBias(Layer):
    """Adds the Swin Transformer's relative position bias to attention
    scores `[..., heads, N, N]` of windows of `window` x `window` tokens (N =
    window²), as torchvision's swin_t: a learned `relative_position_bias_table`
    `[(2 window - 1)², heads]` (truncated normal, std 0.02), indexed by the
    buffer `relative_position_index` `[N²]`, the row of each (query, key)
    offset, computed at compile time (torchvision keeps it in its
    state_dict, so a checkpoint binds it too; it is stored as float32 and
    cast to int64 for ONNX Gather). With `shift` > 0 it also adds the
    shifted-window mask: the scores are `[B * windows, heads, N, N]` of the
    windows of a `size` = (H, W) map rolled by -shift, row-major, and pairs
    of tokens from different regions get -100 (torchvision's
    shifted_window_attention)."""

    names = {"RelativePositionBias": None}
    params = (P("window", "int", doc="the window's height and width, in tokens"),
              P("heads", "int", doc="attention heads"),
              P("shift", "int", 0, doc="the windows' shift; > 0 adds the mask"),
              P("size", "ints?", None, doc="(H, W) of the map the windows tile; needed with a shift"))
    cases = [Case("RelativePositionBias(3, 2)", [[5, 2, 9, 9]]),
             Case("RelativePositionBias(2, 3)", [[3, 4, 4]]),
             Case("RelativePositionBias(3, 2, shift = 1, size = (6, 9))", [[12, 2, 9, 9]])]

    def validate(self, a):
        for name in ("window", "heads"):
            if a[name] <= 0:
                raise ShapeError("E0107", f"`{name}` must be positive; got {a[name]}", arg=name)
        if a.shift:
            if not 0 < a.shift < a.window:
                raise ShapeError("E0107", f"`shift` must be in [0, window); got {a.shift}", arg="shift")
            size = _hw(a)
            if size is None or len(size) != 2 or any(v <= 0 or v % a.window for v in size):
                raise ShapeError("E0107", f"with a shift, `size` must be the (H, W) of the map, each a multiple "
                                 f"of the window {a.window}; got {a.size}", arg="size")

    def infer(self, a, ins):
        x, n, w = ins[0], a.window * a.window, a.window
        if len(x) < 3 or tuple(x[-3:]) != (a.heads, n, n):
            raise ShapeError("E0301", f"`RelativePositionBias({w}, {a.heads})` takes scores [..., {a.heads}, "
                             f"{n}, {n}]; got {fmt_shape(x)}")
        if a.shift:
            a.hw = _hw(a)
            a.windows = (a.hw[0] // w) * (a.hw[1] // w)
            if len(x) != 4 or (is_concrete(x[0]) and x[0] % a.windows):
                raise ShapeError("E0301", f"with a shift, the scores are [B * {a.windows}, {a.heads}, {n}, {n}] "
                                 f"(the {a.windows} windows of each image); got {fmt_shape(x)}")
        a.weights["relative_position_bias_table"] = Weight(((2 * w - 1) ** 2, a.heads), "trunc_normal",
                                                           args=(0.0, 0.02, -2.0, 2.0))
        a.weights["relative_position_index"] = Weight((n * n,), "values", buffer=True,
                                                      args=tuple(relative_position_index(w)))
        return [tuple(x)]

    def lower(self, e, a, ins):
        import numpy as np
        n = a.window * a.window
        idx = e.op("Cast", [e.weight("relative_position_index")], to=7)   # INT64
        bias = e.op("Gather", [e.weight("relative_position_bias_table"), idx], axis=0)   # [N*N, heads]
        bias = e.op("Transpose", [e.op("Reshape", [bias, e.const([n, n, a.heads], hint="shape")])], perm=[2, 0, 1])
        y = e.op("Add", [ins[0], bias])
        if not a.shift:
            return [y]
        mask = shift_mask(a.window, a.shift, *a.hw)[None, :, None]   # [1, windows, 1, N, N]
        y = e.op("Reshape", [y, e.const([-1, a.windows, a.heads, n, n], hint="shape")])
        y = e.op("Add", [y, e.const(mask, dtype=np.float32, hint="mask")])
        return [e.op("Reshape", [y, e.const([-1, a.heads, n, n], hint="shape")])]

    def reference(self, a):
        import torch

        def run(xs, p):
            n = a.window * a.window
            table, index = p["relative_position_bias_table"], p["relative_position_index"].long()
            y = xs[0] + table[index].view(n, n, -1).permute(2, 0, 1)
            if a.shift:
                mask = torch.from_numpy(shift_mask(a.window, a.shift, *a.hw)).to(y.dtype)
                y = (y.view(-1, a.windows, a.heads, n, n) + mask[None, :, None]).view(-1, a.heads, n, n)
            return [y]
        return run
