"""The tokens the parser reads: types, values and positions, and the error
where no token matches. The parser's lexer (compiler/lexer.py, for speed)
must give exactly the tokens and errors of lark's basic lexer for the
grammar."""

import glob
import os

import pytest
from lark.exceptions import UnexpectedCharacters
from lark.lexer import BasicLexer, LexerState
from lark.utils import TextSlice

from nnd import parser
from nnd.parser import ParseError, parse

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def _raw(lexer, text):
    """The lexer's tokens, all fields, then the error if it stops on one."""
    out = []
    try:
        for t in lexer.lex(LexerState(TextSlice.cast_from(text)), None):
            assert type(t) is parser.Token
            out.append((t.type, t.value, t.start_pos, t.line, t.column, t.end_line, t.end_column, t.end_pos))
    except UnexpectedCharacters as e:
        out.append(("error", e.pos_in_stream, e.line, e.column, sorted(e.allowed),
                    [(t.type, t.start_pos) for t in e.token_history or ()]))
    return out


def _tokens(text):
    """The tokens as the parser reads them (after the newline post-lexer):
    (type, value, line, column, end_line, end_column)."""
    stream = parser._lark().parser.lexer.lex(LexerState(TextSlice.cast_from(text)), None)
    return [(t.type, t.value, t.line, t.column, t.end_line, t.end_column) for t in stream]


EDGE = [
    "", "\n", " \t\f", "# only a comment", "# one\n# two\n",
    "let a = b\r\nlet c = d\r\n", "let\ta =\fb", "let a = b \\\n  + c", "let a = b \\ \t\r\n  + c",
    "let a = 1 # no newline at the end", "let s = 'open\nlet t = 2", 'let s = "a\\"b" + \'c\\\'d\'',
    "let a = b × c", "let a = b → c", "let a = “q”", "$let a = 1", "let a = 1$", "let a = b ** -c @ d * e // f", "let a = b***c",
    "let f(v, d = 8) = v if d > 0 else -v ** 2", "let a = 1\0", "\0",
    "let a = 1.5e3 + 1e5 + 0..3 + x.0", "let iff = if_ and true or falsey", "let a = " + "x" * 20000,
    "let a = [1,\n  2]\n\n\t\n", "\\", "let a = 1 \\",
]


@pytest.mark.parametrize("text", EDGE)
def test_tokens_and_errors_are_lark_basic_lexers(text):
    conf = parser._lark().lexer_conf
    mine = parser._lark().parser.lexer.lexer   # under the newline post-lexer
    assert _raw(mine, text) == _raw(BasicLexer(conf), text)


def test_tokens_of_the_examples_are_lark_basic_lexers():
    conf = parser._lark().lexer_conf
    mine, basic = parser._lark().parser.lexer.lexer, BasicLexer(conf)
    files = sorted(glob.glob(os.path.join(ROOT, "examples", "**", "*.nnd"), recursive=True))
    assert files
    for f in files:
        text = open(f, encoding="utf-8").read()
        for variant in (text, text.replace("\n", "\r\n"), text.replace("    ", "\t")):
            assert _raw(mine, variant) == _raw(basic, variant), f


def test_crlf_belongs_to_the_newline():
    assert _tokens("let a = b\r\nlet c = d\r\n") == [
        ("LET", "let", 1, 1, 1, 4), ("NAME", "a", 1, 5, 1, 6), ("EQUAL", "=", 1, 7, 1, 8), ("NAME", "b", 1, 9, 1, 10),
        ("_NL", "\r\n", 1, 10, 2, 1),
        ("LET", "let", 2, 1, 2, 4), ("NAME", "c", 2, 5, 2, 6), ("EQUAL", "=", 2, 7, 2, 8), ("NAME", "d", 2, 9, 2, 10),
        ("_NL", "\r\n", 2, 10, 3, 1),
    ]


def test_tab_and_form_feed_are_one_column():
    assert _tokens("let\ta =\fb") == [
        ("LET", "let", 1, 1, 1, 4), ("NAME", "a", 1, 5, 1, 6), ("EQUAL", "=", 1, 7, 1, 8), ("NAME", "b", 1, 9, 1, 10),
        ("_NL", "", 1, 10, 1, 10),
    ]


def test_a_backslash_continues_the_line():
    assert _tokens("let a = b \\ \r\n  + c") == [
        ("LET", "let", 1, 1, 1, 4), ("NAME", "a", 1, 5, 1, 6), ("EQUAL", "=", 1, 7, 1, 8), ("NAME", "b", 1, 9, 1, 10),
        ("ADD_OP", "+", 2, 3, 2, 4), ("NAME", "c", 2, 5, 2, 6), ("_NL", "", 2, 6, 2, 6),
    ]


def test_comments_and_blank_files_give_no_tokens():
    assert _tokens("") == _tokens("# only a comment") == _tokens("\n# one\n\n") == []
    assert _tokens("let a = 1 # no newline at the end")[-2:] == [("INT", "1", 1, 9, 1, 10), ("_NL", "", 1, 10, 1, 10)]


def test_keywords_are_whole_names():
    assert [t[:2] for t in _tokens("let iff = if_ and true or falsey")][:-1] == [
        ("LET", "let"), ("NAME", "iff"), ("EQUAL", "="), ("NAME", "if_"), ("AND", "and"), ("TRUE", "true"),
        ("OR", "or"), ("NAME", "falsey")]


@pytest.mark.parametrize("src,line,col,message", [
    ("$let a = 1", 1, 1, "unexpected character `$`"),
    ("let a = 1\n  $", 2, 3, "unexpected character `$`"),
    ("let a = 1 \\\n  + b × c", 2, 7, "unexpected character `×`"),
    ("let a = 1\r\n\tlet b = 1\0", 2, 11, "unexpected character `\\x00`"),
    ("let a = 'open\nlet b = 2", 1, 9, "this string is not closed"),
])
def test_a_character_no_token_starts_with_is_located(src, line, col, message):
    with pytest.raises(ParseError) as e:
        parse(src, "t.nnd")
    d = e.value.diagnostic
    assert (d.code, d.message, d.span.line, d.span.column) == ("E0002", message, line, col)
