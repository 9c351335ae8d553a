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
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from . import ast
from .diagnostics import Diagnostic, Label, Span
from .lexer import FastLexer

# Brackets (`(`, `[` and `{` together) nested deeper than this are an error
# (E0119), found by the post-lexer as the tokens stream in, so that the
# parser never sees the rest of a pathological input (millions of `(`).
MAX_NESTING = 150

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
        return ast.Input(self._span(c), str(v[0]), next((x for x in v[1:] if x is not None), None))

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
    # The callbacks below run for most lines of a long model, so they index
    # their children (the rule's items, tokens included, None for an absent
    # `[...]` part) instead of filtering them with `_v`.
    def pipe(self, c):   # test ("->" stage)+
        return ast.Pipe(_join_span(self.file, c[0], c[-1]), c[0], c[2::2])

    def stage(self, c):   # test ["as" layer_name]
        expr, name = c[0], c[2]
        return ast.Stage(_join_span(self.file, expr, name or expr), expr, name)

    def dotted_name(self, c):
        return ast.LayerName(self._span(c), parts=[str(t) for t in _v(c)])

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
                node = ast.Index(Span(file, s.line, s.column, close.end_line, close.end_column), node, c[j + 1])
                j += 3
            else:   # "(" args? ")"
                args = c[j + 1]
                if type(args) is Token:
                    close, pos, kw, j = args, [], [], j + 2
                else:
                    close, (pos, kw), j = c[j + 2], args, j + 3
                node = ast.Call(Span(file, s.line, s.column, close.end_line, close.end_column), node, pos, kw)
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
        raise ParseError(_syntax_diagnostic(e, text, file)) from None
    except _TooDeep as e:
        t = e.token
        raise ParseError(Diagnostic("E0119", f"brackets nest more than {MAX_NESTING} deep",
                                    Span(file, t.line, t.column, t.end_line, t.end_column),
                                    help="split deep expressions with `let` or intermediate tensors")) from None


def _end_span(text: str, file: str) -> Span:
    lines = text.split("\n")
    return Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 1)


# ------------------------------------------------------------ syntax errors
#
# lark reports the token it could not use and the terminals it would have
# accepted there. The parser states of nnd are few in kind, so the accepted
# set is described in words by its kind (an expression, a statement, the
# operators), and a scan of the brackets before the error finds the one left
# open, which is usually the real mistake.

_WORDS = {"NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
          "_NL": "a new line", "$END": "the end of the file"}
_EXPR_START = {"NAME", "INT", "FLOAT", "STRING", "TRUE", "FALSE", "LPAR", "LSQB", "ADD_OP", "NOT"}
_OPERATORS = {"ADD_OP", "MUL_OP", "COMP_OP", "AND", "OR", "DOT", "LSQB", "LPAR"}
_STATEMENTS = {"INPUT", "OUTPUT", "LET", "IF", "FOR"}
_TOP = {"MODEL", "BLOCK", "IMPORT"}
_CLOSER = {"(": ")", "[": "]", "{": "}"}


def _literal(name: str) -> str | None:
    for t in _lark().terminals:
        if t.name == name and isinstance(t.pattern, PatternStr):
            return t.pattern.value
    return None


def _expected_words(names) -> list[str]:
    """The accepted terminals as a short list of words, most specific first."""
    names = set(names)
    groups = []
    if _EXPR_START - {"NOT", "ADD_OP"} <= names:
        names -= _EXPR_START
        groups.append("an expression")
    elif {"MUL_OP", "COMP_OP"} <= names:
        names -= _OPERATORS
        groups.append("an operator")
    if _STATEMENTS <= names:
        names -= _STATEMENTS | {"NAME"}
        groups.insert(0, "a statement")
    if _TOP <= names:
        names -= _TOP | {"LET"}
        groups = ["`model`", "`block`", "`import`", "`let`"] + groups
    if "_NL" in names and "$END" in names:
        names.discard("$END")
    lits = sorted(f"`{_literal(n)}`" for n in names if _literal(n) is not None)
    words = sorted(_WORDS.get(n, n.lower()) for n in names if _literal(n) is None)
    # A new line is the least specific way to go on; name it last.
    if "a new line" in words:
        words.remove("a new line")
        words.append("a new line")
    return lits + groups + words


def _join(words: list[str]) -> str:
    if not words:
        return "something else"
    if len(words) > 6:
        words = words[:5] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _found(tok: Token, text: str = "") -> str:
    if tok.type == "_NL":
        if tok.value == "":   # synthetic: before a `}`, or at the end of the file
            pos = tok.start_pos or 0
            return "`}`" if text[pos:pos + 1] == "}" else "the end of the file"
        return "the end of the line"
    if tok.type == "$END":
        return "the end of the file"
    v = str(tok.value)
    if tok.type in _STATEMENTS | _TOP | {"LET", "IN", "AS", "ELSE", "AND", "OR", "NOT", "TRUE", "FALSE"}:
        return f"the keyword `{v}`"
    return f"`{v if len(v) <= 30 else v[:27] + '...'}`"


_TOKEN_RE = re.compile(r"""#[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[()\[\]{}]""")


def _open_brackets(text: str, upto: int) -> list[tuple[str, int]]:
    """The brackets still open at offset `upto`, as (bracket, offset), skipping
    strings and comments. A stray closer pops its opener if one matches."""
    stack: list[tuple[str, int]] = []
    for m in _TOKEN_RE.finditer(text, 0, upto):
        t = m.group()
        if t in _CLOSER:
            stack.append((t, m.start()))
        elif t in (")", "]", "}"):
            for i in range(len(stack) - 1, -1, -1):
                if _CLOSER[stack[i][0]] == t:
                    del stack[i:]
                    break
    return stack


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


_CHAR_HINTS = {
    ";": "a statement ends at the end of its line; remove the `;`",
    "&": "write `and`",
    "|": "write `or`",
    "!": "write `not`, or `!=` to compare",
    "'": "this string is not closed on its line",
    '"': "this string is not closed on its line",
    "\u201c": 'use plain quotes `"`', "\u201d": 'use plain quotes `"`',
    "\u2018": "use plain quotes `'`", "\u2019": "use plain quotes `'`",
    "\u00d7": "write `*` to multiply", "\u2192": "write `->`", "\u2212": "write `-`",
    "@": None, "$": None, "?": None, "`": None, "~": None, "^": None,
}


def _syntax_diagnostic(e: UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream
        ch = text[pos] if 0 <= pos < len(text) else "?"
        line, col = e.line, e.column
        span = Span(file, line, col, line, col + 1)
        if ch in "'\"":
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            return Diagnostic("E0002", "this string is not closed", Span(file, line, col, line, col + end - pos),
                              help=f"add the closing {ch} on the same line; a string cannot span lines")
        shown = repr(ch)[1:-1] if not ch.isprintable() or ch.isspace() else ch
        hint = _CHAR_HINTS.get(ch)
        if ch == "!" and text[pos:pos + 2] != "!=":
            hint = "write `not` to negate, or `!=` to compare"
        return Diagnostic("E0002", f"unexpected character `{shown}`", span, help=hint)
    tok = getattr(e, "token", None)
    expected = set(getattr(e, "expected", None) or getattr(e, "allowed", None) or ())
    if isinstance(e, UnexpectedEOF) or tok is None or tok.type == "$END" or (
            tok.type == "_NL" and tok.value == "" and _found(tok, text) == "the end of the file"):
        try:
            expected = set(e.interactive_parser.accepts()) or expected
        except Exception:  # only a less precise message
            pass
        return _eof_diagnostic(text, file, expected)
    assert isinstance(e, UnexpectedToken)
    line = tok.line or 1
    col = tok.column or 1
    if tok.type == "_NL":
        # The newline token starts where the previous line ends; point there.
        span = Span(file, line, col, line, col + 1)
    else:
        span = Span(file, line, col, tok.end_line or line, tok.end_column or col + 1)
    found = _found(tok, text)
    try:
        # The exact set (lark's `expected` merges lookaheads of LALR states).
        expected = set(e.interactive_parser.accepts()) or expected
    except Exception:  # only a less precise message
        pass
    if tok.type == "COMP_OP" and "MUL_OP" in expected:
        # A second comparison (`a < b < c`). The grammar once nested a rule
        # per operator level, and the parser had closed the `* // / %` level
        # before it found the error; the message has always left `*` out.
        expected.discard("MUL_OP")
    pos = tok.start_pos if tok.start_pos is not None else len(text)
    opened = _open_brackets(text, pos)
    labels: list[Label] = []
    help = None
    closer_tok = tok.value in (")", "]", "}") and tok.type != "_NL"
    if opened:
        # A bracket left open is the likeliest mistake when its closer is
        # accepted here and the statement ran on past where it should end.
        br, off = opened[-1]
        closer = _CLOSER[br]
        closer_name = {")": "RPAR", "]": "RSQB", "}": "RBRACE"}[closer]
        bl, bc = _position(text, off)
        ran_on = (bl < line and br != "{") or tok.type in _TOP | _STATEMENTS | {"LBRACE"} or closer_tok
        if closer_name in expected and ran_on:
            labels.append(Label(Span(file, bl, bc, bl, bc + 1), f"this `{br}` is not closed"))
            if closer_tok and tok.value != closer:
                msg = f"`{tok.value}` closes nothing here: the `{br}` on line {bl} is still open"
                help = f"close it with `{closer}` first"
            else:
                msg = f"expected `{closer}` to close the `{br}` on line {bl}, found {found}"
            return Diagnostic("E0001", msg, span, labels, help)
    elif closer_tok:
        return Diagnostic("E0001", f"`{tok.value}` closes nothing: no bracket is open here", span,
                          help="remove it, or look for the opening bracket that is missing")
    words = _expected_words(expected)
    msg = f"expected {_join(words)}, found {found}"
    if tok.type in _STATEMENTS | _TOP | {"IN", "AS", "ELSE", "AND", "OR", "NOT", "TRUE", "FALSE"} \
            and "NAME" in expected:
        help = f"`{tok.value}` is a keyword; it cannot name a tensor, a value or a layer"
    elif tok.type == "EQUAL" and "COMP_OP" in expected:
        help = "to compare, write `==`"
    elif tok.type in ("NAME", "INT", "FLOAT", "STRING") and "COMMA" in expected:
        help = "separate the items with `,`"
    elif tok.type == "NAME" and "__ANON_1" in expected:
        help = f"to feed a tensor into `{tok.value}`, write `->` before it"
    elif tok.type == "COLON" and "LBRACE" in expected:
        help = "a body is written in `{ }`, not after `:`"
    elif tok.type in _STATEMENTS | {"NAME"} and "_NL" in expected and tok.line == _prev_line(text, pos):
        help = "each statement goes on its own line"
    elif tok.type == "LBRACE" and "_NL" in expected:
        help = "`{` opens the body of a model, a block, `if` or `for` only"
    return Diagnostic("E0001", msg, span, labels, help)


def _prev_line(text: str, pos: int) -> int:
    """The line of the last non-blank character before `pos`."""
    k = len(text[:pos].rstrip())
    return _position(text, k)[0] if k else 0


def _code_end(text: str) -> int:
    """The offset just after the last character that is not a comment or blank."""
    masked = _TOKEN_RE.sub(lambda m: " " * len(m.group()) if m.group().startswith("#") else m.group(), text)
    return len(masked.rstrip())


def _eof_diagnostic(text: str, file: str, expected: set) -> Diagnostic:
    opened = _open_brackets(text, len(text))
    line, col = _position(text, _code_end(text))
    end = Span(file, line, col, line, col + 1)
    if opened:
        br, off = opened[-1]
        bl, bc = _position(text, off)
        what = {"(": "parenthesis", "[": "bracket", "{": "brace"}[br]
        return Diagnostic("E0003", f"unexpected end of file: the `{br}` on line {bl} is not closed",
                          Span(file, bl, bc, bl, bc + 1),
                          [Label(end, f"expected `{_CLOSER[br]}` by here")] if (line, col) != (bl, bc + 1) else [],
                          help=f"close the {what} with `{_CLOSER[br]}`")
    return Diagnostic("E0003", f"unexpected end of file; expected {_join(_expected_words(expected))}", end)
