"""The grammar and parser: statements, newlines, spans, syntax errors."""

import pytest

from nnd import ast
from nnd.parser import ParseError, parse, parse_expression


def body(src):
    prog = parse(src, "t.nnd")
    return prog.items[0].body


def test_pipeline_continues_on_lines_starting_with_arrow():
    stmts = body("model M {\n  input x: [N, 3]\n  y = x\n    -> Linear(4)\n    -> ReLU\n  output y\n}\n")
    assign = stmts[1]
    assert isinstance(assign, ast.Assign) and isinstance(assign.value, ast.Pipe)
    assert [type(s.expr).__name__ for s in assign.value.stages] == ["Call", "Name"]


def test_newlines_inside_brackets_are_ignored():
    stmts = body("model M {\n  input x: [N,\n    3]\n  output y = concat(x,\n   x,\n   axis = 1)\n}\n")
    assert len(stmts) == 2
    assert isinstance(stmts[1].value, ast.Call) and len(stmts[1].value.args) == 2


def test_single_line_bodies_and_else_on_next_line():
    stmts = body("block B(a) {\n  input x\n  if a > 1 { y = x } \n  else { y = x -> ReLU }\n  output z = y\n}\n")
    assert isinstance(stmts[1], ast.If) and stmts[1].orelse is not None


def test_spans_point_at_source():
    stmts = body("model M {\n  input x: [N, 3]\n  output y = x -> Linear(10) as fc\n}\n")
    stage = stmts[1].value.stages[0]
    assert (stage.expr.span.line, stage.expr.span.column) == (3, 19)
    assert (stage.expr.span.end_line, stage.expr.span.end_column) == (3, 29)
    assert stage.name.parts == ["fc"]


def test_dotted_names_with_numbers_and_ranges():
    stmts = body("block B {\n  input x\n  for i in 0..3 { x = x -> ReLU as \"r{i}\" }\n"
                 "  output y = x -> Conv2d(8, 1) as downsample.0\n}\n")
    loop = stmts[1]
    assert isinstance(loop, ast.For)
    assert isinstance(loop.start, ast.Literal) and loop.start.value == 0
    assert stmts[2].value.stages[0].name.parts == ["downsample", "0"]
    assert loop.body[0].value.stages[0].name.template == "r{i}"


def test_floats_and_keywords():
    stmts = body("model M(p = 1e-3, q = 0.5, r = true) {\n  input x: [N, 2]\n  output y = x -> Dropout(q)\n}\n")
    prog = parse("model M(p = 1e-3, q = 0.5, r = true) {\n input x: [N, 2]\n output y = x\n}", "t.nnd")
    params = prog.items[0].params
    assert [p.default.value for p in params] == [1e-3, 0.5, True]
    assert stmts


def test_imports_and_instances():
    prog = parse('import std.resnet\nimport "blocks/mine.nnd"\nmodel R50 = ResNet(blocks = [3, 4, 6, 3])\n', "t.nnd")
    imp1, imp2, inst = prog.items
    assert (imp1.module, imp1.is_file) == ("std.resnet", False)
    assert (imp2.module, imp2.is_file) == ("blocks/mine.nnd", True)
    assert isinstance(inst, ast.ModelInstance) and inst.base == "ResNet" and inst.kwargs[0].name == "blocks"


@pytest.mark.parametrize("src,code,line,col,needle", [
    ("model M {\n  y = x -> -> ReLU\n}\n", "E0001", 2, 12, "found `->`"),
    ("model M {\n  y = x $ 2\n}\n", "E0002", 2, 9, "unexpected character `$`"),
    # the primary span is the `{` left open; a label marks where `}` was expected
    ("model M {\n  input x: [N, 3]\n", "E0003", 1, 9, "unexpected end of file: the `{` on line 1 is not closed"),
    ("model M {\n  y = Conv2d(3,))\n}\n", "E0001", 2, 17, "found `)`"),
])
def test_syntax_errors_are_located(src, code, line, col, needle):
    with pytest.raises(ParseError) as e:
        parse(src, "t.nnd")
    d = e.value.diagnostic
    assert d.code == code
    assert (d.span.line, d.span.column) == (line, col)
    assert needle in d.message


# The grammar reads an expression as a flat sequence of operands and
# operators; the parser gives it its tree. These pin the precedence, the
# associativity and the spans it must build (the nested grammar's, before).

def _sexp(n):
    if isinstance(n, ast.Name):
        return n.id
    if isinstance(n, (ast.BinOp, ast.Compare, ast.BoolOp)):
        return f"({n.op} {_sexp(n.left)} {_sexp(n.right)})"
    if isinstance(n, (ast.Not, ast.Neg)):
        return f"({'not' if isinstance(n, ast.Not) else 'neg'} {_sexp(n.operand)})"
    if isinstance(n, ast.Attribute):
        return f"(. {_sexp(n.value)} {n.attr})"
    if isinstance(n, ast.Index):
        return f"([] {_sexp(n.value)}" + "".join(" " + _sexp(i) for i in n.items) + ")"
    if isinstance(n, ast.SliceExpr):
        return "(:" + "".join(" " + ("_" if p is None else _sexp(p)) for p in (n.start, n.stop, n.step)) + ")"
    if isinstance(n, ast.EllipsisIndex):
        return "..."
    if isinstance(n, ast.Literal):
        return str(n.value)
    if isinstance(n, ast.Call):
        return f"(call {_sexp(n.func)}" + "".join(" " + _sexp(a) for a in n.args) + ")"
    raise TypeError(n)


@pytest.mark.parametrize("src,tree", [
    ("a or b and not c == d + e * -f.g[h](i)", "(or a (and b (not (== c (+ d (* e (neg (call ([] (. f g) h) i))))))))"),
    ("a - b - c", "(- (- a b) c)"),
    ("a // b * c % d", "(% (* (// a b) c) d)"),
    ("a or b or c and d", "(or (or a b) (and c d))"),
    ("not a or b and c", "(or (not a) (and b c))"),
    ("not not a == b", "(not (not (== a b)))"),
    ("a + b == c * d and e", "(and (== (+ a b) (* c d)) e)"),
    ("a < b and b < c", "(and (< a b) (< b c))"),
    ("-+-a.b", "(neg (neg (. a b)))"),
    ("- - a * b", "(* (neg (neg a)) b)"),
    ("(a + b) * c", "(* (+ a b) c)"),
    ("f(a)(b)[c].d", "(. ([] (call (call f a) b) c) d)"),
    ("x[:, 0]", "([] x (: _ _ _) 0)"),
    ("x[..., a + 1:-2, ::2,]", "([] x ... (: (+ a 1) (neg 2) _) (: _ _ 2))"),
    ("x[a:b:c][::]", "([] ([] x (: a b c)) (: _ _ _))"),
])
def test_operator_precedence_and_associativity(src, tree):
    assert _sexp(parse_expression(src, "t.nnd")) == tree


def test_operator_spans():
    n = parse_expression("(a + b) * -c.d", "t.nnd")
    cols = lambda x: (x.span.column, x.span.end_column)   # noqa: E731
    # a parenthesized operand's span is its contents'
    assert [cols(n), cols(n.left), cols(n.right), cols(n.right.operand)] == [(2, 15), (2, 7), (11, 15), (12, 15)]
    assert n.op_span.column == 9
    n = parse_expression("not x(1) or y", "t.nnd")
    assert [cols(n), cols(n.left), cols(n.left.operand)] == [(1, 14), (1, 9), (5, 9)]


@pytest.mark.parametrize("src,message,col", [
    # one comparison at most (the words are those of the nested grammar's parser)
    ("a == b == c", "expected `->`, `and`, `if`, `or`, add_op or a new line, found `==`", 8),
    # `not` starts a comparison only: not after an operator
    ("a + not b", "expected an expression, found the keyword `not`", 5),
    ("a == not b", "expected an expression, found the keyword `not`", 6),
    ("a * not b", "expected an expression, found the keyword `not`", 5),
])
def test_operator_syntax_errors(src, message, col):
    with pytest.raises(ParseError) as e:
        parse_expression(src, "t.nnd")
    d = e.value.diagnostic
    assert (d.code, d.message, d.span.column) == ("E0001", message, col)


@pytest.mark.parametrize("eol", ["\r", "\r\n"])
def test_carriage_return_line_ends(eol):
    """Old Mac files end lines with `\\r` alone; they parse as with `\\n`,
    with the same spans (a line continuation and a comment included)."""
    src = "model M {\n  input x: [N, 3]  # c\n  output y = x \\\n    -> Linear(10) as fc\n}\n"
    expected = parse(src, "t.nnd")
    got = parse(src.replace("\n", eol), "t.nnd")
    assert got == expected
    stage = got.items[0].body[1].value.stages[0]
    assert (stage.expr.span.line, stage.expr.span.column) == (4, 8)


def test_carriage_return_line_ends_in_diagnostics():
    import nnd
    res = nnd.check(text="model M {\r    input x: [N, 3]\r    output y = x -> Linear(0)\r}\r")
    d, = res.diagnostics
    assert d.code == "E0107" and (d.span.line, d.span.column) == (3, 28)
    assert res.sources.line("<input>", 3) == "    output y = x -> Linear(0)"


# A keyword or a word starting with a digit where a name was meant: the whole
# word is marked; in a layer name the help shows it as a string (which is
# accepted), elsewhere it asks for another name.
@pytest.mark.parametrize("stmt,col,message,help", [
    ("y = x -> ReLU as 0", 22, "expected a layer name, found `0`", '`as "0"`'),
    ("y = x -> ReLU as 1conv", 22, "expected a layer name, found `1conv`", '`as "1conv"`'),
    ("y = x -> ReLU as in", 22, "expected a layer name, found the keyword `in`", '`as "in"`'),
    ("y = x -> ReLU as param", 22, "expected a layer name, found the keyword `param`", '`as "param"`'),
    ("y = x -> ReLU as model", 22, "expected a layer name, found the keyword `model`", '`as "model"`'),
    ("y = x -> ReLU as layer.in", 28, "expected a layer name, found the keyword `in`", '`as "layer.in"`'),
    ("y = x -> ReLU as layer.1a", 28, "expected a layer name, found `1a`", '`as "layer.1a"`'),
    ("in = x -> ReLU", 5, "expected a name, found the keyword `in`", "such as `in_`"),
    ("model = x", 5, "expected a name, found the keyword `model`", "such as `model_`"),
    ("if = x", 5, "expected a name, found the keyword `if`", "such as `if_`"),
    ("a, in = x, x", 8, "expected a name, found the keyword `in`", "such as `in_`"),
    ("let in = 3", 9, "expected a name, found the keyword `in`", "such as `in_`"),
    ("1a = x", 5, "`1a` is not a name: a name starts with a letter or `_`", "such as `a1`"),
    ("y = 1conv", 9, "`1conv` is not a name: a name starts with a letter or `_`", "such as `conv1`"),
])
def test_keywords_and_digits_where_a_name_is_meant(stmt, col, message, help):
    with pytest.raises(ParseError) as e:
        parse(f"model M {{\n    input x: [N, 3]\n    {stmt}\n    output z = x\n}}\n", "t.nnd")
    d = e.value.diagnostic
    assert (d.code, d.span.line, d.span.column, d.message) == ("E0001", 3, col, message)
    word = message.split("`")[1]
    assert d.span.end_column - d.span.column == len(word)
    assert help in d.help


@pytest.mark.parametrize("name,weight", [('"0"', "0.weight"), ('"1conv"', "1conv.weight"), ('"in"', "in.weight"),
                                         ('"layer.in"', "layer.in.weight"), ("downsample.0", "downsample.0.weight")])
def test_layer_names_the_help_suggests_are_accepted(name, weight):
    from nnd import api
    from nnd.ir import weight_name
    res = api.check(text=f"model M {{\n    input x: [N, 3]\n    output y = x -> Linear(2) as {name}\n}}\n")
    assert res.ok, res.diagnostics
    names = [weight_name(d, p, w) for _, d in res.ir.nodes() for p, w in (d["attrs"].get("weights") or {}).items()]
    assert weight in names
