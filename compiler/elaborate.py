"""Elaboration: a parsed program and a chosen model -> the IR, shapes inferred.

The elaborator evaluates the model's body once, in order: expressions are
compile-time values (values.py), and applying a layer to tensors adds one IR
node whose output shapes the layer's shape rule computes at once. Shapes are
therefore known while the program runs, which is what lets a block ask
`x.channels`. The work is linear in the size of the elaborated program.

Errors never stop elaboration: a failing statement is reported and its
targets are bound to POISON; a failing layer gets an unknown shape. Either
silences the errors that would follow from it, so one run reports every
independent error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from . import ast
from .diagnostics import CompileError, Diagnostic, Label, Span, did_you_mean, error
from .ir import IR, GraphOutput
from .layers import REGISTRY, load_all
from .layers.base import ArgTypeError, Attrs, REQUIRED, ShapeError, coerce
from .loader import Module
from .shapes import Sym, fmt_shape
from .values import (CALLABLE_LAYERS, POISON, Builtin, BlockVal, Chain, LayerKind, LayerVal, Named,
                     Repeat, Tensor, show, type_name)

MAX_DEPTH = 100          # nested block instances
MAX_REPEAT = 100_000     # copies in `A * n`
MAX_LOOP = 100_000       # iterations of one `for`
MAX_NODES = 2_000_000    # IR nodes in one model
WILDCARD = object()      # `_` in a shape assertion


@dataclass(eq=False)
class Definition:
    """A model or block definition as a value: calling it binds arguments."""

    defn: ast.Definition
    module: Module


@dataclass(eq=False)
class ModelInstance:
    inst: ast.ModelInstance
    module: Module


class Env:
    __slots__ = ("vars", "parent")

    def __init__(self, vars=None, parent=None):
        self.vars = vars if vars is not None else {}
        self.parent = parent

    def lookup(self, name):
        env = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise KeyError(name)

    def names(self):
        env, out = self, set()
        while env is not None:
            out.update(env.vars)
            env = env.parent
        return out


class NameScope:
    """Hierarchical layer names: explicit (`as conv1`) or `<kind>_<k>`."""

    def __init__(self, el: "Elaborator", prefix: str):
        self.el, self.prefix, self.counters = el, prefix, {}

    def full(self, local: str) -> str:
        return f"{self.prefix}.{local}" if self.prefix else local

    def name(self, explicit: str | None, base: str, span: Span) -> str:
        used = self.el.used_names
        if explicit is not None:
            n = self.full(explicit)
            if n in used:
                first = used[n]
                raise error("E0109", f"the layer name `{n}` is already used", span,
                            labels=[Label(first, "first used here")] if first else None,
                            help="give this layer another name with `as`")
            used[n] = span
            return n
        k = self.counters.get(base, 0)
        while True:
            n = self.full(f"{base}_{k}")
            k += 1
            if n not in used:
                break
        self.counters[base] = k
        used[n] = None
        return n


@dataclass
class Frame:
    """One model or block instance being elaborated."""

    kind: str                       # 'model' | 'block'
    defn: ast.Definition
    names: NameScope
    actuals: list = field(default_factory=list)
    next_input: int = 0
    outputs: list = field(default_factory=list)   # (name, value, span)
    instance: str = ""
    call_span: Span | None = None


class Elaborator:
    def __init__(self, diags: list[Diagnostic]):
        load_all()
        self.diags = diags
        self._seen: set = set()
        self.ir: IR | None = None
        self.used_names: dict[str, Span | None] = {}
        self.frames: list[Frame] = []
        self.builtins = self._builtins()

    # ------------------------------------------------------------ reporting
    def report(self, d: Diagnostic) -> None:
        key = (d.code, d.span, d.message)
        if key in self._seen:
            return
        self._seen.add(key)
        for f in reversed(self.frames):
            if f.kind == "block" and f.call_span is not None:
                d.notes.append(f"in `{f.instance}`, an instance of block `{f.defn.name}` "
                               f"created at {f.call_span.file}:{f.call_span.line}:{f.call_span.column}")
                break
        self.diags.append(d)

    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    # ------------------------------------------------------------ modules
    def prepare(self, modules: list[Module]) -> None:
        """Build each module's global environment: builtins, then the
        definitions of the modules it imports, then its own."""
        for mod in modules:  # dependencies first (loader order is post-order safe below)
            self._module_env(mod, set())

    def _module_env(self, mod: Module, visiting: set) -> dict:
        if mod.env or mod.program is None or mod.key in visiting:
            return mod.env
        visiting.add(mod.key)
        env = Env(dict(self.builtins))
        for dep in mod.imports:
            self._module_env(dep, visiting)
            for name, v in dep.env.get("__own__", {}).items():
                env.vars[name] = v
        own: dict = {}
        own_spans: dict = {}
        for item in mod.program.items:
            if isinstance(item, (ast.Definition, ast.ModelInstance)):
                span = item.name_span
                if item.name in own:
                    self.report(Diagnostic("E0108", f"`{item.name}` is defined twice", span,
                                           [Label(own_spans[item.name], "first defined here")]))
                    continue
                if item.name in REGISTRY:
                    self.report(Diagnostic("E0108", f"`{item.name}` is the name of a built-in layer", span,
                                           help="choose another name for this definition"))
                    continue
                v = Definition(item, mod) if isinstance(item, ast.Definition) else ModelInstance(item, mod)
                own[item.name], own_spans[item.name] = v, span
                env.vars[item.name] = v
        genv = Env(env.vars)
        self.frames.append(Frame("module", None, NameScope(self, "")))
        for item in mod.program.items:
            if isinstance(item, ast.Let):
                try:
                    v = self.eval(item.value, genv)
                except CompileError as e:
                    self.report(e.diagnostic)
                    v = POISON
                env.vars[item.name] = v
                own[item.name] = v
        self.frames.pop()
        mod.env = {"__env__": genv, "__own__": own}
        return mod.env

    def models_of(self, mod: Module) -> list[str]:
        return [n for n, v in mod.env.get("__own__", {}).items() if isinstance(v, (Definition, ModelInstance))
                and (isinstance(v, ModelInstance) or v.defn.kind == "model")]

    # ------------------------------------------------------------ models
    def elaborate(self, mod: Module, model: str | None = None, overrides: dict | None = None) -> IR | None:
        self._module_env(mod, set())
        models = self.models_of(mod)
        if model is None:
            if len(models) != 1:
                span = Span(mod.display, 1, 1, 1, 1)
                if not models:
                    self.report(Diagnostic("E0113", f"`{mod.display}` defines no model", span,
                                           help="add `model Name { input x: [N, ...] ... output y = ... }`"))
                else:
                    self.report(Diagnostic("E0113", f"`{mod.display}` defines {len(models)} models; "
                                           f"say which to compile", span,
                                           help="pass --model NAME, one of: " + ", ".join(models)))
                return None
            model = models[0]
        genv: Env = mod.env["__env__"]
        try:
            v = genv.lookup(model)
        except KeyError:
            v = None
        if not isinstance(v, (Definition, ModelInstance)) or (isinstance(v, Definition) and v.defn.kind != "model"):
            alt = did_you_mean(model, models)
            self.report(Diagnostic("E0113", f"no model named `{model}`", None,
                                   help=(f"did you mean `{alt}`? " if alt else "") +
                                   ("models here: " + ", ".join(models) if models else "")))
            return None
        args: dict = {}
        while isinstance(v, ModelInstance):
            inst = v.inst
            menv = v.module.env["__env__"]
            self.frames.append(Frame("module", None, NameScope(self, "")))
            try:
                base = menv.lookup(inst.base)
            except KeyError:
                self.frames.pop()
                self.report(Diagnostic("E0101", f"unknown model `{inst.base}`", inst.base_span))
                return None
            if not isinstance(base, (Definition, ModelInstance)) or (
                    isinstance(base, Definition) and base.defn.kind != "model"):
                self.frames.pop()
                self.report(Diagnostic("E0117", f"`{inst.base}` is not a model", inst.base_span))
                return None
            try:
                pos = [(self.eval(a, menv), a.span) for a in inst.args]
                kw = {k.name: (self.eval(k.value, menv), k.span) for k in inst.kwargs}
            except CompileError as e:
                self.frames.pop()
                self.report(e.diagnostic)
                return None
            self.frames.pop()
            inner = base.defn if isinstance(base, Definition) else None
            if inner is not None:
                try:
                    bound = self._bind_params(inner, pos, kw, inst.span, menv, partial=True)
                except CompileError as e:
                    self.report(e.diagnostic)
                    return None
                args = {**bound, **args}
            else:
                # An instance of an instance: keyword arguments accumulate.
                if pos:
                    self.report(Diagnostic("E0105", "arguments to a model instance must be named", inst.span))
                    return None
                args = {**{k: v for k, (v, _) in kw.items()}, **args}
            v = base
        defn, module = v.defn, v.module
        if overrides:
            for k, val in overrides.items():
                if k not in [p.name for p in defn.params]:
                    alt = did_you_mean(k, [p.name for p in defn.params])
                    self.report(Diagnostic("E0103", f"model `{defn.name}` has no parameter `{k}`", defn.name_span,
                                           help=f"did you mean `{alt}`?" if alt else None))
                    return None
                args[k] = val
        return self._elaborate_model(defn, module, args, model)

    def _elaborate_model(self, defn: ast.Definition, module: Module, args: dict, name: str) -> IR:
        self.ir = IR(name)
        self.used_names = {}
        genv = module.env["__env__"]
        env = Env({}, genv)
        frame = Frame("model", defn, NameScope(self, ""))
        self.frames.append(frame)
        try:
            env.vars.update(self._fill_defaults(defn, args, env, defn.span))
        except CompileError as e:
            self.report(e.diagnostic)
            self.frames.pop()
            return self.ir
        self.run_body(defn.body, env)
        self.frames.pop()
        if not frame.outputs and not any(d.is_error for d in self.diags):
            self.report(Diagnostic("E0121", f"model `{defn.name}` has no output", defn.name_span,
                                   help="declare one with `output y = ...`"))
        for oname, val, span in frame.outputs:
            if isinstance(val, Tensor):
                self.ir.outputs.append(GraphOutput(oname, val.node, val.port, span))
        self.ir.meta["model"] = defn.name
        self.ir.meta["args"] = {k: v for k, v in env.vars.items() if k in {p.name for p in defn.params}}
        return self.ir

    # ------------------------------------------------------------ statements
    def run_body(self, stmts, env: Env) -> None:
        for s in stmts:
            try:
                self.run_stmt(s, env)
            except CompileError as e:
                self.report(e.diagnostic)
                for n in _targets(s):
                    env.vars[n] = POISON

    def run_stmt(self, s, env: Env) -> None:
        f = self.frame
        if isinstance(s, ast.Assign):
            self._bind(s.names, self.eval(s.value, env), env, s.value.span)
        elif isinstance(s, ast.Input):
            self._input(s, env)
        elif isinstance(s, ast.Output):
            if s.value is not None:
                v = self.eval(s.value, env)
                self._bind(s.names, v, env, s.value.span)
            for n in s.names:
                try:
                    v = env.lookup(n)
                except KeyError:
                    raise self._unknown(n, s.span, env) from None
                if v is not POISON and not isinstance(v, Tensor):
                    raise error("E0121", f"output `{n}` must be a tensor; it is {show(v)}", s.span)
                if any(o[0] == n for o in f.outputs):
                    raise error("E0108", f"output `{n}` is declared twice", s.span)
                f.outputs.append((n, v, s.span))
        elif isinstance(s, ast.Let):
            env.vars[s.name] = self.eval(s.value, env)
        elif isinstance(s, ast.Assert):
            self._assert(s, env)
        elif isinstance(s, ast.If):
            c = self.eval(s.cond, env)
            if c is POISON:
                return
            if not isinstance(c, bool):
                raise self._undecidable(c, s.cond.span) if isinstance(c, Sym) else \
                    error("E0117", f"a condition must be true or false; got {show(c)}", s.cond.span)
            if c:
                self.run_body(s.then, env)
            elif s.orelse is not None:
                self.run_body(s.orelse, env)
        elif isinstance(s, ast.For):
            lo, hi = self.eval(s.start, env), self.eval(s.stop, env)
            for v, node in ((lo, s.start), (hi, s.stop)):
                if v is POISON:
                    return
                if not _is_int(v):
                    raise error("E0117", f"a range bound must be an integer; got {show(v)}", node.span)
            if hi - lo > MAX_LOOP:
                raise error("E0119", f"this loop would run {hi - lo} times; the limit is {MAX_LOOP}", s.span)
            for i in range(lo, hi):
                env.vars[s.var] = i
                self.run_body(s.body, env)
        else:
            raise error("E0122", "this statement is not allowed here", s.span)

    def _bind(self, names: list[str], v, env: Env, span: Span) -> None:
        if len(names) == 1:
            env.vars[names[0]] = v
            return
        if v is POISON:
            for n in names:
                env.vars[n] = POISON
            return
        if not isinstance(v, (tuple, list)) or len(v) != len(names):
            got = f"{len(v)} values" if isinstance(v, (tuple, list)) else show(v)
            raise error("E0116", f"{len(names)} names to unpack, but the value is {got}", span)
        for n, x in zip(names, v):
            env.vars[n] = x

    def _input(self, s: ast.Input, env: Env) -> None:
        f = self.frame
        if f.kind == "model":
            if s.shape is None:
                raise error("E0121", f"model input `{s.name}` needs a shape", s.span,
                            help=f"write `input {s.name}: [N, ...]`")
            shape = self.eval_shape(s.shape, env, allow_wildcard=False)
            if shape is POISON:
                env.vars[s.name] = POISON
                return
            n = self.ir.add_node("Input", s.name, Attrs(kind="Input", name=s.name), [shape], s.span)
            if s.name in self.used_names:
                raise error("E0108", f"`{s.name}` is declared twice", s.span)
            self.used_names[s.name] = s.span
            self.ir.inputs.append(n)
            env.vars[s.name] = Tensor(n, 0, shape, s.span)
            return
        if f.kind != "block":
            raise error("E0122", "`input` belongs in a model or a block", s.span)
        if f.next_input >= len(f.actuals):
            raise error("E0115", f"block `{f.defn.name}` declares more inputs than it was given", s.span)
        t = f.actuals[f.next_input]
        f.next_input += 1
        env.vars[s.name] = t
        if s.shape is not None and isinstance(t, Tensor) and t.shape is not None:
            self._check_shape(t, self.eval_shape(s.shape, env), s.shape.span, s.name)

    def _assert(self, s: ast.Assert, env: Env) -> None:
        try:
            t = env.lookup(s.name)
        except KeyError:
            raise self._unknown(s.name, s.name_span, env) from None
        if t is POISON or (isinstance(t, Tensor) and t.shape is None):
            return
        if not isinstance(t, Tensor):
            raise error("E0117", f"`{s.name}` is {show(t)}, not a tensor; only tensors have shapes", s.name_span)
        expect = self.eval_shape(s.shape, env)
        if expect is not POISON:
            self._check_shape(t, expect, s.shape.span, s.name)

    def _check_shape(self, t: Tensor, expect, span: Span, name: str) -> None:
        actual = t.shape
        ok = len(actual) == len(expect) and all(e is WILDCARD or e == a for e, a in zip(expect, actual))
        if not ok:
            shown = "[" + ", ".join("_" if e is WILDCARD else str(e) for e in expect) + "]"
            diffs = [f"dimension {i}: {a} (expected {e})" for i, (e, a) in enumerate(zip(expect, actual))
                     if e is not WILDCARD and e != a]
            help = ("; ".join(diffs) if len(actual) == len(expect)
                    else f"the tensor has rank {len(actual)}, the assertion {len(expect)}")
            raise error("E0303", f"`{name}` has shape {fmt_shape(actual)}, but {shown} was asserted", span,
                        labels=[Label(t.span, f"{fmt_shape(actual)} produced here")]
                        if t.span.file == span.file else None, help=help)

    def eval_shape(self, node: ast.ListExpr, env: Env, allow_wildcard: bool = True):
        dims = []
        for item in node.items:
            if isinstance(item, ast.Name) and item.id == "_" and allow_wildcard:
                dims.append(WILDCARD)
                continue
            d = self.eval(item, env, symbolic=True)
            if d is POISON:
                return POISON
            if not (_is_int(d) or isinstance(d, Sym)):
                raise error("E0117", f"a dimension must be an integer or a name; got {show(d)}", item.span)
            if _is_int(d) and d <= 0:
                raise error("E0107", f"a dimension must be positive; got {d}", item.span)
            dims.append(d)
        return tuple(dims)

    # ------------------------------------------------------------ expressions
    def eval(self, n, env: Env, symbolic: bool = False):
        m = getattr(self, "_e_" + type(n).__name__)
        return m(n, env, symbolic)

    def _e_Literal(self, n, env, sym):
        return n.value

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

    def _e_Neg(self, n, env, sym):
        v = self.eval(n.operand, env, sym)
        if v is POISON:
            return v
        if isinstance(v, (int, float, Sym)) and not isinstance(v, bool):
            return -v
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
        a, b = self.eval(n.left, env, sym), self.eval(n.right, env, sym)
        if a is POISON or b is POISON:
            return POISON
        op = n.op
        if isinstance(a, Tensor) and isinstance(b, Tensor) and op in ("+", "-", "*"):
            kind = {"+": "Add", "-": "Sub", "*": "Mul"}[op]
            return self.apply_layer(self.make_layer(kind, [], {}, n.span), [a, b], None, n.span)[0]
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
            return a + b
        if op == "*" and isinstance(a, (list, tuple)) and _is_int(b):
            return a * b
        raise error("E0117", f"cannot apply `{op}` to {type_name(a)} and {type_name(b)}", n.op_span,
                    labels=[Label(n.left.span, show(a)), Label(n.right.span, show(b))])

    def _repeat(self, f, count, count_span, span):
        if count < 0:
            raise error("E0107", f"a repetition count cannot be negative; got {count}", count_span)
        if count > MAX_REPEAT:
            raise error("E0119", f"{count} repetitions; the limit is {MAX_REPEAT}", count_span)
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
            raise error("E0101", f"a tensor has no property `{n.attr}`", n.span,
                        help=_dym(n.attr, ["shape", "rank", "channels"], "tensors have `shape`, `rank` and "
                                  "`channels`"))
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
        if isinstance(f, LayerKind):
            return self.make_layer(f.name, pos, kw, n.span)
        if isinstance(f, Definition):
            return BlockVal(f.defn, f.module, self._bind_params(f.defn, pos, kw, n.span, env), n.span)
        if isinstance(f, Builtin):
            return f.fn(pos, kw, n.span)
        raise error("E0117", f"{show(f)} cannot be called", n.func.span)

    def _e_Pipe(self, n, env, sym):
        v = self.eval(n.source, env)
        for st in n.stages:
            f = self.eval(st.expr, env)
            if st.name is not None:
                f = Named(f, self._layer_name(st.name, env), st.span)
            if v is POISON or f is POISON or (isinstance(f, Named) and f.item is POISON):
                v = POISON
                continue
            inner = f.item if isinstance(f, Named) else f
            if not isinstance(inner, CALLABLE_LAYERS + (Definition,)):
                hint = None
                if isinstance(inner, Tensor):
                    hint = "a stage after `->` is a layer or a block; to combine tensors use `+`, `*` or `concat(...)`"
                raise error("E0117", f"{show(inner)} is not a layer, so it cannot follow `->`", st.expr.span,
                            help=hint)
            if isinstance(v, Tensor) or (isinstance(v, (tuple, list)) and v and all(isinstance(x, Tensor) for x in v)):
                xs = [v] if isinstance(v, Tensor) else list(v)
                out = self.apply(f, xs, self.frame.names, st.span)
                v = out[0] if len(out) == 1 else tuple(out)
            elif isinstance(v, CALLABLE_LAYERS + (Definition,)):
                items = v.items if isinstance(v, Chain) else [v]
                v = Chain(items + [f], n.span)
            elif isinstance(v, (tuple, list)) and any(x is POISON for x in v):
                v = POISON
            else:
                raise error("E0117", f"`->` needs a tensor or a layer on its left; got {show(v)}", n.source.span)
        return v

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
        if not name or not all(p and re.fullmatch(r"[A-Za-z0-9_]+", p) for p in name.split(".")):
            raise error("E0107", f"`{name}` is not a valid layer name", ln.span,
                        help="use letters, digits and `_`, with `.` between parts")
        return name

    # ------------------------------------------------------------ layers and blocks
    def make_layer(self, kind: str, pos, kw, span: Span) -> LayerVal:
        spec = REGISTRY[kind]
        params = spec.params
        if len(pos) > len(params):
            extra_span = pos[len(params)][1]
            raise error("E0105", f"`{kind}` takes at most {len(params)} argument"
                        f"{'s' * (len(params) != 1)}; got {len(pos)}", extra_span,
                        help=("its parameters are " + ", ".join(f"`{p.name}`" for p in params)) if params
                        else f"`{kind}` has no parameters; write it without parentheses")
        args, spans = {}, {}
        for p, (v, s) in zip(params, pos):
            args[p.name], spans[p.name] = v, s
        names = [p.name for p in params]
        for k, (v, s) in kw.items():
            if k not in names:
                alt = did_you_mean(k, names)
                raise error("E0103", f"`{kind}` has no parameter `{k}`", s,
                            help=f"did you mean `{alt}`?" if alt else
                            ("its parameters are " + ", ".join(f"`{n}`" for n in names)) if names else None)
            if k in args:
                raise error("E0106", f"`{k}` is given twice (by position and by name)", s)
            args[k], spans[k] = v, s
        out = {}
        for p in params:
            if p.name in args:
                try:
                    out[p.name] = coerce(args[p.name], p.type, p)
                except ArgTypeError as e:
                    raise error("E0106", str(e), spans[p.name]) from None
            elif p.default is REQUIRED:
                raise error("E0104", f"`{kind}` needs `{p.name}`", span,
                            help=f"for example `{kind}({', '.join(q.name for q in params if q.default is REQUIRED)})`"
                            f"{(' — ' + p.doc) if p.doc else ''}")
            else:
                out[p.name] = p.default
        return LayerVal(kind, spec, out, spans, span)

    def _bind_params(self, defn: ast.Definition, pos, kw, span: Span, env: Env, partial=False) -> dict:
        params = defn.params
        if len(pos) > len(params):
            raise error("E0105", f"`{defn.name}` takes at most {len(params)} argument"
                        f"{'s' * (len(params) != 1)}; got {len(pos)}", pos[len(params)][1])
        args = {p.name: v for p, (v, _) in zip(params, pos)}
        names = [p.name for p in params]
        for k, (v, s) in kw.items():
            if k not in names:
                alt = did_you_mean(k, names)
                raise error("E0103", f"`{defn.name}` has no parameter `{k}`", s,
                            help=f"did you mean `{alt}`?" if alt else
                            ("its parameters are " + ", ".join(f"`{n}`" for n in names)) if names else None)
            if k in args:
                raise error("E0106", f"`{k}` is given twice (by position and by name)", s)
            args[k] = v
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
        if isinstance(f, Named):
            return self.apply(f.item, xs, names, f.span, f.name)
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
                    names: NameScope | None = None) -> list:
        spec = lv.spec
        if spec.n_inputs is not None and len(xs) != spec.n_inputs:
            raise error("E0115", f"`{lv.name}` takes {spec.n_inputs} input tensor"
                        f"{'s' * (spec.n_inputs != 1)}; got {len(xs)}", lv.span)
        if self.ir.g.number_of_nodes() >= MAX_NODES:
            raise error("E0119", f"the model has more than {MAX_NODES} layers", span)
        name = (names or self.frame.names).name(explicit, lv.name.lower(), span)
        a = Attrs(lv.args)
        a.kind, a.variant, a.name, a.weights = lv.name, spec.names[lv.name], name, {}
        if any(x.shape is None for x in xs):
            shapes = [None] * spec.n_outputs(a)
        else:
            try:
                shapes = spec.infer(a, [x.shape for x in xs])
            except ShapeError as e:
                where = lv.arg_spans.get(e.arg, lv.span) if e.arg else lv.span
                labels = []
                if e.code in ("E0301", "E0302"):
                    labels = [Label(x.span, fmt_shape(x.shape)) for x in xs if x.span.file == where.file]
                d = Diagnostic(e.code, e.message, where, labels, e.help, list(e.notes))
                self.report(d)
                shapes = [None] * spec.n_outputs(a)
        n = self.ir.add_node(lv.name, name, a, shapes, lv.span, [(x.node, x.port) for x in xs])
        return [Tensor(n, i, s, lv.span) for i, s in enumerate(shapes)]

    def instantiate(self, bv: BlockVal, xs: list, names: NameScope, explicit, span: Span) -> list:
        defn = bv.defn
        if len(self.frames) > MAX_DEPTH:
            chain = " -> ".join(f.defn.name for f in self.frames if f.defn is not None and f.kind == "block")
            raise error("E0114", f"blocks nest more than {MAX_DEPTH} deep; `{defn.name}` is probably recursive",
                        bv.span, help=f"the chain of blocks: {chain[:300]}")
        if defn.kind == "model":
            raise error("E0117", f"`{defn.name}` is a model; only blocks can be used as layers", bv.span)
        n_inputs = sum(isinstance(s, ast.Input) for s in defn.body)
        if n_inputs != len(xs):
            raise error("E0115", f"block `{defn.name}` takes {n_inputs} input tensor{'s' * (n_inputs != 1)}; "
                        f"got {len(xs)}", bv.span)
        inst = names.name(explicit, _snake(defn.name), span)
        genv = bv.module.env["__env__"]
        frame = Frame("block", defn, NameScope(self, inst), actuals=list(xs), instance=inst, call_span=bv.span)
        self.frames.append(frame)
        errors_before = len(self.diags)
        try:
            env = Env({}, genv)
            env.vars.update(self._fill_defaults(defn, bv.args, env, bv.span))
            self.run_body(defn.body, env)
        finally:
            self.frames.pop()
        if not frame.outputs:
            if len(self.diags) > errors_before:
                return [POISON]   # the body's own errors explain the missing output
            raise error("E0121", f"block `{defn.name}` has no output", defn.name_span,
                        help="declare one with `output y = ...`")
        out = []
        for _, v, _ in frame.outputs:
            out.append(v if v is POISON else Tensor(v.node, v.port, v.shape, span))
        return out

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
                return self.apply_layer(lv, xs, None, span)[0]
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

    # ------------------------------------------------------------ errors
    def _unknown(self, name: str, span: Span, env: Env, callable: bool = False) -> CompileError:
        if callable or name[:1].isupper():
            cands = [k for k, v in self.builtins.items() if isinstance(v, LayerKind)] + \
                    [k for k in env.names() if k[:1].isupper()]
            alt = did_you_mean(name, cands)
            return error("E0102", f"unknown layer or block `{name}`", span,
                         help=f"did you mean `{alt}`?" if alt else None)
        alt = did_you_mean(name, [k for k in env.names() if not k.startswith("__")])
        return error("E0101", f"unknown name `{name}`", span, help=f"did you mean `{alt}`?" if alt else None)

    def _undecidable(self, s, span: Span) -> CompileError:
        return error("E0305", f"this depends on the symbolic size `{s}`, which is not known at compile time",
                     span, help="give the dimension a number in the model's input shape")


def _targets(s) -> list[str]:
    if isinstance(s, (ast.Assign, ast.Output)):
        return s.names
    if isinstance(s, (ast.Let, ast.Input)):
        return [s.name]
    return []


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_arith(v) -> bool:
    return _is_num(v) or isinstance(v, Sym)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _dym(name, cands, fallback):
    alt = did_you_mean(name, cands)
    return f"did you mean `{alt}`?" if alt else fallback


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
