"""Syntax errors in words: lark's UnexpectedInput turned into a located
diagnostic (compiler/parser.py calls `syntax_diagnostic`).

lark reports the token it could not use and the terminals it would have
accepted there. The parser states of nnd are few in kind, so the accepted
set is described in words by its kind (an expression, a statement, the
operators), and a scan of the brackets before the error finds the one left
open, which is usually the real mistake.
"""

from __future__ import annotations

import re

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from .diagnostics import Diagnostic, Label, Span

_WORDS = {"NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
          "_NL": "a new line", "$END": "the end of the file"}
_EXPR_START = {"NAME", "INT", "FLOAT", "STRING", "TRUE", "FALSE", "LPAR", "LSQB", "ADD_OP", "NOT"}
_OPERATORS = {"ADD_OP", "MUL_OP", "POW_OP", "COMP_OP", "AND", "OR", "DOT", "LSQB", "LPAR"}
_STATEMENTS = {"INPUT", "OUTPUT", "LET", "IF", "FOR", "PARAM"}
_TOP = {"MODEL", "BLOCK", "IMPORT"}
_CLOSER = {"(": ")", "[": "]", "{": "}"}


def _expected_words(names, literals: dict) -> list[str]:
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
    lits = sorted(f"`{literals[n]}`" for n in names if n in literals)
    words = sorted(_WORDS.get(n, n.lower()) for n in names if n not in literals)
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
    if tok.type in _STATEMENTS | _TOP | {"LET", "SHARED", "IN", "AS", "ELSE", "AND", "OR", "NOT", "TRUE", "FALSE"}:
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


def syntax_diagnostic(e: UnexpectedInput, text: str, file: str, terminals) -> Diagnostic:
    """`terminals`: the grammar's (lark's `Lark.terminals`), for the spelling
    of the fixed ones (`->`, `model`) in the list of what was expected."""
    literals = {t.name: t.pattern.value for t in terminals if isinstance(t.pattern, PatternStr)}
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
        return _eof_diagnostic(text, file, expected, literals)
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
    keywords = {v for v in literals.values() if v.isidentifier()}
    # A keyword or a number where a name was meant is the mistake, not a bracket left open.
    opened = [] if _bad_name(tok, text, pos, keywords) is not None else _open_brackets(text, pos)
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
    words = _expected_words(expected, literals)
    msg = f"expected {_join(words)}, found {found}"
    named = _bad_name(tok, text, pos, keywords)
    if named is not None:
        return _bad_name_diagnostic(named, text, file, keywords)
    if tok.type in _STATEMENTS | _TOP | {"SHARED", "IN", "AS", "ELSE", "AND", "OR", "NOT", "TRUE", "FALSE"} \
            and "NAME" in expected and "_NL" not in expected:   # else a statement may end here (below)
        help = f"`{tok.value}` is a keyword; it cannot name a tensor, a value or a layer: " \
               f"pick another name, such as `{tok.value}_`"
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


_WORD = re.compile(r"[A-Za-z0-9_]+")
# What stands before a layer name (`as`, then perhaps a dotted path so far):
# a keyword or a part starting with a digit there is meant as a name.
_LAYER_NAME_BEFORE = re.compile(r"(?<![A-Za-z0-9_])as(?:[ \t]|\\[ \t]*\r?\n)+((?:[A-Za-z0-9_]+\.)*)$")
_STATEMENT_START = re.compile(r"(?:^|[\n\r{,])[ \t]*$")


def _bad_name(tok: Token, text: str, pos: int, keywords: set):
    """A keyword, or a word starting with a digit, where a name was meant:
    `as in`, `as 0`, `as 1conv`, `in = x`, `if = x`, `a, in = ...`, `1a = x`,
    `y = 1conv`. (word, its offset, the `as` match in a layer name) or None."""
    if tok.type in ("EQUAL", "COMMA"):
        # `if = x`: the keyword began a statement of its own, and `=` is where that failed.
        m = re.search(r"([A-Za-z_]+)[ \t]*$", text[:pos])
        if m is None or m.group(1) not in keywords or text.startswith("==", pos) \
                or not _STATEMENT_START.search(text, 0, m.start()):
            return None
        return m.group(1), m.start(1), None
    if tok.type in ("_NL", "$END"):
        return None
    start = pos
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    m = _WORD.match(text, start)
    if m is None or m.end() <= pos:
        return None
    word = m.group()
    layer = _LAYER_NAME_BEFORE.search(text, 0, start)
    if word[0].isdigit() and not word.isdigit() and not re.fullmatch(r"[0-9]+[eE][0-9]+", word):
        return word, start, layer
    if layer is not None and (word.isdigit() or word in keywords):
        return word, start, layer
    if word in keywords and str(tok.value) == word and re.match(r"[ \t]*(=(?!=)|,)", text[m.end():]) \
            and _STATEMENT_START.search(text, 0, start):
        return word, start, None   # `in = x`, `model = x`, `a, in = ...`
    return None


def _bad_name_diagnostic(named, text: str, file: str, keywords: set) -> Diagnostic:
    word, start, layer = named
    line, col = _position(text, start)
    span = Span(file, line, col, line, col + len(word))
    found = f"the keyword `{word}`" if word in keywords else f"`{word}`"
    if layer is not None:
        rest = re.match(r"[A-Za-z0-9_.]*", text[start:]).group().rstrip(".")
        return Diagnostic("E0001", f"expected a layer name, found {found}", span,
                          help="a layer name that is a keyword or starts with a digit is written as a string: "
                               f"`as \"{layer.group(1) + rest}\"`")
    if word in keywords:
        return Diagnostic("E0001", f"expected a name, found {found}", span,
                          help=f"`{word}` is a keyword; it cannot name a tensor, a value or a layer: "
                               f"pick another name, such as `{word}_`")
    digits = len(word) - len(word.lstrip("0123456789"))
    return Diagnostic("E0001", f"`{word}` is not a name: a name starts with a letter or `_`", span,
                      help=f"pick another name, such as `{word[digits:]}{word[:digits]}`")


def _prev_line(text: str, pos: int) -> int:
    """The line of the last non-blank character before `pos`."""
    k = len(text[:pos].rstrip())
    return _position(text, k)[0] if k else 0


def _code_end(text: str) -> int:
    """The offset just after the last character that is not a comment or blank."""
    masked = _TOKEN_RE.sub(lambda m: " " * len(m.group()) if m.group().startswith("#") else m.group(), text)
    return len(masked.rstrip())


def _eof_diagnostic(text: str, file: str, expected: set, literals: dict) -> Diagnostic:
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
    return Diagnostic("E0003", f"unexpected end of file; expected {_join(_expected_words(expected, literals))}", end)
