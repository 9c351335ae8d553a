"""Text to syntax tree: lark's LALR parser over grammar/nnd.lark, a post-lexer
for significant newlines, and syntax errors turned into located diagnostics."""

from __future__ import annotations

import ast as pyast
import hashlib
import os
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from . import ast
from .diagnostics import Diagnostic, Span

# Tokens after which a newline cannot end a statement.
_OPEN_VALUES = {"->", "=", ",", ":", "(", "[", "{", "and", "or", "not", "as", "..", "in", "else"}
_OPEN_TYPES = {"ADD_OP", "MUL_OP", "COMP_OP", "_NL"}
# Tokens that, starting a line, continue the previous one.
_CONT_VALUES = {"->", "as", "else", "and", "or", ".."}
_CONT_TYPES = {"ADD_OP", "MUL_OP", "COMP_OP"}


class _NewlinePostLex:
    """Decides which newlines are statement ends (see the grammar's header)."""

    always_accept = ("_NL",)

    def process(self, stream):
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
                    yield pending
                    prev = pending
                pending = None
            if tok.value == "}" and prev is not None and prev.type != "_NL" and prev.value != "{":
                prev = Token.new_borrow_pos("_NL", "\n", tok)
                yield prev
            if tok.value in ("(", "["):
                depth += 1
            elif tok.value in (")", "]"):
                depth = max(0, depth - 1)
            yield tok
            prev = tok
        if pending is not None:
            yield pending
        elif prev is not None and prev.type != "_NL":
            yield Token.new_borrow_pos("_NL", "\n", prev)


def _is_open(tok: Token) -> bool:
    return tok.type in _OPEN_TYPES or (tok.value in _OPEN_VALUES and tok.type != "STRING")


@lru_cache(maxsize=None)
def _lark() -> Lark:
    text = resources.files("nnd.grammar").joinpath("nnd.lark").read_text(encoding="utf-8")
    # The basic lexer, not the contextual one: the post-lexer holds newlines
    # back, so the lexer cannot know the parser's state.
    # Building the LALR tables takes about half a second; lark caches them in
    # a file keyed by the grammar and options (checked on load), so every
    # later process starts in milliseconds.
    from .cachedir import cache_dir
    d = cache_dir()
    cache = os.path.join(d, f"lark-{hashlib.sha256(text.encode()).hexdigest()[:16]}.cache") if d else False
    return Lark(text, parser="lalr", lexer="basic", postlex=_NewlinePostLex(),
                propagate_positions=True, maybe_placeholders=True,
                start=["start", "expr"], cache=cache)


class _ToAst(Transformer):
    """lark tree -> compiler.ast, keeping a span on every node."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _span(self, meta) -> Span:
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # -- top level
    @v_args(meta=True)
    def start(self, meta, items):
        return [i for i in items if i is not None]

    @v_args(meta=True)
    def import_std(self, meta, c):
        return ast.Import(self._span(meta), c[0], False)

    @v_args(meta=True)
    def import_file(self, meta, c):
        return ast.Import(self._span(meta), _unquote(c[0]), True)

    def module_path(self, c):
        return ".".join(str(t) for t in c)

    @v_args(meta=True)
    def model_def(self, meta, c):
        return self._definition("model", meta, c)

    @v_args(meta=True)
    def block_def(self, meta, c):
        return self._definition("block", meta, c)

    def _definition(self, kind, meta, c):
        name, params, body = c
        return ast.Definition(self._span(meta), kind, str(name), params or [], body,
                              self._tspan(name), self.file)

    @v_args(meta=True)
    def model_inst(self, meta, c):
        name, base, args = c
        pos, kw = args if args is not None else ([], [])
        return ast.ModelInstance(self._span(meta), str(name), str(base), pos, kw,
                                 self._tspan(name), self._tspan(base))

    def params(self, c):
        return [p for p in c if p is not None]

    @v_args(meta=True)
    def param(self, meta, c):
        return ast.Param(self._span(meta), str(c[0]), c[1])

    def body(self, c):
        return list(c)

    # -- statements
    @v_args(meta=True)
    def input_stmt(self, meta, c):
        return ast.Input(self._span(meta), str(c[0]), c[1])

    @v_args(meta=True)
    def output_stmt(self, meta, c):
        return ast.Output(self._span(meta), c[0], c[1])

    @v_args(meta=True)
    def assign(self, meta, c):
        return ast.Assign(self._span(meta), c[0], c[1])

    def targets(self, c):
        return [str(t) for t in c]

    @v_args(meta=True)
    def assert_stmt(self, meta, c):
        return ast.Assert(self._span(meta), str(c[0]), c[1], self._tspan(c[0]))

    @v_args(meta=True)
    def let_stmt(self, meta, c):
        return ast.Let(self._span(meta), str(c[0]), c[1])

    def if_stmt(self, c):
        return c[0]

    @v_args(meta=True)
    def if_chain(self, meta, c):
        cond, then, orelse = c
        if isinstance(orelse, ast.If):
            orelse = [orelse]
        return ast.If(self._span(meta), cond, then, orelse)

    @v_args(meta=True)
    def for_stmt(self, meta, c):
        return ast.For(self._span(meta), str(c[0]), c[1], c[2], c[3])

    # -- expressions
    @v_args(meta=True)
    def pipe(self, meta, c):
        return ast.Pipe(self._span(meta), c[0], list(c[1:]))

    @v_args(meta=True)
    def stage(self, meta, c):
        return ast.Stage(self._span(meta), c[0], c[1])

    @v_args(meta=True)
    def dotted_name(self, meta, c):
        return ast.LayerName(self._span(meta), parts=[str(t) for t in c])

    @v_args(meta=True)
    def format_name(self, meta, c):
        return ast.LayerName(self._span(meta), template=_unquote(c[0]))

    @v_args(meta=True)
    def or_op(self, meta, c):
        return ast.BoolOp(self._span(meta), "or", c[0], c[1])

    @v_args(meta=True)
    def and_op(self, meta, c):
        return ast.BoolOp(self._span(meta), "and", c[0], c[1])

    @v_args(meta=True)
    def not_op(self, meta, c):
        return ast.Not(self._span(meta), c[0])

    @v_args(meta=True)
    def compare(self, meta, c):
        return ast.Compare(self._span(meta), str(c[1]), c[0], c[2])

    @v_args(meta=True)
    def binop(self, meta, c):
        return ast.BinOp(self._span(meta), str(c[1]), c[0], c[2], self._tspan(c[1]))

    @v_args(meta=True)
    def neg(self, meta, c):
        return c[1] if c[0] == "+" else ast.Neg(self._span(meta), c[1])

    @v_args(meta=True)
    def getattr(self, meta, c):
        return ast.Attribute(self._span(meta), c[0], str(c[1]))

    @v_args(meta=True)
    def getitem(self, meta, c):
        return ast.Index(self._span(meta), c[0], c[1])

    @v_args(meta=True)
    def call(self, meta, c):
        pos, kw = c[1] if c[1] is not None else ([], [])
        return ast.Call(self._span(meta), c[0], pos, kw)

    def args(self, c):
        pos = [a for a in c if a is not None and not isinstance(a, ast.Keyword)]
        kw = [a for a in c if isinstance(a, ast.Keyword)]
        return pos, kw

    @v_args(meta=True)
    def kwarg(self, meta, c):
        return ast.Keyword(self._span(meta), str(c[0]), c[1])

    @v_args(meta=True)
    def name(self, meta, c):
        return ast.Name(self._span(meta), str(c[0]))

    @v_args(meta=True)
    def int(self, meta, c):
        return ast.Literal(self._span(meta), int(c[0]))

    @v_args(meta=True)
    def float(self, meta, c):
        return ast.Literal(self._span(meta), float(c[0]))

    @v_args(meta=True)
    def string(self, meta, c):
        return ast.Literal(self._span(meta), _unquote(c[0]))

    @v_args(meta=True)
    def true(self, meta, c):
        return ast.Literal(self._span(meta), True)

    @v_args(meta=True)
    def false(self, meta, c):
        return ast.Literal(self._span(meta), False)

    @v_args(meta=True)
    def list(self, meta, c):
        return ast.ListExpr(self._span(meta), [i for i in c if i is not None])

    @v_args(meta=True)
    def tuple(self, meta, c):
        return ast.TupleExpr(self._span(meta), [i for i in c if i is not None])


def _unquote(tok) -> str:
    try:
        return pyast.literal_eval(str(tok))
    except (ValueError, SyntaxError):
        return str(tok)[1:-1]


class ParseError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def parse(text: str, file: str) -> ast.Program:
    """Parse a whole file; raises ParseError with a located diagnostic."""
    # fastparse builds the same tree about ten times faster, or declines
    # (syntax errors included): then lark decides and reports.
    from .fastparse import parse_items
    items = parse_items(text, file)
    if items is None:
        tree = _parse(text, file, "start")
        items = _ToAst(file).transform(tree)
    end = _end_span(text, file)
    return ast.Program(Span(file, 1, 1, end.line, end.column), file, items)


def parse_expression(text: str, file: str, line: int = 1, column: int = 1) -> ast.Node:
    """Parse one expression (used for `{...}` parts of string layer names)."""
    tree = _parse(text, file, "expr")
    node = _ToAst(file).transform(tree)
    return node


def _parse(text: str, file: str, start: str):
    try:
        return _lark().parse(text, start=start)
    except UnexpectedInput as e:
        raise ParseError(_syntax_diagnostic(e, text, file)) from None


def _end_span(text: str, file: str) -> Span:
    lines = text.split("\n")
    return Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 1)


def _describe(name: str) -> str:
    words = {"NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
             "_NL": "a new line", "COMP_OP": "a comparison", "ADD_OP": "`+` or `-`",
             "MUL_OP": "`*` or `/`", "$END": "the end of the file"}
    if name in words:
        return words[name]
    for t in _lark().terminals:
        if t.name == name and isinstance(t.pattern, PatternStr):
            return f"`{t.pattern.value}`"
    return name


def _expected(names) -> str:
    # A name can start almost anything; listing every keyword beside it is noise.
    described = sorted({_describe(n) for n in names}, key=lambda s: (not s.startswith("`"), s))
    if len(described) > 8:
        described = described[:7] + ["..."]
    if len(described) == 1:
        return described[0]
    return ", ".join(described[:-1]) + " or " + described[-1]


def _found(tok: Token) -> str:
    if tok.type == "_NL":
        return "the end of the line"
    if tok.type == "$END":
        return "the end of the file"
    return f"`{tok.value}`"


def _syntax_diagnostic(e: UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else "?"
        span = Span(file, e.line, e.column, e.line, e.column + 1)
        return Diagnostic("E0002", f"unexpected character {ch!r}", span,
                          help=f"expected {_expected(e.allowed)}" if e.allowed else None)
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        end = _end_span(text, file)
        return Diagnostic("E0003", f"unexpected end of file; expected {_expected(e.expected)}", end)
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    line = tok.line if tok.line is not None else 1
    col = tok.column if tok.column is not None else 1
    if tok.type == "_NL":
        # The newline token starts where the previous line ends; point there.
        span = Span(file, line, col, line, col + 1)
    else:
        span = Span(file, line, col, tok.end_line or line, tok.end_column or col + 1)
    hint = None
    if "RBRACE" in e.expected and tok.type == "$END":
        hint = "a `{` is not closed"
    return Diagnostic("E0001", f"expected {_expected(e.expected)}, found {_found(tok)}", span, help=hint)
