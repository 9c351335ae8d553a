"""The syntax tree of a .nnd file. Every node carries the span it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Span


@dataclass
class Node:
    span: Span


# ------------------------------------------------------------- expressions

@dataclass
class Name(Node):
    id: str


class HugeNumber(str):
    """A numeric literal too large to hold (its text); using it is an error."""


@dataclass
class Literal(Node):
    value: Any  # int, float, bool, str, or HugeNumber


@dataclass
class ListExpr(Node):
    items: list[Node]


@dataclass
class TupleExpr(Node):
    items: list[Node]


@dataclass
class BinOp(Node):
    op: str
    left: Node
    right: Node
    op_span: Span


@dataclass
class Compare(Node):
    op: str
    left: Node
    right: Node


@dataclass
class BoolOp(Node):
    op: str  # 'and' | 'or'
    left: Node
    right: Node


@dataclass
class Not(Node):
    operand: Node


@dataclass
class Neg(Node):
    operand: Node


@dataclass
class Attribute(Node):
    value: Node
    attr: str


@dataclass
class Index(Node):
    """`v[i]`, `v[:, 0]`: each item an expression, a `SliceExpr` or an `EllipsisIndex`."""

    value: Node
    items: list[Node]


@dataclass
class SliceExpr(Node):
    """`a:b:c` in a subscript; an absent part is None."""

    start: Node | None
    stop: Node | None
    step: Node | None


@dataclass
class EllipsisIndex(Node):
    """`...` in a subscript."""


@dataclass
class Keyword(Node):
    name: str
    value: Node


@dataclass
class Call(Node):
    func: Node
    args: list[Node]
    kwargs: list[Keyword]


@dataclass
class LayerName(Node):
    """The name after `as`: a dotted path, or a string with {expr} parts."""

    parts: list[str] | None = None     # dotted form
    template: str | None = None        # string form


@dataclass
class Stage(Node):
    expr: Node
    name: LayerName | None


@dataclass
class Shared(Node):
    """`shared F as name`: one instance of F, its weights shared by every use."""

    expr: Node
    name: LayerName | None


@dataclass
class Pipe(Node):
    source: Node
    stages: list[Stage]


# -------------------------------------------------------------- statements

@dataclass
class Input(Node):
    name: str
    shape: ListExpr | None
    dtype: str | None = None       # as written after the shape (`int64`); None: float32
    dtype_span: object = None


@dataclass
class Output(Node):
    names: list[str]
    value: Node | None


@dataclass
class Assign(Node):
    names: list[str]
    value: Node


@dataclass
class Assert(Node):
    name: str
    shape: ListExpr
    name_span: Span


@dataclass
class Let(Node):
    name: str
    value: Node


@dataclass
class ParamDecl(Node):
    """`param name: [shape] = initializer`: a learned tensor."""

    name: str
    shape: ListExpr
    init: Node
    name_span: Span


@dataclass
class LetFunction(Node):
    """`let f(a, b = 1) = expr`: a function of one expression."""
    name: str
    value: Node
    params: list   # ast.Param
    name_span: Span


@dataclass
class IfExp(Node):
    """`a if cond else b`."""
    cond: Node
    then: Node
    orelse: Node


@dataclass
class If(Node):
    cond: Node
    then: list[Node]
    orelse: list[Node] | None


@dataclass
class For(Node):
    var: str
    start: Node
    stop: Node
    body: list[Node]


# --------------------------------------------------------- top-level items

@dataclass
class Param(Node):
    name: str
    default: Node | None


@dataclass
class Definition(Node):
    """A `model` or `block`: parameters, then a body of statements."""

    kind: str  # 'model' | 'block'
    name: str
    params: list[Param]
    body: list[Node]
    name_span: Span
    file: str = ""


@dataclass
class ModelInstance(Node):
    """`model ResNet50 = ResNet(blocks = [3, 4, 6, 3])`."""

    name: str
    base: str
    args: list[Node]
    kwargs: list[Keyword]
    name_span: Span
    base_span: Span


@dataclass
class Import(Node):
    module: str          # 'std.layers' or a relative path
    is_file: bool


@dataclass
class Program(Node):
    file: str
    items: list[Node] = field(default_factory=list)
