"""Layers that rearrange channels and space: pixel shuffle and unshuffle
(sub-pixel convolution), channel shuffle (ShuffleNet)."""

from __future__ import annotations

from ..shapes import fmt_shape, is_concrete
from .base import P, Case, Layer, ShapeError, positive, register


def _concrete_channels(a, c) -> int:
    if not is_concrete(c):
        raise ShapeError("E0305", f"`{a.kind}` needs a concrete number of channels; got `{c}`")
    return c


class _Pixels(Layer):
    """What PixelShuffle and PixelUnshuffle share: the last three dimensions
    are [C, H, W] (rank 3 or 4), the factor is `a.factor`."""

    def validate(self, a):
        a.factor = a[self.params[0].name]
        positive(a, self.params[0].name, a.factor)

    def infer(self, a, ins):
        (x,) = ins
        self.validate(a)
        if len(x) not in (3, 4):
            raise ShapeError("E0310", f"`{a.kind}` expects [N, C, H, W] or [C, H, W], got {fmt_shape(x)}")
        r, arg = a.factor, self.params[0].name
        c = _concrete_channels(a, x[-3])
        h, w = x[-2:]
        if a.variant == "shuffle":
            if c % (r * r):
                raise ShapeError("E0311", f"`{a.kind}({r})` needs channels divisible by {r} x {r} = {r * r}; "
                                 f"the input {fmt_shape(x)} has {c}", arg=arg)
            out = (c // (r * r), h * r, w * r)
        else:
            for name, v in (("height", h), ("width", w)):
                if not is_concrete(v):
                    raise ShapeError("E0305", f"`{a.kind}` needs a concrete {name} to check that {r} divides it; "
                                     f"got `{v}`")
                if v % r:
                    raise ShapeError("E0311", f"`{a.kind}({r})` needs the {name} divisible by {r}; the input "
                                     f"{fmt_shape(x)} has {v}", arg=arg)
            out = (c * r * r, h // r, w // r)
        a.rank, a.channels = len(x), c
        return [tuple(x[:-3]) + out]

    def lower(self, e, a, ins):
        (x,) = ins
        r = a.factor
        if r == 1:
            return [x]
        if a.rank == 3:      # ONNX's ops take [N, C, H, W]: a batch of one
            x = e.op("Unsqueeze", [x, e.const([0])])
        if a.variant == "shuffle":
            y = e.op("DepthToSpace", [x], blocksize=r, mode="CRD")
        else:
            # SpaceToDepth numbers the channels (i * r + j) * C + c; PyTorch
            # c * r * r + i * r + j: reorder them.
            y = e.op("SpaceToDepth", [x], blocksize=r)
            c = a.channels
            order = [(k % (r * r)) * c + k // (r * r) for k in range(c * r * r)]
            y = e.op("Gather", [y, e.const(order, hint="order")], axis=1)
        if a.rank == 3:
            y = e.op("Squeeze", [y, e.const([0])])
        return [y]

    def reference(self, a):
        import torch.nn.functional as F
        fn = F.pixel_shuffle if a.variant == "shuffle" else F.pixel_unshuffle
        return lambda xs, p: [fn(xs[0], a.factor)]


@register
class PixelShuffle(_Pixels):
    """PyTorch's nn.PixelShuffle over the last three dimensions [*, C * r * r,
    H, W] (rank 3 or 4) -> [*, C, H * r, W * r]: channel c * r * r + i * r + j
    goes to row offset i and column offset j (ONNX DepthToSpace, mode "CRD";
    the sub-pixel convolution of ESPCN). PyTorch also takes more leading
    dimensions; nnd refuses rank 5 and more (E0310)."""

    names = {"PixelShuffle": "shuffle"}
    params = (P("upscale_factor", "int", doc="r"),)
    cases = [Case("PixelShuffle(2)", [[2, 8, 3, 4]]), Case("PixelShuffle(3)", [[1, 18, 2, 3]]),
             Case("PixelShuffle(1)", [[2, 3, 4, 4]]), Case("PixelShuffle(upscale_factor = 2)", [[12, 3, 5]])]


@register
class PixelUnshuffle(_Pixels):
    """PyTorch's nn.PixelUnshuffle, the inverse of PixelShuffle: [*, C, H, W]
    (rank 3 or 4, H and W divisible by r) -> [*, C * r * r, H / r, W / r]."""

    names = {"PixelUnshuffle": "unshuffle"}
    params = (P("downscale_factor", "int", doc="r; it must divide the height and the width"),)
    cases = [Case("PixelUnshuffle(2)", [[2, 3, 4, 6]]), Case("PixelUnshuffle(3)", [[1, 2, 6, 9]]),
             Case("PixelUnshuffle(downscale_factor = 2)", [[3, 4, 6]]), Case("PixelUnshuffle(1)", [[1, 2, 3, 3]])]


@register
class ChannelShuffle(Layer):
    """PyTorch's nn.ChannelShuffle (ShuffleNet) on [N, C, *spatial]: the
    channels seen as [groups, C / groups] are transposed, so output channel
    j * groups + g is input channel g * (C / groups) + j."""

    names = {"ChannelShuffle": None}
    params = (P("groups", "int", doc="it must divide the number of channels"),)
    cases = [Case("ChannelShuffle(2)", [[2, 6, 3, 4]]), Case("ChannelShuffle(3)", [[2, 6, 5]]),
             Case("ChannelShuffle(groups = 4)", [[1, 8, 2, 3, 2]]), Case("ChannelShuffle(1)", [[2, 3, 4]])]

    def validate(self, a):
        positive(a, "groups", a.groups)

    def infer(self, a, ins):
        (x,) = ins
        positive(a, "groups", a.groups)
        if len(x) < 3:
            raise ShapeError("E0310", f"`{a.kind}` expects [N, C, ...spatial] (rank 3 or more), got {fmt_shape(x)}")
        c = _concrete_channels(a, x[1])
        if c % a.groups:
            raise ShapeError("E0306", f"`groups = {a.groups}` does not divide the {c} channels of {fmt_shape(x)}",
                             arg="groups")
        a.channels = c
        return [x]

    def lower(self, e, a, ins):
        g, c = a.groups, a.channels
        if g == 1 or g == c:
            return [ins[0]]
        # The reshape-transpose-reshape of PyTorch is one channel permutation.
        order = [(k % g) * (c // g) + k // g for k in range(c)]
        return [e.op("Gather", [ins[0], e.const(order, hint="order")], axis=1)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.channel_shuffle(xs[0], a.groups)]
