"""Learned tensors: `param name: [shape] = initializer`.

A `param` adds one `Param` node to the IR: no inputs, one output, one weight
whose initializer is named by the node itself (`class_token`, or
`encoder.pos_embedding` inside a block instance `encoder`), so that a
checkpoint's names bind to it. The initializer is read here: `zeros`, `ones`,
`normal(mean, std)`, `uniform(a, b)`, `trunc_normal(mean, std, a, b)` (torch.nn.init's
defaults), a number (a constant fill), or one of them times or over a number.

A mixin of the Elaborator (elaborate.py), called by statements.py.
"""

from __future__ import annotations

import math

from . import ast
from .diagnostics import Label, did_you_mean, error
from .layers.base import Attrs, Weight
from .scope import MAX_WEIGHT_BYTES, Env, _is_num
from .shape_help import _bytes, _too_big
from .shapes import Sym
from .values import POISON, Tensor, show

# name -> its parameters and torch.nn.init's defaults
INITIALIZERS = {
    "zeros": (),
    "ones": (),
    "normal": (("mean", 0.0), ("std", 1.0)),
    "uniform": (("a", 0.0), ("b", 1.0)),
    "trunc_normal": (("mean", 0.0), ("std", 1.0), ("a", -2.0), ("b", 2.0)),
}
_FORMS = "`zeros`, `ones`, `normal(mean, std)`, `uniform(a, b)`, `trunc_normal(std = 0.02)` or a number"


class _Poisoned(Exception):
    """The initializer reads a value whose computation failed (reported)."""


class Learned:
    """The `param` statement."""

    def _param(self, s: ast.ParamDecl, env: Env) -> None:
        if s.name in env.vars:
            v = env.vars[s.name]
            # Reported, not raised: the statement's name is not poisoned, so `x` keeps its value.
            self.report(error("E0127", f"`{s.name}` is already {show(v)} here; a learned tensor needs a name of its own",
                        s.name_span, labels=[Label(v.span, "defined here")] if isinstance(v, Tensor)
                        and v.span.file == s.span.file else None,
                        help=f"choose another name for the `param`, or for the other `{s.name}`").diagnostic)
            return
        shape = self.eval_shape(s.shape, env, allow_wildcard=False)
        if shape is POISON:
            env.vars[s.name] = POISON
            return
        for d, item in zip(shape, s.shape.items):
            if isinstance(d, Sym):
                raise error("E0125", f"a learned tensor needs concrete sizes; `{d}` is symbolic", item.span,
                            help="its sizes are fixed when it is made: write numbers or the model's and "
                                 "block's parameters (`dim`), not an input's open size")
        size = math.prod(shape)
        big = _too_big(shape)
        if big or size * 4 > MAX_WEIGHT_BYTES:
            raise error("E0119", f"`param {s.name}` is " + (big or f"{_bytes(size * 4)} of float32 values; "
                                                             f"the limit is {_bytes(MAX_WEIGHT_BYTES)}"),
                        s.shape.span)
        try:
            init, args = self._initializer(s.init, env)
        except _Poisoned:   # a value it reads failed, and was reported
            env.vars[s.name] = POISON
            return
        name = self.frame.names.name(s.name, "param", s.name_span)
        w = Weight(shape, init, value=args[0] if init == "const" else 0.0, args=args if init != "const" else (),
                   name=name)
        a = Attrs(kind="Param", variant=None, name=name, weights={s.name: w})
        n = self.ir.add_node("Param", name, a, [shape], s.span)
        env.vars[s.name] = Tensor(n, 0, shape, s.span)
        self.ir.meta.setdefault("bindings", []).append((s.name, n, 0, s.name_span))   # W0003 if unused

    def _initializer(self, n, env: Env) -> tuple:
        """(init, args) of Weight from an initializer expression."""
        if isinstance(n, ast.BinOp) and n.op in ("*", "/") and (_is_init(n.left) or n.op == "*" and
                                                                  _is_init(n.right)):
            scaled, factor = (n.left, n.right) if _is_init(n.left) else (n.right, n.left)
            init, args = self._initializer(scaled, env)
            k = self._number(factor, env, "a scale")
            if n.op == "/":
                if k == 0:
                    raise error("E0118", "division by zero", n.right.span)
                k = 1.0 / k
            return _scale(init, args, k)
        if _is_init(n):
            return self._call_init(n, env)
        name = n.id if isinstance(n, ast.Name) else n.func.id if isinstance(n, ast.Call) and \
            isinstance(n.func, ast.Name) else None
        if name is not None and name not in env.names():
            alt = did_you_mean(name, list(INITIALIZERS))
            raise error("E0124", f"unknown initializer `{name}`", n.span if isinstance(n, ast.Name) else n.func.span,
                        help=(f"did you mean `{alt}`? " if alt else "") + "an initializer is " + _FORMS)
        v = self.eval(n, env)
        if v is POISON:
            raise _Poisoned
        if not _is_num(v):
            raise error("E0124", f"{show(v)} is not an initializer", n.span, help="an initializer is " + _FORMS)
        return "const", (self._finite(float(v), n),)

    def _call_init(self, n, env: Env) -> tuple:
        fname = n.id if isinstance(n, ast.Name) else n.func.id
        params = INITIALIZERS[fname]
        vals = dict(params)
        if isinstance(n, ast.Call):
            if len(n.args) > len(params):
                raise error("E0105", f"`{fname}` takes " + (f"at most {len(params)} arguments" if params else
                            "no arguments") + f"; got {len(n.args)}", n.args[len(params)].span,
                            help=("its parameters are " + ", ".join(f"`{p}`" for p, _ in params)) if params
                            else f"write `{fname}` alone")
            given = set()
            for (p, _), a in zip(params, n.args):
                vals[p] = self._number(a, env, f"`{p}`")
                given.add(p)
            for k in n.kwargs:
                if k.name not in vals:
                    alt = did_you_mean(k.name, [p for p, _ in params])
                    raise error("E0103", f"`{fname}` has no parameter `{k.name}`", k.span,
                                help=f"did you mean `{alt}`?" if alt else
                                ("its parameters are " + ", ".join(f"`{p}`" for p, _ in params)) if params
                                else None)
                if k.name in given:
                    raise error("E0106", f"`{k.name}` is given twice", k.span)
                vals[k.name] = self._number(k.value, env, f"`{k.name}`")
                given.add(k.name)
        if fname in ("zeros", "ones"):
            return "const", (0.0 if fname == "zeros" else 1.0,)
        if fname == "normal":
            if vals["std"] < 0:
                raise error("E0107", f"`std` cannot be negative; got {vals['std']}", n.span)
            return "normal", (vals["mean"], vals["std"])
        if fname == "uniform":
            if vals["a"] > vals["b"]:
                raise error("E0107", f"`uniform` needs a <= b; got a = {vals['a']}, b = {vals['b']}", n.span)
            return "uniform_range", (vals["a"], vals["b"])
        mean, std, a, b = vals["mean"], vals["std"], vals["a"], vals["b"]
        if std <= 0 or a >= b:
            raise error("E0107", f"`trunc_normal` needs std > 0 and a < b; got std = {std}, a = {a}, b = {b}",
                        n.span)
        mass = 0.5 * (math.erf((b - mean) / (std * math.sqrt(2))) - math.erf((a - mean) / (std * math.sqrt(2))))
        if mass < 0.01:
            raise error("E0107", f"[{a}, {b}] holds {mass:.2g} of normal({mean}, {std}); nnd needs at least 1%",
                        n.span, help="the bounds `a` and `b` are absolute values, as in torch's trunc_normal_; "
                                     "put them around `mean`")
        return "trunc_normal", (mean, std, a, b)

    def _number(self, node, env: Env, what: str) -> float:
        v = self.eval(node, env)
        if v is POISON:
            raise _Poisoned
        if not _is_num(v):
            raise error("E0106", f"{what} must be a number; got {show(v)}", node.span)
        return self._finite(float(v), node)

    def _finite(self, v: float, node) -> float:
        if not math.isfinite(v) or abs(v) > 3.4e38:
            raise error("E0107", f"an initial value must be a finite float32; got {v}", node.span)
        return v


def _is_init(n) -> bool:
    """Whether an expression is written as an initializer (its names are
    initializers here, whatever else they name)."""
    if isinstance(n, ast.Name):
        return n.id in INITIALIZERS
    if isinstance(n, ast.Call):
        return isinstance(n.func, ast.Name) and n.func.id in INITIALIZERS
    if isinstance(n, ast.BinOp) and n.op in ("*", "/"):
        return _is_init(n.left) or n.op == "*" and _is_init(n.right)
    return False


def _scale(init: str, args: tuple, k: float) -> tuple:
    """k times an initializer, as the distribution of k * x."""
    if init == "const":
        return init, (args[0] * k,)
    if init == "normal":
        return init, (args[0] * k, args[1] * abs(k))
    if init == "uniform_range":
        return init, tuple(sorted((args[0] * k, args[1] * k)))
    mean, std, a, b = args
    if k == 0:
        return "const", (0.0,)
    lo, hi = sorted((a * k, b * k))
    return init, (mean * k, std * abs(k), lo, hi)
