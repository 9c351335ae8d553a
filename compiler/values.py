"""Compile-time values of the language.

Plain values are Python's own: int, float, bool, str, list, tuple, and `Sym`
for symbolic sizes. The rest are here: tensors (handles to IR tensors), layer
values (a layer or block with its arguments, not yet applied), chains and
repetitions of them, and Poison, which stands in for anything whose
computation already failed, so that one error does not cascade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Span
from .shapes import Sym, fmt_type


@dataclass(eq=False)
class Tensor:
    node: int
    port: int
    shape: tuple | None
    span: Span
    dtype: str = "float32"   # the element type: one of shapes.DTYPES

    def at(self, span: Span) -> "Tensor":
        """The same tensor, as written at `span`."""
        return Tensor(self.node, self.port, self.shape, span, self.dtype)


class _Poison:
    _inst = None

    def __new__(cls):
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self):
        return "<poison>"


POISON = _Poison()


@dataclass(eq=False)
class LayerKind:
    """A layer name not yet called, e.g. `ReLU` or `Conv2d`."""

    name: str
    spec: Any


@dataclass(eq=False)
class LayerVal:
    """A layer with its (coerced) arguments, e.g. `Conv2d(64, 3)`."""

    name: str
    spec: Any
    args: dict  # parameter name -> value
    arg_spans: dict  # parameter name -> Span
    span: Span
    training: dict = field(default_factory=dict)   # l1, l2, max_norm, trainable, ... (train.py)


@dataclass(eq=False)
class BlockVal:
    """A block with its arguments bound, e.g. `Bottleneck(64, stride = 2)`."""

    defn: Any  # ast.Definition
    module: Any  # the Module that defines it
    args: dict
    span: Span
    training: dict = field(default_factory=dict)   # training attributes for every layer inside


@dataclass(eq=False)
class Chain:
    """`A -> B -> C` where A is a layer: applied in order."""

    items: list
    span: Span


@dataclass(eq=False)
class Repeat:
    """`A * n`: n copies of A in sequence, each with its own weights."""

    item: Any
    count: int
    span: Span


@dataclass(eq=False)
class Named:
    """`A as name`."""

    item: Any
    name: str
    span: Span


@dataclass(eq=False)
class Scoped:
    """`(A -> B)(trainable = false)`: a chain or repetition with training
    attributes for every layer inside it, as a block call's."""

    item: Any
    training: dict
    span: Span


@dataclass(eq=False)
class Method:
    """`x.transpose`: a tensor function with its first input bound, to be called."""

    tensor: Tensor
    kind: LayerKind
    span: Span


@dataclass(eq=False)
class Shared:
    """`shared F as name`: one instance of F; every use after the first reads
    the first use's weights (application.py)."""

    item: Any
    name: str                  # the instance's full name: where its weights live
    span: Span
    uses: int = 0
    weights: dict = field(default_factory=dict)   # initializer name -> shape, from the first use
    first: Span | None = None  # where the first use was
    broken: bool = False       # the first use failed: later ones are not compared with it


@dataclass(eq=False)
class Builtin:
    """A function evaluated at elaboration time, e.g. `concat`, `len`."""

    name: str
    fn: Any


@dataclass(eq=False)
class Function:
    """`let f(a, b = 1) = expr`: called, its expression is evaluated with the
    arguments bound, in the environment where it was defined."""

    defn: Any  # ast.LetFunction
    env: Any   # the Env it was defined in (so it sees itself: recursion)


CALLABLE_LAYERS = (LayerKind, LayerVal, BlockVal, Chain, Repeat, Named, Shared, Scoped)


def show(v) -> str:
    """A value as the user would write it, for messages."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (int, float, Sym)):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(show(x) for x in v) + "]"
    if isinstance(v, tuple):
        return "(" + ", ".join(show(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, Tensor):
        return f"a tensor of shape {fmt_type(v.shape, v.dtype)}"
    if isinstance(v, (LayerKind, LayerVal)):
        return f"the layer `{v.name}`"
    if isinstance(v, Method):
        return f"the method `{v.kind.name}`"
    if isinstance(v, BlockVal):
        return f"the block `{v.defn.name}`"
    if isinstance(v, Shared):
        return f"the shared instance `{v.name}`"
    if isinstance(v, Function):
        return f"the function `{v.defn.name}`"
    if isinstance(v, (Chain, Repeat, Named, Scoped)):
        return "a chain of layers"
    if v is None:
        return "nothing"
    return type(v).__name__


def type_name(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Sym):
        return "symbolic size"
    if isinstance(v, list):
        return "list"
    if isinstance(v, tuple):
        return "tuple"
    if isinstance(v, Tensor):
        return "tensor"
    if isinstance(v, CALLABLE_LAYERS):
        return "layer"
    if isinstance(v, Function):
        return "function"
    return type(v).__name__
