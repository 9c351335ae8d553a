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

The Elaborator is one class made of mixins, a module each: statements.py
runs statements, expressions.py evaluates expressions and the built-in
functions, application.py applies layers and blocks (and `shared` instances)
and names them, learned.py makes the learned tensors of `param`, and
shape_help.py words the help of errors; scope.py holds what they share
(limits, Env, Frame, NameScope). This module has its entry points:
`prepare`, `elaborate`, `models_of`.
"""

from __future__ import annotations

from . import ast
from .application import Application
from .diagnostics import CompileError, Diagnostic, Label, Span, did_you_mean
from .expressions import Expressions
from .ir import IR, GraphOutput
from .learned import Learned
from .layers import REGISTRY, load_all
from .loader import Module
from .scope import MAX_STEPS, Abort, Definition, Env, Frame, ModelInstance, NameScope, TooDeep, too_deep
from .shape_help import ShapeHelp
from .statements import Statements
from .values import POISON, Function, Tensor


class Elaborator(Statements, Expressions, Application, Learned, ShapeHelp):
    """Evaluates a program's models into IRs."""

    def __init__(self, diags: list[Diagnostic], sources=None):
        load_all()
        self.diags = diags
        self.sources = sources        # for quoting source text in explanations
        self.steps = 0
        self._costs: dict = {}   # id(statement) -> (its step cost, the statement)
        self.callee_span: Span | None = None   # the name in the builtin call being evaluated
        self._seen: set = set()
        self.ir: IR | None = None
        self.used_names: dict[str, Span | None] = {}
        self.frames: list[Frame] = []
        self.training_scope: dict = {}   # the training attributes of the blocks being instantiated
        self.stage_expr = None           # the expression of the pipe stage being evaluated
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

    def _step(self, span: Span, cost: int = 1) -> None:
        self.steps += cost
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
            if isinstance(item, ast.LetFunction):
                env.vars[item.name] = own[item.name] = Function(item, genv)
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
                    flag = hasattr(val, "text")   # the CLI's -p: blame the flag, not the model's line
                    self.report(Diagnostic("E0103", (f"-p {k}={val.text}: " if flag else "")
                                           + f"model `{defn.name}` has no parameter `{k}`",
                                           None if flag else defn.name_span,
                                           help=(f"did you mean `{alt}`?" if alt else None) if not flag else
                                           "its parameters are " + ", ".join(f"`{p.name}`" for p in defn.params)
                                           + (f"; did you mean `{alt}`?" if alt else "")))
                    return None
                if hasattr(val, "text") and hasattr(val, "name"):   # the CLI's -p NAME=VALUE: nnd source
                    val = self._param_value(val, module)
                    if val is None:
                        return None
                args[k] = val
        return self._elaborate_model(defn, module, args, model)

    def _param_value(self, p, module: Module):
        """`-p NAME=VALUE`: VALUE evaluated in the model's module, as an
        argument written there would be. Its errors blame the flag, having
        no place in a file."""
        from .parser import ParseError, parse_expression
        self.frames.append(Frame("module", None, NameScope(self, "")))
        try:
            v = self.eval(parse_expression(p.text, f"-p {p.name}"), module.env["__env__"])
        except (CompileError, ParseError, Abort) as e:
            d = e.diagnostic
            self.report(Diagnostic(d.code, f"-p {p.name}={p.text}: {d.message}", None, help=d.help))
            return None
        finally:
            self.frames.pop()
        if v is POISON:
            self.report(Diagnostic("E0117", f"-p {p.name}={p.text}: the value failed", None))
            return None
        return v

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
