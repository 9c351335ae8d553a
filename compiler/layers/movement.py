"""Moving data: PyTorch's tensor functions, and `x[...]`.

transpose, permute, reshape, flatten, unsqueeze, squeeze, expand, crop, and
Slice, the layer that `x[...]` makes. Sizes given to reshape, expand and crop, and the bounds of a slice, may be
symbolic (`x.shape[0]`); lowering computes them at run time from the inputs'
shapes (lower.py, `Emitter.dim`)."""

from __future__ import annotations

from ..shapes import Sym, fmt_shape, is_concrete, numel
from .base import P, Case, Layer, ShapeError, register

INT64_MAX = 2 ** 63 - 1


def _axis(v: int, rank: int, name: str, extra: int = 0) -> int:
    """A dimension index, negative ones counted from the end, as PyTorch's."""
    n = rank + extra
    if not -n <= v < n:
        raise ShapeError("E0107", f"`{name} = {v}` is out of range for a tensor of rank {rank} "
                         f"(it must lie in {-n} .. {n - 1})", arg=name)
    return v + n if v < 0 else v


def _tuple(v) -> tuple:
    return v if isinstance(v, tuple) else (v,)


def _product(dims):
    """The product, its known factors multiplied first (`[3, H, W]` is 3*H*W, not H*W*3 as an atom)."""
    k = 1
    syms = []
    for d in dims:
        if is_concrete(d):
            k *= d
        else:
            syms.append(d)
    return k * numel(syms) if syms else k


@register
class Transpose(Layer):
    """Swaps dimensions `dim0` and `dim1` (negative ones count from the end): torch.transpose."""

    names = {"transpose": None}
    function = True
    params = (P("dim0", "int"), P("dim1", "int"))
    cases = [Case("transpose(1, 2)", [[2, 3, 4]]), Case("transpose(0, -1)", [[2, 3, 4, 5]])]

    def infer(self, a, ins):
        x = ins[0]
        a.perm = list(range(len(x)))
        i, j = _axis(a.dim0, len(x), "dim0"), _axis(a.dim1, len(x), "dim1")
        a.perm[i], a.perm[j] = j, i
        return [tuple(x[p] for p in a.perm)]

    def lower(self, e, a, ins):
        return [e.op("Transpose", ins, perm=a.perm)]

    def reference(self, a):
        return lambda xs, p: [xs[0].transpose(a.dim0, a.dim1)]


@register
class Permute(Layer):
    """Reorders the dimensions: output dimension i is input dimension `dims[i]`
    (`x.permute(0, 2, 1)` or `x.permute((0, 2, 1))`): torch.permute."""

    names = {"permute": None}
    function = True
    variadic = True
    params = (P("dims", "ints", doc="one index per dimension, a permutation"),)
    cases = [Case("permute(0, 2, 1)", [[2, 3, 4]]), Case("permute((3, 1, -4, 2))", [[2, 3, 4, 5]])]

    def infer(self, a, ins):
        x = ins[0]
        dims = _tuple(a.dims)
        if len(dims) != len(x):
            raise ShapeError("E0107", f"`permute` needs {len(x)} dimensions for {fmt_shape(x)}; got {len(dims)}",
                             arg="dims")
        a.perm = [_axis(d, len(x), "dims") for d in dims]
        if sorted(a.perm) != list(range(len(x))):
            raise ShapeError("E0107", f"`dims` must name each dimension once; got {a.dims}", arg="dims")
        return [tuple(x[p] for p in a.perm)]

    def lower(self, e, a, ins):
        return [e.op("Transpose", ins, perm=a.perm)]

    def reference(self, a):
        return lambda xs, p: [xs[0].permute(*_tuple(a.dims))]


def reshape_rule(x, shape, what: str):
    """The output of reshaping x to `shape` (one entry may be -1): known
    factors and equal symbolic sizes cancel before the element counts are compared."""
    if sum(1 for v in shape if is_concrete(v) and v == -1) > 1:
        raise ShapeError("E0107", f"`{what}` can hold one -1 (the size to infer); got {fmt_shape(shape)}", arg=what)
    if any(is_concrete(v) and (v == 0 or v < -1) for v in shape):
        raise ShapeError("E0107", f"`{what}` entries must be positive, or -1 for the one to infer; got "
                         f"{fmt_shape(shape)}", arg=what)
    have = list(x)
    known = [v for v in shape if not (is_concrete(v) and v == -1)]
    rest = []
    for v in known:
        if isinstance(v, Sym) and v in have:
            have.remove(v)
        else:
            rest.append(v)
    h, k = _product(have), _product(rest)
    if len(known) < len(shape):
        if is_concrete(h) and is_concrete(k) and h % k:
            raise ShapeError("E0311", f"cannot reshape {fmt_shape(x)} to {fmt_shape(shape)}: {h} elements are "
                             f"not a multiple of the {k} that the other sizes hold", arg=what)
        fill = h // k if is_concrete(k) else _product(have) // k
        return tuple(fill if is_concrete(v) and v == -1 else v for v in shape)
    if h != k:
        if is_concrete(h) and is_concrete(k):
            raise ShapeError("E0311", f"cannot reshape {fmt_shape(x)} to {fmt_shape(shape)}: {numel(x)} "
                             f"elements, but the new shape holds {numel(shape)}", arg=what)
        raise ShapeError("E0305", f"cannot tell that {fmt_shape(shape)} holds as many elements as {fmt_shape(x)}",
                         arg=what, help="write -1 for the one size that depends on the input")
    return tuple(shape)


@register
class ReshapeFunction(Layer):
    """The same elements in a new shape (all dimensions, batch included), one
    size -1 (inferred); sizes may be symbolic: `x.reshape(x.shape[0], -1, 3)`: torch.reshape."""

    names = {"reshape": None}
    function = True
    variadic = True
    params = (P("shape", "sizes", doc="the new shape; one entry may be -1"),)
    cases = [Case("reshape(2, -1, 3)", [[2, 4, 3, 2]]), Case("reshape((6, 4))", [[2, 3, 4]]),
             Case("reshape(-1)", [[2, 3, 4]])]

    def infer(self, a, ins):
        a.out = reshape_rule(ins[0], _tuple(a.shape), "shape")
        return [a.out]

    def lower(self, e, a, ins):
        return [e.op("Reshape", [ins[0], e.sizes(_tuple(a.shape))])]

    def reference(self, a):
        return lambda xs, p: [xs[0].reshape(_tuple(a.shape))]


@register
class FlattenFunction(Layer):
    """Dimensions `start_dim` .. `end_dim` (inclusive) merged into one;
    PyTorch's defaults for the function (all of them; the `Flatten` layer keeps the batch): torch.flatten."""

    names = {"flatten": None}
    function = True
    params = (P("start_dim", "int", 0), P("end_dim", "int", -1))
    cases = [Case("flatten", [[2, 3, 4]]), Case("flatten(1)", [[2, 3, 4, 5]]),
             Case("flatten(1, 2)", [[2, 3, 4, 5]]), Case("flatten(-2)", [[2, 3, 4, 5]])]

    def infer(self, a, ins):
        x = ins[0]
        r = max(len(x), 1)
        a.s, a.e = _axis(a.start_dim, r, "start_dim"), _axis(a.end_dim, r, "end_dim")
        if a.s > a.e:
            raise ShapeError("E0107", f"`start_dim` ({a.start_dim}) comes after `end_dim` ({a.end_dim}) in "
                             f"{fmt_shape(x)}", arg="start_dim")
        a.after = tuple(x[a.e + 1:])
        if not x:
            return [(1,)]
        return [tuple(x[:a.s]) + (_product(x[a.s:a.e + 1]),) + tuple(x[a.e + 1:])]

    def lower(self, e, a, ins):
        # 0 copies a leading size; the ones after the merged dimension are given.
        return [e.op("Reshape", [ins[0], e.sizes([0] * a.s + [-1] + list(a.after))])]

    def reference(self, a):
        import torch
        return lambda xs, p: [torch.flatten(xs[0], a.start_dim, a.end_dim)]


@register
class Unsqueeze(Layer):
    """A dimension of size 1 inserted at `dim` (-1: last): torch.unsqueeze."""

    names = {"unsqueeze": None}
    function = True
    params = (P("dim", "int"),)
    cases = [Case("unsqueeze(1)", [[2, 3]]), Case("unsqueeze(-1)", [[2, 3]])]

    def infer(self, a, ins):
        x = ins[0]
        a.axis = _axis(a.dim, len(x), "dim", extra=1)
        return [tuple(x[:a.axis]) + (1,) + tuple(x[a.axis:])]

    def lower(self, e, a, ins):
        return [e.op("Unsqueeze", [ins[0], e.const([a.axis], hint="axes")])]

    def reference(self, a):
        return lambda xs, p: [xs[0].unsqueeze(a.dim)]


@register
class Squeeze(Layer):
    """Removes dimensions of size 1: all of them, or those of `dim` (one or a
    tuple) that are 1, as torch.squeeze. A symbolic size is taken not to be 1."""

    names = {"squeeze": None}
    function = True
    variadic = True
    params = (P("dim", "ints?", None, doc="the dimensions to remove where they are 1; all when left out"),)
    cases = [Case("squeeze", [[2, 1, 3, 1]]), Case("squeeze(1)", [[2, 1, 3]]), Case("squeeze(0)", [[2, 1, 3]]),
             Case("squeeze(1, -1)", [[2, 1, 3, 1]])]

    def infer(self, a, ins):
        x = ins[0]
        dims = range(len(x)) if a.dim is None else [_axis(d, len(x), "dim") for d in _tuple(a.dim)]
        a.axes = sorted({d for d in dims if x[d] == 1 and is_concrete(x[d])})
        return [tuple(v for i, v in enumerate(x) if i not in a.axes)]

    def lower(self, e, a, ins):
        if not a.axes:
            return [ins[0]]
        return [e.op("Squeeze", [ins[0], e.const(a.axes, hint="axes")])]

    def reference(self, a):
        return lambda xs, p: [xs[0].squeeze() if a.dim is None else xs[0].squeeze(_tuple(a.dim))]


@register
class Expand(Layer):
    """Broadcasts dimensions of size 1 to `sizes` (and new leading ones); -1
    keeps a size: `cls_token.expand(x.shape[0], -1, -1)`: torch.Tensor.expand."""

    names = {"expand": None}
    function = True
    variadic = True
    params = (P("sizes", "sizes", doc="the new sizes; -1 keeps one"),)
    cases = [Case("expand(4, -1, 3)", [[1, 2, 1]]), Case("expand(2, 3, 5, 4)", [[5, 1]]),
             Case("expand((3, -1))", [[1, 4]])]

    def infer(self, a, ins):
        x = ins[0]
        sizes = _tuple(a.sizes)
        new = len(sizes) - len(x)
        if new < 0:
            raise ShapeError("E0107", f"`expand` needs at least {len(x)} sizes for {fmt_shape(x)}; got "
                             f"{len(sizes)}", arg="sizes")
        out = []
        for i, v in enumerate(sizes):
            keep = is_concrete(v) and v == -1
            if i < new:
                if keep or (is_concrete(v) and v <= 0):
                    raise ShapeError("E0107", f"a new leading dimension needs a positive size; got {v}",
                                     arg="sizes")
                out.append(v)
                continue
            d = x[i - new]
            if keep or v == d:
                out.append(d)
            elif is_concrete(d) and d == 1 and not (is_concrete(v) and v <= 0):
                out.append(v)
            else:
                raise ShapeError("E0311", f"cannot expand {fmt_shape(x)} to {fmt_shape(sizes)}: dimension "
                                 f"{i - new} has size {d}, not 1", arg="sizes",
                                 help="only dimensions of size 1 expand; -1 keeps a size")
        a.target = [1 if i >= new and o == x[i - new] else o for i, o in enumerate(out)]
        return [tuple(out)]

    def lower(self, e, a, ins):
        return [e.op("Expand", [ins[0], e.sizes(a.target)])]

    def reference(self, a):
        return lambda xs, p: [xs[0].expand(*_tuple(a.sizes))]


@register
class Crop(Layer):
    """Center crop of the trailing dimensions: `crop(x, like)` to `like`'s
    spatial size (dimensions 2 on; U-Net's skip connections), or
    `crop(x, size = (h, w))` (an int: every spatial dimension) to the last
    ones. The offset is (H - h) // 2; sizes may be symbolic."""

    names = {"crop": None}
    function = True
    n_inputs = None
    inputs_doc = "Takes the tensor to crop, and optionally a tensor whose spatial size it takes."
    params = (P("size", "sizes?", None, doc="the size of the last dimensions"),)
    cases = [Case("crop", [[1, 2, 9, 10], [1, 3, 5, 4]]), Case("crop(size = (3, 4))", [[2, 2, 8, 7]]),
             Case("crop(size = 5)", [[1, 2, 8, 6]])]

    def infer(self, a, ins):
        x = ins[0]
        if len(ins) > 2:
            raise ShapeError("E0115", f"`crop` takes the tensor to crop and at most one tensor to match; got "
                             f"{len(ins)} tensors")
        if len(ins) == 2:
            if a.size is not None:
                raise ShapeError("E0107", "`crop` takes a tensor to match or `size`, not both", arg="size")
            like = ins[1]
            if len(like) != len(x) or len(x) < 3:
                raise ShapeError("E0310", f"`crop` matches the spatial dimensions of tensors of one rank: "
                                 f"{fmt_shape(x)} and {fmt_shape(like)}")
            target = tuple(like[2:])
        elif a.size is None:
            raise ShapeError("E0104", "`crop` needs a tensor to match or `size`",
                             help="for example `crop(x, skip)` or `crop(x, size = (32, 32))`")
        else:
            target = (a.size,) * (len(x) - 2) if not isinstance(a.size, tuple) else a.size
            if len(target) > len(x) or not target:
                raise ShapeError("E0107", f"`size` {a.size} has more sizes than {fmt_shape(x)} has dimensions",
                                 arg="size")
        k = len(x) - len(target)
        for i, (d, t) in enumerate(zip(x[k:], target)):
            if is_concrete(t) and t <= 0 or is_concrete(d - t) and d - t < 0:
                raise ShapeError("E0311", f"cannot crop {fmt_shape(x)} to {fmt_shape(target)} in dimension "
                                 f"{k + i}: {t} is larger than {d}" if is_concrete(t) and t > 0 else
                                 f"cannot crop to a size of {t}", arg="size" if a.size is not None else None,
                                 dim=k + i)
        a.axes = list(range(k, len(x)))
        a.starts = [(d - t) // 2 for d, t in zip(x[k:], target)]
        a.ends = [s + t for s, t in zip(a.starts, target)]
        return [tuple(x[:k]) + tuple(target)]

    def lower(self, e, a, ins):
        return [e.op("Slice", [ins[0], e.sizes(a.starts), e.sizes(a.ends), e.const(a.axes, hint="axes")])]

    def reference(self, a):
        def f(xs, p):
            x = xs[0]
            k = a.axes[0]
            target = xs[1].shape[2:] if len(xs) == 2 else [e - s for s, e in zip(a.starts, a.ends)]
            idx = [slice(None)] * k
            for d, t in zip(x.shape[k:], target):
                idx.append(slice((d - t) // 2, (d - t) // 2 + t))
            return [x[tuple(idx)]]
        return f


def slice_len(d, start, stop, step):
    """len(range(d)[start:stop:step]); with a symbolic size, the bounds taken to lie inside it."""
    if all(is_concrete(v) for v in (d, start, stop)):
        return len(range(d)[start:stop:step])

    def norm(v):
        if is_concrete(v):
            return d if v >= INT64_MAX else d + v if v < 0 else v
        return v
    n = norm(stop) - norm(start)
    return max(0, -(-n // step)) if is_concrete(n) else (n + step - 1) // step


@register
class Slice(Layer):
    """What `x[...]` makes (`x[:, 0]`, `x[..., 2:-2, ::2]`): on each of `axes`,
    the elements `starts` .. `ends` by `steps`, as Python's slices (negative
    bounds count from the end); the `squeeze` dimensions (taken by an integer
    index) are removed."""

    names = {"Slice": None}
    params = (P("axes", "ints"), P("starts", "sizes"), P("ends", "sizes"), P("steps", "ints", 1),
              P("squeeze", "ints?", None, doc="dimensions taken by an integer index, removed"))
    cases = [Case("Slice(axes = 1, starts = 0, ends = 1, squeeze = 1)", [[2, 3, 4]]),
             Case("Slice(axes = (2, 3), starts = (2, 2), ends = (-2, -2))", [[1, 2, 8, 9]]),
             Case("Slice(axes = 1, starts = 0, ends = 9223372036854775807, steps = 2)", [[2, 5, 3]]),
             Case("Slice(axes = (0, 2), starts = (-1, 1), ends = (9223372036854775807, 100), squeeze = 0)",
                  [[3, 2, 4]])]

    def infer(self, a, ins):
        x = ins[0]
        axes = [_axis(v, len(x), "axes") for v in _tuple(a.axes)]
        n = len(axes)
        starts, ends = _tuple(a.starts), _tuple(a.ends)
        steps = _tuple(a.steps) * (n if not isinstance(a.steps, tuple) else 1)
        if not len(starts) == len(ends) == len(steps) == n:
            raise ShapeError("E0107", "`axes`, `starts`, `ends` and `steps` need one entry per axis", arg="starts")
        if any(s <= 0 for s in steps):
            raise ShapeError("E0107", f"a slice step must be positive (as PyTorch's); got {a.steps}", arg="steps")
        a.ax, a.st, a.en, a.sp = axes, list(starts), list(ends), list(steps)
        a.sq = sorted(_axis(v, len(x), "squeeze") for v in _tuple(a.squeeze)) if a.squeeze is not None else []
        out = list(x)
        for ax, s, t, k in zip(axes, starts, ends, steps):
            out[ax] = slice_len(x[ax], s, t, k)
            if is_concrete(out[ax]) and out[ax] <= 0:
                raise ShapeError("E0311", f"this slice of dimension {ax} (size {x[ax]}) is empty", dim=ax)
        return [tuple(v for i, v in enumerate(out) if i not in a.sq)]

    def lower(self, e, a, ins):
        y = e.op("Slice", [ins[0], e.sizes(a.st), e.sizes(a.en), e.const(a.ax, hint="axes"),
                           e.const(a.sp, hint="steps")])
        return [e.op("Squeeze", [y, e.const(a.sq, hint="axes")]) if a.sq else y]

    def reference(self, a):
        def f(xs, p):
            x = xs[0]
            idx = [slice(None)] * x.dim()
            for ax, s, t, k in zip(a.ax, a.st, a.en, a.sp):
                idx[ax] = slice(s, t, k)
            y = x[tuple(idx)]
            return [y.squeeze(tuple(a.sq)) if a.sq else y]
        return f


@register
class Roll(Layer):
    """Rotates the elements along `dims` by `shifts` (torch.roll): what leaves
    one end enters at the other; a negative shift rolls toward the start.
    `shifts` and `dims` are an int each or tuples of one length; the rolled
    dimensions need known sizes. Lowered to a Slice of each end and a Concat
    per dimension (Swin's shifted windows)."""

    names = {"roll": None}
    function = True
    params = (P("shifts", "ints"), P("dims", "ints"))
    cases = [Case("roll(1, 1)", [[2, 5, 3]]), Case("roll((-3, 3), (1, 2))", [[2, 7, 7, 4]]),
             Case("roll(-9, -1)", [[3, 4]]), Case("roll(4, 0)", [[4, 2]])]

    def infer(self, a, ins):
        x = ins[0]
        shifts, dims = _tuple(a.shifts), _tuple(a.dims)
        if len(shifts) != len(dims):
            raise ShapeError("E0107", f"`shifts` and `dims` need one entry each; got {len(shifts)} shifts "
                             f"and {len(dims)} dims", arg="dims")
        a.rolls = []
        for s, d in zip(shifts, dims):
            ax = _axis(d, len(x), "dims")
            if not is_concrete(x[ax]):
                raise ShapeError("E0305", f"`roll` needs the size of dimension {ax} of {fmt_shape(x)}, "
                                 f"which is known only at run time", dim=ax)
            if s % x[ax]:
                a.rolls.append((ax, s % x[ax], x[ax]))
        return [tuple(x)]

    def lower(self, e, a, ins):
        y = ins[0]
        if not a.rolls:
            return [e.op("Identity", [y])]
        for ax, s, n in a.rolls:   # the last s elements, then the first n - s
            axes = e.const([ax], hint="axes")
            tail = e.op("Slice", [y, e.const([n - s]), e.const([n]), axes])
            head = e.op("Slice", [y, e.const([0]), e.const([n - s]), axes])
            y = e.op("Concat", [tail, head], axis=ax)
        return [y]

    def reference(self, a):
        return lambda xs, p: [xs[0].roll(_tuple(a.shifts), _tuple(a.dims))]
