"""Applying layers and blocks to tensors, and the names they get: making a
layer value from its arguments, binding a block's parameters, adding layer
nodes (their shape rules run at once), instantiating blocks, and the stages
of a pipe `x -> f -> g`.

A mixin of the Elaborator (elaborate.py). Layer names come from the
frame's NameScope (scope.py); a shape rule's complaint is worded by
shape_help.py.
"""

from __future__ import annotations

import re

from . import ast
from .diagnostics import CompileError, Diagnostic, Label, Span, did_you_mean, error
from .layers import REGISTRY
from .layers.base import ArgTypeError, Attrs, Layer, REQUIRED, ShapeError, coerce
from .ir import weight_name
from .scope import MAX_DEPTH, MAX_NODES, Abort, Definition, Env, Frame, NameScope
from .shapes import fmt_shape
from .training_attrs import KEYWORDS as TRAINING_KEYWORDS, training_kwargs
from .expressions import PIPE_LAYERS
from .values import (CALLABLE_LAYERS, POISON, BlockVal, Builtin, Chain, LayerKind, LayerVal, Named, Repeat, Scoped,
                     Shared, Tensor, show)


def _bind_keywords(what: str, names: list, kw: dict, args: dict, spans: dict) -> None:
    """Add the keyword arguments `kw` (name -> (value, span)) of a call of
    `what` to `args` and their spans to `spans`: each must name one of its
    parameters `names`, not one already given by position."""
    for k, (v, s) in kw.items():
        if k not in names:
            alt = did_you_mean(k, names)
            raise error("E0103", f"`{what}` has no parameter `{k}`", s,
                        help=f"did you mean `{alt}`?" if alt else
                        ("its parameters are " + ", ".join(f"`{n}`" for n in names)) if names else None)
        if k in args:
            raise error("E0106", f"`{k}` is given twice (by position and by name)", s)
        args[k], spans[k] = v, s


class Application:
    """Layers and blocks applied to tensors, and pipes."""

    def _e_Pipe(self, n, env, sym):
        # Each stage is evaluated and applied on its own: a failing stage is
        # reported and poisons what follows, but the stages after it are still
        # evaluated, so that their own mistakes are reported in the same run.
        v = self._recover(lambda: self.eval(n.source, env))
        prev = None
        for st in n.stages:
            f = self._recover(lambda: self._stage(st, env))
            if v is POISON or f is POISON or (isinstance(f, Named) and f.item is POISON):
                v = POISON
                continue
            v = self._recover(lambda: self._pipe_step(v, f, st, n, prev))
            prev = st
        return v

    def _recover(self, fn):
        try:
            return fn()
        except CompileError as e:
            self.report(e.diagnostic)
            return POISON

    def _stage(self, st: ast.Stage, env: Env):
        outer, self.stage_expr = self.stage_expr, st.expr
        try:
            f = self.eval(st.expr, env)
        finally:
            self.stage_expr = outer
        if isinstance(f, Builtin):
            if f.name in REGISTRY:   # `x -> max`: the reduction, not the builtin on numbers
                f = LayerKind(f.name, REGISTRY[f.name])
            elif f.name in PIPE_LAYERS:   # `(a, b) -> concat`
                if f.name == "split":
                    raise error("E0104", "`split` needs the parts to split into", st.expr.span,
                                help="write `x -> split(2)` (equal parts) or `x -> split([16, 48])` (their sizes)")
                f = LayerKind(PIPE_LAYERS[f.name], REGISTRY[PIPE_LAYERS[f.name]])
        if st.name is not None:
            f = Named(f, self._layer_name(st.name, env), st.span)
        inner = f.item if isinstance(f, Named) else f
        if inner is not POISON and not isinstance(inner, _STAGES):
            hint = None
            call = st.expr.func.id if isinstance(st.expr, ast.Call) and isinstance(st.expr.func, ast.Name) else None
            if isinstance(inner, (Tensor, tuple)) and call in PIPE_LAYERS:
                # `x -> concat(y)`: called on a tensor it is a tensor, not a stage
                form = "`x -> split(3)`, or `split(x, 3)`" if call == "split" else f"`(a, b) -> {call}`, or `{call}(a, b)`"
                hint = f"after `->`, `{call}` takes the pipe's tensors and no others: {form} alone"
            elif isinstance(inner, Tensor):
                hint = "a stage after `->` is a layer or a block; to combine tensors use `+`, `*` or `concat(...)`"
            elif isinstance(inner, Builtin):
                hint = f"`{inner.name}` is a function: call it on tensors, e.g. `{inner.name}(a, b)`"
            raise error("E0117", f"{show(inner)} is not a layer, so it cannot follow `->`", st.expr.span,
                        help=hint)
        return f

    def _pipe_step(self, v, f, st: ast.Stage, n: ast.Pipe, prev: ast.Stage | None = None):
        if isinstance(v, Tensor) or (isinstance(v, (tuple, list)) and v and all(isinstance(x, Tensor) for x in v)):
            xs = [v] if isinstance(v, Tensor) else list(v)
            try:
                out = self.apply(f, xs, self.frame.names, st.span)
            except CompileError as e:
                if prev is not None and len(xs) > 1 and e.diagnostic.code == "E0115" and e.diagnostic.help is None:
                    self._unpack_help(e.diagnostic, len(xs), n, prev, st)
                raise
            return out[0] if len(out) == 1 else tuple(out)
        if isinstance(v, _STAGES):
            items = v.items if isinstance(v, Chain) else [v]
            return Chain(items + [f], n.span)
        if isinstance(v, (tuple, list)) and any(x is POISON for x in v):
            return POISON
        raise error("E0117", f"`->` needs a tensor or a layer on its left; got {show(v)}", n.source.span)

    def _unpack_help(self, d: Diagnostic, k: int, n: ast.Pipe, prev: ast.Stage, st: ast.Stage) -> None:
        """`x -> LSTM(8) -> Linear(3)`: the stage before gave several tensors
        and this one takes fewer; show how to unpack them and go on with one."""
        before = self.snippet(n.source.span.to(prev.span)) or "... -> " + (self.snippet(prev.span) or "...")
        after = self.snippet(st.span) or "..."
        if k <= 4:
            first, names = "out", ", ".join(["out"] + ["_"] * (k - 1))
        else:
            first, names = "parts[0]", "parts"
        d.labels.append(Label(prev.span, f"this gives {k} tensors"))
        d.help = f"unpack them first, `{names} = {before}`, then go on with one: `{first} -> {after}`"

    def _layer_name(self, ln: ast.LayerName, env: Env) -> str:
        if ln.parts is not None:
            return ".".join(ln.parts)

        def sub(m):
            from .parser import ParseError, parse_expression
            try:
                expr = parse_expression(m.group(1), ln.span.file)
            except ParseError:
                raise error("E0001", f"`{{{m.group(1)}}}` is not an expression", ln.span) from None
            v = self.eval(_respan(expr, ln.span), env)
            if v is POISON:
                raise error("E0117", "cannot name a layer after a value that failed", ln.span)
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                raise error("E0117", f"a layer name can contain integers and strings; got {show(v)}", ln.span)
            return str(v)

        name = re.sub(r"\{([^{}]*)\}", sub, ln.template)
        # `-` inside a part: torchvision names RegNet's units `block1-0`
        if not name or not all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", p) for p in name.split(".")):
            raise error("E0107", f"`{name}` is not a valid layer name", ln.span,
                        help="use letters, digits, `_` and `-` (not first), with `.` between parts")
        return name

    # ------------------------------------------------------------ layers and blocks
    def make_layer(self, kind: str, pos, kw, span: Span) -> LayerVal:
        spec = REGISTRY[kind]
        params = spec.params
        if spec.variadic and len(pos) > 1:
            first, last = pos[0][1], pos[-1][1]
            pos = [(tuple(v for v, _ in pos), Span(first.file, first.line, first.column, last.end_line,
                                                   last.end_column))]
        names = [p.name for p in params]
        training = {}
        if kw and not _TRAINING.isdisjoint(kw):   # most calls have none: skip the split
            kw, training = training_kwargs(kw, names)
        if len(pos) > len(params):
            extra_span = pos[len(params)][1]
            takes = f"at most {len(params)} argument{'s' * (len(params) != 1)}" if params else "no arguments"
            raise error("E0105", f"`{kind}` takes {takes}; got {len(pos)}", extra_span,
                        help=("its parameters are " + ", ".join(f"`{p.name}`" for p in params)) if params
                        else f"`{kind}` has no parameters; write it without parentheses")
        args, spans = {}, {}
        for p, (v, s) in zip(params, pos):
            args[p.name], spans[p.name] = v, s
        _bind_keywords(kind, names, kw, args, spans)
        out = {}
        for p in params:
            if p.name in args:
                try:
                    out[p.name] = coerce(args[p.name], p.type, p)
                except ArgTypeError as e:
                    raise error("E0106", str(e), spans[p.name]) from None
            elif p.default is REQUIRED:
                required = ", ".join(q.name for q in params if q.default is REQUIRED)
                raise error("E0104", f"`{kind}` needs `{p.name}`", span,
                            help=f"write `{kind}({required})`" + (f"; `{p.name}` is {p.doc}" if p.doc else ""))
            else:
                out[p.name] = p.default
        self._validate(kind, spec, out, spans, span)
        return LayerVal(kind, spec, out, spans, span, training)

    def _validate(self, kind: str, spec, args: dict, spans: dict, span: Span) -> None:
        """A layer's argument checks that need no input shape run as soon as
        it is written, so they are reported even where its input failed."""
        a = Attrs(args)
        a.kind, a.variant, a.name, a.weights = kind, spec.names[kind], kind, {}
        try:
            spec.validate(a)
        except ShapeError as e:
            raise CompileError(Diagnostic(e.code, e.message, spans.get(e.arg, span) if e.arg else span,
                                          help=e.help, notes=list(e.notes))) from None

    def _bind_params(self, defn: ast.Definition, pos, kw, span: Span, env: Env, partial=False) -> dict:
        params = defn.params
        if len(pos) > len(params):
            raise error("E0105", f"`{defn.name}` takes at most {len(params)} argument"
                        f"{'s' * (len(params) != 1)}; got {len(pos)}", pos[len(params)][1])
        args = {p.name: v for p, (v, _) in zip(params, pos)}
        _bind_keywords(defn.name, [p.name for p in params], kw, args, {})
        if not partial:
            for p in params:
                if p.name not in args and p.default is None:
                    raise error("E0104", f"`{defn.name}` needs `{p.name}`", span)
        return args

    def _fill_defaults(self, defn: ast.Definition, args: dict, env: Env, span: Span) -> dict:
        out = dict(args)
        scope = Env(out, env)
        for p in defn.params:
            if p.name not in out:
                if p.default is None:
                    raise error("E0104", f"`{defn.name}` needs `{p.name}`", span)
                out[p.name] = self.eval(p.default, scope)
        return out

    def apply(self, f, xs: list, names: NameScope, span: Span, explicit: str | None = None) -> list:
        if any(x is POISON for x in xs):
            return [POISON]
        if isinstance(f, LayerVal):   # the common case first
            return self.apply_layer(f, xs, explicit, span, names)
        if isinstance(f, Named):
            if isinstance(f.item, Shared):
                raise error("E0122", f"{show(f.item)} is named where it is made; one use cannot rename it",
                            f.span, help=f"remove `as {f.name}`: every use of it keeps its weights "
                            f"under `{f.item.name}`")
            return self.apply(f.item, xs, names, f.span, f.name)
        if isinstance(f, Shared):
            return self._apply_shared(f, xs, span)
        if isinstance(f, Scoped):   # its training attributes reach every layer inside, as a block's
            outer = getattr(self, "training_scope", {})
            self.training_scope = {**outer, **f.training}
            try:
                return self.apply(f.item, xs, names, span, explicit)
            finally:
                self.training_scope = outer
        if isinstance(f, LayerKind):
            f = self.make_layer(f.name, [], {}, span)
        if isinstance(f, Definition):
            f = BlockVal(f.defn, f.module, self._bind_params(f.defn, [], {}, span, Env()), span)
        if isinstance(f, LayerVal):
            return self.apply_layer(f, xs, explicit, span, names)
        if isinstance(f, BlockVal):
            return self.instantiate(f, xs, names, explicit, span)
        if isinstance(f, (Chain, Repeat)):
            items = f.items if isinstance(f, Chain) else [f]
            if explicit is not None:
                sub = NameScope(self, names.name(explicit, "chain", span))
                idx = 0
                for item in items:
                    if isinstance(item, Repeat):
                        for _ in range(item.count):
                            xs = self.apply(item.item, xs, sub, span, str(idx))
                            idx += 1
                    elif isinstance(item, Named):
                        xs = self.apply(item, xs, sub, span)
                        idx += 1
                    else:
                        xs = self.apply(item, xs, sub, span, str(idx))
                        idx += 1
            else:
                for item in items:
                    if isinstance(item, Repeat):
                        for _ in range(item.count):
                            xs = self.apply(item.item, xs, names, span)
                    else:
                        xs = self.apply(item, xs, names, span)
            return xs
        raise error("E0117", f"{show(f)} is not a layer", span)

    def apply_layer(self, lv: LayerVal, xs: list, explicit: str | None, span: Span,
                    names: NameScope | None = None, primary: Span | None = None) -> list:
        """Add one layer node; its shape rule runs now. `primary` is where a
        shape error points (the operator of `a + b`; by default the call)."""
        spec = lv.spec
        if spec.n_inputs is not None and len(xs) != spec.n_inputs:
            raise error("E0115", f"`{lv.name}` takes {spec.n_inputs} input tensor"
                        f"{'s' * (spec.n_inputs != 1)}; got {len(xs)}", lv.span)
        self._step(span)
        if self.ir.node_count() >= MAX_NODES:
            raise Abort(self._where(Diagnostic("E0119", f"the model has more than {MAX_NODES:,} layers", span,
                                               help="a repetition or loop count is probably larger than meant")))
        name = (names or self.frame.names).name(explicit, lv.name.lower(), span)
        a = Attrs(lv.args)
        dtypes = [x.dtype for x in xs]
        # in_dtypes: for lowerings that differ by dtype (a bool or float mask)
        a.update(kind=lv.name, variant=spec.names[lv.name], name=name, weights={}, in_dtypes=dtypes)
        bad_dtype = None if _dtypes_fit(spec, dtypes) else self._dtype_diagnostic(lv, a, xs, primary)
        if bad_dtype is not None:
            self.report(bad_dtype)
        if bad_dtype is not None or any(x.shape is None for x in xs):
            shapes = [None] * spec.n_outputs(a)
        else:
            try:
                shapes = spec.infer(a, [x.shape for x in xs])
                self._check_sizes(a, shapes, lv.span)
            except ShapeError as e:
                self.report(self._shape_diagnostic(e, lv, xs, primary))
                shapes = [None] * spec.n_outputs(a)
                a.weights = {}
        dtype = "float32" if bad_dtype is not None else spec.out_dtype(a, list(dtypes))
        n = self.ir.add_node(lv.name, name, a, shapes, lv.span, [(x.node, x.port) for x in xs],
                             [dtype] * len(shapes))
        scope = self.training_scope
        if scope or lv.training:   # kept beside the graph: the compiled ONNX does not change (train.py reads it)
            self.ir.meta.setdefault("training", {})[name] = {**scope, **lv.training}
        return [Tensor(n, i, s, lv.span, dtype) for i, s in enumerate(shapes)]

    # ------------------------------------------------------------ shared instances
    def _e_Shared(self, n, env, sym):
        """`shared F as name`: the instance's name is taken here, in the
        scope that makes it, as a layer's is (its weights live there)."""
        v = self.eval(n.expr, env)
        if v is POISON:
            return v
        if isinstance(v, Definition):
            v = BlockVal(v.defn, v.module, self._bind_params(v.defn, [], {}, n.expr.span, env), n.expr.span)
        elif isinstance(v, LayerKind):
            v = self.make_layer(v.name, [], {}, n.expr.span)
        if isinstance(v, Shared):
            raise error("E0126", f"{show(v)} is shared already", n.expr.span,
                        help=f"use `{v.name}` itself: all its uses share its weights")
        if not isinstance(v, CALLABLE_LAYERS):
            hint = ("a tensor is one value already; `shared` gives a layer's several uses one set of weights"
                    if isinstance(v, Tensor) else "write `shared Conv2d(64, 3)`, `shared (A -> B)` or "
                    "`shared MyBlock(...)`")
            raise error("E0126", f"`shared` needs a layer, a chain or a block; got {show(v)}", n.expr.span,
                        help=hint)
        explicit = self._layer_name(n.name, env) if n.name is not None else None
        base = _snake(v.defn.name) if isinstance(v, BlockVal) else v.name.lower() if isinstance(v, LayerVal) \
            else "chain"
        full = self.frame.names.name(explicit, base, n.name.span if n.name is not None else n.span)
        return Shared(v, full, n.span)

    def _apply_shared(self, sh: Shared, xs: list, span: Span) -> list:
        """Apply a shared instance. Its first use is named as `x -> F as
        name` would be; the k-th (k >= 2) under `name@k`, with every weight
        named as the first use's corresponding one, so all uses read one
        initializer. Each use must give every weight the same shape."""
        sh.uses += 1
        if sh.uses == 1:
            prefix, sh.first = sh.name, span
            self.used_names.pop(sh.name, None)   # reserved where it was made, for its first use
        else:
            prefix = f"{sh.name}@{sh.uses}"
        start, reported = self.ir._next, len(self.diags)
        out = self.apply(sh.item, xs, NameScope(self, ""), span, prefix)
        failed = len(self.diags) > reported or any(x is POISON for x in out)
        weights = {}
        for nid in range(start, self.ir._next):
            d = self.ir.node(nid)
            if d["name"] != prefix and not d["name"].startswith(prefix + "."):
                continue   # made by another shared instance used inside this one: named by it
            for pname, w in d["attrs"]["weights"].items():
                full = sh.name + weight_name(d, pname, w)[len(prefix):]
                weights[full] = w.shape
                w.name, w.shared = full, True
        if sh.uses == 1:
            sh.weights, sh.broken = weights, failed
            return out
        if failed or sh.broken or weights == sh.weights:
            return out
        from .diagnostics import Label
        diff = next(k for k in list(sh.weights) + list(weights) if sh.weights.get(k) != weights.get(k))
        a, b = sh.weights.get(diff), weights.get(diff)
        what = (f"gives its weight `{diff}` the shape {fmt_shape(b)}, where its first use gave {fmt_shape(a)}"
                if a is not None and b is not None else
                f"{'has no' if b is None else 'makes a'} weight `{diff}`, which its first use "
                f"{'made' if b is None else 'did not'}")
        raise error("E0128", f"this use of {show(sh)} {what}", span,
                    labels=[Label(sh.first, "first used here")] if sh.first.file == span.file else None,
                    help="the uses of a shared instance share one set of weights, so each must give them "
                         "the same shapes: feed it tensors of the same channels and features")

    def instantiate(self, bv: BlockVal, xs: list, names: NameScope, explicit, span: Span) -> list:
        defn = bv.defn
        if len(self.frames) > MAX_DEPTH:
            # Stop the whole model: every level above would try again (a block
            # that recurses twice would otherwise take 2^depth attempts).
            raise Abort(self._too_deep(bv).diagnostic)
        if defn.kind == "model":
            raise error("E0117", f"`{defn.name}` is a model; only blocks can be used as layers", bv.span)
        n_inputs = sum(isinstance(s, ast.Input) for s in defn.body)
        if n_inputs != len(xs):
            raise error("E0115", f"block `{defn.name}` takes {n_inputs} input tensor{'s' * (n_inputs != 1)}; "
                        f"got {len(xs)}", bv.span)
        self.steps += 9   # entering a block costs more than a statement
        inst = names.name(explicit, _snake(defn.name), span)
        genv = bv.module.env["__env__"]
        frame = Frame("block", defn, NameScope(self, inst), actuals=list(xs), instance=inst, call_span=bv.span)
        self.frames.append(frame)
        errors_before = len(self.diags)
        outer = self.training_scope
        self.training_scope = {**outer, **bv.training}   # a block's training attributes reach every layer inside
        try:
            env = Env({}, genv)
            env.vars.update(self._fill_defaults(defn, bv.args, env, bv.span))
            self.run_body(defn.body, env)
        finally:
            self.frames.pop()
            self.training_scope = outer
        if not frame.outputs:
            if len(self.diags) > errors_before:
                return [POISON]   # the body's own errors explain the missing output
            raise error("E0121", f"block `{defn.name}` has no output", defn.name_span,
                        help="declare one with `output y = ...`")
        out = []
        for _, v, _ in frame.outputs:
            out.append(v if v is POISON else v.at(span))
        return out


_TRAINING = frozenset(TRAINING_KEYWORDS)
_STAGES = CALLABLE_LAYERS + (Definition,)   # what may follow `->`


def _dtypes_fit(spec, dtypes: list) -> bool:
    """The common case, checked without building the diagnostic's inputs:
    a layer that takes one set of dtypes for every input, and inputs in it
    (of one dtype where it must). False sends the check the long way."""
    if type(spec).input_dtypes is not Layer.input_dtypes:
        return False
    ok = spec.dtypes
    for d in dtypes:
        if d not in ok:
            return False
    return not spec.same_dtypes or len(set(dtypes)) <= 1


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _respan(node, span: Span):
    """Give every node of an expression parsed from a string name one span:
    the string's own."""
    if isinstance(node, ast.Node):
        node.span = span
        for k, v in vars(node).items():
            if isinstance(v, ast.Node):
                _respan(v, span)
            elif isinstance(v, list):
                for x in v:
                    _respan(x, span)
    return node
