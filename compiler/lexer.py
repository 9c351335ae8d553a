"""lark's basic lexer, made faster: the same tokens, from one `finditer`
over the whole text.

lark's BasicLexer calls the regex engine from Python once per token and once
per run of blanks, and keeps a line counter object up to date; on a long
model that is over a third of parse time. This lexer takes everything from
lark's own lexer for the grammar (the terminals, their order, the ignored
ones, the keywords that NAME gives way to), so grammar/nnd.lark stays the
one definition of the tokens, and lets the regex engine walk the text with
the same combined pattern. It yields the same Tokens (type, value, offsets,
lines and columns) and raises the same UnexpectedCharacters where no
terminal matches. tests/compiler/test_lexer.py holds it to lark's.
"""

from __future__ import annotations

from lark.exceptions import UnexpectedCharacters
from lark.lexer import BasicLexer, Lexer, PatternStr, Token, UnlessCallback


class FastLexer(Lexer):
    """A drop-in for lark's BasicLexer: `Lark(..., lexer=FastLexer)`. It
    does not advance `lexer_state` as it goes (only lark's `on_error`
    recovery, unused here, reads it), and it knows lark's keyword callback
    only: it refuses a grammar with `lexer_callbacks`."""

    __future_interface__ = 2   # lex(lexer_state, parser_state), the text as a TextSlice

    def __init__(self, conf):
        basic = BasicLexer(conf)   # checks the terminals and orders them as lark does
        scanner = basic.scanner    # and builds the keyword callbacks
        self.terminals_by_name = basic.terminals_by_name
        self.ignore_types = basic.ignore_types
        self.newline_types = basic.newline_types
        self.allowed = (scanner.allowed_types - basic.ignore_types) or {"<END-OF-FILE>"}
        # lark's own pattern (the terminals in its order: at each place the
        # first that matches wins), but each terminal named by an empty group
        # after it rather than a group around it: the regex engine then passes
        # over an alternative that starts with a literal or a character class
        # by its first character, without entering it.
        self.regex = basic.re.compile("|".join("(?:%s)(?P<%s>)" % (t.pattern.to_regexp(), t.name)
                                               for t in scanner.terminals), basic.g_regex_flags)
        # A NAME that spells a keyword is the keyword: lark retypes it by a
        # full match against the keywords, for plain strings a lookup.
        self.retype = {}
        for type_, cb in basic.callback.items():
            if not (type(cb) is UnlessCallback and all(
                    isinstance(t.pattern, PatternStr) and not t.pattern.flags for t in cb.scanner.terminals)):
                raise ValueError(f"FastLexer: unsupported lexer callback on {type_}")
            self.retype[type_] = {t.pattern.value: t.name for t in cb.scanner.terminals}

    def lex(self, lexer_state, parser_state):
        text_slice = lexer_state.text
        text, pos, end = text_slice.text, text_slice.start, text_slice.end
        line_ctr = lexer_state.line_ctr
        line = line_ctr.line
        line_start = line_ctr.line_start_pos
        ignore = self.ignore_types
        newline_types = self.newline_types
        retype = self.retype
        new = str.__new__
        last = lexer_state.last_token
        for m in self.regex.finditer(text, pos, end):
            start, end_pos = m.span()
            if start != pos:   # nothing matched at pos: finditer skipped ahead
                break
            pos = end_pos
            type_ = m.lastgroup
            value = m.group()
            # Lines as lark counts them: by "\n", in the newline terminals only.
            start_line = line
            start_col = start - line_start + 1
            if type_ in newline_types:
                n = value.count("\n")
                if n:
                    line += n
                    line_start = start + value.rindex("\n") + 1
            if type_ in ignore:
                continue
            t = new(Token, value)   # Token(type_, value, ...) without its argument checks
            t.type = retype[type_].get(value, type_) if type_ in retype else type_
            t.start_pos = start
            t.value = value
            t.line = start_line
            t.column = start_col
            t.end_line = line
            t.end_column = pos - line_start + 1
            t.end_pos = pos
            last = t
            yield t
        if pos < end:
            lexer_state.last_token = last
            raise UnexpectedCharacters(text, pos, line, pos - line_start + 1, allowed=self.allowed,
                                       token_history=last and [last], state=parser_state,
                                       terminals_by_name=self.terminals_by_name)
