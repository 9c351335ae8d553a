"""Running statements: assignments, `input`, `output`, `let`, shape
assertions, `if` and `for`, and binding names to what they produce.

A mixin of the Elaborator (elaborate.py): it uses the elaborator's frames,
environment and IR, and calls its `eval` (expressions.py) for values.
"""

from __future__ import annotations

import dataclasses

import re

from . import ast
from .diagnostics import CompileError, Label, Span, did_you_mean, error
from .layers.base import Attrs
from .scope import MAX_LOOP, WILDCARD, Env, TooDeep, _is_int, _targets
from .shape_help import _too_big
from .shapes import DTYPES, FLOAT, Sym, fmt_shape, fmt_type
from .values import POISON, Function, Tensor, show


class Statements:
    """Statements, run in order in the current frame."""

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
        # A statement costs a step per node of its expressions, so that a loop
        # over a long expression reaches the step limit as soon as a loop
        # over a short one does the same work (a loop body of a hundred
        # chained `-` once ran 500,000 times, for minutes).
        cost = self._costs.get(id(s))
        if cost is None:
            cost = self._costs[id(s)] = (_expression_nodes(s), s)   # s kept: its id stays its own
        self._step(s.span, cost[0])
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
                first = f.output_spans.get(n)
                if first is not None:
                    raise error("E0108", f"output `{n}` is declared twice", s.span,
                                labels=[Label(first, "first declared here")])
                f.outputs.append((n, v, s.span))
                f.output_spans[n] = s.span
        elif isinstance(s, ast.Let):
            env.vars[s.name] = self.eval(s.value, env)
        elif isinstance(s, ast.ParamDecl):
            self._param(s, env)   # learned.py
        elif isinstance(s, ast.LetFunction):
            env.vars[s.name] = Function(s, env)
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
            dtype = self._dtype(s)
            big = _too_big(shape)
            if big:
                raise error("E0119", f"input `{s.name}` is {big}", s.shape.span)
            n = self.ir.add_node("Input", s.name, Attrs(kind="Input", name=s.name), [shape], s.span, (), [dtype])
            if s.name in self.used_names:
                raise error("E0108", f"`{s.name}` is declared twice", s.span)
            self.used_names[s.name] = s.span
            self.ir.inputs.append(n)
            env.vars[s.name] = Tensor(n, 0, shape, s.span, dtype)
            return
        if f.kind != "block":
            raise error("E0122", "`input` belongs in a model or a block", s.span)
        if f.next_input >= len(f.actuals):
            raise error("E0115", f"block `{f.defn.name}` declares more inputs than it was given", s.span)
        t = f.actuals[f.next_input]
        f.next_input += 1
        env.vars[s.name] = t
        dtype = self._dtype(s)
        if s.shape is not None and isinstance(t, Tensor) and t.shape is not None:
            self._check_shape(t, self.eval_shape(s.shape, env), s.shape.span, s.name)
        if s.dtype is not None and isinstance(t, Tensor) and t.dtype != dtype:
            raise error("E0312", f"block input `{s.name}` is declared {dtype}, but it was given {t.dtype}",
                        s.dtype_span, labels=[Label(t.span, fmt_type(t.shape, t.dtype))]
                        if t.span.file == s.span.file else None)

    def _dtype(self, s: ast.Input) -> str:
        """The element type an input declares (float32 when it names none)."""
        if s.dtype is None:
            return FLOAT
        if s.dtype not in DTYPES:
            alt = did_you_mean(s.dtype, list(DTYPES))
            raise error("E0101", f"unknown dtype `{s.dtype}`", s.dtype_span,
                        help=f"did you mean `{alt}`?" if alt else
                        "the dtypes are " + ", ".join(f"`{d}`" for d in DTYPES))
        return s.dtype

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


_BODIES = ("then", "orelse", "body")   # statements nested in `if` and `for`: charged when they run


def _expression_nodes(s) -> int:
    """The syntax-tree nodes of statement `s` outside the bodies it holds."""
    n, stack = 0, [s]
    while stack:
        x = stack.pop()
        if isinstance(x, ast.Node):
            n += 1
            stack.extend(getattr(x, f.name) for f in dataclasses.fields(x) if f.name not in _BODIES)
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
    return n
