"""Shapes with symbolic dimensions.

A dimension is an `int` or a `Sym`: an integer linear combination of atoms
(symbol names such as `N` or `H`, or opaque floor and ceiling divisions)
plus a constant. Arithmetic on Sym stays exact where it can: `(H + 2 - 3) //
1 + 1` is `H`, `(2*H) // 2` is `H`; a division that does not divide evenly
becomes an opaque atom, `(H - 1) // 2` or `ceil(H / 2)`. Sizes print as a
Python expression would read them (an atom is parenthesized where `*` or a
sign would bind into it). A shape is a tuple of dimensions; `None` stands for
an unknown shape (after an error), which silences errors downstream.
"""

from __future__ import annotations

from typing import Union

Dim = Union[int, "Sym"]
Shape = tuple  # tuple[Dim, ...]

# What each opaque atom stands for: its name -> (op, left, right) with op "*",
# "//" or "ceil" (left / right rounded up), so that lowering can compute a symbolic size at run time from the
# inputs' shapes (lower.py, Emitter.dim). The text of an atom alone is not
# enough: `2*(H - 1) // 2` would read back as (2*(H - 1)) // 2.
ATOMS: dict[str, tuple] = {}


def _atom(name: str, op: str, left, right) -> "Sym":
    ATOMS.setdefault(name, (op, left, right))
    return Sym.symbol(name)


class Sym:
    __slots__ = ("terms", "const", "_hash")

    def __init__(self, terms: dict[str, int] | None = None, const: int = 0):
        self.terms = {a: c for a, c in sorted((terms or {}).items()) if c != 0}
        self.const = const
        self._hash = None

    @staticmethod
    def symbol(name: str) -> "Sym":
        return Sym({name: 1})

    @staticmethod
    def make(terms: dict[str, int], const: int) -> Dim:
        s = Sym(terms, const)
        return s.const if not s.terms else s

    # -- arithmetic
    def __add__(self, other):
        if isinstance(other, int):
            return Sym.make(self.terms, self.const + other)
        if isinstance(other, Sym):
            t = dict(self.terms)
            for a, c in other.terms.items():
                t[a] = t.get(a, 0) + c
            return Sym.make(t, self.const + other.const)
        return NotImplemented

    __radd__ = __add__

    def __neg__(self):
        return Sym.make({a: -c for a, c in self.terms.items()}, -self.const)

    def __sub__(self, other):
        if isinstance(other, (int, Sym)):
            return self + (-other)
        return NotImplemented

    def __rsub__(self, other):
        if isinstance(other, int):
            return (-self) + other
        return NotImplemented

    def __mul__(self, other):
        if isinstance(other, int):
            return Sym.make({a: c * other for a, c in self.terms.items()}, self.const * other)
        if isinstance(other, Sym):
            # A product of symbols is kept as one opaque atom.
            return _atom(f"{_factor(self)}*{_factor(other)}", "*", self, other)
        return NotImplemented

    __rmul__ = __mul__

    def __floordiv__(self, other):
        if isinstance(other, int) and other != 0:
            if other == 1:
                return self
            if all(c % other == 0 for c in self.terms.values()) and self.const % other == 0:
                return Sym.make({a: c // other for a, c in self.terms.items()}, self.const // other)
            return _atom(f"{_operand(self)} // {other}", "//", self, other)
        if isinstance(other, Sym):
            return _atom(f"{_operand(self)} // {_operand(other)}", "//", self, other)
        return NotImplemented

    def __rfloordiv__(self, other):
        if isinstance(other, int):
            return _atom(f"{other} // {_operand(self)}", "//", other, self)
        return NotImplemented

    def __eq__(self, other):
        return isinstance(other, Sym) and self.terms == other.terms and self.const == other.const

    def __hash__(self):
        if self._hash is None:
            self._hash = hash((tuple(self.terms.items()), self.const))
        return self._hash

    def __str__(self):
        parts = []
        for i, (a, c) in enumerate(self.terms.items()):
            # `2*(H // 3)` and a leading `-(H // 3)` need the parentheses;
            # `x - H // 3` does not.
            atom = a if _bare(a) or (c == 1 or (c == -1 and i > 0)) else f"({a})"
            if c == 1:
                parts.append(("+", atom))
            elif c == -1:
                parts.append(("-", atom))
            elif c > 0:
                parts.append(("+", f"{c}*{atom}"))
            else:
                parts.append(("-", f"{-c}*{atom}"))
        if self.const > 0:
            parts.append(("+", str(self.const)))
        elif self.const < 0:
            parts.append(("-", str(-self.const)))
        text = ""
        for i, (sign, p) in enumerate(parts):
            text += (("-" if sign == "-" else "") + p) if i == 0 else f" {sign} {p}"
        return text or "0"

    __repr__ = __str__

    def is_symbol(self) -> bool:
        """A bare name such as `N`, as opposed to an expression."""
        return self.const == 0 and len(self.terms) == 1 and next(iter(self.terms.values())) == 1 \
            and _simple(next(iter(self.terms)))


def _factor(s: "Sym") -> str:
    """A Sym as a factor of a product: in parentheses unless it is one term
    that `*` cannot bind into."""
    text = str(s)
    return text if s.const == 0 and len(s.terms) == 1 and _bare(next(iter(s.terms))) else f"({text})"


def _operand(s: "Sym") -> str:
    """A Sym as the left or right side of `//`: in parentheses unless bare."""
    return str(s) if s.is_symbol() else f"({s})"


def _simple(atom: str) -> bool:
    return atom.isidentifier()


def _bare(atom: str) -> bool:
    """True if `atom` reads as one operand next to `*` or a sign: a name,
    `ceil(...)`, or their product; not a floor division or a sum."""
    depth = 0
    for ch in atom:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and (ch == " " or ch == "/"):
            return False
    return True


def is_concrete(d) -> bool:
    return isinstance(d, int)


def fmt_dim(d: Dim) -> str:
    return str(d)


def fmt_shape(s: Shape | None) -> str:
    if s is None:
        return "[?]"
    return "[" + ", ".join(fmt_dim(d) for d in s) + "]"


# Element types a tensor can have, by PyTorch's names; float32 is the default
# and what every layer takes unless its entry says otherwise (layers/base.py).
DTYPES = ("float32", "int64", "int32", "bool")
FLOAT = "float32"


def fmt_type(s: Shape | None, dtype: str = FLOAT) -> str:
    """A tensor's type as written in an input declaration: `[N, T] int64`;
    float32 is left unsaid."""
    return fmt_shape(s) if dtype == FLOAT else f"{fmt_shape(s)} {dtype}"


def numel(dims) -> Dim:
    n = 1
    for d in dims:
        n = n * d
    return n


def ceil_div(a: Dim, b: int) -> Dim:
    """a / b rounded up; of a symbolic size that b does not divide, the atom
    `ceil(a / b)` (as users write it; `-(-a // b)` is the same number)."""
    if isinstance(a, Sym) and b > 0:
        if all(c % b == 0 for c in a.terms.values()) and a.const % b == 0:
            return a // b
        return _atom(f"ceil({_operand(a)} / {b})", "ceil", a, b)
    return -((-a) // b)


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """numpy broadcasting of two shapes, or None if they do not broadcast."""
    out = []
    for i in range(max(len(a), len(b))):
        da = a[len(a) - 1 - i] if i < len(a) else 1
        db = b[len(b) - 1 - i] if i < len(b) else 1
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            return None
    return tuple(reversed(out))
