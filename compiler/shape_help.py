"""The help that errors carry: where a shape error comes from and how to
fix it (a projection for a residual `a + b`, the layers a size went through),
sizes too large to allocate, and for an unknown name the likely one meant,
the standard-library module that defines it, or the line that defines it
too late.

A mixin of the Elaborator (elaborate.py), with the functions it uses.
"""

from __future__ import annotations

import re

from . import ast, explain
from .diagnostics import CompileError, Diagnostic, Label, Span, did_you_mean, error
from .layers.base import ShapeError
from .scope import MAX_DEPTH, MAX_TENSOR_BYTES, MAX_WEIGHT_BYTES, Definition, Env, ModelInstance, _targets
from .shapes import fmt_shape
from .values import BlockVal, Builtin, LayerKind, LayerVal, Tensor


class ShapeHelp:
    """The wording and help of shape, size and unknown-name errors."""

    def _shape_diagnostic(self, e: ShapeError, lv: LayerVal, xs: list, primary: Span | None) -> Diagnostic:
        """A shape rule's complaint, located and explained from the IR."""
        where = lv.arg_spans.get(e.arg, lv.span) if e.arg else (primary or lv.span)
        labels, notes, help = [], list(e.notes), e.help
        if e.code in ("E0301", "E0302"):
            labels = [Label(x.span, fmt_shape(x.shape)) for x in xs]
            if e.code == "E0301" and len(xs) == 2:
                help = self._residual_help(xs) or help
            dims = [e.dim] if e.dim is not None else _differing_dims(xs)
            for d in dims[:1]:
                if e.code == "E0301" and d == 1:
                    continue
                more, note = explain.divergence(self.ir, xs, d, self.snippet, where.file)
                labels += [l for l in more if l.span != where]
                if note:
                    notes.append(note)
        elif e.code == "E0304" and e.dim is not None and xs:
            note = explain.shrink_note(self.ir, xs[0], e.dim, f"`{self.snippet(lv.span) or lv.name}` (line "
                                       f"{lv.span.line})", _final_size(e.message), self.snippet, where.file)
            if note:
                notes.append(note)
        elif e.code == "E0305":
            for x in xs:
                dims = [x.shape[e.dim]] if e.dim is not None and e.dim < len(x.shape) else x.shape[1:]
                for dim in dims:
                    labels += [l for l in explain.symbol_origins(self.ir, dim) if l not in labels]
            labels = labels[:3]
        labels = [l for l in labels if l.span is not None]
        return Diagnostic(e.code, e.message, where, labels, help, notes)

    def _dtype_diagnostic(self, lv: LayerVal, a, xs: list, primary: Span | None) -> Diagnostic | None:
        """E0312 when an input's element type is not one the layer takes
        (its entry's `dtypes`), or a merge layer's inputs differ."""
        spec, where = lv.spec, primary or lv.span
        op = self.snippet(primary) if primary is not None else None   # `+`, `concat`
        what = f"`{op or lv.name}`"
        allowed = spec.input_dtypes(a, len(xs))
        for i, (x, ok) in enumerate(zip(xs, allowed)):
            if x.dtype in ok:
                continue
            kinds = " or ".join(ok)
            which = ("an" if kinds[0] in "aeiou" else "a") if len(xs) == 1 else \
                f"its input {i + 1} as {'an' if kinds[0] in 'aeiou' else 'a'}"
            help = None
            if x.dtype in ("int64", "int32") and "float32" in ok:
                help = "an integer tensor of token ids goes through `Embedding` first"
            elif x.dtype == "bool" and "float32" in ok:
                help = "a boolean tensor is a mask: it is an input of the layer that applies it " \
                       "(`MultiheadAttention(..., key_padding_mask = true)`)"
            return Diagnostic("E0312", f"{what} expects {which} {kinds} tensor, got {x.dtype}", where,
                              [Label(x.span, f"{fmt_shape(x.shape)} {x.dtype}")] if x.span.file == where.file
                              else [], help)
        if spec.same_dtypes and len({x.dtype for x in xs}) > 1:
            return Diagnostic("E0312", f"{what} needs tensors of one dtype, got "
                              f"{' and '.join(dict.fromkeys(x.dtype for x in xs))}", where,
                              [Label(x.span, f"{fmt_shape(x.shape)} {x.dtype}") for x in xs
                               if x.span.file == where.file])
        return None

    def _residual_help(self, xs: list) -> str | None:
        """`a + b` with different channels: project the narrower side."""
        (a, b) = (x.shape for x in xs)
        if len(a) != len(b) or len(a) < 3 or a[1] == b[1] or a[0] != b[0]:
            return None
        if not all(isinstance(d, int) for d in a[1:] + b[1:]):
            return None
        wide, narrow = (0, 1) if a[1] > b[1] else (1, 0)
        sw, sn = xs[wide].shape, xs[narrow].shape
        strides = []
        for dw, dn in zip(sw[2:], sn[2:]):
            # A 1x1 convolution with stride s makes (dn - 1) // s + 1.
            s_ = next((k for k in range(1, 65) if (dn - 1) // k + 1 == dw), None)
            if s_ is None:
                return None
            strides.append(s_)
        d = len(sw) - 2
        conv = {1: "Conv1d", 2: "Conv2d", 3: "Conv3d"}.get(d)
        if conv is None:
            return None
        stride = ""
        if any(s != 1 for s in strides):
            stride = f", stride = {strides[0] if len(set(strides)) == 1 else tuple(strides)}"
        who = self._source_name(xs[narrow])
        side = "left" if narrow == 0 else "right"
        what = f"`{who}`" if who else f"the {side} side"
        fix = f"-> {conv}({sw[1]}, 1{stride}, bias = false) -> BatchNorm"
        spatial = "" if not stride else \
            f" and so do the spatial sizes ({'x'.join(map(str, sn[2:]))} vs {'x'.join(map(str, sw[2:]))})"
        head = f"channels differ ({sw[1]} vs {sn[1]}){spatial}; project {what} with a 1x1 convolution:\n"
        if not who:
            return head + f"`{fix}`"
        defn = self.frame.defn if self.frames else None
        inputs = {st.name for st in defn.body if isinstance(st, ast.Input)} if defn is not None else set()
        if who in inputs:   # do not overwrite an input the other path reads too
            return head + f"`skip = {who} {fix}`, and add `skip` instead of `{who}`"
        return head + f"`{who} = {who} {fix}`"

    def _source_name(self, t: Tensor) -> str | None:
        """The variable name a tensor was written as, if it was a plain name."""
        text = self.snippet(t.span)
        return text if text and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) else None

    def snippet(self, span: Span | None) -> str | None:
        """The source text of a one-line span (short ones only), for messages."""
        if span is None or self.sources is None or span.line != span.end_line:
            return None
        line = self.sources.line(span.file, span.line)
        if not line:
            return None
        text = line[span.column - 1:span.end_column - 1].strip()
        return text if 0 < len(text) <= 60 else None

    def _check_sizes(self, a, shapes, span: Span) -> None:
        """Refuse absurd sizes before anything is allocated."""
        total = 0
        for w in (a.get("weights") or {}).values():
            total += w.size
        if total * 4 > MAX_WEIGHT_BYTES:
            raise ShapeError("E0119", f"`{a.kind}` would need {_bytes(total * 4)} of float32 weights "
                             f"({total:,} values); the limit is {_bytes(MAX_WEIGHT_BYTES)}",
                             help="an ONNX file cannot hold more than 2 GiB; check the sizes given to this layer")
        for s in shapes:
            msg = _too_big(s)
            if msg:
                raise ShapeError("E0119", f"`{a.kind}` would make {msg}",
                                 help="check the sizes given to this layer and to the model's inputs")

    # ------------------------------------------------------------ unknown names and other errors
    def _unknown(self, name: str, span: Span, env: Env, callable: bool = False) -> CompileError:
        layers, defs, funcs, values = [], [], [], []
        for k in env.names():
            if k.startswith("__"):
                continue
            try:
                v = env.lookup(k)
            except KeyError:
                continue
            (layers if isinstance(v, LayerKind) else defs if isinstance(v, (Definition, ModelInstance))
             else funcs if isinstance(v, Builtin) else values).append(k)
        later = self._defined_later(name, span)
        if callable or name[:1].isupper():
            alt = did_you_mean(name, layers + defs + (funcs if callable else []))
            what = "function, layer or block" if callable and name[:1].islower() else "layer or block"
            help = f"did you mean `{alt}`?" if alt else None
            if alt is None:
                where = _std_definer(name)
                if where:
                    help = f"`{name}` is defined in the standard library; add `import std.{where}`"
            if later:
                help = f"`{name}` is defined later, on line {later.line}; definitions are read top to bottom"
            return error("E0102", f"unknown {what} `{name}`", span, help=help)
        alt = did_you_mean(name, values) or did_you_mean(name, layers + defs)
        help = f"did you mean `{alt}`?" if alt else None
        if later is not None:
            help = (f"`{name}` is assigned later, on line {later.line}; a model is read top to bottom, "
                    f"so a tensor must be made before it is used")
        return error("E0101", f"unknown name `{name}`", span, help=help)

    def _defined_later(self, name: str, span: Span) -> Span | None:
        """Where the current model or block assigns `name` after `span`."""
        if not self.frames or self.frame.defn is None:
            return None
        stack = list(self.frame.defn.body)
        while stack:
            st = stack.pop()
            if isinstance(st, ast.If):
                stack += list(st.then) + list(st.orelse or [])
            elif isinstance(st, ast.For):
                stack += list(st.body)
            elif name in _targets(st) and st.span.file == span.file and (
                    (st.span.line, st.span.column) > (span.line, span.column)):
                return st.span
        return None

    def _too_deep(self, bv: BlockVal) -> CompileError:
        blocks = [f.defn.name for f in self.frames if f.kind == "block" and f.defn is not None]
        cycle = None
        for i, name in enumerate(blocks):
            if name in blocks[i + 1:]:
                j = blocks.index(name, i + 1)
                cycle = blocks[i:j + 1]
                break
        if cycle is not None:
            msg = (f"block `{cycle[0]}` instantiates itself" if len(cycle) == 2 else
                   f"blocks `{cycle[0]}` and `{cycle[1]}` instantiate each other" if len(cycle) == 3 else
                   f"blocks {', '.join(f'`{c}`' for c in cycle[:-1])} instantiate each other")
            return error("E0114", f"{msg} more than {MAX_DEPTH} levels deep", bv.span,
                         help="a recursive block needs a condition that stops it soon enough, e.g. "
                              "`if depth > 0 { ... }` with a smaller `depth` each time",
                         notes=["the cycle: " + " -> ".join(cycle)])
        return error("E0114", f"blocks nest more than {MAX_DEPTH} deep", bv.span,
                     notes=["the blocks: " + " -> ".join(blocks[:8]) + (" -> ..." if len(blocks) > 8 else "")])

    def _undecidable(self, s, span: Span) -> CompileError:
        labels = explain.symbol_origins(self.ir, s)[:3] if self.ir is not None else []
        return error("E0305", f"this depends on the symbolic size `{s}`, which is not known at compile time",
                     span, labels=labels, help="give the dimension a number in the model's input shape")


def _std_definer(name: str) -> str | None:
    """The standard-library module that defines `name`, if one does (read
    only when an unknown name needs explaining)."""
    try:
        from .loader import _read_std, list_std
        for mod in list_std():
            if re.search(rf"^\s*(block|model)\s+{re.escape(name)}\b", _read_std(mod), re.M):
                return mod
    except Exception:  # a missing or unreadable stdlib only loses the hint
        return None
    return None


def _differing_dims(xs: list) -> list[int]:
    shapes = [x.shape for x in xs]
    r = len(shapes[0])
    if any(len(s) != r for s in shapes):
        return []
    return [d for d in range(r) if len({s[d] for s in shapes}) > 1]


def _final_size(message: str):
    m = re.search(r"of size (-?\d+)", message)
    return int(m.group(1)) if m else "?"


def _bytes(n: int) -> str:
    for unit, k in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= k:
            return f"{n / k:,.1f} {unit}"
    return f"{n} bytes"


def _least(d) -> int:
    """The smallest a dimension can be: an int itself; a sum of symbols with
    positive coefficients (`H + 2000000000`) with every symbol 1; anything
    else (a difference, a floor division) 1."""
    if isinstance(d, int):
        return d
    least = d.const   # a loop, not all() and sum(): every symbolic size of every layer comes here
    for a, c in d.terms.items():
        if c <= 0 or not a.isidentifier():
            return 1
        least += c
    return least if least > 1 else 1


def _too_big(shape) -> str | None:
    """A message if a float32 tensor of this shape needs more than
    MAX_TENSOR_BYTES even with every symbolic size at its smallest."""
    if shape is None:
        return None
    n = 1
    for d in shape:
        n *= d if type(d) is int else _least(d)   # most sizes are ints: no call for them
    if n * 4 <= MAX_TENSOR_BYTES:
        return None
    open_ = [d for d in shape if not isinstance(d, int)]
    exact = all(a.isidentifier() and c > 0 for d in open_ for a, c in d.terms.items())
    names = [a for d in open_ for a in d.terms]
    with_ = ""
    if open_:
        with_ = (" even with " + ", ".join(f"{x} = 1" for x in dict.fromkeys(names))) if exact \
            else " even with its symbolic sizes 1"
    return (f"a tensor of shape {fmt_shape(shape)}, which needs {_bytes(n * 4)}" + with_
            + f"; the limit is {_bytes(MAX_TENSOR_BYTES)}")
