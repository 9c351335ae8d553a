"""A fast path for parsing: a hand-written lexer and recursive-descent parser
that build the same syntax tree as lark over grammar/nnd.lark, spans included.

lark's LALR parser in pure Python, with position propagation and a tree that
is then transformed, spends about 0.3 ms on a line like
`-> Conv2d(16, 3, padding = 1) -> ReLU`; this does the same in a tenth of
that, which is what keeps compile time per layer low on long models.

It is only a fast path. `parse` returns None for anything it does not handle
exactly as the grammar does, and for every syntax error: the caller then runs
lark, which decides, and whose errors are the diagnostics. So this module may
decline anything, but must never accept a program lark rejects nor build a
different tree (tests/runtime/test_fastparse.py compares the two).

Spans follow lark's `propagate_positions`: a rule's span runs from the start
of the first token it matched to the end of the last, anonymous tokens (`(`,
`}`) and statement-ending newlines included; a rule inlined with `?` is its
child's span.
"""

from __future__ import annotations

import ast as pyast
import re

from . import ast
from .diagnostics import Span

KEYWORDS = {"import", "model", "block", "input", "output", "let", "if", "else", "for", "in", "as",
            "and", "or", "not", "true", "false"}

# Mirrors the grammar's terminals and lark's order (FLOAT before INT; literals
# longest first). Anything else is a character this lexer does not know.
_TOKEN = re.compile(r"""
    (?P<WS>[\t \f]+)
  | (?P<CONT>\\[\t \f]*\r?\n)
  | (?P<COMMENT>\#[^\n]*)
  | (?P<NL>(?:\r?\n[\t ]*)+)
  | (?P<FLOAT>[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)
  | (?P<INT>[0-9]+)
  | (?P<NAME>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<STRING>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<P>->|\.\.|==|!=|<=|>=|//|[-+*/%<>=.,:()\[\]{}])
""", re.VERBOSE)

_OPS = {"==": "COMP_OP", "!=": "COMP_OP", "<=": "COMP_OP", ">=": "COMP_OP", "<": "COMP_OP", ">": "COMP_OP",
        "+": "ADD_OP", "-": "ADD_OP", "*": "MUL_OP", "//": "MUL_OP", "/": "MUL_OP", "%": "MUL_OP"}

# The post-lexer's rules (parser.py, _NewlinePostLex).
_OPEN_VALUES = {"->", "=", ",", ":", "(", "[", "{", "and", "or", "not", "as", "..", "in", "else"}
_OPEN_TYPES = {"ADD_OP", "MUL_OP", "COMP_OP", "_NL"}
_CONT_VALUES = {"->", "as", "else", "and", "or", ".."}
_CONT_TYPES = {"ADD_OP", "MUL_OP", "COMP_OP"}
_VALUE_TYPES = ("NAME", "INT", "FLOAT", "STRING")


class Decline(Exception):
    """Not handled here: let lark decide."""


class Tok:
    __slots__ = ("type", "value", "line", "column", "end_line", "end_column")

    def __init__(self, type, value, line, column, end_line, end_column):
        self.type, self.value = type, value
        self.line, self.column, self.end_line, self.end_column = line, column, end_line, end_column

    def borrow(self, type, value) -> "Tok":
        return Tok(type, value, self.line, self.column, self.end_line, self.end_column)


def lex(text: str) -> list:
    out = []
    pos, line, col = 0, 1, 1
    n = len(text)
    match = _TOKEN.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            raise Decline("unknown character")
        kind = m.lastgroup
        v = m.group()
        nl = v.count("\n")
        if nl:
            end_line, end_col = line + nl, len(v) - v.rindex("\n")
        else:
            end_line, end_col = line, col + len(v)
        if kind == "NL":
            out.append(Tok("_NL", v, line, col, end_line, end_col))
        elif kind == "P":
            out.append(Tok(_OPS.get(v, "P"), v, line, col, end_line, end_col))
        elif kind == "NAME":
            out.append(Tok("KW" if v in KEYWORDS else "NAME", v, line, col, end_line, end_col))
        elif kind in ("FLOAT", "INT", "STRING"):
            out.append(Tok(kind, v, line, col, end_line, end_col))
        pos, line, col = m.end(), end_line, end_col
    return _postlex(out)


def _is_open(t: Tok) -> bool:
    return t.type in _OPEN_TYPES or (t.value in _OPEN_VALUES and t.type != "STRING")


def _postlex(stream: list) -> list:
    """parser.py's _NewlinePostLex, over these tokens."""
    out = []
    depth = 0
    prev = None
    pending = None
    for tok in stream:
        if tok.type == "_NL":
            if depth == 0 and prev is not None and not _is_open(prev) and pending is None:
                pending = tok
            continue
        if pending is not None:
            if not (tok.value in _CONT_VALUES or tok.type in _CONT_TYPES):
                out.append(pending)
                prev = pending
            pending = None
        if tok.value == "}" and prev is not None and prev.type != "_NL" and prev.value != "{":
            prev = tok.borrow("_NL", "\n")
            out.append(prev)
        if tok.value in ("(", "["):
            depth += 1
        elif tok.value in (")", "]"):
            depth = max(0, depth - 1)
        out.append(tok)
        prev = tok
    if pending is not None:
        out.append(pending)
    elif prev is not None and prev.type != "_NL":
        out.append(prev.borrow("_NL", "\n"))
    return out


_END = Tok("$END", "", 0, 0, 0, 0)


class _Parser:
    def __init__(self, toks: list, file: str):
        self.t = toks + [_END]
        self.i = 0
        self.file = file

    # -- tokens
    def peek(self, k: int = 0) -> Tok:
        return self.t[self.i + k]

    def at(self, value: str, k: int = 0) -> bool:
        t = self.t[self.i + k]
        return t.value == value and t.type not in _VALUE_TYPES

    def take(self, value: str) -> Tok:
        t = self.t[self.i]
        if t.value != value or t.type in _VALUE_TYPES:
            raise Decline(value)
        self.i += 1
        return t

    def take_type(self, type: str) -> Tok:
        t = self.t[self.i]
        if t.type != type:
            raise Decline(type)
        self.i += 1
        return t

    def span(self, first: int) -> Span:
        a, b = self.t[first], self.t[self.i - 1]
        return Span(self.file, a.line, a.column, b.end_line, b.end_column)

    def tspan(self, t: Tok) -> Span:
        return Span(self.file, t.line, t.column, t.end_line, t.end_column)

    @staticmethod
    def join(a: Span, b: Span) -> Span:
        return Span(a.file, a.line, a.column, b.end_line, b.end_column)

    # -- top level
    def program(self) -> list:
        items = []
        while self.peek().type != "$END":
            t = self.peek()
            if t.type == "_NL":
                self.i += 1
            elif self.at("import"):
                items.append(self.import_())
            elif self.at("model"):
                if self.at("=", 2):
                    items.append(self.model_inst())
                else:
                    items.append(self.definition("model"))
            elif self.at("block"):
                items.append(self.definition("block"))
            elif self.at("let"):
                items.append(self.let())
            else:
                raise Decline("item")
        return items

    def import_(self):
        s = self.i
        self.take("import")
        if self.peek().type == "STRING":
            v = _unquote(self.take_type("STRING").value)
            self.take_type("_NL")
            return ast.Import(self.span(s), v, True)
        parts = [self.take_type("NAME").value]
        while self.at("."):
            self.i += 1
            parts.append(self.take_type("NAME").value)
        self.take_type("_NL")
        return ast.Import(self.span(s), ".".join(parts), False)

    def definition(self, kind: str):
        s = self.i
        self.take(kind)
        name = self.take_type("NAME")
        params = self.params() if self.at("(") else []
        body = self.body()
        self.take_type("_NL")
        return ast.Definition(self.span(s), kind, name.value, params, body, self.tspan(name), self.file)

    def model_inst(self):
        s = self.i
        self.take("model")
        name = self.take_type("NAME")
        self.take("=")
        base = self.take_type("NAME")
        pos, kw = [], []
        if self.at("("):
            self.i += 1
            if not self.at(")"):
                pos, kw = self.args()
            self.take(")")
        self.take_type("_NL")
        return ast.ModelInstance(self.span(s), name.value, base.value, pos, kw, self.tspan(name), self.tspan(base))

    def params(self) -> list:
        self.take("(")
        out = []
        if not self.at(")"):
            while True:
                s = self.i
                name = self.take_type("NAME")
                default = None
                if self.at("="):
                    self.i += 1
                    default = self.expr()
                out.append(ast.Param(self.span(s), name.value, default))
                if not self.at(","):
                    break
                self.i += 1
                if self.at(")"):
                    break
        self.take(")")
        return out

    def body(self) -> list:
        self.take("{")
        out = []
        while not self.at("}"):
            out.append(self.stmt())
        self.take("}")
        return out

    # -- statements
    def stmt(self):
        t = self.peek()
        s = self.i
        if t.type == "KW":
            v = t.value
            if v == "input":
                self.i += 1
                name = self.take_type("NAME").value
                shape = None
                if self.at(":"):
                    self.i += 1
                    shape = self.list_()
                self.take_type("_NL")
                return ast.Input(self.span(s), name, shape)
            if v == "output":
                self.i += 1
                names = self.targets()
                value = None
                if self.at("="):
                    self.i += 1
                    value = self.expr()
                self.take_type("_NL")
                return ast.Output(self.span(s), names, value)
            if v == "let":
                return self.let()
            if v == "if":
                node = self.if_chain()
                self.take_type("_NL")
                return node
            if v == "for":
                self.i += 1
                var = self.take_type("NAME").value
                self.take("in")
                start = self.expr()
                self.take("..")
                stop = self.expr()
                body = self.body()
                self.take_type("_NL")
                return ast.For(self.span(s), var, start, stop, body)
            raise Decline("statement")
        if t.type == "NAME":
            if self.at(":", 1):
                name = self.take_type("NAME")
                self.i += 1
                shape = self.list_()
                self.take_type("_NL")
                return ast.Assert(self.span(s), name.value, shape, self.tspan(name))
            names = self.targets()
            self.take("=")
            value = self.expr()
            self.take_type("_NL")
            return ast.Assign(self.span(s), names, value)
        raise Decline("statement")

    def targets(self) -> list:
        out = [self.take_type("NAME").value]
        while self.at(","):
            self.i += 1
            out.append(self.take_type("NAME").value)
        return out

    def let(self):
        s = self.i
        self.take("let")
        name = self.take_type("NAME").value
        self.take("=")
        value = self.expr()
        self.take_type("_NL")
        return ast.Let(self.span(s), name, value)

    def if_chain(self):
        s = self.i
        self.take("if")
        cond = self.expr()
        then = self.body()
        orelse = None
        if self.at("else"):
            self.i += 1
            orelse = [self.if_chain()] if self.at("if") else self.body()
        return ast.If(self.span(s), cond, then, orelse)

    # -- expressions
    # A rule's span is its tokens' extent (lark's "container" positions), so
    # a parenthesized operand extends its parent to the parentheses; only the
    # parenthesized expression itself keeps its own, inner span.
    def expr(self):
        s = self.i
        src = self.test()
        if not self.at("->"):
            return src
        stages = []
        while self.at("->"):
            self.i += 1
            st = self.i
            e = self.test()
            name = None
            if self.at("as"):
                self.i += 1
                name = self.layer_name()
            stages.append(ast.Stage(self.span(st), e, name))
        return ast.Pipe(self.span(s), src, stages)

    def layer_name(self):
        s = self.i
        t = self.peek()
        if t.type == "STRING":
            self.i += 1
            return ast.LayerName(self.span(s), template=_unquote(t.value))
        parts = [self.take_type("NAME").value]
        while self.at("."):
            nxt = self.peek(1)
            if nxt.type not in ("NAME", "INT"):
                raise Decline("layer name")
            self.i += 2
            parts.append(nxt.value)
        return ast.LayerName(self.span(s), parts=parts)

    def test(self):
        s = self.i
        left = self.and_test()
        while self.at("or"):
            self.i += 1
            right = self.and_test()
            left = ast.BoolOp(self.span(s), "or", left, right)
        return left

    def and_test(self):
        s = self.i
        left = self.not_test()
        while self.at("and"):
            self.i += 1
            right = self.not_test()
            left = ast.BoolOp(self.span(s), "and", left, right)
        return left

    def not_test(self):
        if self.at("not"):
            s = self.i
            self.i += 1
            operand = self.not_test()
            return ast.Not(self.span(s), operand)
        return self.comparison()

    def comparison(self):
        s = self.i
        left = self.arith()
        if self.peek().type == "COMP_OP":
            op = self.t[self.i].value
            self.i += 1
            right = self.arith()
            return ast.Compare(self.span(s), op, left, right)
        return left

    def arith(self):
        s = self.i
        left = self.term()
        while self.peek().type == "ADD_OP":
            op = self.t[self.i]
            self.i += 1
            right = self.term()
            left = ast.BinOp(self.span(s), op.value, left, right, self.tspan(op))
        return left

    def term(self):
        s = self.i
        left = self.factor()
        while self.peek().type == "MUL_OP":
            op = self.t[self.i]
            self.i += 1
            right = self.factor()
            left = ast.BinOp(self.span(s), op.value, left, right, self.tspan(op))
        return left

    def factor(self):
        t = self.peek()
        if t.type == "ADD_OP":
            s = self.i
            self.i += 1
            operand = self.factor()
            return operand if t.value == "+" else ast.Neg(self.span(s), operand)
        return self.postfix()

    def postfix(self):
        s = self.i
        node = self.atom()
        while True:
            t = self.t[self.i]
            if t.type != "P":
                return node
            v = t.value
            if v == ".":
                self.i += 1
                name = self.take_type("NAME").value
                node = ast.Attribute(self.span(s), node, name)
            elif v == "[":
                self.i += 1
                index = self.expr()
                self.take("]")
                node = ast.Index(self.span(s), node, index)
            elif v == "(":
                self.i += 1
                pos, kw = ([], []) if self.at(")") else self.args()
                self.take(")")
                node = ast.Call(self.span(s), node, pos, kw)
            else:
                return node

    def args(self):
        pos, kw = [], []
        while True:
            if self.peek().type == "NAME" and self.at("=", 1):
                s = self.i
                name = self.t[self.i].value
                self.i += 2
                value = self.expr()
                kw.append(ast.Keyword(self.span(s), name, value))
            else:
                pos.append(self.expr())
            if not self.at(","):
                return pos, kw
            self.i += 1
            if self.at(")"):
                return pos, kw

    def atom(self):
        t = self.t[self.i]
        tp = t.type
        if tp == "NAME":
            self.i += 1
            return ast.Name(self.tspan(t), t.value)
        if tp == "INT":
            self.i += 1
            return ast.Literal(self.tspan(t), int(t.value))
        if tp == "FLOAT":
            self.i += 1
            return ast.Literal(self.tspan(t), float(t.value))
        if tp == "STRING":
            self.i += 1
            return ast.Literal(self.tspan(t), _unquote(t.value))
        if tp == "KW" and t.value in ("true", "false"):
            self.i += 1
            return ast.Literal(self.tspan(t), t.value == "true")
        if tp == "P" and t.value == "[":
            return self.list_()
        if tp == "P" and t.value == "(":
            s = self.i
            self.i += 1
            first = self.expr()
            if self.at(")"):
                self.i += 1
                return first          # `?atom: "(" expr ")"`: the inner expression's span
            self.take(",")
            items = [first]
            if not self.at(")"):
                items.append(self.expr())
                while self.at(","):
                    self.i += 1
                    if self.at(")"):
                        break
                    items.append(self.expr())
            self.take(")")
            return ast.TupleExpr(self.span(s), items)
        raise Decline("atom")

    def list_(self):
        s = self.i
        self.take("[")
        items = []
        if not self.at("]"):
            items.append(self.expr())
            while self.at(","):
                self.i += 1
                if self.at("]"):
                    break
                items.append(self.expr())
        self.take("]")
        return ast.ListExpr(self.span(s), items)


def _unquote(tok: str) -> str:
    try:
        return pyast.literal_eval(tok)
    except (ValueError, SyntaxError):
        return tok[1:-1]


def parse_items(text: str, file: str) -> list | None:
    """The program's items, or None: lark must decide."""
    try:
        p = _Parser(lex(text), file)
        items = p.program()
    except (Decline, RecursionError, IndexError):
        return None
    return items
