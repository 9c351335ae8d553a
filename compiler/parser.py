"""Text to syntax tree: lark's LALR parser over grammar/nnd.lark, a post-lexer
for significant newlines, and syntax errors turned into located diagnostics."""

from __future__ import annotations

import ast as pyast
import os
from functools import lru_cache
from importlib import resources

import threading

from lark import Lark, Token, Transformer
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


_KEEP = {"NAME", "INT", "FLOAT", "STRING", "COMP_OP", "ADD_OP", "MUL_OP"}


class _ToAst(Transformer):
    """lark callbacks -> compiler.ast, run inline while parsing (no parse tree
    is built: that halves parse time). With keep_all_tokens, every child is
    present, so a node's span runs from its first token to its last; `_v`
    then drops punctuation and keywords, and lark's placeholders for absent
    optional parts."""

    file = ""

    def _span(self, c) -> Span:
        first, last = _first(c), _last(c)
        if first is None:
            return Span(self.file, 1, 1, 1, 1)
        return Span(self.file, first[0], first[1], last[0], last[1])

    def _tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # -- top level
    def start(self, c):
        return [i for i in _v(c)]

    def expr_line(self, c):
        return _v(c)[0]

    def atom(self, c):   # "(" expr ")"
        return _v(c)[0]

    def import_std(self, c):
        return ast.Import(self._span(c), _v(c)[0], False)

    def import_file(self, c):
        return ast.Import(self._span(c), _unquote(_v(c)[0]), True)

    def module_path(self, c):
        return ".".join(str(t) for t in _v(c))

    def model_def(self, c):
        return self._definition("model", c)

    def block_def(self, c):
        return self._definition("block", c)

    def _definition(self, kind, c):
        v = _v(c, keep_none=True)
        name, params, body = v[0], v[1], v[2]
        return ast.Definition(self._span(c), kind, str(name), params or [], body, self._tspan(name), self.file)

    def model_inst(self, c):
        v = _v(c, keep_none=True)
        name, base = v[0], v[1]
        args = next((x for x in v[2:] if x is not None), None)
        pos, kw = args if args is not None else ([], [])
        return ast.ModelInstance(self._span(c), str(name), str(base), pos, kw,
                                 self._tspan(name), self._tspan(base))

    def params(self, c):
        return _v(c)

    def param(self, c):
        v = _v(c, keep_none=True)
        return ast.Param(self._span(c), str(v[0]), next((x for x in v[1:] if x is not None), None))

    def body(self, c):
        return _v(c)

    # -- statements
    def input_stmt(self, c):
        v = _v(c, keep_none=True)
        return ast.Input(self._span(c), str(v[0]), next((x for x in v[1:] if x is not None), None))

    def output_stmt(self, c):
        v = _v(c, keep_none=True)
        return ast.Output(self._span(c), v[0], next((x for x in v[1:] if x is not None), None))

    def assign(self, c):
        v = _v(c)
        return ast.Assign(self._span(c), v[0], v[1])

    def targets(self, c):
        return [str(t) for t in _v(c)]

    def assert_stmt(self, c):
        v = _v(c)
        return ast.Assert(self._span(c), str(v[0]), v[1], self._tspan(v[0]))

    def let_stmt(self, c):
        v = _v(c)
        return ast.Let(self._span(c), str(v[0]), v[1])

    def if_stmt(self, c):
        return _v(c)[0]

    def if_chain(self, c):
        v = _v(c, keep_none=True)
        cond, then = v[0], v[1]
        orelse = next((x for x in v[2:] if x is not None), None)
        if isinstance(orelse, ast.If):
            orelse = [orelse]
        return ast.If(self._span(c), cond, then, orelse)

    def for_stmt(self, c):
        v = _v(c)
        return ast.For(self._span(c), str(v[0]), v[1], v[2], v[3])

    # -- expressions
    def pipe(self, c):
        v = _v(c)
        return ast.Pipe(self._span(c), v[0], v[1:])

    def stage(self, c):
        v = _v(c, keep_none=True)
        return ast.Stage(self._span(c), v[0], next((x for x in v[1:] if x is not None), None))

    def dotted_name(self, c):
        return ast.LayerName(self._span(c), parts=[str(t) for t in _v(c)])

    def format_name(self, c):
        return ast.LayerName(self._span(c), template=_unquote(_v(c)[0]))

    def or_op(self, c):
        v = _v(c)
        return ast.BoolOp(self._span(c), "or", v[0], v[1])

    def and_op(self, c):
        v = _v(c)
        return ast.BoolOp(self._span(c), "and", v[0], v[1])

    def not_op(self, c):
        return ast.Not(self._span(c), _v(c)[0])

    def compare(self, c):
        v = _v(c)
        return ast.Compare(self._span(c), str(v[1]), v[0], v[2])

    def binop(self, c):
        v = _v(c)
        return ast.BinOp(self._span(c), str(v[1]), v[0], v[2], self._tspan(v[1]))

    def neg(self, c):
        v = _v(c)
        return v[1] if v[0] == "+" else ast.Neg(self._span(c), v[1])

    def getattr(self, c):
        v = _v(c)
        return ast.Attribute(self._span(c), v[0], str(v[1]))

    def getitem(self, c):
        v = _v(c)
        return ast.Index(self._span(c), v[0], v[1])

    def call(self, c):
        v = _v(c, keep_none=True)
        args = next((x for x in v[1:] if x is not None), None)
        pos, kw = args if args is not None else ([], [])
        return ast.Call(self._span(c), v[0], pos, kw)

    def args(self, c):
        v = _v(c)
        return [a for a in v if not isinstance(a, ast.Keyword)], [a for a in v if isinstance(a, ast.Keyword)]

    def kwarg(self, c):
        v = _v(c)
        return ast.Keyword(self._span(c), str(v[0]), v[1])

    def name(self, c):
        return ast.Name(self._span(c), str(c[0]))

    def int(self, c):
        return ast.Literal(self._span(c), int(c[0]))

    def float(self, c):
        return ast.Literal(self._span(c), float(c[0]))

    def string(self, c):
        return ast.Literal(self._span(c), _unquote(c[0]))

    def true(self, c):
        return ast.Literal(self._span(c), True)

    def false(self, c):
        return ast.Literal(self._span(c), False)

    def list(self, c):
        return ast.ListExpr(self._span(c), _v(c))

    def tuple(self, c):
        return ast.TupleExpr(self._span(c), _v(c))


def _v(children, keep_none: bool = False) -> list:
    """The children that carry meaning: no punctuation or keywords, and
    (unless keep_none) no placeholders for absent optional parts."""
    out = []
    for x in children:
        if isinstance(x, Token):
            if x.type in _KEEP:
                out.append(x)
        elif x is not None or keep_none:
            out.append(x)
    return out


def _first(c):
    for x in c:
        if isinstance(x, Token):
            if x.type != "_NL":
                return x.line, x.column
        elif isinstance(x, ast.Node):
            return x.span.line, x.span.column
        elif isinstance(x, (list, tuple)):
            p = _first(x)
            if p is not None:
                return p
    return None


def _last(c):
    for x in reversed(c):
        if isinstance(x, Token):
            if x.type != "_NL":
                return x.end_line, x.end_column
        elif isinstance(x, ast.Node):
            return x.span.end_line, x.span.end_column
        elif isinstance(x, (list, tuple)):
            p = _last(x)
            if p is not None:
                return p
    return None


_TRANSFORMER = _ToAst()
_LOCK = threading.Lock()


@lru_cache(maxsize=None)
def _lark() -> Lark:
    text = resources.files("nnd.grammar").joinpath("nnd.lark").read_text(encoding="utf-8")
    # The basic lexer, not the contextual one: the post-lexer holds newlines
    # back, so the lexer cannot know the parser's state.
    options = dict(parser="lalr", lexer="basic", postlex=_NewlinePostLex(), keep_all_tokens=True,
                   maybe_placeholders=True, transformer=_TRANSFORMER, start=["start", "expr_line"])
    cache = _cache_file(text)
    if cache is not None:
        try:
            return Lark(text, cache=cache, **options)
        except Exception:  # an unwritable or corrupt cache is only slower
            pass
    return Lark(text, **options)


def _cache_file(grammar: str) -> str | None:
    """Where lark keeps the analysed grammar between runs (it cuts ~0.1 s from
    every process): a private directory under the user's cache, one file per
    grammar version. NND_NO_CACHE=1 turns it off."""
    if os.environ.get("NND_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = os.path.join(base, "nnd")
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        st = os.stat(d)
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            return None   # lark's cache is a pickle: only trust a directory that is ours alone
    except OSError:
        return None
    import hashlib
    import lark
    key = hashlib.sha256(f"{grammar}\0{lark.__version__}".encode()).hexdigest()[:20]
    return os.path.join(d, f"grammar-{key}.lark")


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
    items = _parse(text, file, "start")
    end = _end_span(text, file)
    return ast.Program(Span(file, 1, 1, end.line, end.column), file, items)


def parse_expression(text: str, file: str, line: int = 1, column: int = 1) -> ast.Node:
    """Parse one expression (used for `{...}` parts of string layer names)."""
    return _parse(text, file, "expr_line")


def _parse(text: str, file: str, start: str):
    parser = _lark()
    try:
        with _LOCK:
            _TRANSFORMER.file = file
            return parser.parse(text, start=start)
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
    if not described:
        return "something else"
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
