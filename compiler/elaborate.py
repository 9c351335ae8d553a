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

from . import ast, explain
from .diagnostics import CompileError, Diagnostic, Label, Span, did_you_mean, error
from .ir import IR, GraphOutput
from .layers import REGISTRY, load_all
from .layers.base import ArgTypeError, Attrs, REQUIRED, ShapeError, coerce
from .loader import Module
from .shapes import Sym, fmt_shape
from .values import (CALLABLE_LAYERS, POISON, Builtin, BlockVal, Chain, LayerKind, LayerVal, Named,
                     Repeat, Tensor, show, type_name)

MAX_DEPTH = 64           # nested block instances
MAX_REPEAT = 100_000     # copies in `A * n`
MAX_LOOP = 100_000       # iterations of one `for`
MAX_NODES = 50_000       # IR nodes in one model
MAX_STEPS = 500_000      # statements run, layers applied, blocks entered (10 each)
MAX_LIST = 1_000_000     # items in one list value
MAX_INT = 2 ** 63 - 1    # the largest integer (ONNX's int64)
MAX_SYM_TEXT = 2_000     # characters in the opaque parts of one symbolic size
MAX_WEIGHT_BYTES = 2 ** 31          # one layer's float32 weights (an ONNX file holds 2 GiB)
MAX_TENSOR_BYTES = 2 ** 36          # one float32 tensor, with every symbolic size 1
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


class Abort(Exception):
    """A limit was reached: stop elaborating the model altogether."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class TooDeep(Exception):
    """Evaluation ran out of stack at the statement whose span it carries."""


def too_deep(span: Span) -> Diagnostic:
    return Diagnostic("E0119", "this statement nests too deeply to evaluate", span,
                      help="split deep expressions with `let` or intermediate tensors; "
                           "long `else if` chains and deeply nested blocks count too")


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
    nested: int = 0                 # inside how many `if`/`for` bodies


class Elaborator:
    def __init__(self, diags: list[Diagnostic], sources=None):
        load_all()
        self.diags = diags
        self.sources = sources        # for quoting source text in explanations
        self.steps = 0
        self.callee_span: Span | None = None   # the name in the builtin call being evaluated
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
        if d.code != "E0114":   # the cycle says more than the (long) instance path
            self._where(d)
        self.diags.append(d)

    def _where(self, d: Diagnostic) -> Diagnostic:
        """Say which block instance a diagnostic arose in (once)."""
        if any(n.startswith("in `") for n in d.notes):
            return d
        for f in reversed(self.frames):
            if f.kind == "block" and f.call_span is not None:
                inst = f.instance if len(f.instance) <= 60 else f.instance[:28] + "..." + f.instance[-28:]
                d.notes.append(f"in `{inst}`, an instance of block `{f.defn.name}` "
                               f"created at {f.call_span.file}:{f.call_span.line}:{f.call_span.column}")
                break
        return d

    def _step(self, span: Span) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Abort(self._where(Diagnostic(
                "E0119", f"elaboration takes more than {MAX_STEPS:,} steps", span,
                help="loops, repetitions or recursive blocks multiply beyond any real model; check their counts")))

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
                except RecursionError:
                    self.report(too_deep(item.span))
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
        try:
            self.run_body(defn.body, env)
        except Abort as e:
            self.report(e.diagnostic)
            del self.frames[1:]
        except TooDeep as e:
            self.report(too_deep(e.args[0]))
            del self.frames[1:]
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
            except RecursionError:
                # Deep nesting (expressions, `else if` chains, blocks) ran out of
                # Python stack here, at the innermost statement; say so from the
                # top, where there is stack to spare.
                raise TooDeep(s.span) from None

    def run_stmt(self, s, env: Env) -> None:
        self._step(s.span)
        f = self.frame
        if isinstance(s, ast.Assign):
            v = self.eval(s.value, env)
            self._bind(s.names, v, env, s.value.span)
            self._record_bindings(s, v)
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
                first = next((o for o in f.outputs if o[0] == n), None)
                if first is not None:
                    raise error("E0108", f"output `{n}` is declared twice", s.span,
                                labels=[Label(first[2], "first declared here")])
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
            f.nested += 1
            try:
                if c:
                    self.run_body(s.then, env)
                elif s.orelse is not None:
                    self.run_body(s.orelse, env)
            finally:
                f.nested -= 1
        elif isinstance(s, ast.For):
            lo, hi = self.eval(s.start, env), self.eval(s.stop, env)
            for v, node in ((lo, s.start), (hi, s.stop)):
                if v is POISON:
                    return
                if not _is_int(v):
                    raise error("E0117", f"a range bound must be an integer; got {show(v)}", node.span)
            if hi - lo > MAX_LOOP:
                raise error("E0119", f"this loop would run {hi - lo:,} times; the limit is {MAX_LOOP:,}",
                            s.start.span.to(s.stop.span))
            f.nested += 1
            try:
                for i in range(lo, hi):
                    env.vars[s.var] = i
                    self.run_body(s.body, env)
            finally:
                f.nested -= 1
        else:
            raise error("E0122", "this statement is not allowed here", s.span)

    def _record_bindings(self, s: ast.Assign, v) -> None:
        """Remember which tensor each assigned name holds (for W0003)."""
        vals = [v] if len(s.names) == 1 else list(v) if isinstance(v, (tuple, list)) else []
        bindings = self.ir.meta.setdefault("bindings", [])
        for name, val, span in zip(s.names, vals, self._name_spans(s)):
            if isinstance(val, Tensor):
                bindings.append((name, val.node, val.port, span))

    def _name_spans(self, s: ast.Assign) -> list[Span]:
        """Where each target name of an assignment is written."""
        line = self.sources.line(s.span.file, s.span.line) if self.sources is not None else None
        spans, col = [], s.span.column
        for name in s.names:
            m = re.compile(rf"\b{re.escape(name)}\b").search(line, col - 1) if line else None
            if m is None:
                spans.append(Span(s.span.file, s.span.line, col, s.span.line, col + len(name)))
            else:
                spans.append(Span(s.span.file, s.span.line, m.start() + 1, s.span.line, m.end() + 1))
                col = m.end() + 1
        return spans

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
            raise error("E0116", f"{len(names)} names to unpack, but the right side gives {got}", span)
        for n, x in zip(names, v):
            env.vars[n] = x

    def _input(self, s: ast.Input, env: Env) -> None:
        f = self.frame
        if f.nested:
            raise error("E0122", "`input` cannot be inside `if` or `for`", s.span,
                        help="declare every input at the top of the model or block; "
                             "a model's or block's inputs do not depend on its parameters")
        if f.kind == "model":
            if s.shape is None:
                raise error("E0121", f"model input `{s.name}` needs a shape", s.span,
                            help=f"write `input {s.name}: [N, ...]`")
            shape = self.eval_shape(s.shape, env, allow_wildcard=False)
            if shape is POISON:
                env.vars[s.name] = POISON
                return
            big = _too_big(shape)
            if big:
                raise error("E0119", f"input `{s.name}` is {big}", s.shape.span)
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
            self.callee_span = n.func.span
            return f.fn(pos, kw, n.span)
        raise error("E0117", f"{show(f)} cannot be called", n.func.span)

    def _e_Pipe(self, n, env, sym):
        # Each stage is evaluated and applied on its own: a failing stage is
        # reported and poisons what follows, but the stages after it are still
        # evaluated, so that their own mistakes are reported in the same run.
        v = self._recover(lambda: self.eval(n.source, env))
        for st in n.stages:
            f = self._recover(lambda: self._stage(st, env))
            if v is POISON or f is POISON or (isinstance(f, Named) and f.item is POISON):
                v = POISON
                continue
            v = self._recover(lambda: self._pipe_step(v, f, st, n))
        return v

    def _recover(self, fn):
        try:
            return fn()
        except CompileError as e:
            self.report(e.diagnostic)
            return POISON

    def _stage(self, st: ast.Stage, env: Env):
        f = self.eval(st.expr, env)
        if st.name is not None:
            f = Named(f, self._layer_name(st.name, env), st.span)
        inner = f.item if isinstance(f, Named) else f
        if inner is not POISON and not isinstance(inner, CALLABLE_LAYERS + (Definition,)):
            hint = None
            if isinstance(inner, Tensor):
                hint = "a stage after `->` is a layer or a block; to combine tensors use `+`, `*` or `concat(...)`"
            elif isinstance(inner, Builtin):
                hint = f"`{inner.name}` is a function: call it on tensors, e.g. `{inner.name}(a, b)`"
            raise error("E0117", f"{show(inner)} is not a layer, so it cannot follow `->`", st.expr.span,
                        help=hint)
        return f

    def _pipe_step(self, v, f, st: ast.Stage, n: ast.Pipe):
        if isinstance(v, Tensor) or (isinstance(v, (tuple, list)) and v and all(isinstance(x, Tensor) for x in v)):
            xs = [v] if isinstance(v, Tensor) else list(v)
            out = self.apply(f, xs, self.frame.names, st.span)
            return out[0] if len(out) == 1 else tuple(out)
        if isinstance(v, CALLABLE_LAYERS + (Definition,)):
            items = v.items if isinstance(v, Chain) else [v]
            return Chain(items + [f], n.span)
        if isinstance(v, (tuple, list)) and any(x is POISON for x in v):
            return POISON
        raise error("E0117", f"`->` needs a tensor or a layer on its left; got {show(v)}", n.source.span)

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
            takes = f"at most {len(params)} argument{'s' * (len(params) != 1)}" if params else "no arguments"
            raise error("E0105", f"`{kind}` takes {takes}; got {len(pos)}", extra_span,
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
                required = ", ".join(q.name for q in params if q.default is REQUIRED)
                raise error("E0104", f"`{kind}` needs `{p.name}`", span,
                            help=f"write `{kind}({required})`" + (f"; `{p.name}` is {p.doc}" if p.doc else ""))
            else:
                out[p.name] = p.default
        self._validate(kind, spec, out, spans, span)
        return LayerVal(kind, spec, out, spans, span)

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
        a.kind, a.variant, a.name, a.weights = lv.name, spec.names[lv.name], name, {}
        if any(x.shape is None for x in xs):
            shapes = [None] * spec.n_outputs(a)
        else:
            try:
                shapes = spec.infer(a, [x.shape for x in xs])
                self._check_sizes(a, shapes, lv.span)
            except ShapeError as e:
                self.report(self._shape_diagnostic(e, lv, xs, primary))
                shapes = [None] * spec.n_outputs(a)
                a.weights = {}
        n = self.ir.add_node(lv.name, name, a, shapes, lv.span, [(x.node, x.port) for x in xs])
        return [Tensor(n, i, s, lv.span) for i, s in enumerate(shapes)]

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

    # ------------------------------------------------------------ errors
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


def _too_big(shape) -> str | None:
    """A message if a float32 tensor of this shape needs more than
    MAX_TENSOR_BYTES even with every symbolic size 1."""
    if shape is None:
        return None
    n = 1
    for d in shape:
        if isinstance(d, int):
            n *= d
    if n * 4 <= MAX_TENSOR_BYTES:
        return None
    open_ = [d for d in shape if not isinstance(d, int)]
    names = [str(d) for d in open_ if d.is_symbol()]
    with_ = ""
    if open_:
        with_ = (" even with " + ", ".join(f"{x} = 1" for x in dict.fromkeys(names))) if len(names) == len(open_) \
            else " even with its symbolic sizes 1"
    return (f"a tensor of shape {fmt_shape(shape)}, which needs {_bytes(n * 4)}" + with_
            + f"; the limit is {_bytes(MAX_TENSOR_BYTES)}")


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
