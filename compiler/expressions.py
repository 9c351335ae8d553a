"""Evaluating expressions to compile-time values: names, numbers within
their limits, arithmetic on sizes, comparisons, indexing, calls, `A * n`,
and the built-in functions (concat, add, split, len, min, max, int).

A mixin of the Elaborator (elaborate.py); `eval` dispatches on the node's
type to an `_e_<Node>` method. A pipe `x -> f` is evaluated in
application.py, where layers are applied.
"""

from __future__ import annotations

import math

from . import ast
from .diagnostics import CompileError, Label, Span, did_you_mean, error
from .layers import REGISTRY
from .scope import MAX_DEPTH, MAX_INT, MAX_LIST, MAX_REPEAT, MAX_SYM_TEXT, Definition, Env, _is_arith, _is_int, _is_num
from .shapes import Sym, fmt_shape
from .training_attrs import training_kwargs
from .values import (CALLABLE_LAYERS, POISON, BlockVal, Builtin, Chain, Function, LayerKind, Method, Named, Repeat,
                     Scoped, Tensor, show, type_name)

# The operators on tensors: the layer each applies (one tensor and a number
# give the same layer with `scalar`).
_TENSOR_OPS = {"+": "Add", "-": "Sub", "*": "Mul", "/": "Div", "**": "Pow", "@": "matmul"}


def _number_fns() -> dict:
    """Tensor functions that, given a number, are computed at compile time:
    name -> (function, the check of its argument or None)."""
    def nonneg(v):
        return None if v >= 0 else "a negative number"

    def positive(v):
        return None if v > 0 else "a number that is not positive"

    def finite(v):
        return None if math.isfinite(v) else "an infinite number"
    return {"sqrt": (math.sqrt, nonneg), "log": (math.log, positive), "exp": (math.exp, None),
            "abs": (abs, None), "floor": (math.floor, finite), "ceil": (math.ceil, finite),
            "round": (round, finite)}


_NUMBER_FNS = _number_fns()
_EVAL: dict = {}   # (elaborator class, node class) -> its _e_ method
INT64_MAX = 2 ** 63 - 1   # ONNX Slice's "to the end"


class Expressions:
    """Expressions evaluated to values, and the built-in functions."""

    def eval(self, n, env: Env, symbolic: bool = False):
        key = (type(self), type(n))
        try:
            m = _EVAL[key]
        except KeyError:   # once per node type: a fresh "_e_" string missed Python's method cache each time
            m = _EVAL[key] = getattr(type(self), "_e_" + type(n).__name__)
        return m(self, n, env, symbolic)

    def _e_Literal(self, n, env, sym):
        if isinstance(n.value, ast.HugeNumber):
            t = str(n.value)
            what = f"the integer {t[:12]}... ({len(t)} digits)" if t.isdigit() else f"the number {t[:20]}"
            raise error("E0123", f"{what} is too large", n.span,
                        help="sizes and counts must fit a signed 64-bit integer")
        if isinstance(n.value, float) and not math.isfinite(n.value):
            raise error("E0123", "this number is too large for a float", n.span,
                        help="for an infinite value (a max-pooling pad, say) write `inf`")
        return self._in_range(n.value, n.span)

    def _e_Name(self, n, env, sym):
        try:
            v = env.lookup(n.id)
        except KeyError:
            if sym and n.id[:1].isalpha():
                return Sym.symbol(n.id)
            raise self._unknown(n.id, n.span, env) from None
        if isinstance(v, Tensor):   # v.at(n.span), inline: every name of a tensor comes here
            return Tensor(v.node, v.port, v.shape, n.span, v.dtype)
        return v

    def _e_ListExpr(self, n, env, sym):
        return [self.eval(i, env, sym) for i in n.items]

    def _e_TupleExpr(self, n, env, sym):
        return tuple(self.eval(i, env, sym) for i in n.items)

    def _seq_limit(self, length: int, span: Span) -> None:
        if length > MAX_LIST:
            raise error("E0119", f"this would make a sequence of {length:,} items; the limit is {MAX_LIST:,}", span)

    def _e_Neg(self, n, env, sym):
        v = self.eval(n.operand, env, sym)
        if v is POISON:
            return v
        if isinstance(v, (int, float, Sym)) and not isinstance(v, bool):
            return self._in_range(-v, n.span)
        if isinstance(v, Tensor):
            return self.apply_layer(self.make_layer("neg", [], {}, n.span), [v], None, n.span)[0]
        raise error("E0117", f"cannot negate {show(v)}", n.span)

    def _e_IfExp(self, n, env, sym):
        c = self.eval(n.cond, env)
        if c is POISON:
            return c
        if not isinstance(c, bool):
            raise self._undecidable(c, n.cond.span) if isinstance(c, Sym) else \
                error("E0117", f"a condition must be true or false; got {show(c)}", n.cond.span)
        return self.eval(n.then if c else n.orelse, env, sym)

    def _e_Not(self, n, env, sym):
        v = self.eval(n.operand, env)
        if v is POISON:
            return v
        if not isinstance(v, bool):
            raise error("E0117", f"`not` needs true or false; got {show(v)}", n.operand.span)
        return not v

    def _e_BoolOp(self, n, env, sym):
        left = self.eval(n.left, env)
        if left is POISON:
            return left
        if not isinstance(left, bool):
            raise error("E0117", f"`{n.op}` needs true or false; got {show(left)}", n.left.span)
        if (n.op == "or" and left) or (n.op == "and" and not left):
            return left
        right = self.eval(n.right, env)
        if right is not POISON and not isinstance(right, bool):
            raise error("E0117", f"`{n.op}` needs true or false; got {show(right)}", n.right.span)
        return right

    def _e_Compare(self, n, env, sym):
        a, b = self.eval(n.left, env), self.eval(n.right, env)
        if a is POISON or b is POISON:
            return POISON
        if n.op in ("==", "!="):
            if isinstance(a, Sym) or isinstance(b, Sym):
                if a == b:
                    return n.op == "=="
                raise self._undecidable(a if isinstance(a, Sym) else b, n.span)
            eq = a == b and type(a) is type(b) or (_is_num(a) and _is_num(b) and a == b)
            return eq if n.op == "==" else not eq
        if isinstance(a, Sym) or isinstance(b, Sym):
            raise self._undecidable(a if isinstance(a, Sym) else b, n.span)
        if _is_num(a) and _is_num(b) or (isinstance(a, str) and isinstance(b, str)):
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[n.op]
        raise error("E0117", f"cannot compare {show(a)} with {show(b)} using `{n.op}`", n.span)

    def _e_BinOp(self, n, env, sym):
        return self._in_range(self._binop(n, env, sym), n.span)

    def _in_range(self, v, span: Span):
        """Numbers stay within int64 and finite floats; symbolic sizes and
        sequences stay small (a loop must not grow them without bound)."""
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            if -MAX_INT - 1 <= v <= MAX_INT:
                return v
            shown = str(v) if abs(v) < 10 ** 30 else f"a number of {len(str(abs(v)))} digits" \
                if abs(v) < 10 ** 4000 else "a number of thousands of digits"
            raise error("E0123", f"integer overflow: {shown} does not fit a signed 64-bit integer", span,
                        help="sizes and counts must stay within -2^63 .. 2^63 - 1")
        if isinstance(v, float):
            if v == v:   # infinities are allowed (`-inf` pads max pooling); NaN is not
                return v
            raise error("E0123", "this computation is not a number (NaN)", span)
        if isinstance(v, Sym):
            coeffs = list(v.terms.values()) + [v.const]
            if any(not -MAX_INT - 1 <= c <= MAX_INT for c in coeffs):
                raise error("E0123", "integer overflow in a symbolic size", span)
            if sum(len(a) for a in v.terms) > MAX_SYM_TEXT:
                raise error("E0119", f"this symbolic size has grown too complex to track "
                            f"(more than {MAX_SYM_TEXT} characters)", span,
                            help="give the model's input concrete sizes, or simplify the arithmetic on them")
        return v

    def _binop(self, n, env, sym):
        a, b = self.eval(n.left, env, sym), self.eval(n.right, env, sym)
        if a is POISON or b is POISON:
            return POISON
        op = n.op
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            return self._tensor_op(n, a, b)
        if op == "**" and _is_arith(a) and _is_arith(b):
            return self._power(n, a, b)
        if op == "*" and isinstance(a, CALLABLE_LAYERS + (Definition,)) and _is_int(b):
            return self._repeat(a, b, n.right.span, n.span)
        if op == "*" and isinstance(b, CALLABLE_LAYERS + (Definition,)) and _is_int(a):
            return self._repeat(b, a, n.left.span, n.span)
        if _is_arith(a) and _is_arith(b):
            if isinstance(a, float) and isinstance(b, Sym) or isinstance(b, float) and isinstance(a, Sym):
                raise error("E0117", f"cannot mix a symbolic size with a fraction in `{op}`", n.span)
            if op in ("/", "//", "%") and b == 0:
                raise error("E0118", "division by zero", n.right.span)
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "//":
                return a // b
            if op == "%":
                if isinstance(a, Sym) or isinstance(b, Sym):
                    raise self._undecidable(a if isinstance(a, Sym) else b, n.span)
                return a % b
            if op == "/":
                if isinstance(a, Sym) and _is_int(b) and (a // b) * b == a:
                    return a // b
                if _is_int(a) and _is_int(b) and a % b == 0:
                    return a // b
                if isinstance(a, Sym) or isinstance(b, Sym):
                    raise self._undecidable(a if isinstance(a, Sym) else b, n.span)
                return a / b
        if op == "+" and type(a) is type(b) and isinstance(a, (list, tuple, str)):
            self._seq_limit(len(a) + len(b), n.span)
            return a + b
        if op == "*" and isinstance(a, (list, tuple)) and _is_int(b):
            self._seq_limit(len(a) * max(b, 0), n.span)
            return a * b
        raise error("E0117", f"cannot apply `{op}` to {type_name(a)} and {type_name(b)}", n.op_span,
                    labels=[Label(n.left.span, show(a)), Label(n.right.span, show(b))])

    def _tensor_op(self, n, a, b):
        """`x + y`, `x * 0.5`, `1 - x`, `x @ w`: one layer (merge.py's
        Elementwise, arith.py's matmul)."""
        op, kind = n.op, _TENSOR_OPS.get(n.op)
        both = isinstance(a, Tensor) and isinstance(b, Tensor)
        num = b if isinstance(a, Tensor) else a
        if kind is not None and (both or (_is_num(num) and kind != "matmul")):
            kw = {} if both else {"scalar": (num, n.span), "reverse": (not isinstance(a, Tensor), n.span)}
            xs = [a, b] if both else [a if isinstance(a, Tensor) else b]
            return self.apply_layer(self.make_layer(kind, [], kw, n.span), xs, None, n.span, primary=n.op_span)[0]
        help = None
        if isinstance(num, Sym):
            help = "a symbolic size is known only at run time; tensor arithmetic takes numbers known now"
        elif op in ("//", "%"):
            help = "tensors have `+ - * / ** @`"
        raise error("E0117", f"cannot apply `{op}` to {type_name(a)} and {type_name(b)}", n.op_span,
                    labels=[Label(n.left.span, show(a)), Label(n.right.span, show(b))], help=help)

    def _power(self, n, a, b):
        """`a ** b` on numbers, as Python's, within int64."""
        if isinstance(a, Sym) or isinstance(b, Sym):
            if isinstance(a, Sym) and _is_int(b) and 0 <= b <= 8:
                r = 1
                for _ in range(b):
                    r = r * a
                return r
            raise error("E0117", "`**` on a symbolic size needs a small integer exponent (0 to 8)", n.span)
        if a == 0 and b < 0:
            raise error("E0118", "division by zero (`0 ** b` with b negative)", n.span)
        if _is_int(a) and _is_int(b) and b >= 0 and abs(a) > 1 and b > 64:
            raise error("E0123", f"integer overflow: {a} ** {b} does not fit a signed 64-bit integer", n.span,
                        help="sizes and counts must stay within -2^63 .. 2^63 - 1")
        try:
            r = a ** b
        except OverflowError:
            raise error("E0123", "this number is too large for a float", n.span) from None
        if isinstance(r, complex):
            raise error("E0117", f"{show(a)} ** {show(b)} is not a real number", n.span)
        return r

    def _repeat(self, f, count, count_span, span):
        if count < 0:
            raise error("E0107", f"a repetition count cannot be negative; got {count}", count_span)
        if count > MAX_REPEAT:
            raise error("E0119", f"{count:,} repetitions; the limit is {MAX_REPEAT:,}", count_span)
        return Repeat(f, count, span)

    def _e_Attribute(self, n, env, sym):
        v = self.eval(n.value, env)
        if v is POISON:
            return v
        if isinstance(v, Tensor):
            if v.shape is None:
                return POISON
            if n.attr == "shape":
                return tuple(v.shape)
            if n.attr == "rank":
                return len(v.shape)
            if n.attr == "channels":
                if len(v.shape) < 2:
                    raise error("E0310", f"a tensor of shape {fmt_shape(v.shape)} has no channel dimension",
                                n.span)
                return v.shape[1]
            spec = REGISTRY.get(n.attr)
            if spec is not None and spec.function:
                return Method(v, LayerKind(n.attr, spec), n.span)
            methods = sorted(k for k, spec in REGISTRY.items() if spec.function)
            raise error("E0101", f"a tensor has no property or method `{n.attr}`", n.span,
                        help=_dym(n.attr, ["shape", "rank", "channels"] + methods,
                                  "tensors have `shape`, `rank` and `channels`"))
        raise error("E0117", f"{show(v)} has no property `{n.attr}`", n.span)

    def _e_Index(self, n, env, sym):
        v = self.eval(n.value, env)
        items = [self._subscript(i, env) for i in n.items]
        if v is POISON or any(i is POISON for i in items):
            return POISON
        if isinstance(v, Tensor):
            return self._tensor_index(v, n, items)
        if isinstance(v, (list, tuple, str)):
            if len(items) != 1 or items[0] is Ellipsis:
                raise error("E0117", f"{show(v)} takes one index or slice", n.span)
            i = items[0]
            if isinstance(i, slice):
                return v[i]
            if not _is_int(i):
                raise error("E0117", f"an index must be an integer; got {show(i)}", n.items[0].span)
            if not -len(v) <= i < len(v):
                raise error("E0120", f"index {i} is out of range for {show(v)} of length {len(v)}",
                            n.items[0].span)
            return v[i]
        raise error("E0117", f"cannot index {show(v)}", n.value.span)

    def _subscript(self, item, env):
        """An index's value, a Python `slice` of its parts, or Ellipsis."""
        if isinstance(item, ast.EllipsisIndex):
            return Ellipsis
        if not isinstance(item, ast.SliceExpr):
            return self.eval(item, env)
        parts = []
        for part, what in ((item.start, "start"), (item.stop, "stop"), (item.step, "step")):
            p = None if part is None else self.eval(part, env)
            if p is POISON:
                return POISON
            if p is not None and not (_is_int(p) or isinstance(p, Sym) and what != "step"):
                raise error("E0117", f"a slice's {what} must be an integer; got {show(p)}", part.span)
            if what == "step" and p is not None and p <= 0:
                raise error("E0107", f"a slice step must be positive; got {p}", part.span)
            parts.append(p)
        return slice(*parts)

    def _tensor_index(self, x: Tensor, n, items):
        """`x[:, 0]`, `x[..., 2:-2]`: one Slice layer; an integer index removes its dimension."""
        if x.shape is None:
            return POISON
        if sum(i is Ellipsis for i in items) > 1:
            raise error("E0117", "a subscript holds one `...` at most", n.span)
        rank = len(x.shape)
        used = sum(i is not Ellipsis for i in items)
        if used > rank:
            raise error("E0120", f"{used} indices for a tensor of rank {rank} ({fmt_shape(x.shape)})", n.span)
        axes, starts, ends, steps, squeeze = [], [], [], [], []
        dim = 0
        for item, node in zip(items, n.items):
            if item is Ellipsis:
                dim += rank - used
                continue
            size = x.shape[dim]
            if isinstance(item, slice):
                if item != slice(None):
                    axes.append(dim)
                    starts.append(0 if item.start is None else item.start)
                    ends.append(INT64_MAX if item.stop is None else item.stop)
                    steps.append(1 if item.step is None else item.step)
            elif _is_int(item) or isinstance(item, Sym):
                if _is_int(item) and isinstance(size, int) and not -size <= item < size:
                    raise error("E0120", f"index {item} is out of range for dimension {dim} of "
                                f"{fmt_shape(x.shape)} (size {size})", node.span)
                axes.append(dim)
                starts.append(item)
                ends.append(INT64_MAX if _is_int(item) and item == -1 else item + 1)
                steps.append(1)
                squeeze.append(dim)
            else:
                raise error("E0117", f"a tensor index must be an integer or a slice; got {show(item)}", node.span)
            dim += 1
        if not axes:
            return x
        kw = {"starts": (tuple(starts), n.span), "ends": (tuple(ends), n.span), "steps": (tuple(steps), n.span)}
        if squeeze:
            kw["squeeze"] = (tuple(squeeze), n.span)
        lv = self.make_layer("Slice", [(tuple(axes), n.span)], kw, n.span)
        return self.apply_layer(lv, [x], None, n.span)[0]

    def _e_Call(self, n, env, sym):
        if isinstance(n.func, ast.Name):
            try:
                f = env.lookup(n.func.id)
            except KeyError:
                raise self._unknown(n.func.id, n.func.span, env, callable=True) from None
        else:
            f = self.eval(n.func, env)
        pos = [(self.eval(a, env), a.span) for a in n.args]
        kw: dict = {}
        for k in n.kwargs:
            if k.name in kw:
                raise error("E0106", f"`{k.name}` is given twice", k.span)
            kw[k.name] = (self.eval(k.value, env), k.span)
        if f is POISON or any(v is POISON for v, _ in pos) or any(v is POISON for v, _ in kw.values()):
            return POISON
        if isinstance(f, Method):
            f, pos = f.kind, [(f.tensor, f.span)] + pos
        if isinstance(f, LayerKind):
            if f.spec.function and pos and isinstance(pos[0][0], Tensor):
                # `transpose(x, 1, 2)`: the leading tensors are the inputs,
                # then those given by keyword to parameters of type "tensor".
                k = next((i for i, (v, _) in enumerate(pos) if not isinstance(v, Tensor)), len(pos))
                xs = [v for v, _ in pos[:k]]
                for p in f.spec.params:
                    if p.type == "tensor" and p.name in kw and isinstance(kw[p.name][0], Tensor):
                        xs.append(kw[p.name][0])
                        kw[p.name] = (True, kw[p.name][1])
                lv = self.make_layer(f.name, pos[k:], kw, n.span)
                out = self.apply_layer(lv, xs, None, n.span, primary=n.func.span)
                return out[0] if len(out) == 1 else tuple(out)
            if f.name in _NUMBER_FNS and len(pos) == 1 and not kw and _is_num(pos[0][0]):
                return self._number_fn(f.name, pos[0][0], pos[0][1], n.span)
            return self.make_layer(f.name, pos, kw, n.span)
        if isinstance(f, Function):
            return self._call_function(f, pos, kw, n, env)
        if isinstance(f, Definition):
            kw, training = training_kwargs(kw, [p.name for p in f.defn.params])
            return BlockVal(f.defn, f.module, self._bind_params(f.defn, pos, kw, n.span, env), n.span, training)
        if isinstance(f, Builtin):
            if n is self.stage_expr and f.name in PIPE_LAYERS \
                    and not any(isinstance(v, Tensor) for v, _ in pos):
                # `(a, b) -> concat(axis = 1)`, `x -> split(2)`: the layer, fed by the pipe
                return self.make_layer(PIPE_LAYERS[f.name], pos, kw, n.span)
            self.callee_span = n.func.span
            return f.fn(pos, kw, n.span)
        if isinstance(f, (Chain, Repeat, Named, Scoped)):
            return self._scoped(f, pos, kw, n.span)
        raise error("E0117", f"{show(f)} cannot be called", n.func.span)

    def _scoped(self, f, pos, kw, span):
        """`(A -> B)(trainable = false)`, `(Block * 3)(l2 = 1e-4)`: a chain
        or a repetition takes the training attributes only, for every layer
        inside it."""
        from .training_attrs import KEYWORDS
        allowed = ", ".join(f"`{k}`" for k in KEYWORDS)
        if pos:
            raise error("E0105", "a chain of layers takes no positional arguments", pos[0][1],
                        help=f"only training attributes, by name: {allowed}")
        rest, training = training_kwargs(kw, [])
        if rest:
            k, (_, s) = next(iter(rest.items()))
            raise error("E0103", f"a chain of layers has no parameter `{k}`", s,
                        help=f"a chain takes the training attributes only: {allowed}")
        return Scoped(f, training, span) if training else f

    def _number_fn(self, name, v, arg_span, span):
        """`sqrt(64)`: a tensor function's value on a number, now."""
        fn, check = _NUMBER_FNS[name]
        bad = check(v) if check is not None else None
        if bad is not None:
            raise error("E0107", f"`{name}` of {bad} ({show(v)})", arg_span)
        try:
            return self._in_range(fn(v), span)
        except OverflowError:
            raise error("E0123", "this number is too large for a float", span) from None

    def _call_function(self, f: Function, pos, kw, n, env):
        """A `let` function: its parameters bound (defaults evaluated after
        the parameters before them), then its expression. An error inside
        is labelled with the call."""
        defn = f.defn
        params = defn.params
        if len(pos) > len(params):
            raise error("E0105", f"`{defn.name}` takes at most {len(params)} argument{'s' * (len(params) != 1)}; "
                        f"got {len(pos)}", pos[len(params)][1], labels=[Label(defn.name_span, "defined here")])
        names = [p.name for p in params]
        for k, (_, s) in kw.items():
            if k not in names:
                alt = did_you_mean(k, names)
                raise error("E0103", f"`{defn.name}` has no parameter `{k}`", s,
                            help=f"did you mean `{alt}`?" if alt else "its parameters are " +
                            ", ".join(f"`{x}`" for x in names))
            if names.index(k) < len(pos):
                raise error("E0106", f"`{k}` is given twice (by position and by name)", s)
        depth = getattr(self, "fn_depth", 0)
        if depth >= MAX_DEPTH:
            raise error("E0114", f"function `{defn.name}` calls itself more than {MAX_DEPTH} levels deep",
                        n.span, labels=[Label(defn.name_span, "defined here")],
                        help="a recursive function needs a condition that stops it: `a if c else f(...)`")
        local = Env({}, f.env)
        self.fn_depth = depth + 1
        try:
            for i, p in enumerate(params):
                if i < len(pos):
                    local.vars[p.name] = pos[i][0]
                elif p.name in kw:
                    local.vars[p.name] = kw[p.name][0]
                elif p.default is not None:
                    local.vars[p.name] = self.eval(p.default, local)
                else:
                    raise error("E0104", f"`{defn.name}` needs `{p.name}`", n.span,
                                labels=[Label(defn.name_span, "defined here")])
            return self.eval(defn.value, local)
        except CompileError as e:
            d = e.diagnostic
            if d.code == "E0114" and depth == 0 and d.message.startswith(f"function `{defn.name}`"):
                d.span = n.span   # the recursion is reported where it started
            elif d.span != n.span and not any(lb.span == n.span for lb in d.labels) and d.code != "E0114":
                d.labels.append(Label(n.span, f"in this call of `{defn.name}`"))
            raise
        finally:
            self.fn_depth = depth

    # ------------------------------------------------------------ builtins
    def _builtins(self) -> dict:
        env = {name: LayerKind(name, spec) for name, spec in REGISTRY.items()}

        def merge(kind):
            def fn(pos, kw, span):
                axis_kw = {k: v for k, v in kw.items()}
                if len(pos) == 1 and isinstance(pos[0][0], (tuple, list)) and pos[0][0] \
                        and all(isinstance(v, Tensor) for v in pos[0][0]):
                    # `concat((a, b), axis = 1)`, as torch.cat takes them
                    pos = [(v, pos[0][1]) for v in pos[0][0]]
                xs = [v for v, _ in pos]
                for v, s in pos:
                    if not isinstance(v, Tensor):
                        raise error("E0117", f"`{kind.lower()}` combines tensors; got {show(v)}", s)
                # concat(x) is x; with nothing to combine there is no node to make
                need = "one tensor" if kind == "Concat" else "two tensors"
                if len(xs) < (1 if kind == "Concat" else 2):
                    raise error("E0115", f"`{kind.lower()}` needs at least {need}; got {len(xs)}", span)
                lv = self.make_layer(kind, [], axis_kw, span)
                return self.apply_layer(lv, xs, None, span, primary=self.callee_span)[0]
            return fn

        def split(pos, kw, span):
            if not pos or not isinstance(pos[0][0], Tensor):
                raise error("E0117", "`split` takes a tensor first: `split(x, 2)` or `split(x, [16, 48])`", span)
            lv = self.make_layer("Split", pos[1:], kw, span)
            return tuple(self.apply_layer(lv, [pos[0][0]], None, span))

        def length(pos, kw, span):
            if len(pos) != 1 or kw or not isinstance(pos[0][0], (list, tuple, str)):
                raise error("E0117", "`len` takes one list, tuple or string", span)
            return len(pos[0][0])

        def minmax(which):
            def fn(pos, kw, span):
                if pos and isinstance(pos[0][0], Tensor):   # `max(x, 1)`: the reduction
                    lv = self.make_layer(which.__name__, pos[1:], kw, span)
                    return self.apply_layer(lv, [pos[0][0]], None, span, primary=self.callee_span)[0]
                if kw:   # `x -> max(axis = 1)`, `x -> max(1, keepdim = true)`: the layer, to be applied
                    return self.make_layer(which.__name__, pos, kw, span)
                vals = [v for v, _ in pos]
                if len(vals) == 1 and isinstance(vals[0], (list, tuple)):
                    vals = list(vals[0])
                if not vals or kw or not all(_is_num(v) for v in vals):
                    raise error("E0117", f"`{which.__name__}` takes numbers", span)
                return which(vals)
            return fn

        env["inf"] = float("inf")

        def to_int(pos, kw, span):
            if len(pos) != 1 or kw or not _is_num(pos[0][0]):
                raise error("E0117", "`int` takes one number", span)
            v = pos[0][0]
            if isinstance(v, float) and not math.isfinite(v):
                raise error("E0117", f"`int` needs a finite number; got {show(v)}", pos[0][1])
            return int(v)

        env["concat"] = Builtin("concat", merge("Concat"))
        env["add"] = Builtin("add", merge("Add"))
        env["subtract"] = Builtin("subtract", merge("Sub"))
        env["multiply"] = Builtin("multiply", merge("Mul"))
        env["split"] = Builtin("split", split)
        env["len"] = Builtin("len", length)
        env["min"] = Builtin("min", minmax(min))
        env["max"] = Builtin("max", minmax(max))
        env["int"] = Builtin("int", to_int)
        return env


# The built-in functions that may follow `->` as the layer they make: the
# pipe's tensors are their leading arguments.
PIPE_LAYERS = {"concat": "Concat", "add": "Add", "subtract": "Sub", "multiply": "Mul", "split": "Split"}


def _dym(name, cands, fallback):
    alt = did_you_mean(name, cands)
    return f"did you mean `{alt}`?" if alt else fallback
