"""What a layer is: one class per layer family, registered once.

A layer entry holds everything about it in one place:
  * `names`: the spellings the language accepts, each mapped to a variant
    (e.g. "Conv2d" -> 2, the spatial rank);
  * `params`: its parameters, with types and defaults, in positional order;
  * `validate(a)` (optional): checks of the arguments that need no input
    (kernel > 0, 0 <= p < 1), run as soon as the layer is written;
  * `infer(a, ins)`: the shape rule: checks the input shapes and the
    arguments, records the weights it needs in `a.weights`, returns the
    output shapes (raise `ShapeError` for a located diagnostic);
  * `lower(e, a, ins)`: the ONNX nodes that compute it;
  * `dtypes` (the element types its inputs may have: float32 unless it
    says more; `input_dtypes` when they differ per input), `same_dtypes`
    (several inputs of one dtype: merge layers) and `out_dtype(a, dtypes)`
    (float32 unless it says otherwise);
  * `cases` and `reference(a)`: the settings the reference tests run, and the
    PyTorch module or function that computes the same thing (torch is
    imported only inside `reference`, which only tests call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

REQUIRED = object()


@dataclass(frozen=True)
class P:
    """One parameter of a layer. `type` names a coercion in `coerce`."""

    name: str
    type: str
    default: Any = REQUIRED
    choices: tuple = ()
    doc: str = ""


@dataclass
class Weight:
    """A parameter tensor and how it is initialized (PyTorch's defaults)."""

    shape: tuple
    init: str = "uniform"     # 'uniform' (in [-bound, bound]), 'const', 'values' (`args`, in order); for `param`:
    bound: float = 0.0        # 'normal' (mean, std), 'uniform_range' (a, b), 'trunc_normal' (mean, std, a, b), in `args`
    value: float = 0.0
    buffer: bool = False      # a running statistic, not a trained parameter
    args: tuple = ()
    name: str | None = None   # the initializer's name, when not `<node name>.<weight name>` (a `param`,
    shared: bool = False      # or a later use of a `shared` instance); `shared`: other nodes use it too
    zero_row: int | None = None   # a row set to zero after drawing (Embedding's padding_idx)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class Case:
    """A reference-test setting: a layer expression and an input shape. The
    inputs are standard normal, plus `offset` (a normalization's inputs far
    from zero; PyTorch then computes the reference in float64, as its own
    float32 result is off by more than the tolerance)."""

    expr: str
    inputs: list  # list of shapes (lists of ints), one per input
    tol: float = 1e-5
    offset: float = 0.0          # added to the float inputs (numerics far from zero)
    dtypes: list | None = None   # one per input (float32 when None): integers drawn in [0, high)
    high: int = 2
    positive: bool = False   # inputs drawn in [0.5, 2.5) (log, sqrt: the domain)


class ShapeError(Exception):
    """A shape rule's complaint; the elaborator locates it at the layer call
    (or at argument `arg` when the problem is that argument's value)."""

    def __init__(self, code: str, message: str, help: str | None = None, arg: str | None = None,
                 notes: list[str] | None = None, dim: int | None = None):
        super().__init__(message)
        self.code, self.message, self.help, self.arg = code, message, help, arg
        self.notes = notes or []
        self.dim = dim   # the input dimension at fault, when there is one (the elaborator explains it)


class Attrs(dict):
    """A layer instance's arguments after coercion, plus what inference adds."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None

    def __setattr__(self, k, v):
        self[k] = v


class Layer:
    names: dict[str, Any] = {}
    params: tuple[P, ...] = ()
    n_inputs: int | None = 1          # None: any number >= 1
    # A tensor function (lowercase spelling, e.g. `transpose`): besides
    # `x -> transpose(1, 2)` it is called on tensors, `transpose(x, 1, 2)`,
    # and as a method, `x.transpose(1, 2)`; its leading tensor arguments
    # are its inputs and the rest its parameters.
    function: bool = False
    # `permute(0, 2, 1)`, `reshape(N, -1, 3)`: several positional arguments
    # are gathered into a tuple for the first parameter (one tuple works too).
    variadic: bool = False
    doc: str = ""
    cases: list[Case] = []
    dtypes: tuple[str, ...] = ("float32",)   # what its inputs may be
    same_dtypes: bool = False                # several inputs must have one dtype

    def input_dtypes(self, a: Attrs, n: int) -> list[tuple[str, ...]]:
        """The dtypes each of its `n` inputs may have."""
        return [self.dtypes] * n

    def out_dtype(self, a: Attrs, dtypes: list[str]) -> str:
        """The dtype of its outputs, given its inputs'."""
        return "float32"

    def input_high(self, a: Attrs, i: int) -> int | None:
        """For an integer input i: the values are in [0, high) (ids into a
        table); what `nndc run` draws for random inputs. None: unknown."""
        return None

    def n_outputs(self, a: Attrs) -> int:
        return 1

    def validate(self, a: Attrs) -> None:
        """Checks of the arguments alone (ranges, counts), run when the layer
        is written, before any input is known; raise ShapeError(arg=...).
        infer runs after it and may assume them."""

    def infer(self, a: Attrs, ins: list) -> list:
        raise NotImplementedError

    def lower(self, e, a: Attrs, ins: list[str]) -> list[str]:
        raise NotImplementedError

    def reference(self, a: Attrs):
        raise NotImplementedError

    def macs(self, a: Attrs, ins: list, outs: list) -> int:
        """Multiply-accumulates of one run, given its input and output shapes
        (all sizes known: symbolic batch sizes set to 1), for `nndc summary`.
        0 for layers whose cost is not a product (elementwise, norms, pools)."""
        return 0

    def train_reference(self, a: Attrs):
        """The torch computation in training (nnd.torch in train() mode),
        where it differs from `reference`: dropout active, batch statistics.
        None: the same as `reference`."""
        return None

    def always_train(self, a: Attrs) -> bool:
        """Whether the training computation runs at inference too (Monte
        Carlo dropout)."""
        return False


REGISTRY: dict[str, Layer] = {}


def register(cls):
    """Class decorator: instantiate the layer and index it under its names."""
    inst = cls()
    for n in cls.names:
        if n in REGISTRY:
            raise ValueError(f"layer name {n} registered twice")
        REGISTRY[n] = inst
    return cls


# ------------------------------------------------------------ coercions

class ArgTypeError(Exception):
    pass


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def coerce(value, ptype: str, p: P):
    """Check and normalize one argument; raises ArgTypeError with a message."""
    if p.choices and value not in p.choices:
        opts = ", ".join(repr(c) if isinstance(c, str) else str(c) for c in p.choices)
        raise ArgTypeError(f"`{p.name}` must be one of {opts}; got {_show(value)}")
    if ptype == "any":
        return value
    if ptype == "tensor":   # an optional extra input, given as a tensor in a call (see expressions._e_Call)
        if value is None or value is True:
            return value
        raise ArgTypeError(f"`{p.name}` must be a tensor; got {_show(value)}")
    if ptype == "int":
        if _is_int(value):
            return value
        raise ArgTypeError(f"`{p.name}` must be an integer; got {_show(value)}")
    if ptype == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ArgTypeError(f"`{p.name}` must be a number; got {_show(value)}")
    if ptype == "bool":
        if isinstance(value, bool):
            return value
        raise ArgTypeError(f"`{p.name}` must be `true` or `false`; got {_show(value)}")
    if ptype == "str":
        if isinstance(value, str):
            return value
        raise ArgTypeError(f"`{p.name}` must be a string; got {_show(value)}")
    if ptype == "ints":  # an int, or a tuple/list of ints (one per spatial dim)
        if _is_int(value):
            return value
        if isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):
            return tuple(value)
        raise ArgTypeError(f"`{p.name}` must be an integer or a tuple of integers; got {_show(value)}")
    if ptype == "float?":
        return None if value is None else coerce(value, "float", p)
    if ptype == "sizes":  # as "ints", and symbolic sizes too (`x.shape[0]`), computed at run time
        from ..shapes import Sym
        if _is_int(value) or isinstance(value, Sym):
            return value
        if isinstance(value, (list, tuple)) and value and all(_is_int(v) or isinstance(v, Sym) for v in value):
            return tuple(value)
        raise ArgTypeError(f"`{p.name}` must be a size or a tuple of sizes; got {_show(value)}")
    if ptype == "sizes?":
        return None if value is None else coerce(value, "sizes", p)
    if ptype == "ints?":
        return None if value is None else coerce(value, "ints", p)
    if ptype == "floats":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return tuple(float(v) for v in value)
        raise ArgTypeError(f"`{p.name}` must be a number or a tuple of numbers; got {_show(value)}")
    if ptype == "padding":  # int | tuple of ints | tuple of (begin, end) pairs | 'same' | 'valid'
        if value in ("same", "valid") or _is_int(value):
            return value
        if isinstance(value, (list, tuple)) and value:
            if all(_is_int(v) for v in value):
                return tuple(value)
            if all(isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) for x in v)
                   for v in value):
                return tuple(tuple(v) for v in value)
        raise ArgTypeError(
            f"`{p.name}` must be an integer, a tuple of integers, a list of (begin, end) pairs, "
            f"\"same\" or \"valid\"; got {_show(value)}")
    raise AssertionError(f"unknown parameter type {ptype}")


def _show(v) -> str:
    from ..values import show
    return show(v)


# ------------------------------------------------------- shared helpers

def numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def per_dim(v, d: int, name: str) -> tuple:
    """Expand an int or a length-d tuple to a length-d tuple."""
    if isinstance(v, int):
        return (v,) * d
    if len(v) != d:
        raise ShapeError("E0107", f"`{name}` has {len(v)} values, but this layer has {d} spatial "
                         f"dimension{'s' * (d != 1)}", arg=name)
    return tuple(v)


def check_rank(ins_shape, rank: int, what: str, layout: str) -> None:
    if len(ins_shape) != rank:
        from ..shapes import fmt_shape
        raise ShapeError("E0310", f"`{what}` expects {layout}, got {fmt_shape(ins_shape)}")


def fan_in_bound(fan_in: int) -> float:
    """PyTorch's default for Linear and Conv: kaiming_uniform(a=sqrt(5)) on the
    weight and the same bound on the bias, both 1/sqrt(fan_in)."""
    return 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0


def positive(a: Attrs, name: str, values) -> None:
    vals = values if isinstance(values, tuple) else (values,)
    if any(v <= 0 for v in vals):
        raise ShapeError("E0107", f"`{name}` must be positive; got {a[name]}", arg=name)
