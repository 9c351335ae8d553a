"""nndc fmt: one canonical layout for .nnd source.

The formatter works on the parser's own tokens (compiler/lexer.py over
grammar/nnd.lark), with the comments taken from the gaps between them, so it
sees exactly what the parser sees. It keeps the author's line breaks (every
statement, pipeline stage and argument stays on its line) and sets the rest:
4 spaces per `{ }` level, 4 more for a continued statement, alignment after
an open bracket whose line goes on (or 4 more than its line when it ends the
line), one space around operators, `=` and `->`, after commas, none inside
brackets. Lines past LINE_LENGTH that are pipelines are broken before `->`.
Blank lines: at most one inside a body, two between top-level items, none
at the start or end of the file or of a body. A `\\` line continuation is
whitespace to the parser, so its lines are joined.

As a safety net, the formatted text is lexed again and must give the same
statement-level token stream (so the same parse) and the same comments;
otherwise FormatError (a bug in nndc) and nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lark.lexer import LexerThread

from .parser import (_CONT_TYPES, _CONT_VALUES, _NewlinePostLex, _is_open, _lark, normalize_newlines, parse,
                     ParseError)

LINE_LENGTH = 120
INDENT = 4

_GAP = re.compile(r"#[^\n]*|\\[\t \f]*\r?\n|[\t \f]+|\r")
_OPERAND_END = {"NAME", "INT", "FLOAT", "STRING", "TRUE", "FALSE"}
_CLOSERS = {")", "]", "}"}


class FormatError(Exception):
    """The formatted text would not parse as the original did: a bug in nndc."""


@dataclass
class _Line:
    tokens: list = field(default_factory=list)   # lark Tokens, none of them _NL
    comment: str | None = None
    comment_col: int = 0    # the comment's column (0-based) in the source
    blanks: int = 0         # blank lines before this one


def _lexer():
    from .lexer import FastLexer
    lark = _lark()
    return FastLexer(lark.lexer_conf)


def _raw_tokens(text: str):
    return list(LexerThread.from_text(_lexer(), text).lex(None))


def _lines(text: str) -> list[_Line]:
    """The source as lines of code tokens and comments; blank lines counted."""
    lines: list[_Line] = []
    cur = _Line()
    blanks = 0

    def finish():
        nonlocal cur, blanks
        if cur.tokens or cur.comment is not None:
            cur.blanks = blanks
            lines.append(cur)
            blanks = 0
        cur = _Line()

    def gap(start: int, end: int):
        for m in _GAP.finditer(text, start, end):
            s = m.group()
            if s.startswith("#"):
                if cur.tokens:
                    cur.comment = s.rstrip()
                    cur.comment_col = m.start() - (text.rfind("\n", 0, m.start()) + 1)
                else:
                    cur.comment = s.rstrip()
                    finish()

    pos = 0
    for tok in _raw_tokens(text):
        gap(pos, tok.start_pos)
        pos = tok.end_pos
        if tok.type == "_NL":
            finish()
            blanks += tok.value.count("\n") - 1   # the first ends this line (or a comment's)
        else:
            cur.tokens.append(tok)
    gap(pos, len(text))
    finish()
    return lines


def _ends_statement(prev: _Line, nxt: _Line | None, depth: int) -> bool:
    """Whether the newline after `prev` ends a statement (the post-lexer's rule)."""
    last = prev.tokens[-1]
    if depth > 0 or _is_open(last):
        return False
    if nxt is not None:
        first = nxt.tokens[0]
        if first.value in _CONT_VALUES or first.type in _CONT_TYPES:
            return False
    return True


def _is_unary(prev, tok) -> bool:
    return tok.type == "ADD_OP" and (prev is None or not (prev.type in _OPERAND_END or prev.value in (")", "]")))


def _space(a, b, stack: list, unary_a: bool) -> str:
    """The space between adjacent tokens a, b on one line."""
    av, bv = a.value, b.value
    if a.type == "STRING" or b.type == "STRING":
        if bv in (")", "]", ",", ".") or av in ("(", "[", "."):
            return ""
        if bv in ("(", "[") and a.type == "NAME":
            return ""
        return " "
    if bv in (")", "]", ",") or av in ("(", "["):
        return ""
    if av == ",":
        return " "
    if av == "." or bv == "." or av == ".." or bv == "..":
        return ""
    if unary_a:
        return ""
    if bv in ("(", "["):
        return "" if (a.type == "NAME" or av in (")", "]")) else " "
    if bv == ":":
        return ""
    if av == ":":
        return "" if stack and stack[-1][0] == "[" else " "
    return " "


def _render(tokens, stack: list, start_col: int, before=None) -> str:
    """Text of tokens placed at start_col (`before`: the code token before
    them, on an earlier line); the bracket stack is updated as it goes:
    entries (char, column after it, indent of its line, visual)."""
    out = []
    col = start_col
    prev = before
    unary_prev = _is_unary(before, tokens[0])
    for i, t in enumerate(tokens):
        if i:
            s = _space(prev, t, stack, unary_prev)
            out.append(s)
            col += len(s)
        out.append(t.value)
        col += len(t.value)
        if i:
            unary_prev = _is_unary(prev, t)
        if t.type != "STRING":
            if t.value in ("(", "["):
                stack.append((t.value, col, start_col, i < len(tokens) - 1))
            elif t.value in (")", "]") and stack:
                stack.pop()
        prev = t
    return "".join(out)


def _break_pipeline(tokens, indent: int, cont_indent: int) -> list[list]:
    """Split a long line with no open bracket before `->` stages at bracket
    depth 0, packing stages greedily under LINE_LENGTH."""
    pieces: list[list] = [[]]
    depth = 0
    for t in tokens:
        if t.value == "->" and depth == 0 and pieces[-1]:
            pieces.append([])
        if t.type != "STRING":
            depth += (t.value in ("(", "[")) - (t.value in (")", "]"))
        pieces[-1].append(t)
    if len(pieces) == 1:
        return [tokens]
    lines = [pieces[0]]
    for p in pieces[1:]:
        width = len(_render(lines[-1] + p, [], 0)) + (indent if len(lines) == 1 else cont_indent)
        if width > LINE_LENGTH:
            lines.append(p)
        else:
            lines[-1] = lines[-1] + p
    return lines


def format_text(text: str, file: str = "<input>") -> str:
    """The canonical layout of `text`. Raises ParseError if it does not parse."""
    text = normalize_newlines(text).replace("\r\n", "\n")
    parse(text, file)   # a syntax error is the caller's diagnostic; nothing is formatted
    out = _layout(_lines(text))
    _same_program(text, out)
    return out


def _layout(lines: list[_Line]) -> str:
    code = [i for i, ln in enumerate(lines) if ln.tokens]
    next_code = {}
    nxt = None
    for i in range(len(lines) - 1, -1, -1):
        next_code[i] = nxt
        if lines[i].tokens:
            nxt = i
    out: list[str] = []
    stack: list = []     # open ( and [
    braces = 0
    stmt_indent = 0
    continues = False    # the next code line continues the current statement
    pending_comments: list[_Line] = []
    prev_code: _Line | None = None
    before = None        # the last code token so far: whether a leading + or - is unary

    def indent_for(ln: _Line) -> int:
        first = ln.tokens[0].value
        if stack:
            _, col, line_indent, visual = stack[-1]
            if visual:
                return col
            return line_indent if first in (")", "]") else line_indent + INDENT
        if continues:
            return stmt_indent + INDENT
        return (braces - (first == "}")) * INDENT

    def blank(ln: _Line, top: bool) -> int:
        return min(ln.blanks, 2 if top else 1)

    for i, ln in enumerate(lines):
        if not ln.tokens:
            pending_comments.append(ln)
            continue
        ind = indent_for(ln)
        top = braces == 0 and not stack and not continues
        after_open = prev_code is not None and prev_code.tokens[-1].value == "{"
        closing = ln.tokens[0].value == "}"
        # comments before this line take its indentation (a body's, before a `}`)
        c_ind = braces * INDENT if closing else ind
        for j, c in enumerate(pending_comments):
            n = 0 if (not out or (j == 0 and after_open)) else blank(c, top)
            out += [""] * n + [" " * c_ind + c.comment]
        n = blank(ln, top)
        if not out or closing or (after_open and not pending_comments):
            n = 0
        out += [""] * n
        pending_comments = []
        if ln.tokens[0].value == "}":
            braces -= 1
        if not stack and not continues:
            stmt_indent = ind
        pieces = [ln.tokens]
        if not stack:
            probe = _render(ln.tokens, [], ind, before)
            if ind + len(probe) > LINE_LENGTH:
                pieces = _break_pipeline(ln.tokens, ind, stmt_indent + INDENT)
        for k, p in enumerate(pieces):
            p_ind = ind if k == 0 else stmt_indent + INDENT
            body = _render(p, stack, p_ind, before if k == 0 else None)
            line = " " * p_ind + body
            if k == len(pieces) - 1 and ln.comment is not None:
                col = max(ln.comment_col, len(line) + 2) if k == 0 and len(pieces) == 1 else len(line) + 2
                line = line + " " * (col - len(line)) + ln.comment
            out.append(line)
        for t in ln.tokens:
            if t.type != "STRING":
                braces += t.value == "{"
                braces -= t.value == "}" and t is not ln.tokens[0]
        nxt = next_code[i]
        continues = (not _ends_statement(ln, lines[nxt] if nxt is not None else None, len(stack))
                     and ln.tokens[-1].value != "{" and not (nxt is not None and lines[nxt].tokens[0].value == "}"))
        prev_code = ln
        before = ln.tokens[-1]
    # comments after the last code line
    for j, c in enumerate(pending_comments):
        n = 0 if not out else blank(c, braces == 0)
        out += [""] * n + [" " * (braces * INDENT) + c.comment]
    return "\n".join(out) + "\n" if out else ""


def _stream(text: str) -> list:
    toks = _NewlinePostLex().process(iter(_raw_tokens(text)))
    return [(t.type, "" if t.type == "_NL" else t.value) for t in toks]


def _comments(text: str) -> list[str]:
    return [c.comment for c in _lines(text) if c.comment is not None]


def _same_program(before: str, after: str) -> None:
    if _stream(before) != _stream(after):
        raise FormatError("the formatted text would parse differently")
    if _comments(before) != _comments(after):
        raise FormatError("the formatted text would lose a comment")


# ------------------------------------------------------------ nndc fmt

def cmd_fmt(args) -> int:
    """Rewrite each file in the canonical layout (atomically, only if it
    changes); --check lists those that would change and exits 1, --diff
    prints the change as a unified diff. A file that does not parse is
    reported (exit 1) and left as it is."""
    import difflib
    import sys

    from .diagnostics import Sources
    from .emit import emit
    from .loader import Loader, _read_bytes
    from .writer import write_atomic
    worst = 0
    for path in args.files:
        shown = "<stdin>" if path == "-" else path
        if path == "-":
            data = args.stdin_text.encode("utf-8")
        else:
            try:
                data = _read_bytes(path)
            except OSError as e:
                sys.stderr.write(f"nndc: error: cannot read {path}: {e.strerror or e}\n")
                worst = max(worst, 2)
                continue
        sources, diags = Sources(), []
        text = Loader(sources, diags)._decode(data, shown)
        if text is None:   # not UTF-8: E0005, located
            emit(diags, sources, "text", colour=args.color)
            worst = max(worst, 1)
            continue
        try:
            new = format_text(text, shown)
        except ParseError as e:
            sources.add(shown, normalize_newlines(text))
            emit([e.diagnostic], sources, "text", colour=args.color)
            worst = max(worst, 1)
            continue
        bom = "\ufeff" if data.startswith(b"\xef\xbb\xbf") else ""
        changed = new != text
        if args.diff and changed:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), new.splitlines(keepends=True), shown, shown))
        if args.check:
            if changed:
                print(f"would reformat {shown}")
                worst = max(worst, 1)
        elif args.diff:
            pass
        elif path == "-":
            sys.stdout.write(new)
        elif changed:
            out = (bom + new).encode("utf-8")
            try:
                write_atomic(path, lambda f: f.write(out))
            except OSError as e:
                sys.stderr.write(f"nndc: error: cannot write {path}: {e.strerror or e}\n")
                worst = max(worst, 2)
    return worst
