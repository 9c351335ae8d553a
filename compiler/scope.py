"""What the parts of the elaborator share: its limits (MAX_*), environments
(Env), the frame of each model or block instance being elaborated (Frame),
layer names (NameScope), definitions as values, and the exceptions that stop
elaboration (Abort, TooDeep). It imports none of the elaborator's modules,
so that each of them can import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ast
from .diagnostics import Diagnostic, Label, Span, error
from .loader import Module
from .shapes import Sym

MAX_DEPTH = 64           # nested block instances
MAX_REPEAT = 100_000     # copies in `A * n`
MAX_LOOP = 100_000       # iterations of one `for`
MAX_NODES = 50_000       # IR nodes in one model
MAX_STEPS = 500_000      # expression nodes of statements run, layers applied, blocks entered (10 each)
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
    output_spans: dict = field(default_factory=dict)   # name -> span, for finding a repeat at once
    instance: str = ""
    call_span: Span | None = None
    nested: int = 0                 # inside how many `if`/`for` bodies


def _targets(s) -> list[str]:
    if isinstance(s, (ast.Assign, ast.Output)):
        return s.names
    if isinstance(s, (ast.Let, ast.LetFunction, ast.Input, ast.ParamDecl)):
        return [s.name]
    return []


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_arith(v) -> bool:
    return _is_num(v) or isinstance(v, Sym)
