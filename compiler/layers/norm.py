"""Normalization layers.

Batch, layer, instance, group and local response normalization, at inference."""

from __future__ import annotations

from ..shapes import fmt_shape, is_concrete
from .base import P, Case, Layer, ShapeError, Weight, register


def _check_eps(a) -> None:
    if a.eps <= 0:
        raise ShapeError("E0107", f"`eps` must be positive; got {a.eps}", arg="eps")


def _channels(a, x):
    """The concrete channel count (dimension 1) of `x`."""
    c = x[1]
    if not is_concrete(c):
        raise ShapeError("E0305", f"`{a.kind}` needs a concrete number of channels; got `{c}`")
    return c


def _affine(e, a, shape, scale: str = "weight", shift: str | None = "bias") -> list:
    """The scale and shift inputs of an ONNX normalization: the layer's
    parameters, or constant ones and zeros where it has none (the ONNX ops
    require a scale, and BatchNormalization a shift)."""
    import numpy as np   # lowering only: `nndc check` does not import numpy
    if a.weights.get(scale) is not None:
        out = [e.weight(scale)]
    else:
        out = [e.const(np.ones(shape), dtype=np.float32, hint="ones")]
    if shift is not None:
        out.append(e.weight(shift) if a.weights.get(shift) is not None
                   else e.const(np.zeros(shape), dtype=np.float32, hint="zeros"))
    return out


def _normalize(e, x: str, axes: list, eps: float) -> str:
    """(x - mean) / sqrt(var + eps) over `axes`, computed as it stays exact
    far from zero: the mean is taken twice (the second, of the small
    differences, corrects the rounding of the first) and the variance is the
    mean of the squared differences, never E[x^2] - E[x]^2."""
    ax = e.const(axes, hint="axes")
    d = e.op("Sub", [x, e.op("ReduceMean", [x, ax], keepdims=1)])
    d = e.op("Sub", [d, e.op("ReduceMean", [d, ax], keepdims=1)])
    var = e.op("ReduceMean", [e.op("Mul", [d, d]), ax], keepdims=1)
    sd = e.op("Sqrt", [e.op("Add", [var, e.const(eps, dtype="float32", hint="eps")])])
    return e.op("Div", [d, sd])


def _scale_shift(e, a, y: str, rank: int) -> str:
    """y * weight + bias with per-channel (dimension 1) parameters, where the
    layer has them."""
    shape = (-1,) + (1,) * (rank - 2)
    if "weight" in a.weights:
        y = e.op("Mul", [y, e.weight("weight", shape=shape)])
    if "bias" in a.weights:
        y = e.op("Add", [y, e.weight("bias", shape=shape)])
    return y


def _check_stated_features(a, c) -> None:
    """`BatchNorm2d(64)` as PyTorch writes it: the count is optional, and checked."""
    n = a.get("num_features")
    if n is not None and n != c:
        raise ShapeError("E0311", f"`{a.kind}({n})` expects {n} channels, but its input has {c}",
                         arg="num_features", help=f"write `{a.kind}` (the channels are inferred) or `{a.kind}({c})`")


@register
class BatchNorm(Layer):
    """Batch normalization at inference, with running statistics; the rank
    of the input chooses 1d/2d/3d (the explicit spellings check it)."""

    names = {"BatchNorm": None, "BatchNorm1d": 1, "BatchNorm2d": 2, "BatchNorm3d": 3}
    params = (P("num_features", "int", None, doc="optional: the channels, as PyTorch writes them; checked against the input"),
              P("eps", "float", 1e-5), P("momentum", "float", 0.1, doc="training only; kept for fidelity"))
    cases = [Case("BatchNorm2d(3)", [[2, 3, 4, 5]]), Case("BatchNorm", [[2, 3, 4, 5]]), Case("BatchNorm1d", [[4, 6]]), Case("BatchNorm1d", [[2, 3, 7]]),
             Case("BatchNorm3d(eps = 1e-3)", [[1, 2, 3, 4, 4]]), Case("BatchNorm2d", [[2, 3, 4, 4]])]

    def validate(self, a):
        _check_eps(a)

    def infer(self, a, ins):
        (x,) = ins
        ok = {None: (2, 3, 4, 5), 1: (2, 3), 2: (4,), 3: (5,)}[a.variant]
        if len(x) not in ok:
            raise ShapeError("E0310", f"`{a.kind}` expects an input of rank {' or '.join(map(str, ok))}, "
                             f"got {fmt_shape(x)}")
        _check_eps(a)
        c = _channels(a, x)
        _check_stated_features(a, c)
        a.num_features = c
        a.weights["weight"] = Weight((c,), "const", value=1.0)
        a.weights["bias"] = Weight((c,), "const", value=0.0)
        a.weights["running_mean"] = Weight((c,), "const", value=0.0, buffer=True)
        a.weights["running_var"] = Weight((c,), "const", value=1.0, buffer=True)
        return [x]

    def lower(self, e, a, ins):
        ws = [e.weight(n) for n in ("weight", "bias", "running_mean", "running_var")]
        return [e.op("BatchNormalization", [ins[0]] + ws, epsilon=a.eps)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.batch_norm(xs[0], p["running_mean"], p["running_var"], p["weight"], p["bias"],
                                           training=False, eps=a.eps)]

    def train_reference(self, a):
        # Batch statistics; the running ones (the buffers in p) updated in place.
        import torch.nn.functional as F
        return lambda xs, p: [F.batch_norm(xs[0], p["running_mean"], p["running_var"], p["weight"], p["bias"],
                                           training=True, momentum=a.momentum, eps=a.eps)]


@register
class LayerNorm(Layer):
    """Normalization over the trailing dimensions of each sample (PyTorch's
    nn.LayerNorm). `LayerNorm` normalizes the last dimension; `LayerNorm(dims
    = 2)` the last two; `LayerNorm([64, 7, 7])` states them, as PyTorch's
    `normalized_shape`, and the compiler checks them against the input."""

    names = {"LayerNorm": None}
    params = (P("normalized_shape", "ints?", None, doc="the trailing dimensions to normalize"),
              P("eps", "float", 1e-5),
              P("elementwise_affine", "bool", True),
              P("bias", "bool", True),
              P("dims", "int", None, doc="how many trailing dimensions to normalize (default 1)"))
    cases = [Case("LayerNorm", [[2, 5, 8]]), Case("LayerNorm(8)", [[3, 8]]),
             Case("LayerNorm(dims = 2)", [[2, 3, 4, 5]]), Case("LayerNorm([3, 4, 5], eps = 1e-3)", [[2, 3, 4, 5]]),
             Case("LayerNorm(elementwise_affine = false)", [[2, 5, 8]]),
             Case("LayerNorm(bias = false, dims = 3)", [[2, 3, 4, 5]]), Case("LayerNorm(dims = 2)", [[4, 6]]),
             Case("LayerNorm", [[2, 5, 64]], offset=1000.0)]

    def infer(self, a, ins):
        (x,) = ins
        _check_eps(a)
        ns = a.normalized_shape
        if ns is not None:
            ns = (ns,) if isinstance(ns, int) else tuple(ns)
            if any(d <= 0 for d in ns):
                raise ShapeError("E0107", f"`normalized_shape` must be positive; got {a.normalized_shape}",
                                 arg="normalized_shape")
            if a.dims is not None and a.dims != len(ns):
                raise ShapeError("E0107", f"`dims = {a.dims}` disagrees with `normalized_shape`, which has "
                                 f"{len(ns)} dimension{'s' * (len(ns) != 1)}", arg="dims",
                                 help="give one of them")
            if len(ns) > len(x) or tuple(x[len(x) - len(ns):]) != ns:
                raise ShapeError("E0311", f"`{a.kind}` normalizes over {fmt_shape(ns)}, but the input is "
                                 f"{fmt_shape(x)}", arg="normalized_shape",
                                 help="`normalized_shape` must equal the input's trailing dimensions")
            d = len(ns)
        else:
            d = 1 if a.dims is None else a.dims
            if not 1 <= d <= len(x):
                raise ShapeError("E0107", f"`dims = {d}` is out of range for {fmt_shape(x)}: it must be between "
                                 f"1 and {len(x)}", arg="dims")
            ns = tuple(x[len(x) - d:])
            for n in ns:
                if not is_concrete(n):
                    raise ShapeError("E0305", f"`{a.kind}` needs concrete normalized dimensions; "
                                     f"{fmt_shape(ns)} has `{n}`")
        a.shape, a.axes = ns, d
        if a.elementwise_affine:
            a.weights["weight"] = Weight(ns, "const", value=1.0)
            if a.bias:
                a.weights["bias"] = Weight(ns, "const", value=0.0)
        return [x]

    def lower(self, e, a, ins):
        sb = _affine(e, a, a.shape, shift="bias" if "bias" in a.weights else None)
        return [e.op("LayerNormalization", [ins[0]] + sb, axis=-a.axes, epsilon=a.eps)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.layer_norm(xs[0], a.shape, p.get("weight"), p.get("bias"), eps=a.eps)]


@register
class LayerNorm2d(Layer):
    """Layer normalization over the channels (dimension 1) of [N, C,
    *spatial], at each position, with a weight and bias of shape [C]
    (torchvision's LayerNorm2d of ConvNeXt: nn.LayerNorm applied
    channels-last). `normalized_shape`, as PyTorch writes it, is optional
    and checked against the channels."""

    names = {"LayerNorm2d": None}
    params = (P("normalized_shape", "int", None, doc="optional: the channels; checked against the input"),
              P("eps", "float", 1e-5),
              P("elementwise_affine", "bool", True),
              P("bias", "bool", True))
    cases = [Case("LayerNorm2d", [[2, 6, 4, 5]]), Case("LayerNorm2d(3, eps = 1e-6)", [[2, 3, 4, 4]]),
             Case("LayerNorm2d(elementwise_affine = false)", [[2, 4, 3]]),
             Case("LayerNorm2d(bias = false)", [[1, 5, 2, 3, 2]]), Case("LayerNorm2d", [[3, 7]]),
             Case("LayerNorm2d", [[2, 8, 3, 3]], offset=1000.0)]

    def validate(self, a):
        _check_eps(a)

    def infer(self, a, ins):
        (x,) = ins
        if len(x) < 2:
            raise ShapeError("E0310", f"`{a.kind}` expects [N, C, ...], got {fmt_shape(x)}")
        _check_eps(a)
        c = _channels(a, x)
        n = a.normalized_shape
        if n is not None and n != c:
            raise ShapeError("E0311", f"`{a.kind}({n})` normalizes {n} channels, but its input has {c}",
                             arg="normalized_shape", help=f"write `{a.kind}` (the channels are inferred) or "
                                                          f"`{a.kind}({c})`")
        a.num_channels, a.rank = c, len(x)
        if a.elementwise_affine:
            a.weights["weight"] = Weight((c,), "const", value=1.0)
            if a.bias:
                a.weights["bias"] = Weight((c,), "const", value=0.0)
        return [x]

    def lower(self, e, a, ins):
        return [_scale_shift(e, a, _normalize(e, ins[0], [1], a.eps), a.rank)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.layer_norm(xs[0].movedim(1, -1), (a.num_channels,), p.get("weight"), p.get("bias"),
                                           eps=a.eps).movedim(-1, 1)]


@register
class InstanceNorm(Layer):
    """Normalization of each channel of each sample over its spatial extent
    (PyTorch's InstanceNorm1d/2d/3d: no affine parameters by default; with
    `track_running_stats = true`, inference uses the running statistics).
    Computed in a form that stays accurate on inputs far from zero."""

    names = {"InstanceNorm": None, "InstanceNorm1d": 1, "InstanceNorm2d": 2, "InstanceNorm3d": 3}
    params = (P("num_features", "int", None, doc="optional: the channels, as PyTorch writes them; checked against the input"),
              P("eps", "float", 1e-5), P("momentum", "float", 0.1, doc="training only; kept for fidelity"),
              P("affine", "bool", False), P("track_running_stats", "bool", False))
    cases = [Case("InstanceNorm", [[2, 3, 4, 5]]), Case("InstanceNorm1d", [[2, 3, 7]]),
             Case("InstanceNorm2d(affine = true)", [[2, 3, 4, 5]]),
             Case("InstanceNorm3d(eps = 1e-3)", [[1, 2, 3, 4, 4]]), Case("InstanceNorm2d(3)", [[2, 3, 4, 5]]),
             Case("InstanceNorm(affine = true)", [[2, 4, 6]]),
             Case("InstanceNorm2d(track_running_stats = true)", [[2, 3, 4, 5]]),
             Case("InstanceNorm1d(affine = true, track_running_stats = true)", [[2, 3, 7]]),
             Case("InstanceNorm2d(affine = true)", [[2, 3, 16, 16]], offset=1000.0),
             Case("InstanceNorm3d", [[1, 2, 3, 4, 4]], offset=1e4)]

    def infer(self, a, ins):
        (x,) = ins
        ok = {None: (3, 4, 5), 1: (3,), 2: (4,), 3: (5,)}[a.variant]
        if len(x) not in ok:
            raise ShapeError("E0310", f"`{a.kind}` expects an input of rank {' or '.join(map(str, ok))} "
                             f"([N, C, ...spatial]), got {fmt_shape(x)}",
                             help="instance normalization needs spatial dimensions" if len(x) == 2 else None)
        _check_eps(a)
        c = _channels(a, x)
        _check_stated_features(a, c)
        a.num_features, a.rank = c, len(x)
        if a.affine:
            a.weights["weight"] = Weight((c,), "const", value=1.0)
            a.weights["bias"] = Weight((c,), "const", value=0.0)
        if a.track_running_stats:
            a.weights["running_mean"] = Weight((c,), "const", value=0.0, buffer=True)
            a.weights["running_var"] = Weight((c,), "const", value=1.0, buffer=True)
        return [x]

    def lower(self, e, a, ins):
        if a.track_running_stats:
            sb = _affine(e, a, (a.num_features,))
            stats = [e.weight("running_mean"), e.weight("running_var")]
            return [e.op("BatchNormalization", [ins[0]] + sb + stats, epsilon=a.eps)]
        # Not ONNX InstanceNormalization: onnxruntime's loses digits on inputs
        # far from zero (3e-5 at an offset of 1000), as its GroupNormalization does.
        y = _normalize(e, ins[0], list(range(2, a.rank)), a.eps)
        return [_scale_shift(e, a, y, a.rank)]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.instance_norm(xs[0], p.get("running_mean"), p.get("running_var"), p.get("weight"),
                                              p.get("bias"), use_input_stats=not a.track_running_stats, eps=a.eps)]

    def train_reference(self, a):
        # Input statistics in training; tracked ones updated in place.
        import torch.nn.functional as F
        return lambda xs, p: [F.instance_norm(xs[0], p.get("running_mean"), p.get("running_var"), p.get("weight"),
                                              p.get("bias"), use_input_stats=True, momentum=a.momentum, eps=a.eps)]


@register
class GroupNorm(Layer):
    """Normalization of each sample over groups of channels (and the spatial
    extent), then a per-channel scale and shift (PyTorch's nn.GroupNorm; the
    channel count comes from the input). Computed in a form that stays
    accurate on inputs far from zero (a mean-corrected variance)."""

    names = {"GroupNorm": None}
    params = (P("num_groups", "int", doc="it must divide the number of channels"),
              P("eps", "float", 1e-5), P("affine", "bool", True))
    cases = [Case("GroupNorm(2)", [[2, 6, 4, 5]]), Case("GroupNorm(1)", [[2, 3, 7]]),
             Case("GroupNorm(4, eps = 1e-3)", [[2, 8, 3, 3, 2]]), Case("GroupNorm(3, affine = false)", [[2, 6, 5]]),
             Case("GroupNorm(num_groups = 6)", [[2, 6, 4, 4]]), Case("GroupNorm(2)", [[3, 4]]),
             # inputs far from zero: the variance must not cancel
             Case("GroupNorm(1)", [[2, 2]], offset=3.0), Case("GroupNorm(2)", [[2, 6, 4, 5]], offset=1000.0),
             Case("GroupNorm(8, affine = false)", [[2, 64, 16, 16]], offset=1000.0),
             Case("GroupNorm(3)", [[2, 6, 5]], offset=1e4)]

    def infer(self, a, ins):
        (x,) = ins
        if len(x) < 2:
            raise ShapeError("E0310", f"`{a.kind}` expects [N, C, ...], got {fmt_shape(x)}")
        g = a.num_groups
        if g <= 0:
            raise ShapeError("E0107", f"`num_groups` must be positive; got {g}", arg="num_groups")
        _check_eps(a)
        c = _channels(a, x)
        if c % g:
            divisors = [str(k) for k in range(1, c + 1) if c % k == 0]
            raise ShapeError("E0306", f"`num_groups = {g}` does not divide the {c} channels of {fmt_shape(x)}",
                             arg="num_groups",
                             help=f"the divisors of {c} are {', '.join(divisors)}" if len(divisors) <= 24 else None)
        a.num_channels, a.in_shape = c, x
        if a.affine:
            a.weights["weight"] = Weight((c,), "const", value=1.0)
            a.weights["bias"] = Weight((c,), "const", value=0.0)
        return [x]

    def lower(self, e, a, ins):
        # Not ONNX GroupNormalization: onnxruntime's loses digits on inputs
        # far from zero (7e-2 relative error at an offset of 1000). The groups
        # as [N, G, rest], normalized in the centred form, then per channel.
        (x,) = ins
        y = _normalize(e, e.op("Reshape", [x, e.const([0, a.num_groups, -1])]), [2], a.eps)
        y = _reshape_back(e, y, x, a.in_shape, keep=1)
        return [_scale_shift(e, a, y, len(a.in_shape))]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.group_norm(xs[0], a.num_groups, p.get("weight"), p.get("bias"), eps=a.eps)]


@register
class LocalResponseNorm(Layer):
    """Each value divided by (k + alpha / size * sum of squares over `size`
    neighbouring channels) ** beta (PyTorch's nn.LocalResponseNorm; AlexNet).
    The window of channel c is [c - size // 2, c + (size - 1) // 2]."""

    names = {"LocalResponseNorm": None}
    params = (P("size", "int", doc="the number of neighbouring channels summed"),
              P("alpha", "float", 1e-4), P("beta", "float", 0.75), P("k", "float", 1.0))
    cases = [Case("LocalResponseNorm(5)", [[2, 7, 4, 5]]),
             Case("LocalResponseNorm(3, alpha = 0.5, k = 2)", [[2, 6, 9]]),
             Case("LocalResponseNorm(2, 0.3, 0.5, 1.5)", [[2, 5, 3, 4]]),
             Case("LocalResponseNorm(1)", [[1, 4, 2, 3, 4]]), Case("LocalResponseNorm(4, alpha = 1)", [[2, 6, 5]]),
             Case("LocalResponseNorm(size = 6)", [[1, 4, 2, 3, 2]]),
             Case("LocalResponseNorm(9, alpha = 2)", [[2, 4, 3, 3]])]

    def infer(self, a, ins):
        (x,) = ins
        if len(x) < 3:
            raise ShapeError("E0310", f"`{a.kind}` expects [N, C, ...spatial] (rank 3 or more), got {fmt_shape(x)}")
        if a.size <= 0:
            raise ShapeError("E0107", f"`size` must be positive; got {a.size}", arg="size")
        a.in_shape = x
        return [x]

    def lower(self, e, a, ins):
        (x,) = ins
        if a.size % 2:
            # ONNX LRN sums [c - (size-1)//2, c + ceil((size-1)/2)]: PyTorch's
            # window when size is odd. onnxruntime runs it on 4-d input only.
            x4 = x if len(a.in_shape) == 4 else e.op("Reshape", [x, e.const([0, 0, -1, 1])])
            y = e.op("LRN", [x4], size=a.size, alpha=a.alpha, beta=a.beta, bias=a.k)
            return [y if len(a.in_shape) == 4 else _reshape_back(e, y, x, a.in_shape)]
        # An even window is lopsided the other way in ONNX (and onnxruntime
        # refuses it): sum the squares with a zero-padded average over a
        # [size, 1] window of [N, 1, C, rest], as PyTorch itself does.
        sq = e.op("Mul", [x, x])
        sq = e.op("Reshape", [e.op("Unsqueeze", [sq, e.const([1])]), e.const([0, 0, 0, -1])])
        avg = e.op("AveragePool", [sq], kernel_shape=[a.size, 1], strides=[1, 1], count_include_pad=1,
                   pads=[a.size // 2, 0, (a.size - 1) // 2, 0])
        avg = _reshape_back(e, avg, x, a.in_shape, keep=1)
        f32 = "float32"
        den = e.op("Add", [e.op("Mul", [avg, e.const(a.alpha, dtype=f32, hint="alpha")]),
                           e.const(a.k, dtype=f32, hint="k")])
        den = e.op("Pow", [den, e.const(a.beta, dtype=f32, hint="beta")])
        return [e.op("Div", [x, den])]

    def reference(self, a):
        import torch.nn.functional as F
        return lambda xs, p: [F.local_response_norm(xs[0], a.size, a.alpha, a.beta, a.k)]


def _reshape_back(e, t: str, like: str, shape: tuple, keep: int = 2) -> str:
    """Reshape `t` to `shape` (that of the tensor `like`). The first `keep`
    dimensions of `t` are already `shape`'s and are copied (0); the rest are
    written out, with -1 for at most one symbolic size; with more, the target
    shape is read from `like` at run time."""
    target = [0] * keep + [d if is_concrete(d) else -1 for d in shape[keep:]]
    if target.count(-1) <= 1:
        return e.op("Reshape", [t, e.const(target)])
    return e.op("Reshape", [t, e.op("Shape", [like])])
