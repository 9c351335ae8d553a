"""Text to syntax tree: lark's LALR parser over grammar/nnd.lark, a post-lexer
for significant newlines, and syntax errors turned into located diagnostics."""

from __future__ import annotations

import ast as pyast
import os
import re
from functools import lru_cache
from importlib import resources

import threading

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput

from . import ast
from .diagnostics import Diagnostic, Span
from .lexer import FastLexer

# Brackets (`(`, `[` and `{` together) nested deeper than this are an error
# (E0119), found by the post-lexer as the tokens stream in, so that the
# parser never sees the rest of a pathological input (millions of `(`).
MAX_NESTING = 150

# Tokens after which a newline cannot end a statement.
_OPEN_VALUES = {"->", "=", ",", ":", "(", "[", "{", "and", "or", "not", "as", "..", "in", "else"}
_OPEN_TYPES = {"ADD_OP", "MUL_OP", "POW_OP", "COMP_OP", "_NL"}
# Tokens that, starting a line, continue the previous one.
_CONT_VALUES = {"->", "as", "else", "and", "or", ".."}
_CONT_TYPES = {"ADD_OP", "MUL_OP", "POW_OP", "COMP_OP"}


class _NewlinePostLex:
    """Decides which newlines are statement ends (see the grammar's header)."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        nesting = 0   # of all three kinds of bracket, for MAX_NESTING
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
                # A synthetic newline (empty value) where the `}` is.
                prev = Token.new_borrow_pos("_NL", "", tok)
                yield prev
            if tok.value in ("(", "["):
                depth += 1
            elif tok.value in (")", "]"):
                depth = max(0, depth - 1)
            if tok.value in ("(", "[", "{") and tok.type != "STRING":
                nesting += 1
                if nesting > MAX_NESTING:
                    raise _TooDeep(tok)
            elif tok.value in (")", "]", "}") and tok.type != "STRING":
                nesting = max(0, nesting - 1)
            yield tok
            prev = tok
        if pending is not None:
            yield pending
        elif prev is not None and prev.type != "_NL":
            # A synthetic newline (empty value) just after the last token.
            yield Token("_NL", "", start_pos=prev.end_pos, line=prev.end_line, column=prev.end_column,
                        end_line=prev.end_line, end_column=prev.end_column, end_pos=prev.end_pos)


class _TooDeep(Exception):
    """Brackets nest past MAX_NESTING at `token`."""

    def __init__(self, token: Token):
        super().__init__("brackets nest too deeply")
        self.token = token


def _is_open(tok: Token) -> bool:
    return tok.type in _OPEN_TYPES or (tok.value in _OPEN_VALUES and tok.type != "STRING")


_KEEP = {"NAME", "INT", "FLOAT", "STRING", "COMP_OP", "ADD_OP", "MUL_OP", "POW_OP"}


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
        return ast.Import(self._span(c), ".".join(str(t) for t in _v(c)[0]), False)

    def import_file(self, c):
        return ast.Import(self._span(c), _unquote(_v(c)[0]), True)

    def module_path(self, c):
        return _v(c)   # the name tokens (joined by import_std), so that spans reach the last one

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
        shape = next((x for x in v[1:] if isinstance(x, ast.ListExpr)), None)
        dtype = next((x for x in c[2:] if isinstance(x, Token) and x.type == "NAME"), None)
        return ast.Input(self._span(c), str(v[0]), shape, str(dtype) if dtype is not None else None,
                         self._tspan(dtype) if dtype is not None else None)

    def output_stmt(self, c):
        v = _v(c, keep_none=True)
        return ast.Output(self._span(c), [str(t) for t in v[0]], next((x for x in v[1:] if x is not None), None))

    def assign(self, c):
        v = _v(c)
        return ast.Assign(self._span(c), [str(t) for t in v[0]], v[1])

    def targets(self, c):
        return _v(c)   # the name tokens (made str by the statement), so that spans reach the last one

    def assert_stmt(self, c):
        v = _v(c)
        return ast.Assert(self._span(c), str(v[0]), v[1], self._tspan(v[0]))

    def let_stmt(self, c):
        v = _v(c, keep_none=True)
        name, params, value = v[0], v[1], v[2]
        if params is None:
            return ast.Let(self._span(c), str(name), value)
        return ast.LetFunction(self._span(c), str(name), value, params, self._tspan(name))

    def param_stmt(self, c):   # "param" NAME ":" list "=" expr _NL
        return ast.ParamDecl(self._span(c), str(c[1]), c[3], c[5], self._tspan(c[1]))

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
    # The callbacks below run for most lines of a long model, so they index
    # their children (the rule's items, tokens included, None for an absent
    # `[...]` part) instead of filtering them with `_v`.
    def pipe(self, c):   # test ("->" stage)+
        return ast.Pipe(_join_span(self.file, c[0], c[-1]), c[0], c[2::2])

    def stage(self, c):   # test ["as" layer_name]
        expr, name = c[0], c[2]
        return ast.Stage(_join_span(self.file, expr, name or expr), expr, name)

    def shared(self, c):   # "shared" test ["as" layer_name]
        return ast.Shared(self._span(c), c[1], c[3])

    def dotted_name(self, c):
        return ast.LayerName(self._span(c), parts=[str(t) for t in _v(c)])

    def cond(self, c):   # test "if" test "else" (test | cond)
        return ast.IfExp(_join_span(self.file, c[0], c[4]), c[2], c[0], c[4])

    def format_name(self, c):
        return ast.LayerName(self._span(c), template=_unquote(_v(c)[0]))

    def test(self, c):
        """The flat `not`* operand (operator operand)* sequence of the grammar
        as a tree: `or` < `and` < `not` < one comparison < `+ -` < `* // / %`,
        binary operators left-associative."""
        if len(c) == 1:
            return c[0]
        file = self.file
        n = len(c)
        i = 0
        result = None   # the `or` chain so far
        conj = None     # the `and` chain so far
        bool_op = None  # the `and` or `or` before the comparison being read
        while True:
            # not* arith [COMP_OP arith]
            start = i
            while type(c[i]) is Token:   # where an operand starts, only `not` is a token
                i += 1
            nots = c[start:i]
            left, i = _arith(c, i, n, file)
            if i < n and c[i].type == "COMP_OP":
                op = c[i]
                right, i = _arith(c, i + 1, n, file)
                left = ast.Compare(_join_span(file, left, right), str(op), left, right)
            for tok in reversed(nots):
                s = left.span
                left = ast.Not(Span(file, tok.line, tok.column, s.end_line, s.end_column), left)
            # fold into the `and`/`or` chains
            if bool_op is None:
                conj = left
            elif bool_op == "and":
                conj = ast.BoolOp(_join_span(file, conj, left), "and", conj, left)
            else:
                result = conj if result is None else ast.BoolOp(_join_span(file, result, conj), "or", result, conj)
                conj = left
            if i >= n:
                break
            bool_op = c[i].value
            i += 1
        return conj if result is None else ast.BoolOp(_join_span(file, result, conj), "or", result, conj)

    def operand(self, c):
        """A unary sign and its operand, or a primary and its `.name`,
        `[index]` and `(arguments)` parts."""
        node = c[0]
        if type(node) is Token:
            if node.type == "ADD_OP":   # ADD_OP operand
                operand = c[1]
                if node.value == "+":
                    return operand
                s = operand.span
                return ast.Neg(Span(self.file, node.line, node.column, s.end_line, s.end_column), operand)
            node = self._primary(node)
        file = self.file
        n = len(c)
        power = None
        if n > 2 and type(c[-2]) is Token and c[-2].type == "POW_OP":   # ... `**` operand
            power, n = c[-2], n - 2
        j = 1
        while j < n:
            t = c[j].type
            s = node.span
            if t == "DOT":
                name = c[j + 1]
                node = ast.Attribute(Span(file, s.line, s.column, name.end_line, name.end_column), node, str(name))
                j += 2
            elif t == "LSQB":
                close = c[j + 2]
                node = ast.Index(Span(file, s.line, s.column, close.end_line, close.end_column), node,
                                 c[j + 1])
                j += 3
            else:   # "(" args? ")"
                args = c[j + 1]
                if type(args) is Token:
                    close, pos, kw, j = args, [], [], j + 2
                else:
                    close, (pos, kw), j = c[j + 2], args, j + 3
                node = ast.Call(Span(file, s.line, s.column, close.end_line, close.end_column), node, pos, kw)
        if power is not None:
            node = ast.BinOp(_join_span(file, node, c[-1]), "**", node, c[-1], self._tspan(power))
        return node

    def _primary(self, tok: Token) -> ast.Node:
        span = Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)
        t = tok.type
        if t == "NAME":
            return ast.Name(span, str(tok))
        if t == "INT":
            if len(tok) > 40:   # far beyond int64: the elaborator reports it where it is used
                return ast.Literal(span, ast.HugeNumber(str(tok)))
            return ast.Literal(span, int(tok))
        if t == "FLOAT":
            v = float(tok)
            if v in (float("inf"), float("-inf")):
                return ast.Literal(span, ast.HugeNumber(str(tok)))
            return ast.Literal(span, v)
        if t == "STRING":
            return ast.Literal(span, _unquote(tok))
        return ast.Literal(span, t == "TRUE")

    def args(self, c):   # (expr | kwarg) ("," (expr | kwarg))* [","]: the items at even places
        pos, kw = [], []
        for a in c[0::2]:
            (kw if type(a) is ast.Keyword else pos).append(a)
        return pos, kw

    def subscripts(self, c):   # items separated by ","; `...` is a token
        return [ast.EllipsisIndex(self._tspan(x)) if type(x) is Token else x
                for x in c[0::2] if x is not None]

    def slice(self, c):   # [expr] ":" [expr] [":" [expr]]
        parts = [x for x in c if not (type(x) is Token and x.type == "COLON")]
        parts += [None] * (3 - len(parts))
        return ast.SliceExpr(self._span(c), *parts[:3])

    def kwarg(self, c):   # NAME "=" expr
        name, value = c[0], c[2]
        s = value.span
        return ast.Keyword(Span(self.file, name.line, name.column, s.end_line, s.end_column), str(name), value)

    def list(self, c):
        return ast.ListExpr(self._span(c), _v(c))

    def tuple(self, c):
        return ast.TupleExpr(self._span(c), _v(c))


def _join_span(file: str, left: ast.Node, right: ast.Node) -> Span:
    a, b = left.span, right.span
    return Span(file, a.line, a.column, b.end_line, b.end_column)


def _arith(c: list, i: int, n: int, file: str):
    """The `+ -` and `* // / %` operations from c[i]: (the tree, where it stops)."""
    left = c[i]
    i += 1
    total = add = None   # the sum so far and the `+`/`-` after it
    while i < n:
        op = c[i]
        t = op.type
        if t == "MUL_OP":
            right = c[i + 1]
            left = ast.BinOp(_join_span(file, left, right), str(op), left, right,
                             Span(file, op.line, op.column, op.end_line, op.end_column))
        elif t == "ADD_OP":
            if total is not None:
                left = ast.BinOp(_join_span(file, total, left), str(add), total, left,
                                 Span(file, add.line, add.column, add.end_line, add.end_column))
            total, add = left, op
            left = c[i + 1]
        else:
            break
        i += 2
    if total is not None:
        left = ast.BinOp(_join_span(file, total, left), str(add), total, left,
                         Span(file, add.line, add.column, add.end_line, add.end_column))
    return left, i


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
    # A basic lexer, not the contextual one: the post-lexer holds newlines
    # back, so the lexer cannot know the parser's state. FastLexer gives lark's
    # basic lexer's tokens, faster (compiler/lexer.py).
    options = dict(parser="lalr", lexer=FastLexer, postlex=_NewlinePostLex(), keep_all_tokens=True,
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
    every process): one file per grammar, lark version and lexer."""
    from .cachedir import cache_dir
    d = cache_dir()
    if d is None:
        return None
    import hashlib
    import lark
    # The lexer is named in the key: lark keeps it in the file, and a cache
    # made with another would be rebuilt, by turns, by each version run.
    key = hashlib.sha256(f"{grammar}\0{lark.__version__}\0{FastLexer.__qualname__}".encode()).hexdigest()[:20]
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


_LONE_CR = re.compile(r"\r(?!\n)")


def normalize_newlines(text: str) -> str:
    """`\r` alone (old Mac line ends) as `\n`. The same length, so offsets,
    lines and columns are those of the original with every line end counted;
    `\r\n` is left to the grammar."""
    return _LONE_CR.sub("\n", text) if "\r" in text else text


def parse(text: str, file: str) -> ast.Program:
    """Parse a whole file; raises ParseError with a located diagnostic."""
    items = _parse(text, file, "start")
    end = _end_span(normalize_newlines(text), file)
    return ast.Program(Span(file, 1, 1, end.line, end.column), file, items)


def parse_expression(text: str, file: str, line: int = 1, column: int = 1) -> ast.Node:
    """Parse one expression (used for `{...}` parts of string layer names)."""
    return _parse(text, file, "expr_line")


def _parse(text: str, file: str, start: str):
    text = normalize_newlines(text)
    parser = _lark()
    try:
        with _LOCK:
            _TRANSFORMER.file = file
            return parser.parse(text, start=start)
    except UnexpectedInput as e:
        from .syntax_errors import syntax_diagnostic   # only a file with a syntax error needs it
        raise ParseError(syntax_diagnostic(e, text, file, _lark().terminals)) from None
    except _TooDeep as e:
        t = e.token
        raise ParseError(Diagnostic("E0119", f"brackets nest more than {MAX_NESTING} deep",
                                    Span(file, t.line, t.column, t.end_line, t.end_column),
                                    help="split deep expressions with `let` or intermediate tensors")) from None


def _end_span(text: str, file: str) -> Span:
    lines = text.split("\n")
    return Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 1)
