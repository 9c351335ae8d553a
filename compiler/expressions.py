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
from .diagnostics import Label, Span, did_you_mean, error
from .layers import REGISTRY
from .scope import MAX_INT, MAX_LIST, MAX_REPEAT, MAX_SYM_TEXT, Definition, Env, _is_arith, _is_int, _is_num
from .shapes import Sym, fmt_shape
from .training_attrs import training_kwargs
from .values import CALLABLE_LAYERS, POISON, BlockVal, Builtin, LayerKind, Method, Repeat, Tensor, show, type_name


class Expressions:
    """Expressions evaluated to values, and the built-in functions."""

    def eval(self, n, env: Env, symbolic: bool = False):
        m = getattr(self, "_e_" + type(n).__name__)
        return m(n, env, symbolic)

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
        if isinstance(v, Tensor):
            return Tensor(v.node, v.port, v.shape, n.span)
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
        raise error("E0117", f"cannot negate {show(v)}", n.span)

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
        if isinstance(a, Tensor) and isinstance(b, Tensor) and op in ("+", "-", "*"):
            kind = {"+": "Add", "-": "Sub", "*": "Mul"}[op]
            return self.apply_layer(self.make_layer(kind, [], {}, n.span), [a, b], None, n.span,
                                    primary=n.op_span)[0]
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
        v, i = self.eval(n.value, env), self.eval(n.index, env)
        if v is POISON or i is POISON:
            return POISON
        if isinstance(v, (list, tuple, str)):
            if not _is_int(i):
                raise error("E0117", f"an index must be an integer; got {show(i)}", n.index.span)
            if not -len(v) <= i < len(v):
                raise error("E0120", f"index {i} is out of range for {show(v)} of length {len(v)}",
                            n.index.span)
            return v[i]
        raise error("E0117", f"cannot index {show(v)}", n.value.span)

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
                # `transpose(x, 1, 2)`: the leading tensors are the inputs.
                k = next((i for i, (v, _) in enumerate(pos) if not isinstance(v, Tensor)), len(pos))
                lv = self.make_layer(f.name, pos[k:], kw, n.span)
                out = self.apply_layer(lv, [v for v, _ in pos[:k]], None, n.span, primary=n.func.span)
                return out[0] if len(out) == 1 else tuple(out)
            return self.make_layer(f.name, pos, kw, n.span)
        if isinstance(f, Definition):
            kw, training = training_kwargs(kw, [p.name for p in f.defn.params])
            return BlockVal(f.defn, f.module, self._bind_params(f.defn, pos, kw, n.span, env), n.span, training)
        if isinstance(f, Builtin):
            self.callee_span = n.func.span
            return f.fn(pos, kw, n.span)
        raise error("E0117", f"{show(f)} cannot be called", n.func.span)

    # ------------------------------------------------------------ builtins
    def _builtins(self) -> dict:
        env = {name: LayerKind(name, spec) for name, spec in REGISTRY.items()}

        def merge(kind):
            def fn(pos, kw, span):
                axis_kw = {k: v for k, v in kw.items()}
                xs = [v for v, _ in pos]
                for v, s in pos:
                    if not isinstance(v, Tensor):
                        raise error("E0117", f"`{kind.lower()}` combines tensors; got {show(v)}", s)
                if len(xs) < 2 and kind != "Concat":
                    raise error("E0115", f"`{kind.lower()}` needs at least two tensors", span)
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


def _dym(name, cands, fallback):
    alt = did_you_mean(name, cands)
    return f"did you mean `{alt}`?" if alt else fallback
